import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { recoverAddress } from './secp256k1.js';

/** A job: a 32-byte digest and a 65-byte r ‖ s ‖ v signature. A result: a flag byte and an address. */
export const RECOVER_JOB_BYTES = 97;
export const RECOVER_RESULT_BYTES = 21;

const WORKER_URL = new URL('./recover-worker.js', import.meta.url);

/** Signers recovered ahead, by digest and signature; anything else is recovered on the spot. */
export class RecoveredSigners {
  constructor(private readonly known: Map<string, Uint8Array> = new Map()) {}

  /** A RecoverSigner (consensus/engine.ts): the address recovered ahead, else recoverAddress. */
  readonly recover = (hash: Uint8Array, signature: Uint8Array): Uint8Array => this.known.get(keyOf(hash, signature)) ?? recoverAddress(hash, signature);

  get size(): number {
    return this.known.size;
  }
}

function keyOf(hash: Uint8Array, signature: Uint8Array): string {
  return (
    Buffer.from(hash.buffer, hash.byteOffset, hash.byteLength).toString('latin1') +
    Buffer.from(signature.buffer, signature.byteOffset, signature.byteLength).toString('latin1')
  );
}

/**
 * Public-key recovery in worker threads, for checks of many seals at once (a restore checks two or
 * more a block: ~0.05 ms each in libsecp256k1, a third of a restore's time on the calling thread).
 * The results only save work: a signature the pool could not recover is recovered by the caller's
 * RecoveredSigners, which then throws the reason. Without the built worker script (sources run by the
 * tests) or on a one-core machine, it recovers on the calling thread.
 */
export class RecoverPool {
  private readonly workers: Worker[] = [];
  private readonly waiting = new Map<number, { resolve: (r: Uint8Array) => void; reject: (e: Error) => void }>();
  private nextId = 0;
  private turn = 0;
  private failed?: Error;

  constructor(threads = Math.min(4, availableParallelism() - 1)) {
    if (threads < 1 || !existsSync(fileURLToPath(WORKER_URL))) return;
    for (let i = 0; i < threads; i++) {
      const w = new Worker(WORKER_URL);
      w.on('message', (m: { id: number; results: ArrayBuffer }) => {
        const p = this.waiting.get(m.id);
        this.waiting.delete(m.id);
        p?.resolve(new Uint8Array(m.results));
      });
      const fail = (err: Error) => {
        this.failed ??= err;
        for (const p of this.waiting.values()) p.reject(err);
        this.waiting.clear();
      };
      w.on('error', (err) => fail(new Error(`signature recovery worker: ${err.message}`)));
      w.on('exit', (code) => fail(new Error(`signature recovery worker exited (code ${code})`)));
      w.unref();
      this.workers.push(w);
    }
  }

  /** Whether recovery runs in worker threads (false: on the calling thread, when asked). */
  get threaded(): boolean {
    return this.workers.length > 0;
  }

  /** Recover the signers of `jobs` ahead. A signature that does not recover is simply not among them. */
  async recoverAll(jobs: { hash: Uint8Array; signature: Uint8Array }[]): Promise<RecoveredSigners> {
    const known = new Map<string, Uint8Array>();
    const usable = jobs.filter((j) => j.hash.length === 32 && j.signature.length === 65);
    if (usable.length === 0 || !this.threaded) return new RecoveredSigners(known);
    if (this.failed) throw this.failed;
    const packed = new Uint8Array(usable.length * RECOVER_JOB_BYTES);
    usable.forEach((j, i) => {
      packed.set(j.hash, i * RECOVER_JOB_BYTES);
      packed.set(j.signature, i * RECOVER_JOB_BYTES + 32);
    });
    const id = this.nextId++;
    const results = await new Promise<Uint8Array>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      const w = this.workers[this.turn++ % this.workers.length]!;
      w.ref();
      w.postMessage({ id, jobs: packed.buffer, count: usable.length }, [packed.buffer]);
    }).finally(() => {
      if (this.waiting.size === 0) for (const w of this.workers) w.unref();
    });
    usable.forEach((j, i) => {
      if (results[i * RECOVER_RESULT_BYTES] === 1)
        known.set(keyOf(j.hash, j.signature), results.slice(i * RECOVER_RESULT_BYTES + 1, (i + 1) * RECOVER_RESULT_BYTES));
    });
    return new RecoveredSigners(known);
  }

  async close(): Promise<void> {
    const workers = this.workers.splice(0);
    for (const w of workers) w.removeAllListeners('exit');
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
