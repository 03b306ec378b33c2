// Original file: proto/basalt/operator/v1/operator.proto

import type { Long } from '@grpc/proto-loader';

export interface BackupPiece {
  'kind'?: (string);
  'startBlock'?: (number | string | Long);
  'endBlock'?: (number | string | Long);
  'time'?: (number | string | Long);
  'bytes'?: (number | string | Long);
  'digest'?: (string);
  'file'?: (string);
  'target'?: (string);
  'durationMs'?: (number | string | Long);
}

export interface BackupPiece__Output {
  'kind': (string);
  'startBlock': (string);
  'endBlock': (string);
  'time': (string);
  'bytes': (string);
  'digest': (string);
  'file': (string);
  'target': (string);
  'durationMs': (string);
}
