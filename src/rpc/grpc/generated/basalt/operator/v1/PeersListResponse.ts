// Original file: proto/basalt/operator/v1/operator.proto

import type { Peer as _basalt_operator_v1_Peer, Peer__Output as _basalt_operator_v1_Peer__Output } from '../../../basalt/operator/v1/Peer.js';

export interface PeersListResponse {
  'peers'?: (_basalt_operator_v1_Peer)[];
}

export interface PeersListResponse__Output {
  'peers': (_basalt_operator_v1_Peer__Output)[];
}
