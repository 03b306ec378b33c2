import { LocalDirTarget } from './local-dir.js';
import type { S3TargetOptions } from './s3.js';
import { isS3Url, type BackupTarget } from './target.js';

/**
 * The target a --backup-dir names: s3://bucket/prefix, or a local folder (created if missing when
 * `create`). The AWS SDK loads only for an S3 target.
 */
export async function openTarget(url: string, s3?: S3TargetOptions, create = true): Promise<BackupTarget> {
  if (!isS3Url(url)) return new LocalDirTarget(url, create);
  const { S3Target } = await import('./s3.js');
  return new S3Target(url, s3);
}
