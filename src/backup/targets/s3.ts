import { createReadStream } from 'node:fs';
import { AbortMultipartUploadCommand, DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { UserError } from '../../util/errors.js';
import { parseS3Url, type BackupTarget, type StagedPiece, type TargetEntry } from './target.js';

export { parseS3Url };

const MiB = 1024 * 1024;
/** S3 takes at most 10,000 parts in one multipart upload. */
const MAX_PARTS = 10_000;
/**
 * How long an abandoned upload waits for its requests under way to settle, and then for its abort
 * (each): the node's stop waits that long at most, and then destroys the client.
 */
const ABORT_WAIT_MS = 3_000;
/** S3's smallest part (but for the last). */
const MIN_PART_BYTES = 5 * MiB;
/**
 * The largest part this process sends. S3 takes 5 GiB, but lib-storage holds each part in memory (one
 * being filled, `queueSize` going up, and a copy while it is joined) and Node 20's Buffer stops at
 * 4 GiB: 512 MiB parts keep that near 2 GiB, for pieces of up to 5,000 GiB.
 */
const MAX_PART_BYTES = 512 * MiB;

/**
 * The part size of an upload of `bytes`: the configured one, or larger (in whole MiB) when 10,000
 * parts of it would not hold the piece, which S3 would refuse only after every part went up. A piece
 * that even the largest parts cannot carry is refused before anything is sent.
 */
export function multipartPartSize(bytes: number, configured: number, name = 'a piece'): number {
  const size = Math.max(configured, Math.ceil(bytes / MAX_PARTS / MiB) * MiB);
  if (size > MAX_PART_BYTES) {
    throw new UserError(
      `${name}: ${(bytes / 1024 ** 3).toFixed(1)} GiB is more than one S3 upload takes here (${MAX_PARTS} parts of at most ${MAX_PART_BYTES / MiB} MiB: ${(MAX_PARTS * MAX_PART_BYTES) / 1024 ** 3} GiB)`,
      { code: 'RESOURCE_EXHAUSTED' },
    );
  }
  return size;
}

export interface S3TargetOptions {
  /** S3-compatible endpoint; default AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL; path-style addressing then. */
  endpoint?: string;
  region?: string;
  credentials?: S3ClientConfig['credentials'];
  /** Multipart part size in bytes (5-512 MiB); default 16 MiB, more for a piece above 160,000 MiB (S3's 10,000 parts). */
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
    this.partSize = opts.partSize ?? 16 * MiB;
    if (!Number.isSafeInteger(this.partSize) || this.partSize < MIN_PART_BYTES || this.partSize > MAX_PART_BYTES)
      throw new UserError(`S3 part size ${this.partSize} is not ${MIN_PART_BYTES / MiB}-${MAX_PART_BYTES / MiB} MiB`);
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
    this.listPageSize = opts.listPageSize;
  }

  async put(name: string, staged: StagedPiece, signal?: AbortSignal): Promise<void> {
    const partSize = multipartPartSize(staged.bytes, this.partSize, name);
    // The upload's requests, to let those under way settle when it is abandoned.
    const inFlight = new Set<Promise<unknown>>();
    const client = new Proxy(this.client, {
      get: (target, prop, receiver) => {
        if (prop !== 'send') return Reflect.get(target, prop, receiver);
        return (...args: unknown[]) => {
          const sent = Reflect.apply(target.send, target, args) as Promise<unknown>;
          inFlight.add(sent);
          sent.then(
            () => inFlight.delete(sent),
            () => inFlight.delete(sent),
          );
          return sent;
        };
      },
    });
    const Key = this.prefix + name;
    const upload = new Upload({
      client,
      params: {
        Bucket: this.bucket,
        Key,
        Body: createReadStream(staged.path, { highWaterMark: 1024 * 1024 }),
        ContentLength: staged.bytes,
      },
      partSize,
      queueSize: 2,
      leavePartsOnError: false,
    });
    const onAbort = () => void upload.abort().catch(() => undefined);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await upload.done();
    } catch (err) {
      if (signal?.aborted) await this.abandoned(Key, upload, inFlight);
      throw err;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /**
   * An upload given up (the node stopping): `upload.abort()` fails `done()` at once, while lib-storage
   * still waits for the parts under way before it aborts the multipart upload, and the stop that
   * follows destroys the client under it, leaving the parts stored, unlisted, until a lifecycle rule
   * removes them (README, "S3"). So the requests under way are let settle, then the multipart upload is
   * aborted here (lib-storage's own abort may come first; one of the two then finds it gone), each
   * for at most ABORT_WAIT_MS. A kill -9 still leaves it: the lifecycle rule is for that.
   */
  private async abandoned(Key: string, upload: Upload, inFlight: Set<Promise<unknown>>): Promise<void> {
    const waited = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());
    const until = Date.now() + ABORT_WAIT_MS;
    do {
      while (inFlight.size > 0 && Date.now() < until) await Promise.race([Promise.allSettled([...inFlight]), waited(until - Date.now())]);
      // lib-storage's next step on what settled (its upload ID taken, its own abort sent) runs first.
      await new Promise((resolve) => setImmediate(resolve));
    } while (inFlight.size > 0 && Date.now() < until);
    if (upload.uploadId === undefined) return; // none begun (or a single PUT): nothing stored
    await this.client
      .send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key, UploadId: upload.uploadId }), { abortSignal: AbortSignal.timeout(ABORT_WAIT_MS) })
      .catch(() => undefined);
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
