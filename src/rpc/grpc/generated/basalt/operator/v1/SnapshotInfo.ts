// Original file: proto/basalt/operator/v1/operator.proto

import type { Long } from '@grpc/proto-loader';

export interface SnapshotInfo {
  'chainId'?: (number | string | Long);
  'genesisHash'?: (string);
  'head'?: (number | string | Long);
  'headHash'?: (string);
  'stateRoot'?: (string);
  'compression'?: (string);
}

export interface SnapshotInfo__Output {
  'chainId': (string);
  'genesisHash': (string);
  'head': (string);
  'headHash': (string);
  'stateRoot': (string);
  'compression': (string);
}
