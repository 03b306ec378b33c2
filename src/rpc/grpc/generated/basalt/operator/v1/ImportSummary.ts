// Original file: proto/basalt/operator/v1/operator.proto

import type { Long } from '@grpc/proto-loader';

export interface ImportSummary {
  'startBlock'?: (number | string | Long);
  'endBlock'?: (number | string | Long);
  'imported'?: (number | string | Long);
  'skipped'?: (number | string | Long);
  'bytes'?: (number | string | Long);
  'digest'?: (string);
  'durationMs'?: (number | string | Long);
  'head'?: (number | string | Long);
}

export interface ImportSummary__Output {
  'startBlock': (string);
  'endBlock': (string);
  'imported': (string);
  'skipped': (string);
  'bytes': (string);
  'digest': (string);
  'durationMs': (string);
  'head': (string);
}
