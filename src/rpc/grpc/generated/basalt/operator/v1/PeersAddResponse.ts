// Original file: proto/basalt/operator/v1/operator.proto


export interface PeersAddResponse {
}

export interface PeersAddResponse__Output {
}
