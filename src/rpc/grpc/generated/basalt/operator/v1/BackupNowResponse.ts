// Original file: proto/basalt/operator/v1/operator.proto

import type { BackupPiece as _basalt_operator_v1_BackupPiece, BackupPiece__Output as _basalt_operator_v1_BackupPiece__Output } from '../../../basalt/operator/v1/BackupPiece.js';

export interface BackupNowResponse {
  'pieces'?: (_basalt_operator_v1_BackupPiece)[];
}

export interface BackupNowResponse__Output {
  'pieces': (_basalt_operator_v1_BackupPiece__Output)[];
}
