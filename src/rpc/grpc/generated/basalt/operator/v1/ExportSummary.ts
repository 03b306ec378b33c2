// Original file: proto/basalt/operator/v1/operator.proto

import type { Long } from '@grpc/proto-loader';

export interface ExportSummary {
  'startBlock'?: (number | string | Long);
  'endBlock'?: (number | string | Long);
  'blocks'?: (number | string | Long);
  'bytes'?: (number | string | Long);
  'digest'?: (string);
  'durationMs'?: (number | string | Long);
}

export interface ExportSummary__Output {
  'startBlock': (string);
  'endBlock': (string);
  'blocks': (string);
  'bytes': (string);
  'digest': (string);
  'durationMs': (string);
}
