import { parentPort } from 'node:worker_threads';
import { recoverAddress } from './secp256k1.js';
import { RECOVER_JOB_BYTES, RECOVER_RESULT_BYTES } from './recover-pool.js';

/**
 * A thread of RecoverPool: recovers the signers of packed jobs (32-byte digest ‖ 65-byte signature
 * each) and answers with one result each (a flag byte, 1 when recovered, and the 20-byte address).
 */
const port = parentPort!;
port.on('message', (m: { id: number; jobs: ArrayBuffer; count: number }) => {
  const jobs = new Uint8Array(m.jobs);
  const out = new Uint8Array(m.count * RECOVER_RESULT_BYTES);
  for (let i = 0; i < m.count; i++) {
    const job = jobs.subarray(i * RECOVER_JOB_BYTES, (i + 1) * RECOVER_JOB_BYTES);
    try {
      out.set(recoverAddress(job.subarray(0, 32), job.subarray(32)), i * RECOVER_RESULT_BYTES + 1);
      out[i * RECOVER_RESULT_BYTES] = 1;
    } catch {
      // left 0: the caller recovers it itself, and reports why it fails
    }
  }
  port.postMessage({ id: m.id, results: out.buffer }, [out.buffer]);
});
