import { LocalDirTarget } from './local-dir.js';
import { S3Target, type S3TargetOptions } from './s3.js';
import { isS3Url, type BackupTarget } from './target.js';

/** The target a --backup-dir names: s3://bucket/prefix, or a local folder (created if missing when `create`). */
export function openTarget(url: string, s3?: S3TargetOptions, create = true): BackupTarget {
  return isS3Url(url) ? new S3Target(url, s3) : new LocalDirTarget(url, create);
}
