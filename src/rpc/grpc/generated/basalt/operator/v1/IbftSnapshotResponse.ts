// Original file: proto/basalt/operator/v1/operator.proto

import type { IbftPendingVote as _basalt_operator_v1_IbftPendingVote, IbftPendingVote__Output as _basalt_operator_v1_IbftPendingVote__Output } from '../../../basalt/operator/v1/IbftPendingVote.js';
import type { Long } from '@grpc/proto-loader';

export interface IbftSnapshotResponse {
  'number'?: (number | string | Long);
  'hash'?: (string);
  'validators'?: (string)[];
  'votes'?: (_basalt_operator_v1_IbftPendingVote)[];
  'epochSize'?: (number | string | Long);
}

export interface IbftSnapshotResponse__Output {
  'number': (string);
  'hash': (string);
  'validators': (string)[];
  'votes': (_basalt_operator_v1_IbftPendingVote__Output)[];
  'epochSize': (string);
}
