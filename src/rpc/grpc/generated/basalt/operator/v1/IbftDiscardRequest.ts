// Original file: proto/basalt/operator/v1/operator.proto


export interface IbftDiscardRequest {
  'address'?: (string);
}

export interface IbftDiscardRequest__Output {
  'address': (string);
}
