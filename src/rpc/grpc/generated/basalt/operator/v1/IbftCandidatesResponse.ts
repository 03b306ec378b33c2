// Original file: proto/basalt/operator/v1/operator.proto

import type { IbftCandidate as _basalt_operator_v1_IbftCandidate, IbftCandidate__Output as _basalt_operator_v1_IbftCandidate__Output } from '../../../basalt/operator/v1/IbftCandidate.js';

export interface IbftCandidatesResponse {
  'candidates'?: (_basalt_operator_v1_IbftCandidate)[];
}

export interface IbftCandidatesResponse__Output {
  'candidates': (_basalt_operator_v1_IbftCandidate__Output)[];
}
