// Original file: proto/basalt/operator/v1/operator.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { BackupNowRequest as _basalt_operator_v1_BackupNowRequest, BackupNowRequest__Output as _basalt_operator_v1_BackupNowRequest__Output } from '../../../basalt/operator/v1/BackupNowRequest.js';
import type { BackupNowResponse as _basalt_operator_v1_BackupNowResponse, BackupNowResponse__Output as _basalt_operator_v1_BackupNowResponse__Output } from '../../../basalt/operator/v1/BackupNowResponse.js';
import type { ExportEvent as _basalt_operator_v1_ExportEvent, ExportEvent__Output as _basalt_operator_v1_ExportEvent__Output } from '../../../basalt/operator/v1/ExportEvent.js';
import type { ExportRequest as _basalt_operator_v1_ExportRequest, ExportRequest__Output as _basalt_operator_v1_ExportRequest__Output } from '../../../basalt/operator/v1/ExportRequest.js';
import type { IbftCandidatesRequest as _basalt_operator_v1_IbftCandidatesRequest, IbftCandidatesRequest__Output as _basalt_operator_v1_IbftCandidatesRequest__Output } from '../../../basalt/operator/v1/IbftCandidatesRequest.js';
import type { IbftCandidatesResponse as _basalt_operator_v1_IbftCandidatesResponse, IbftCandidatesResponse__Output as _basalt_operator_v1_IbftCandidatesResponse__Output } from '../../../basalt/operator/v1/IbftCandidatesResponse.js';
import type { IbftDiscardRequest as _basalt_operator_v1_IbftDiscardRequest, IbftDiscardRequest__Output as _basalt_operator_v1_IbftDiscardRequest__Output } from '../../../basalt/operator/v1/IbftDiscardRequest.js';
import type { IbftDiscardResponse as _basalt_operator_v1_IbftDiscardResponse, IbftDiscardResponse__Output as _basalt_operator_v1_IbftDiscardResponse__Output } from '../../../basalt/operator/v1/IbftDiscardResponse.js';
import type { IbftProposeRequest as _basalt_operator_v1_IbftProposeRequest, IbftProposeRequest__Output as _basalt_operator_v1_IbftProposeRequest__Output } from '../../../basalt/operator/v1/IbftProposeRequest.js';
import type { IbftProposeResponse as _basalt_operator_v1_IbftProposeResponse, IbftProposeResponse__Output as _basalt_operator_v1_IbftProposeResponse__Output } from '../../../basalt/operator/v1/IbftProposeResponse.js';
import type { IbftSnapshotRequest as _basalt_operator_v1_IbftSnapshotRequest, IbftSnapshotRequest__Output as _basalt_operator_v1_IbftSnapshotRequest__Output } from '../../../basalt/operator/v1/IbftSnapshotRequest.js';
import type { IbftSnapshotResponse as _basalt_operator_v1_IbftSnapshotResponse, IbftSnapshotResponse__Output as _basalt_operator_v1_IbftSnapshotResponse__Output } from '../../../basalt/operator/v1/IbftSnapshotResponse.js';
import type { IbftStatusRequest as _basalt_operator_v1_IbftStatusRequest, IbftStatusRequest__Output as _basalt_operator_v1_IbftStatusRequest__Output } from '../../../basalt/operator/v1/IbftStatusRequest.js';
import type { IbftStatusResponse as _basalt_operator_v1_IbftStatusResponse, IbftStatusResponse__Output as _basalt_operator_v1_IbftStatusResponse__Output } from '../../../basalt/operator/v1/IbftStatusResponse.js';
import type { ImportEvent as _basalt_operator_v1_ImportEvent, ImportEvent__Output as _basalt_operator_v1_ImportEvent__Output } from '../../../basalt/operator/v1/ImportEvent.js';
import type { ImportRequest as _basalt_operator_v1_ImportRequest, ImportRequest__Output as _basalt_operator_v1_ImportRequest__Output } from '../../../basalt/operator/v1/ImportRequest.js';
import type { PeersAddRequest as _basalt_operator_v1_PeersAddRequest, PeersAddRequest__Output as _basalt_operator_v1_PeersAddRequest__Output } from '../../../basalt/operator/v1/PeersAddRequest.js';
import type { PeersAddResponse as _basalt_operator_v1_PeersAddResponse, PeersAddResponse__Output as _basalt_operator_v1_PeersAddResponse__Output } from '../../../basalt/operator/v1/PeersAddResponse.js';
import type { PeersListRequest as _basalt_operator_v1_PeersListRequest, PeersListRequest__Output as _basalt_operator_v1_PeersListRequest__Output } from '../../../basalt/operator/v1/PeersListRequest.js';
import type { PeersListResponse as _basalt_operator_v1_PeersListResponse, PeersListResponse__Output as _basalt_operator_v1_PeersListResponse__Output } from '../../../basalt/operator/v1/PeersListResponse.js';
import type { PeersRemoveRequest as _basalt_operator_v1_PeersRemoveRequest, PeersRemoveRequest__Output as _basalt_operator_v1_PeersRemoveRequest__Output } from '../../../basalt/operator/v1/PeersRemoveRequest.js';
import type { PeersRemoveResponse as _basalt_operator_v1_PeersRemoveResponse, PeersRemoveResponse__Output as _basalt_operator_v1_PeersRemoveResponse__Output } from '../../../basalt/operator/v1/PeersRemoveResponse.js';
import type { SnapshotEvent as _basalt_operator_v1_SnapshotEvent, SnapshotEvent__Output as _basalt_operator_v1_SnapshotEvent__Output } from '../../../basalt/operator/v1/SnapshotEvent.js';
import type { SnapshotRequest as _basalt_operator_v1_SnapshotRequest, SnapshotRequest__Output as _basalt_operator_v1_SnapshotRequest__Output } from '../../../basalt/operator/v1/SnapshotRequest.js';
import type { StatusRequest as _basalt_operator_v1_StatusRequest, StatusRequest__Output as _basalt_operator_v1_StatusRequest__Output } from '../../../basalt/operator/v1/StatusRequest.js';
import type { StatusResponse as _basalt_operator_v1_StatusResponse, StatusResponse__Output as _basalt_operator_v1_StatusResponse__Output } from '../../../basalt/operator/v1/StatusResponse.js';

export interface OperatorClient extends grpc.Client {
  BackupNow(argument: _basalt_operator_v1_BackupNowRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_basalt_operator_v1_BackupNowResponse__Output>): grpc.ClientUnaryCall;
  BackupNow(argument: _basalt_operator_v1_BackupNowRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_basalt_operator_v1_BackupNowResponse__Output>): grpc.ClientUnaryCall;
  BackupNow(argument: _basalt_operator_v1_BackupNowRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_basalt_operator_v1_BackupNowResponse__Output>): grpc.ClientUnaryCall;
  BackupNow(argument: _basalt_operator_v1_BackupNowRequest, callback: grpc.requestCallback<_basalt_operator_v1_BackupNowResponse__Output>): grpc.ClientUnaryCall;
  backupNow(argument: _basalt_operator_v1_BackupNowRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_basalt_operator_v1_BackupNowResponse__Output>): grpc.ClientUnaryCall;
  backupNow(argument: _basalt_operator_v1_BackupNowRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_basalt_operator_v1_BackupNowResponse__Output>): grpc.ClientUnaryCall;
  backupNow(argument: _basalt_operator_v1_BackupNowRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_basalt_operator_v1_BackupNowResponse__Output>): grpc.ClientUnaryCall;
  backupNow(argument: _basalt_operator_v1_BackupNowRequest, callback: grpc.requestCallback<_basalt_operator_v1_BackupNowResponse__Output>): grpc.ClientUnaryCall;
  
  Export(argument: _basalt_operator_v1_ExportRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_basalt_operator_v1_ExportEvent__Output>;
  Export(argument: _basalt_operator_v1_ExportRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_basalt_operator_v1_ExportEvent__Output>;
  export(argument: _basalt_operator_v1_ExportRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_basalt_operator_v1_ExportEvent__Output>;
  export(argument: _basalt_operator_v1_ExportRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_basalt_operator_v1_ExportEvent__Output>;
  
  IbftCandidates(argument: _basalt_operator_v1_IbftCandidatesRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_basalt_operator_v1_IbftCandidatesResponse__Output>): grpc.ClientUnaryCall;
  IbftCandidates(argument: _basalt_operator_v1_IbftCandidatesRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_basalt_operator_v1_IbftCandidatesResponse__Output>): grpc.ClientUnaryCall;
  IbftCandidates(argument: _basalt_operator_v1_IbftCandidatesRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_basalt_operator_v1_IbftCandidatesResponse__Output>): grpc.ClientUnaryCall;
  IbftCandidates(argument: _basalt_operator_v1_IbftCandidatesRequest, callback: grpc.requestCallback<_basalt_operator_v1_IbftCandidatesResponse__Output>): grpc.ClientUnaryCall;
  ibftCandidates(argument: _basalt_operator_v1_IbftCandidatesRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_basalt_operator_v1_IbftCandidatesResponse__Output>): grpc.ClientUnaryCall;
  ibftCandidates(argument: _basalt_operator_v1_IbftCandidatesRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_basalt_operator_v1_IbftCandidatesResponse__Output>): grpc.ClientUnaryCall;
  ibftCandidates(argument: _basalt_operator_v1_IbftCandidatesRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_basalt_operator_v1_IbftCandidatesResponse__Output>): grpc.ClientUnaryCall;
  ibftCandidates(argument: _basalt_operator_v1_IbftCandidatesRequest, callback: grpc.requestCallback<_basalt_operator_v1_IbftCandidatesResponse__Output>): grpc.ClientUnaryCall;
  
  IbftDiscard(argument: _basalt_operator_v1_IbftDiscardRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_basalt_operator_v1_IbftDiscardResponse__Output>): grpc.ClientUnaryCall;
  IbftDiscard(argument: _basalt_operator_v1_IbftDiscardRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_basalt_operator_v1_IbftDiscardResponse__Output>): grpc.ClientUnaryCall;
  IbftDiscard(argument: _basalt_operator_v1_IbftDiscardRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_basalt_operator_v1_IbftDiscardResponse__Output>): grpc.ClientUnaryCall;
  IbftDiscard(argument: _basalt_operator_v1_IbftDiscardRequest, callback: grpc.requestCallback<_basalt_operator_v1_IbftDiscardResponse__Output>): grpc.ClientUnaryCall;
  ibftDiscard(argument: _basalt_operator_v1_IbftDiscardRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_basalt_operator_v1_IbftDiscardResponse__Output>): grpc.ClientUnaryCall;
  ibftDiscard(argument: _basalt_operator_v1_IbftDiscardRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_basalt_operator_v1_IbftDiscardResponse__Output>): grpc.ClientUnaryCall;
  ibftDiscard(argument: _basalt_operator_v1_IbftDiscardRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_basalt_operator_v1_IbftDiscardResponse__Output>): grpc.ClientUnaryCall;
  ibftDiscard(argument: _basalt_operator_v1_IbftDiscardRequest, callback: grpc.requestCallback<_basalt_operator_v1_IbftDiscardResponse__Output>): grpc.ClientUnaryCall;
  
  IbftPropose(argument: _basalt_operator_v1_IbftProposeRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_basalt_operator_v1_IbftProposeResponse__Output>): grpc.ClientUnaryCall;
  IbftPropose(argument: _basalt_operator_v1_IbftProposeRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_basalt_operator_v1_IbftProposeResponse__Output>): grpc.ClientUnaryCall;
  IbftPropose(argument: _basalt_operator_v1_IbftProposeRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_basalt_operator_v1_IbftProposeResponse__Output>): grpc.ClientUnaryCall;
  IbftPropose(argument: _basalt_operator_v1_IbftProposeRequest, callback: grpc.requestCallback<_basalt_operator_v1_IbftProposeResponse__Output>): grpc.ClientUnaryCall;
  ibftPropose(argument: _basalt_operator_v1_IbftProposeRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_basalt_operator_v1_IbftProposeResponse__Output>): grpc.ClientUnaryCall;
  ibftPropose(argument: _basalt_operator_v1_IbftProposeRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_basalt_operator_v1_IbftProposeResponse__Output>): grpc.ClientUnaryCall;
  ibftPropose(argument: _basalt_operator_v1_IbftProposeRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_basalt_operator_v1_IbftProposeResponse__Output>): grpc.ClientUnaryCall;
  ibftPropose(argument: _basalt_operator_v1_IbftProposeRequest, callback: grpc.requestCallback<_basalt_operator_v1_IbftProposeResponse__Output>): grpc.ClientUnaryCall;
  
  IbftSnapshot(argument: _basalt_operator_v1_IbftSnapshotRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_basalt_operator_v1_IbftSnapshotResponse__Output>): grpc.ClientUnaryCall;
  IbftSnapshot(argument: _basalt_operator_v1_IbftSnapshotRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_basalt_operator_v1_IbftSnapshotResponse__Output>): grpc.ClientUnaryCall;
  IbftSnapshot(argument: _basalt_operator_v1_IbftSnapshotRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_basalt_operator_v1_IbftSnapshotResponse__Output>): grpc.ClientUnaryCall;
  IbftSnapshot(argument: _basalt_operator_v1_IbftSnapshotRequest, callback: grpc.requestCallback<_basalt_operator_v1_IbftSnapshotResponse__Output>): grpc.ClientUnaryCall;
  ibftSnapshot(argument: _basalt_operator_v1_IbftSnapshotRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_basalt_operator_v1_IbftSnapshotResponse__Output>): grpc.ClientUnaryCall;
  ibftSnapshot(argument: _basalt_operator_v1_IbftSnapshotRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_basalt_operator_v1_IbftSnapshotResponse__Output>): grpc.ClientUnaryCall;
  ibftSnapshot(argument: _basalt_operator_v1_IbftSnapshotRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_basalt_operator_v1_IbftSnapshotResponse__Output>): grpc.ClientUnaryCall;
  ibftSnapshot(argument: _basalt_operator_v1_IbftSnapshotRequest, callback: grpc.requestCallback<_basalt_operator_v1_IbftSnapshotResponse__Output>): grpc.ClientUnaryCall;
  
  IbftStatus(argument: _basalt_operator_v1_IbftStatusRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_basalt_operator_v1_IbftStatusResponse__Output>): grpc.ClientUnaryCall;
  IbftStatus(argument: _basalt_operator_v1_IbftStatusRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_basalt_operator_v1_IbftStatusResponse__Output>): grpc.ClientUnaryCall;
  IbftStatus(argument: _basalt_operator_v1_IbftStatusRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_basalt_operator_v1_IbftStatusResponse__Output>): grpc.ClientUnaryCall;
  IbftStatus(argument: _basalt_operator_v1_IbftStatusRequest, callback: grpc.requestCallback<_basalt_operator_v1_IbftStatusResponse__Output>): grpc.ClientUnaryCall;
  ibftStatus(argument: _basalt_operator_v1_IbftStatusRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_basalt_operator_v1_IbftStatusResponse__Output>): grpc.ClientUnaryCall;
  ibftStatus(argument: _basalt_operator_v1_IbftStatusRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_basalt_operator_v1_IbftStatusResponse__Output>): grpc.ClientUnaryCall;
  ibftStatus(argument: _basalt_operator_v1_IbftStatusRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_basalt_operator_v1_IbftStatusResponse__Output>): grpc.ClientUnaryCall;
  ibftStatus(argument: _basalt_operator_v1_IbftStatusRequest, callback: grpc.requestCallback<_basalt_operator_v1_IbftStatusResponse__Output>): grpc.ClientUnaryCall;
  
  Import(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_basalt_operator_v1_ImportRequest, _basalt_operator_v1_ImportEvent__Output>;
  Import(options?: grpc.CallOptions): grpc.ClientDuplexStream<_basalt_operator_v1_ImportRequest, _basalt_operator_v1_ImportEvent__Output>;
  import(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_basalt_operator_v1_ImportRequest, _basalt_operator_v1_ImportEvent__Output>;
  import(options?: grpc.CallOptions): grpc.ClientDuplexStream<_basalt_operator_v1_ImportRequest, _basalt_operator_v1_ImportEvent__Output>;
  
  PeersAdd(argument: _basalt_operator_v1_PeersAddRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_basalt_operator_v1_PeersAddResponse__Output>): grpc.ClientUnaryCall;
  PeersAdd(argument: _basalt_operator_v1_PeersAddRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_basalt_operator_v1_PeersAddResponse__Output>): grpc.ClientUnaryCall;
  PeersAdd(argument: _basalt_operator_v1_PeersAddRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_basalt_operator_v1_PeersAddResponse__Output>): grpc.ClientUnaryCall;
  PeersAdd(argument: _basalt_operator_v1_PeersAddRequest, callback: grpc.requestCallback<_basalt_operator_v1_PeersAddResponse__Output>): grpc.ClientUnaryCall;
  peersAdd(argument: _basalt_operator_v1_PeersAddRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_basalt_operator_v1_PeersAddResponse__Output>): grpc.ClientUnaryCall;
  peersAdd(argument: _basalt_operator_v1_PeersAddRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_basalt_operator_v1_PeersAddResponse__Output>): grpc.ClientUnaryCall;
  peersAdd(argument: _basalt_operator_v1_PeersAddRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_basalt_operator_v1_PeersAddResponse__Output>): grpc.ClientUnaryCall;
  peersAdd(argument: _basalt_operator_v1_PeersAddRequest, callback: grpc.requestCallback<_basalt_operator_v1_PeersAddResponse__Output>): grpc.ClientUnaryCall;
  
  PeersList(argument: _basalt_operator_v1_PeersListRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_basalt_operator_v1_PeersListResponse__Output>): grpc.ClientUnaryCall;
  PeersList(argument: _basalt_operator_v1_PeersListRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_basalt_operator_v1_PeersListResponse__Output>): grpc.ClientUnaryCall;
  PeersList(argument: _basalt_operator_v1_PeersListRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_basalt_operator_v1_PeersListResponse__Output>): grpc.ClientUnaryCall;
  PeersList(argument: _basalt_operator_v1_PeersListRequest, callback: grpc.requestCallback<_basalt_operator_v1_PeersListResponse__Output>): grpc.ClientUnaryCall;
  peersList(argument: _basalt_operator_v1_PeersListRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_basalt_operator_v1_PeersListResponse__Output>): grpc.ClientUnaryCall;
  peersList(argument: _basalt_operator_v1_PeersListRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_basalt_operator_v1_PeersListResponse__Output>): grpc.ClientUnaryCall;
  peersList(argument: _basalt_operator_v1_PeersListRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_basalt_operator_v1_PeersListResponse__Output>): grpc.ClientUnaryCall;
  peersList(argument: _basalt_operator_v1_PeersListRequest, callback: grpc.requestCallback<_basalt_operator_v1_PeersListResponse__Output>): grpc.ClientUnaryCall;
  
  PeersRemove(argument: _basalt_operator_v1_PeersRemoveRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_basalt_operator_v1_PeersRemoveResponse__Output>): grpc.ClientUnaryCall;
  PeersRemove(argument: _basalt_operator_v1_PeersRemoveRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_basalt_operator_v1_PeersRemoveResponse__Output>): grpc.ClientUnaryCall;
  PeersRemove(argument: _basalt_operator_v1_PeersRemoveRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_basalt_operator_v1_PeersRemoveResponse__Output>): grpc.ClientUnaryCall;
  PeersRemove(argument: _basalt_operator_v1_PeersRemoveRequest, callback: grpc.requestCallback<_basalt_operator_v1_PeersRemoveResponse__Output>): grpc.ClientUnaryCall;
  peersRemove(argument: _basalt_operator_v1_PeersRemoveRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_basalt_operator_v1_PeersRemoveResponse__Output>): grpc.ClientUnaryCall;
  peersRemove(argument: _basalt_operator_v1_PeersRemoveRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_basalt_operator_v1_PeersRemoveResponse__Output>): grpc.ClientUnaryCall;
  peersRemove(argument: _basalt_operator_v1_PeersRemoveRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_basalt_operator_v1_PeersRemoveResponse__Output>): grpc.ClientUnaryCall;
  peersRemove(argument: _basalt_operator_v1_PeersRemoveRequest, callback: grpc.requestCallback<_basalt_operator_v1_PeersRemoveResponse__Output>): grpc.ClientUnaryCall;
  
  Snapshot(argument: _basalt_operator_v1_SnapshotRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_basalt_operator_v1_SnapshotEvent__Output>;
  Snapshot(argument: _basalt_operator_v1_SnapshotRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_basalt_operator_v1_SnapshotEvent__Output>;
  snapshot(argument: _basalt_operator_v1_SnapshotRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_basalt_operator_v1_SnapshotEvent__Output>;
  snapshot(argument: _basalt_operator_v1_SnapshotRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_basalt_operator_v1_SnapshotEvent__Output>;
  
  Status(argument: _basalt_operator_v1_StatusRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_basalt_operator_v1_StatusResponse__Output>): grpc.ClientUnaryCall;
  Status(argument: _basalt_operator_v1_StatusRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_basalt_operator_v1_StatusResponse__Output>): grpc.ClientUnaryCall;
  Status(argument: _basalt_operator_v1_StatusRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_basalt_operator_v1_StatusResponse__Output>): grpc.ClientUnaryCall;
  Status(argument: _basalt_operator_v1_StatusRequest, callback: grpc.requestCallback<_basalt_operator_v1_StatusResponse__Output>): grpc.ClientUnaryCall;
  status(argument: _basalt_operator_v1_StatusRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_basalt_operator_v1_StatusResponse__Output>): grpc.ClientUnaryCall;
  status(argument: _basalt_operator_v1_StatusRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_basalt_operator_v1_StatusResponse__Output>): grpc.ClientUnaryCall;
  status(argument: _basalt_operator_v1_StatusRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_basalt_operator_v1_StatusResponse__Output>): grpc.ClientUnaryCall;
  status(argument: _basalt_operator_v1_StatusRequest, callback: grpc.requestCallback<_basalt_operator_v1_StatusResponse__Output>): grpc.ClientUnaryCall;
  
}

export interface OperatorHandlers extends grpc.UntypedServiceImplementation {
  BackupNow: grpc.handleUnaryCall<_basalt_operator_v1_BackupNowRequest__Output, _basalt_operator_v1_BackupNowResponse>;
  
  Export: grpc.handleServerStreamingCall<_basalt_operator_v1_ExportRequest__Output, _basalt_operator_v1_ExportEvent>;
  
  IbftCandidates: grpc.handleUnaryCall<_basalt_operator_v1_IbftCandidatesRequest__Output, _basalt_operator_v1_IbftCandidatesResponse>;
  
  IbftDiscard: grpc.handleUnaryCall<_basalt_operator_v1_IbftDiscardRequest__Output, _basalt_operator_v1_IbftDiscardResponse>;
  
  IbftPropose: grpc.handleUnaryCall<_basalt_operator_v1_IbftProposeRequest__Output, _basalt_operator_v1_IbftProposeResponse>;
  
  IbftSnapshot: grpc.handleUnaryCall<_basalt_operator_v1_IbftSnapshotRequest__Output, _basalt_operator_v1_IbftSnapshotResponse>;
  
  IbftStatus: grpc.handleUnaryCall<_basalt_operator_v1_IbftStatusRequest__Output, _basalt_operator_v1_IbftStatusResponse>;
  
  Import: grpc.handleBidiStreamingCall<_basalt_operator_v1_ImportRequest__Output, _basalt_operator_v1_ImportEvent>;
  
  PeersAdd: grpc.handleUnaryCall<_basalt_operator_v1_PeersAddRequest__Output, _basalt_operator_v1_PeersAddResponse>;
  
  PeersList: grpc.handleUnaryCall<_basalt_operator_v1_PeersListRequest__Output, _basalt_operator_v1_PeersListResponse>;
  
  PeersRemove: grpc.handleUnaryCall<_basalt_operator_v1_PeersRemoveRequest__Output, _basalt_operator_v1_PeersRemoveResponse>;
  
  Snapshot: grpc.handleServerStreamingCall<_basalt_operator_v1_SnapshotRequest__Output, _basalt_operator_v1_SnapshotEvent>;
  
  Status: grpc.handleUnaryCall<_basalt_operator_v1_StatusRequest__Output, _basalt_operator_v1_StatusResponse>;
  
}

export interface OperatorDefinition extends grpc.ServiceDefinition {
  BackupNow: MethodDefinition<_basalt_operator_v1_BackupNowRequest, _basalt_operator_v1_BackupNowResponse, _basalt_operator_v1_BackupNowRequest__Output, _basalt_operator_v1_BackupNowResponse__Output>
  Export: MethodDefinition<_basalt_operator_v1_ExportRequest, _basalt_operator_v1_ExportEvent, _basalt_operator_v1_ExportRequest__Output, _basalt_operator_v1_ExportEvent__Output>
  IbftCandidates: MethodDefinition<_basalt_operator_v1_IbftCandidatesRequest, _basalt_operator_v1_IbftCandidatesResponse, _basalt_operator_v1_IbftCandidatesRequest__Output, _basalt_operator_v1_IbftCandidatesResponse__Output>
  IbftDiscard: MethodDefinition<_basalt_operator_v1_IbftDiscardRequest, _basalt_operator_v1_IbftDiscardResponse, _basalt_operator_v1_IbftDiscardRequest__Output, _basalt_operator_v1_IbftDiscardResponse__Output>
  IbftPropose: MethodDefinition<_basalt_operator_v1_IbftProposeRequest, _basalt_operator_v1_IbftProposeResponse, _basalt_operator_v1_IbftProposeRequest__Output, _basalt_operator_v1_IbftProposeResponse__Output>
  IbftSnapshot: MethodDefinition<_basalt_operator_v1_IbftSnapshotRequest, _basalt_operator_v1_IbftSnapshotResponse, _basalt_operator_v1_IbftSnapshotRequest__Output, _basalt_operator_v1_IbftSnapshotResponse__Output>
  IbftStatus: MethodDefinition<_basalt_operator_v1_IbftStatusRequest, _basalt_operator_v1_IbftStatusResponse, _basalt_operator_v1_IbftStatusRequest__Output, _basalt_operator_v1_IbftStatusResponse__Output>
  Import: MethodDefinition<_basalt_operator_v1_ImportRequest, _basalt_operator_v1_ImportEvent, _basalt_operator_v1_ImportRequest__Output, _basalt_operator_v1_ImportEvent__Output>
  PeersAdd: MethodDefinition<_basalt_operator_v1_PeersAddRequest, _basalt_operator_v1_PeersAddResponse, _basalt_operator_v1_PeersAddRequest__Output, _basalt_operator_v1_PeersAddResponse__Output>
  PeersList: MethodDefinition<_basalt_operator_v1_PeersListRequest, _basalt_operator_v1_PeersListResponse, _basalt_operator_v1_PeersListRequest__Output, _basalt_operator_v1_PeersListResponse__Output>
  PeersRemove: MethodDefinition<_basalt_operator_v1_PeersRemoveRequest, _basalt_operator_v1_PeersRemoveResponse, _basalt_operator_v1_PeersRemoveRequest__Output, _basalt_operator_v1_PeersRemoveResponse__Output>
  Snapshot: MethodDefinition<_basalt_operator_v1_SnapshotRequest, _basalt_operator_v1_SnapshotEvent, _basalt_operator_v1_SnapshotRequest__Output, _basalt_operator_v1_SnapshotEvent__Output>
  Status: MethodDefinition<_basalt_operator_v1_StatusRequest, _basalt_operator_v1_StatusResponse, _basalt_operator_v1_StatusRequest__Output, _basalt_operator_v1_StatusResponse__Output>
}
