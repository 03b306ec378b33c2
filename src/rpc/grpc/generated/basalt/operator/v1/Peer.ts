// Original file: proto/basalt/operator/v1/operator.proto

import type { Long } from '@grpc/proto-loader';

export interface Peer {
  'id'?: (string);
  'address'?: (string);
  'direction'?: (string);
  'head'?: (number | string | Long);
}

export interface Peer__Output {
  'id': (string);
  'address': (string);
  'direction': (string);
  'head': (string);
}
