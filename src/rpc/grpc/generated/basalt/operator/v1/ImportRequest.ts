// Original file: proto/basalt/operator/v1/operator.proto


export interface ImportRequest {
  'data'?: (Buffer | Uint8Array | string);
}

export interface ImportRequest__Output {
  'data': (Buffer);
}
