// Original file: proto/basalt/operator/v1/operator.proto


export interface StatusRequest {
}

export interface StatusRequest__Output {
}
