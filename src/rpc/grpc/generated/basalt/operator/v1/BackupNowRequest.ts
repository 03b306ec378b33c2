// Original file: proto/basalt/operator/v1/operator.proto


export interface BackupNowRequest {
  'archive'?: (boolean);
}

export interface BackupNowRequest__Output {
  'archive': (boolean);
}
