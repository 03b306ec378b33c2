import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { bytesToHex } from '@ethereumjs/util';
import { secp256k1 } from 'ethereum-cryptography/secp256k1.js';
import { describe, expect, it } from 'vitest';
import { keccak256 } from '../../../src/util/keccak.js';
import { RecoverPool as SourcePool } from '../../../src/util/recover-pool.js';
import { recoverAddress, signHash } from '../../../src/util/secp256k1.js';

/** The built pool (npm test builds first): only there is its worker script, so only there it is threaded. */
const BUILT = new URL('../../../dist/util/recover-pool.js', import.meta.url);

function jobs(count: number) {
  return Array.from({ length: count }, () => {
    const key = secp256k1.utils.randomPrivateKey();
    const hash = keccak256(randomBytes(32));
    return { hash, signature: signHash(hash, key), address: keccak256(secp256k1.getPublicKey(key, false).subarray(1)).subarray(12) };
  });
}

describe.each([
  ['worker threads (dist)', async () => ((await import(BUILT.href)) as { RecoverPool: typeof SourcePool }).RecoverPool, true],
  ['the calling thread (sources: no worker script)', async () => SourcePool, false],
] as const)('RecoverPool on %s', (_name, load, threaded) => {
  it('recovers each signer ahead; what it could not recover, or was not asked, is recovered (or refused) on the spot', async () => {
    if (threaded && !existsSync(new URL('../../../dist/util/recover-worker.js', import.meta.url))) throw new Error('dist is not built: run npm run build');
    const Pool = await load();
    const pool = new Pool(2);
    try {
      expect(pool.threaded).toBe(threaded);
      const good = jobs(300);
      const highS = { ...good[0]!, signature: good[0]!.signature.slice() };
      highS.signature[64] = 7; // not a recovery id
      const short = { hash: good[1]!.hash, signature: good[1]!.signature.subarray(0, 64) };
      const signers = await pool.recoverAll([...good, highS, short]);
      expect(signers.size).toBe(threaded ? good.length : 0);
      for (const j of good) expect(bytesToHex(signers.recover(j.hash, j.signature))).toBe(bytesToHex(j.address));
      expect(() => signers.recover(highS.hash, highS.signature)).toThrow(/recovery id/);
      expect(() => signers.recover(short.hash, short.signature)).toThrow(/64 bytes/);
      // A signature known for one digest says nothing of another: it is recovered afresh.
      const other = keccak256(randomBytes(32));
      expect(bytesToHex(signers.recover(other, good[2]!.signature))).toBe(bytesToHex(recoverAddress(other, good[2]!.signature)));
      expect(bytesToHex(signers.recover(other, good[2]!.signature))).not.toBe(bytesToHex(good[2]!.address));
      // Many batches at once, spread over the threads, each answered with its own results.
      const batches = Array.from({ length: 6 }, () => jobs(40));
      const results = await Promise.all(batches.map((b) => pool.recoverAll(b)));
      batches.forEach((b, i) => {
        for (const j of b) expect(bytesToHex(results[i]!.recover(j.hash, j.signature))).toBe(bytesToHex(j.address));
      });
    } finally {
      await pool.close();
    }
  });
});
