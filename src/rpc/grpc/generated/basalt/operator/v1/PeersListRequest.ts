// Original file: proto/basalt/operator/v1/operator.proto


export interface PeersListRequest {
}

export interface PeersListRequest__Output {
}
