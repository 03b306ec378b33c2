// Original file: proto/basalt/operator/v1/operator.proto


export interface IbftStatusRequest {
}

export interface IbftStatusRequest__Output {
}
