// Original file: proto/basalt/operator/v1/operator.proto


export interface PeersAddRequest {
  'address'?: (string);
}

export interface PeersAddRequest__Output {
  'address': (string);
}
