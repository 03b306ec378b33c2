// Original file: proto/basalt/operator/v1/operator.proto


export interface IbftProposeRequest {
  'address'?: (string);
  'vote'?: (string);
}

export interface IbftProposeRequest__Output {
  'address': (string);
  'vote': (string);
}
