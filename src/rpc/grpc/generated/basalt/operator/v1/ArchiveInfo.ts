// Original file: proto/basalt/operator/v1/operator.proto

import type { Long } from '@grpc/proto-loader';

export interface ArchiveInfo {
  'chainId'?: (number | string | Long);
  'genesisHash'?: (string);
  'startBlock'?: (number | string | Long);
  'endBlock'?: (number | string | Long);
  'compression'?: (string);
}

export interface ArchiveInfo__Output {
  'chainId': (string);
  'genesisHash': (string);
  'startBlock': (string);
  'endBlock': (string);
  'compression': (string);
}
