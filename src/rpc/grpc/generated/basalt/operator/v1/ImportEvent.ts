// Original file: proto/basalt/operator/v1/operator.proto

import type { ArchiveInfo as _basalt_operator_v1_ArchiveInfo, ArchiveInfo__Output as _basalt_operator_v1_ArchiveInfo__Output } from '../../../basalt/operator/v1/ArchiveInfo.js';
import type { ImportProgress as _basalt_operator_v1_ImportProgress, ImportProgress__Output as _basalt_operator_v1_ImportProgress__Output } from '../../../basalt/operator/v1/ImportProgress.js';
import type { ImportSummary as _basalt_operator_v1_ImportSummary, ImportSummary__Output as _basalt_operator_v1_ImportSummary__Output } from '../../../basalt/operator/v1/ImportSummary.js';

export interface ImportEvent {
  'started'?: (_basalt_operator_v1_ArchiveInfo | null);
  'progress'?: (_basalt_operator_v1_ImportProgress | null);
  'summary'?: (_basalt_operator_v1_ImportSummary | null);
  'event'?: "started"|"progress"|"summary";
}

export interface ImportEvent__Output {
  'started'?: (_basalt_operator_v1_ArchiveInfo__Output | null);
  'progress'?: (_basalt_operator_v1_ImportProgress__Output | null);
  'summary'?: (_basalt_operator_v1_ImportSummary__Output | null);
  'event'?: "started"|"progress"|"summary";
}
