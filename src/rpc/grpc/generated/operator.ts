import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { ArchiveInfo as _basalt_operator_v1_ArchiveInfo, ArchiveInfo__Output as _basalt_operator_v1_ArchiveInfo__Output } from './basalt/operator/v1/ArchiveInfo.js';
import type { BackupNowRequest as _basalt_operator_v1_BackupNowRequest, BackupNowRequest__Output as _basalt_operator_v1_BackupNowRequest__Output } from './basalt/operator/v1/BackupNowRequest.js';
import type { BackupNowResponse as _basalt_operator_v1_BackupNowResponse, BackupNowResponse__Output as _basalt_operator_v1_BackupNowResponse__Output } from './basalt/operator/v1/BackupNowResponse.js';
import type { BackupPiece as _basalt_operator_v1_BackupPiece, BackupPiece__Output as _basalt_operator_v1_BackupPiece__Output } from './basalt/operator/v1/BackupPiece.js';
import type { ExportEvent as _basalt_operator_v1_ExportEvent, ExportEvent__Output as _basalt_operator_v1_ExportEvent__Output } from './basalt/operator/v1/ExportEvent.js';
import type { ExportProgress as _basalt_operator_v1_ExportProgress, ExportProgress__Output as _basalt_operator_v1_ExportProgress__Output } from './basalt/operator/v1/ExportProgress.js';
import type { ExportRequest as _basalt_operator_v1_ExportRequest, ExportRequest__Output as _basalt_operator_v1_ExportRequest__Output } from './basalt/operator/v1/ExportRequest.js';
import type { ExportSummary as _basalt_operator_v1_ExportSummary, ExportSummary__Output as _basalt_operator_v1_ExportSummary__Output } from './basalt/operator/v1/ExportSummary.js';
import type { IbftCandidate as _basalt_operator_v1_IbftCandidate, IbftCandidate__Output as _basalt_operator_v1_IbftCandidate__Output } from './basalt/operator/v1/IbftCandidate.js';
import type { IbftCandidatesRequest as _basalt_operator_v1_IbftCandidatesRequest, IbftCandidatesRequest__Output as _basalt_operator_v1_IbftCandidatesRequest__Output } from './basalt/operator/v1/IbftCandidatesRequest.js';
import type { IbftCandidatesResponse as _basalt_operator_v1_IbftCandidatesResponse, IbftCandidatesResponse__Output as _basalt_operator_v1_IbftCandidatesResponse__Output } from './basalt/operator/v1/IbftCandidatesResponse.js';
import type { IbftDiscardRequest as _basalt_operator_v1_IbftDiscardRequest, IbftDiscardRequest__Output as _basalt_operator_v1_IbftDiscardRequest__Output } from './basalt/operator/v1/IbftDiscardRequest.js';
import type { IbftDiscardResponse as _basalt_operator_v1_IbftDiscardResponse, IbftDiscardResponse__Output as _basalt_operator_v1_IbftDiscardResponse__Output } from './basalt/operator/v1/IbftDiscardResponse.js';
import type { IbftPendingVote as _basalt_operator_v1_IbftPendingVote, IbftPendingVote__Output as _basalt_operator_v1_IbftPendingVote__Output } from './basalt/operator/v1/IbftPendingVote.js';
import type { IbftProposeRequest as _basalt_operator_v1_IbftProposeRequest, IbftProposeRequest__Output as _basalt_operator_v1_IbftProposeRequest__Output } from './basalt/operator/v1/IbftProposeRequest.js';
import type { IbftProposeResponse as _basalt_operator_v1_IbftProposeResponse, IbftProposeResponse__Output as _basalt_operator_v1_IbftProposeResponse__Output } from './basalt/operator/v1/IbftProposeResponse.js';
import type { IbftSnapshotRequest as _basalt_operator_v1_IbftSnapshotRequest, IbftSnapshotRequest__Output as _basalt_operator_v1_IbftSnapshotRequest__Output } from './basalt/operator/v1/IbftSnapshotRequest.js';
import type { IbftSnapshotResponse as _basalt_operator_v1_IbftSnapshotResponse, IbftSnapshotResponse__Output as _basalt_operator_v1_IbftSnapshotResponse__Output } from './basalt/operator/v1/IbftSnapshotResponse.js';
import type { IbftStatusRequest as _basalt_operator_v1_IbftStatusRequest, IbftStatusRequest__Output as _basalt_operator_v1_IbftStatusRequest__Output } from './basalt/operator/v1/IbftStatusRequest.js';
import type { IbftStatusResponse as _basalt_operator_v1_IbftStatusResponse, IbftStatusResponse__Output as _basalt_operator_v1_IbftStatusResponse__Output } from './basalt/operator/v1/IbftStatusResponse.js';
import type { ImportEvent as _basalt_operator_v1_ImportEvent, ImportEvent__Output as _basalt_operator_v1_ImportEvent__Output } from './basalt/operator/v1/ImportEvent.js';
import type { ImportProgress as _basalt_operator_v1_ImportProgress, ImportProgress__Output as _basalt_operator_v1_ImportProgress__Output } from './basalt/operator/v1/ImportProgress.js';
import type { ImportRequest as _basalt_operator_v1_ImportRequest, ImportRequest__Output as _basalt_operator_v1_ImportRequest__Output } from './basalt/operator/v1/ImportRequest.js';
import type { ImportSummary as _basalt_operator_v1_ImportSummary, ImportSummary__Output as _basalt_operator_v1_ImportSummary__Output } from './basalt/operator/v1/ImportSummary.js';
import type { OperatorClient as _basalt_operator_v1_OperatorClient, OperatorDefinition as _basalt_operator_v1_OperatorDefinition } from './basalt/operator/v1/Operator.js';
import type { Peer as _basalt_operator_v1_Peer, Peer__Output as _basalt_operator_v1_Peer__Output } from './basalt/operator/v1/Peer.js';
import type { PeersAddRequest as _basalt_operator_v1_PeersAddRequest, PeersAddRequest__Output as _basalt_operator_v1_PeersAddRequest__Output } from './basalt/operator/v1/PeersAddRequest.js';
import type { PeersAddResponse as _basalt_operator_v1_PeersAddResponse, PeersAddResponse__Output as _basalt_operator_v1_PeersAddResponse__Output } from './basalt/operator/v1/PeersAddResponse.js';
import type { PeersListRequest as _basalt_operator_v1_PeersListRequest, PeersListRequest__Output as _basalt_operator_v1_PeersListRequest__Output } from './basalt/operator/v1/PeersListRequest.js';
import type { PeersListResponse as _basalt_operator_v1_PeersListResponse, PeersListResponse__Output as _basalt_operator_v1_PeersListResponse__Output } from './basalt/operator/v1/PeersListResponse.js';
import type { PeersRemoveRequest as _basalt_operator_v1_PeersRemoveRequest, PeersRemoveRequest__Output as _basalt_operator_v1_PeersRemoveRequest__Output } from './basalt/operator/v1/PeersRemoveRequest.js';
import type { PeersRemoveResponse as _basalt_operator_v1_PeersRemoveResponse, PeersRemoveResponse__Output as _basalt_operator_v1_PeersRemoveResponse__Output } from './basalt/operator/v1/PeersRemoveResponse.js';
import type { SnapshotEvent as _basalt_operator_v1_SnapshotEvent, SnapshotEvent__Output as _basalt_operator_v1_SnapshotEvent__Output } from './basalt/operator/v1/SnapshotEvent.js';
import type { SnapshotInfo as _basalt_operator_v1_SnapshotInfo, SnapshotInfo__Output as _basalt_operator_v1_SnapshotInfo__Output } from './basalt/operator/v1/SnapshotInfo.js';
import type { SnapshotProgress as _basalt_operator_v1_SnapshotProgress, SnapshotProgress__Output as _basalt_operator_v1_SnapshotProgress__Output } from './basalt/operator/v1/SnapshotProgress.js';
import type { SnapshotRequest as _basalt_operator_v1_SnapshotRequest, SnapshotRequest__Output as _basalt_operator_v1_SnapshotRequest__Output } from './basalt/operator/v1/SnapshotRequest.js';
import type { SnapshotSummary as _basalt_operator_v1_SnapshotSummary, SnapshotSummary__Output as _basalt_operator_v1_SnapshotSummary__Output } from './basalt/operator/v1/SnapshotSummary.js';
import type { StatusRequest as _basalt_operator_v1_StatusRequest, StatusRequest__Output as _basalt_operator_v1_StatusRequest__Output } from './basalt/operator/v1/StatusRequest.js';
import type { StatusResponse as _basalt_operator_v1_StatusResponse, StatusResponse__Output as _basalt_operator_v1_StatusResponse__Output } from './basalt/operator/v1/StatusResponse.js';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  basalt: {
    operator: {
      v1: {
        ArchiveInfo: MessageTypeDefinition<_basalt_operator_v1_ArchiveInfo, _basalt_operator_v1_ArchiveInfo__Output>
        BackupNowRequest: MessageTypeDefinition<_basalt_operator_v1_BackupNowRequest, _basalt_operator_v1_BackupNowRequest__Output>
        BackupNowResponse: MessageTypeDefinition<_basalt_operator_v1_BackupNowResponse, _basalt_operator_v1_BackupNowResponse__Output>
        BackupPiece: MessageTypeDefinition<_basalt_operator_v1_BackupPiece, _basalt_operator_v1_BackupPiece__Output>
        ExportEvent: MessageTypeDefinition<_basalt_operator_v1_ExportEvent, _basalt_operator_v1_ExportEvent__Output>
        ExportProgress: MessageTypeDefinition<_basalt_operator_v1_ExportProgress, _basalt_operator_v1_ExportProgress__Output>
        ExportRequest: MessageTypeDefinition<_basalt_operator_v1_ExportRequest, _basalt_operator_v1_ExportRequest__Output>
        ExportSummary: MessageTypeDefinition<_basalt_operator_v1_ExportSummary, _basalt_operator_v1_ExportSummary__Output>
        IbftCandidate: MessageTypeDefinition<_basalt_operator_v1_IbftCandidate, _basalt_operator_v1_IbftCandidate__Output>
        IbftCandidatesRequest: MessageTypeDefinition<_basalt_operator_v1_IbftCandidatesRequest, _basalt_operator_v1_IbftCandidatesRequest__Output>
        IbftCandidatesResponse: MessageTypeDefinition<_basalt_operator_v1_IbftCandidatesResponse, _basalt_operator_v1_IbftCandidatesResponse__Output>
        IbftDiscardRequest: MessageTypeDefinition<_basalt_operator_v1_IbftDiscardRequest, _basalt_operator_v1_IbftDiscardRequest__Output>
        IbftDiscardResponse: MessageTypeDefinition<_basalt_operator_v1_IbftDiscardResponse, _basalt_operator_v1_IbftDiscardResponse__Output>
        IbftPendingVote: MessageTypeDefinition<_basalt_operator_v1_IbftPendingVote, _basalt_operator_v1_IbftPendingVote__Output>
        IbftProposeRequest: MessageTypeDefinition<_basalt_operator_v1_IbftProposeRequest, _basalt_operator_v1_IbftProposeRequest__Output>
        IbftProposeResponse: MessageTypeDefinition<_basalt_operator_v1_IbftProposeResponse, _basalt_operator_v1_IbftProposeResponse__Output>
        IbftSnapshotRequest: MessageTypeDefinition<_basalt_operator_v1_IbftSnapshotRequest, _basalt_operator_v1_IbftSnapshotRequest__Output>
        IbftSnapshotResponse: MessageTypeDefinition<_basalt_operator_v1_IbftSnapshotResponse, _basalt_operator_v1_IbftSnapshotResponse__Output>
        IbftStatusRequest: MessageTypeDefinition<_basalt_operator_v1_IbftStatusRequest, _basalt_operator_v1_IbftStatusRequest__Output>
        IbftStatusResponse: MessageTypeDefinition<_basalt_operator_v1_IbftStatusResponse, _basalt_operator_v1_IbftStatusResponse__Output>
        ImportEvent: MessageTypeDefinition<_basalt_operator_v1_ImportEvent, _basalt_operator_v1_ImportEvent__Output>
        ImportProgress: MessageTypeDefinition<_basalt_operator_v1_ImportProgress, _basalt_operator_v1_ImportProgress__Output>
        ImportRequest: MessageTypeDefinition<_basalt_operator_v1_ImportRequest, _basalt_operator_v1_ImportRequest__Output>
        ImportSummary: MessageTypeDefinition<_basalt_operator_v1_ImportSummary, _basalt_operator_v1_ImportSummary__Output>
        Operator: SubtypeConstructor<typeof grpc.Client, _basalt_operator_v1_OperatorClient> & { service: _basalt_operator_v1_OperatorDefinition }
        Peer: MessageTypeDefinition<_basalt_operator_v1_Peer, _basalt_operator_v1_Peer__Output>
        PeersAddRequest: MessageTypeDefinition<_basalt_operator_v1_PeersAddRequest, _basalt_operator_v1_PeersAddRequest__Output>
        PeersAddResponse: MessageTypeDefinition<_basalt_operator_v1_PeersAddResponse, _basalt_operator_v1_PeersAddResponse__Output>
        PeersListRequest: MessageTypeDefinition<_basalt_operator_v1_PeersListRequest, _basalt_operator_v1_PeersListRequest__Output>
        PeersListResponse: MessageTypeDefinition<_basalt_operator_v1_PeersListResponse, _basalt_operator_v1_PeersListResponse__Output>
        PeersRemoveRequest: MessageTypeDefinition<_basalt_operator_v1_PeersRemoveRequest, _basalt_operator_v1_PeersRemoveRequest__Output>
        PeersRemoveResponse: MessageTypeDefinition<_basalt_operator_v1_PeersRemoveResponse, _basalt_operator_v1_PeersRemoveResponse__Output>
        SnapshotEvent: MessageTypeDefinition<_basalt_operator_v1_SnapshotEvent, _basalt_operator_v1_SnapshotEvent__Output>
        SnapshotInfo: MessageTypeDefinition<_basalt_operator_v1_SnapshotInfo, _basalt_operator_v1_SnapshotInfo__Output>
        SnapshotProgress: MessageTypeDefinition<_basalt_operator_v1_SnapshotProgress, _basalt_operator_v1_SnapshotProgress__Output>
        SnapshotRequest: MessageTypeDefinition<_basalt_operator_v1_SnapshotRequest, _basalt_operator_v1_SnapshotRequest__Output>
        SnapshotSummary: MessageTypeDefinition<_basalt_operator_v1_SnapshotSummary, _basalt_operator_v1_SnapshotSummary__Output>
        StatusRequest: MessageTypeDefinition<_basalt_operator_v1_StatusRequest, _basalt_operator_v1_StatusRequest__Output>
        StatusResponse: MessageTypeDefinition<_basalt_operator_v1_StatusResponse, _basalt_operator_v1_StatusResponse__Output>
      }
    }
  }
}

