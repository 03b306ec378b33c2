// Original file: proto/basalt/operator/v1/operator.proto

import type { Long } from '@grpc/proto-loader';

export interface ExportProgress {
  'block'?: (number | string | Long);
  'blocksDone'?: (number | string | Long);
  'blocksTotal'?: (number | string | Long);
  'bytes'?: (number | string | Long);
}

export interface ExportProgress__Output {
  'block': (string);
  'blocksDone': (string);
  'blocksTotal': (string);
  'bytes': (string);
}
