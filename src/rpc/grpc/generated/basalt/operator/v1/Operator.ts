// Original file: proto/basalt/operator/v1/operator.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { BackupNowRequest as _basalt_operator_v1_BackupNowRequest, BackupNowRequest__Output as _basalt_operator_v1_BackupNowRequest__Output } from '../../../basalt/operator/v1/BackupNowRequest.js';
import type { BackupNowResponse as _basalt_operator_v1_BackupNowResponse, BackupNowResponse__Output as _basalt_operator_v1_BackupNowResponse__Output } from '../../../basalt/operator/v1/BackupNowResponse.js';
import type { ExportEvent as _basalt_operator_v1_ExportEvent, ExportEvent__Output as _basalt_operator_v1_ExportEvent__Output } from '../../../basalt/operator/v1/ExportEvent.js';
import type { ExportRequest as _basalt_operator_v1_ExportRequest, ExportRequest__Output as _basalt_operator_v1_ExportRequest__Output } from '../../../basalt/operator/v1/ExportRequest.js';
import type { ImportEvent as _basalt_operator_v1_ImportEvent, ImportEvent__Output as _basalt_operator_v1_ImportEvent__Output } from '../../../basalt/operator/v1/ImportEvent.js';
import type { ImportRequest as _basalt_operator_v1_ImportRequest, ImportRequest__Output as _basalt_operator_v1_ImportRequest__Output } from '../../../basalt/operator/v1/ImportRequest.js';
import type { PeersAddRequest as _basalt_operator_v1_PeersAddRequest, PeersAddRequest__Output as _basalt_operator_v1_PeersAddRequest__Output } from '../../../basalt/operator/v1/PeersAddRequest.js';
import type { PeersAddResponse as _basalt_operator_v1_PeersAddResponse, PeersAddResponse__Output as _basalt_operator_v1_PeersAddResponse__Output } from '../../../basalt/operator/v1/PeersAddResponse.js';
import type { PeersListRequest as _basalt_operator_v1_PeersListRequest, PeersListRequest__Output as _basalt_operator_v1_PeersListRequest__Output } from '../../../basalt/operator/v1/PeersListRequest.js';
import type { PeersListResponse as _basalt_operator_v1_PeersListResponse, PeersListResponse__Output as _basalt_operator_v1_PeersListResponse__Output } from '../../../basalt/operator/v1/PeersListResponse.js';
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
  
  Import: grpc.handleBidiStreamingCall<_basalt_operator_v1_ImportRequest__Output, _basalt_operator_v1_ImportEvent>;
  
  PeersAdd: grpc.handleUnaryCall<_basalt_operator_v1_PeersAddRequest__Output, _basalt_operator_v1_PeersAddResponse>;
  
  PeersList: grpc.handleUnaryCall<_basalt_operator_v1_PeersListRequest__Output, _basalt_operator_v1_PeersListResponse>;
  
  Snapshot: grpc.handleServerStreamingCall<_basalt_operator_v1_SnapshotRequest__Output, _basalt_operator_v1_SnapshotEvent>;
  
  Status: grpc.handleUnaryCall<_basalt_operator_v1_StatusRequest__Output, _basalt_operator_v1_StatusResponse>;
  
}

export interface OperatorDefinition extends grpc.ServiceDefinition {
  BackupNow: MethodDefinition<_basalt_operator_v1_BackupNowRequest, _basalt_operator_v1_BackupNowResponse, _basalt_operator_v1_BackupNowRequest__Output, _basalt_operator_v1_BackupNowResponse__Output>
  Export: MethodDefinition<_basalt_operator_v1_ExportRequest, _basalt_operator_v1_ExportEvent, _basalt_operator_v1_ExportRequest__Output, _basalt_operator_v1_ExportEvent__Output>
  Import: MethodDefinition<_basalt_operator_v1_ImportRequest, _basalt_operator_v1_ImportEvent, _basalt_operator_v1_ImportRequest__Output, _basalt_operator_v1_ImportEvent__Output>
  PeersAdd: MethodDefinition<_basalt_operator_v1_PeersAddRequest, _basalt_operator_v1_PeersAddResponse, _basalt_operator_v1_PeersAddRequest__Output, _basalt_operator_v1_PeersAddResponse__Output>
  PeersList: MethodDefinition<_basalt_operator_v1_PeersListRequest, _basalt_operator_v1_PeersListResponse, _basalt_operator_v1_PeersListRequest__Output, _basalt_operator_v1_PeersListResponse__Output>
  Snapshot: MethodDefinition<_basalt_operator_v1_SnapshotRequest, _basalt_operator_v1_SnapshotEvent, _basalt_operator_v1_SnapshotRequest__Output, _basalt_operator_v1_SnapshotEvent__Output>
  Status: MethodDefinition<_basalt_operator_v1_StatusRequest, _basalt_operator_v1_StatusResponse, _basalt_operator_v1_StatusRequest__Output, _basalt_operator_v1_StatusResponse__Output>
}
