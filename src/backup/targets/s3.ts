import { createReadStream } from 'node:fs';
import { DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { parseS3Url, type BackupTarget, type StagedPiece, type TargetEntry } from './target.js';

export { parseS3Url };

export interface S3TargetOptions {
  /** S3-compatible endpoint; default AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL; path-style addressing then. */
  endpoint?: string;
  region?: string;
  credentials?: S3ClientConfig['credentials'];
  /** Multipart part size in bytes (at least 5 MiB); default 16 MiB. */
  partSize?: number;
  /** Time limit of one HTTP request, ms; default 60 s. */
  requestTimeoutMs?: number;
  /** Keys a listing asks for a page (S3's MaxKeys); default the server's (1,000 on AWS; tests use fewer). */
  listPageSize?: number;
}

/**
 * An S3 bucket and prefix as a backup target, through the AWS SDK with the standard credential chain
 * (environment, shared files, instance roles). Pieces go up as multipart uploads (lib-storage's
 * Upload) from their staged file; an object appears in listings only when its upload completes, so
 * nothing partial is ever visible. Retries are the scheduler's (with backoff), so the SDK makes one
 * attempt per call.
 */
export class S3Target implements BackupTarget {
  readonly url: string;
  readonly stagingDir = undefined;
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly partSize: number;
  private readonly listPageSize: number | undefined;

  constructor(url: string, opts: S3TargetOptions = {}) {
    this.url = url;
    ({ bucket: this.bucket, prefix: this.prefix } = parseS3Url(url));
    const endpoint = opts.endpoint ?? process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL;
    const timeout = opts.requestTimeoutMs ?? 60_000;
    // The SDK prints a multi-line notice about future Node versions on stderr; the node's logs and the
    // CLI's one-line errors are the operator's channel.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    this.client = new S3Client({
      region: opts.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
      maxAttempts: 1,
      requestHandler: { connectionTimeout: Math.min(timeout, 10_000), requestTimeout: timeout },
      ...(endpoint ? { endpoint, forcePathStyle: true } : {}),
      ...(opts.credentials ? { credentials: opts.credentials } : {}),
    });
    this.partSize = opts.partSize ?? 16 * 1024 * 1024;
    this.listPageSize = opts.listPageSize;
  }

  async put(name: string, staged: StagedPiece, signal?: AbortSignal): Promise<void> {
    const upload = new Upload({
      client: this.client,
      params: {
        Bucket: this.bucket,
        Key: this.prefix + name,
        Body: createReadStream(staged.path, { highWaterMark: 1024 * 1024 }),
        ContentLength: staged.bytes,
      },
      partSize: this.partSize,
      queueSize: 2,
      leavePartsOnError: false,
    });
    const onAbort = () => void upload.abort().catch(() => undefined);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await upload.done();
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  async list(): Promise<TargetEntry[]> {
    const out: TargetEntry[] = [];
    let token: string | undefined;
    do {
      const res = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: this.prefix,
          ...(this.listPageSize ? { MaxKeys: this.listPageSize } : {}),
          ...(token ? { ContinuationToken: token } : {}),
        }),
      );
      for (const o of res.Contents ?? []) {
        const name = o.Key?.slice(this.prefix.length);
        if (!name || name.includes('/')) continue;
        out.push({ name, bytes: o.Size ?? 0, storedAt: o.LastModified?.getTime() ?? 0 });
      }
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token);
    return out;
  }

  get(name: string, signal?: AbortSignal): AsyncIterable<Uint8Array> {
    const { client, bucket, prefix } = this;
    return (async function* () {
      signal?.throwIfAborted();
      // The request and its body: an abort ends either (the SDK aborts the request; the body is destroyed).
      const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: prefix + name }), signal ? { abortSignal: signal } : {});
      if (!res.Body) throw new Error(`s3 object ${name} has no body`);
      const body = res.Body as AsyncIterable<Uint8Array> & { destroy?(err?: Error): void };
      const onAbort = () => body.destroy?.(signal!.reason instanceof Error ? signal!.reason : new Error('aborted'));
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        yield* body;
        signal?.throwIfAborted();
      } finally {
        signal?.removeEventListener('abort', onAbort);
      }
    })();
  }

  async delete(name: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.prefix + name }));
  }

  close(): void {
    this.client.destroy();
  }
}
