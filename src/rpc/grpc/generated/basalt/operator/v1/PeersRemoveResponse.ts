// Original file: proto/basalt/operator/v1/operator.proto


export interface PeersRemoveResponse {
  'wasConnected'?: (boolean);
}

export interface PeersRemoveResponse__Output {
  'wasConnected': (boolean);
}
