// Original file: proto/basalt/operator/v1/operator.proto


export interface IbftPendingVote {
  'voter'?: (string);
  'candidate'?: (string);
  'vote'?: (string);
}

export interface IbftPendingVote__Output {
  'voter': (string);
  'candidate': (string);
  'vote': (string);
}
