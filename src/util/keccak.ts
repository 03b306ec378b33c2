import { createRequire } from 'node:module';
import { dirname } from 'node:path';
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
/** The `keccak` package's native sponge (what its `bindings.js` wraps in a Transform stream per hash). */
interface KeccakState {
  initialize(rate: number, capacity: number): void;
  absorb(data: Buffer): void;
  absorbLastFewBits(bits: number): void;
  squeeze(length: number): Buffer;
}
function loadBinding(): (new () => KeccakState) | undefined {
  if (process.env.BASALT_PURE_JS_CRYPTO === '1') return undefined;
  try {
    const require = createRequire(import.meta.url);
    const bindings = require.resolve('keccak/bindings.js');
    // What keccak/bindings.js loads, without its per-hash stream object (most of the cost of a small hash).
    const addon = createRequire(bindings)('node-gyp-build')(dirname(bindings)) as unknown;
    return typeof addon === 'function' ? (addon as new () => KeccakState) : undefined;
  } catch {
    return undefined;
  }
}

const Binding = loadBinding();
const state = Binding ? new Binding() : undefined;

/** Which implementation hashes: reported by tests and benchmarks. */
export const keccakBackend: 'native' | 'pure-js' = state ? 'native' : 'pure-js';

export const keccak256: (data: Uint8Array) => Uint8Array = state
  ? (data) => {
      // One sponge, reused: each call initializes, absorbs and squeezes it synchronously.
      state.initialize(1088, 512);
      state.absorb(Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength));
      state.absorbLastFewBits(0x01);
      const d = state.squeeze(32);
      return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
    }
  : jsKeccak256;
