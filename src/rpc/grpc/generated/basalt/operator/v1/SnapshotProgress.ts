// Original file: proto/basalt/operator/v1/operator.proto

import type { Long } from '@grpc/proto-loader';

export interface SnapshotProgress {
  'phase'?: (string);
  'blocksDone'?: (number | string | Long);
  'blocksTotal'?: (number | string | Long);
  'stateNodes'?: (number | string | Long);
  'codes'?: (number | string | Long);
  'bytes'?: (number | string | Long);
  'stateNodesExpected'?: (number | string | Long);
}

export interface SnapshotProgress__Output {
  'phase': (string);
  'blocksDone': (string);
  'blocksTotal': (string);
  'stateNodes': (string);
  'codes': (string);
  'bytes': (string);
  'stateNodesExpected': (string);
}
