// Original file: proto/basalt/operator/v1/operator.proto


export interface SnapshotRequest {
  'compression'?: (string);
  'history'?: (string);
}

export interface SnapshotRequest__Output {
  'compression': (string);
  'history': (string);
}
