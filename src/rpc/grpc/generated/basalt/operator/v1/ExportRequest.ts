// Original file: proto/basalt/operator/v1/operator.proto

import type { Long } from '@grpc/proto-loader';

export interface ExportRequest {
  'startBlock'?: (number | string | Long);
  'endBlock'?: (number | string | Long);
  'compression'?: (string);
  '_endBlock'?: "endBlock";
}

export interface ExportRequest__Output {
  'startBlock': (string);
  'endBlock'?: (string);
  'compression': (string);
  '_endBlock'?: "endBlock";
}
