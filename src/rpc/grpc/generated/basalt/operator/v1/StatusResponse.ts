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
  'networking'?: (boolean);
  'peers'?: (number);
  'syncing'?: (boolean);
  'highestBlock'?: (number | string | Long);
  'listenAddresses'?: (string)[];
  'validators'?: (number);
  'quorum'?: (number);
  'faultTolerance'?: (number);
  'quorumSafe'?: (boolean);
  'clockOffsetMs'?: (number);
  'clockOffsetKnown'?: (boolean);
  'clockSkewed'?: (boolean);
  'historyBackfillFrom'?: (number | string | Long);
  'historyBackfillTo'?: (number | string | Long);
  'historyBackfillStart'?: (number | string | Long);
  'historyBackfillSource'?: (string);
  'historyBackfillError'?: (string);
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
  'networking': (boolean);
  'peers': (number);
  'syncing': (boolean);
  'highestBlock': (string);
  'listenAddresses': (string)[];
  'validators': (number);
  'quorum': (number);
  'faultTolerance': (number);
  'quorumSafe': (boolean);
  'clockOffsetMs': (number);
  'clockOffsetKnown': (boolean);
  'clockSkewed': (boolean);
  'historyBackfillFrom': (string);
  'historyBackfillTo': (string);
  'historyBackfillStart': (string);
  'historyBackfillSource': (string);
  'historyBackfillError': (string);
}
