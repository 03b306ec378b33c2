// Original file: proto/basalt/operator/v1/operator.proto

import type { Long } from '@grpc/proto-loader';

export interface IbftStatusResponse {
  'address'?: (string);
  'inSet'?: (boolean);
  'head'?: (number | string | Long);
  'validators'?: (number);
  'sealing'?: (boolean);
  'lastProposed'?: (number | string | Long);
  'lastSigned'?: (number | string | Long);
  'votesUnknown'?: (string);
  '_lastProposed'?: "lastProposed";
  '_lastSigned'?: "lastSigned";
}

export interface IbftStatusResponse__Output {
  'address': (string);
  'inSet': (boolean);
  'head': (string);
  'validators': (number);
  'sealing': (boolean);
  'lastProposed'?: (string);
  'lastSigned'?: (string);
  'votesUnknown': (string);
  '_lastProposed'?: "lastProposed";
  '_lastSigned'?: "lastSigned";
}
