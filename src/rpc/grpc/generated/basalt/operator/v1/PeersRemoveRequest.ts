// Original file: proto/basalt/operator/v1/operator.proto


export interface PeersRemoveRequest {
  'id'?: (string);
}

export interface PeersRemoveRequest__Output {
  'id': (string);
}
