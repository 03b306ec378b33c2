// Original file: proto/basalt/operator/v1/operator.proto


export interface IbftDiscardResponse {
  'discarded'?: (boolean);
}

export interface IbftDiscardResponse__Output {
  'discarded': (boolean);
}
