// Original file: proto/basalt/operator/v1/operator.proto

import type { Long } from '@grpc/proto-loader';

export interface ImportProgress {
  'block'?: (number | string | Long);
  'imported'?: (number | string | Long);
  'skipped'?: (number | string | Long);
  'blocksTotal'?: (number | string | Long);
  'bytesRead'?: (number | string | Long);
}

export interface ImportProgress__Output {
  'block': (string);
  'imported': (string);
  'skipped': (string);
  'blocksTotal': (string);
  'bytesRead': (string);
}
