// Original file: proto/basalt/operator/v1/operator.proto

import type { Long } from '@grpc/proto-loader';

export interface IbftSnapshotRequest {
  'number'?: (number | string | Long);
  '_number'?: "number";
}

export interface IbftSnapshotRequest__Output {
  'number'?: (string);
  '_number'?: "number";
}
