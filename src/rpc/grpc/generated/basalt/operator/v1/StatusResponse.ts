// Original file: proto/basalt/operator/v1/operator.proto

import type { Long } from '@grpc/proto-loader';

export interface StatusResponse {
  'chainId'?: (number | string | Long);
  'genesisHash'?: (string);
  'number'?: (number | string | Long);
  'hash'?: (string);
  'stateRoot'?: (string);
  'timestamp'?: (number | string | Long);
  'validatorAddress'?: (string);
  'nodeId'?: (string);
  'sealing'?: (boolean);
  'clientVersion'?: (string);
  'writable'?: (boolean);
  'notWritableReason'?: (string);
}

export interface StatusResponse__Output {
  'chainId': (string);
  'genesisHash': (string);
  'number': (string);
  'hash': (string);
  'stateRoot': (string);
  'timestamp': (string);
  'validatorAddress': (string);
  'nodeId': (string);
  'sealing': (boolean);
  'clientVersion': (string);
  'writable': (boolean);
  'notWritableReason': (string);
}
