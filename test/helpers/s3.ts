import { join } from 'node:path';
import S3rver from 's3rver';

export const S3_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

/** A local S3 (s3rver) on loopback, port 0, with the given buckets, storing under `dir`. */
export async function startS3rver(dir: string, buckets: string[]): Promise<{ endpoint: string; close(): Promise<void> }> {
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory: join(dir, 's3rver'),
    configureBuckets: buckets.map((name) => ({ name, configs: [] })),
  });
  const addr = await server.run();
  return { endpoint: `http://127.0.0.1:${addr.port}`, close: () => server.close() };
}

/** The environment a CLI process needs to reach it. */
export function s3Env(endpoint: string): Record<string, string> {
  return {
    AWS_ENDPOINT_URL_S3: endpoint,
    AWS_ACCESS_KEY_ID: S3_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: S3_CREDENTIALS.secretAccessKey,
    AWS_REGION: 'us-east-1',
  };
}
