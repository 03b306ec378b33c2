// Original file: proto/basalt/operator/v1/operator.proto


export interface IbftProposeResponse {
}

export interface IbftProposeResponse__Output {
}
