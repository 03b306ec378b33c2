// Original file: proto/basalt/operator/v1/operator.proto


export interface IbftCandidate {
  'address'?: (string);
  'vote'?: (string);
}

export interface IbftCandidate__Output {
  'address': (string);
  'vote': (string);
}
