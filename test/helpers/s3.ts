import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
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

/**
 * startS3rver in a process of its own, run with OpenSSL's legacy provider: s3rver's continuation
 * tokens (a listing of more keys than a page) are DES-encrypted, which Node 20's OpenSSL 3 has only
 * there (in this process the listing's second page is an internal error).
 */
export async function startS3rverProcess(dir: string, buckets: string[]): Promise<{ endpoint: string; close(): Promise<void> }> {
  const script = `import('s3rver').then(async ({ default: S3rver }) => {
    const s = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: ${JSON.stringify(join(dir, 's3rver'))},
      configureBuckets: ${JSON.stringify(buckets)}.map((name) => ({ name, configs: [] })) });
    const a = await s.run();
    console.log(a.port);
  });`;
  const child = spawn(process.execPath, ['--openssl-legacy-provider', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'], cwd: process.cwd() });
  const close = () =>
    new Promise<void>((resolve) => {
      child.removeAllListeners('exit');
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill();
    });
  try {
    const port = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('s3rver did not start within 10 s')), 10_000);
      child.once('exit', (code) => reject(new Error(`s3rver exited with ${code}`)));
      createInterface({ input: child.stdout! }).once('line', (line) => {
        clearTimeout(timer);
        resolve(line);
      });
    });
    return { endpoint: `http://127.0.0.1:${port.trim()}`, close };
  } catch (err) {
    await close();
    throw err;
  }
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
