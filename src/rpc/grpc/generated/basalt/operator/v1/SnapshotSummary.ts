// Original file: proto/basalt/operator/v1/operator.proto

import type { Long } from '@grpc/proto-loader';

export interface SnapshotSummary {
  'head'?: (number | string | Long);
  'headHash'?: (string);
  'stateRoot'?: (string);
  'blocks'?: (number | string | Long);
  'stateNodes'?: (number | string | Long);
  'codes'?: (number | string | Long);
  'bytes'?: (number | string | Long);
  'digest'?: (string);
  'durationMs'?: (number | string | Long);
}

export interface SnapshotSummary__Output {
  'head': (string);
  'headHash': (string);
  'stateRoot': (string);
  'blocks': (string);
  'stateNodes': (string);
  'codes': (string);
  'bytes': (string);
  'digest': (string);
  'durationMs': (string);
}
