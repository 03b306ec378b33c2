import { createRequire } from 'node:module';
import { keccak256 as jsKeccak256 } from 'ethereum-cryptography/keccak.js';

/**
 * keccak256 through the `keccak` package's prebuilt N-API binding where it loads, the pure-JS
 * `ethereum-cryptography` one otherwise (or with BASALT_PURE_JS_CRYPTO=1). Same digest either way
 * (test/unit/util/keccak.test.ts). On the 2-core reference machine the binding hashes 4 MiB in 14 ms
 * against 247 ms, and is faster from 64 bytes up (7 against 10 us). It matters where a peer chooses
 * the size: an IBFT message's signer is recovered over keccak256 of its body, which may carry a block
 * of up to 4 MiB, and a hostile peer sending such messages held the event loop a quarter second each
 * (issue #26). A restore hashes every state node it writes (branch nodes of ~530 bytes: 8 us against
 * 54 us) and every header it checks through it too; @ethereumjs keeps its own default.
 */
type Hasher = { update(data: Uint8Array): Hasher; digest(): Uint8Array };
function loadBinding(): ((algorithm: 'keccak256') => Hasher) | undefined {
  if (process.env.BASALT_PURE_JS_CRYPTO === '1') return undefined;
  try {
    return createRequire(import.meta.url)('keccak/bindings.js') as (algorithm: 'keccak256') => Hasher;
  } catch {
    return undefined;
  }
}

const binding = loadBinding();

/** Which implementation hashes: reported by tests and benchmarks. */
export const keccakBackend: 'native' | 'pure-js' = binding ? 'native' : 'pure-js';

export const keccak256: (data: Uint8Array) => Uint8Array = binding
  ? (data) => {
      const d = binding('keccak256')
        .update(Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength))
        .digest();
      return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
    }
  : jsKeccak256;
