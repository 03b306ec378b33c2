// Original file: proto/basalt/operator/v1/operator.proto


export interface IbftCandidatesRequest {
}

export interface IbftCandidatesRequest__Output {
}
