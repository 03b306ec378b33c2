// Original file: proto/basalt/operator/v1/operator.proto

import type { SnapshotInfo as _basalt_operator_v1_SnapshotInfo, SnapshotInfo__Output as _basalt_operator_v1_SnapshotInfo__Output } from '../../../basalt/operator/v1/SnapshotInfo.js';
import type { SnapshotProgress as _basalt_operator_v1_SnapshotProgress, SnapshotProgress__Output as _basalt_operator_v1_SnapshotProgress__Output } from '../../../basalt/operator/v1/SnapshotProgress.js';
import type { SnapshotSummary as _basalt_operator_v1_SnapshotSummary, SnapshotSummary__Output as _basalt_operator_v1_SnapshotSummary__Output } from '../../../basalt/operator/v1/SnapshotSummary.js';

export interface SnapshotEvent {
  'started'?: (_basalt_operator_v1_SnapshotInfo | null);
  'data'?: (Buffer | Uint8Array | string);
  'progress'?: (_basalt_operator_v1_SnapshotProgress | null);
  'summary'?: (_basalt_operator_v1_SnapshotSummary | null);
  'event'?: "started"|"data"|"progress"|"summary";
}

export interface SnapshotEvent__Output {
  'started'?: (_basalt_operator_v1_SnapshotInfo__Output | null);
  'data'?: (Buffer);
  'progress'?: (_basalt_operator_v1_SnapshotProgress__Output | null);
  'summary'?: (_basalt_operator_v1_SnapshotSummary__Output | null);
  'event'?: "started"|"data"|"progress"|"summary";
}
