// Original file: proto/basalt/operator/v1/operator.proto

import type { ArchiveInfo as _basalt_operator_v1_ArchiveInfo, ArchiveInfo__Output as _basalt_operator_v1_ArchiveInfo__Output } from '../../../basalt/operator/v1/ArchiveInfo.js';
import type { ExportProgress as _basalt_operator_v1_ExportProgress, ExportProgress__Output as _basalt_operator_v1_ExportProgress__Output } from '../../../basalt/operator/v1/ExportProgress.js';
import type { ExportSummary as _basalt_operator_v1_ExportSummary, ExportSummary__Output as _basalt_operator_v1_ExportSummary__Output } from '../../../basalt/operator/v1/ExportSummary.js';

export interface ExportEvent {
  'started'?: (_basalt_operator_v1_ArchiveInfo | null);
  'data'?: (Buffer | Uint8Array | string);
  'progress'?: (_basalt_operator_v1_ExportProgress | null);
  'summary'?: (_basalt_operator_v1_ExportSummary | null);
  'event'?: "started"|"data"|"progress"|"summary";
}

export interface ExportEvent__Output {
  'started'?: (_basalt_operator_v1_ArchiveInfo__Output | null);
  'data'?: (Buffer);
  'progress'?: (_basalt_operator_v1_ExportProgress__Output | null);
  'summary'?: (_basalt_operator_v1_ExportSummary__Output | null);
  'event'?: "started"|"data"|"progress"|"summary";
}
