import { createRequire } from 'node:module';
import { keccak256 as jsKeccak256 } from 'ethereum-cryptography/keccak.js';
import type { createKeccak as CreateKeccak } from 'hash-wasm';

/**
 * hash-wasm's keccak bundle alone (11 KB): its index carries every algorithm's WebAssembly as base64
 * and cost each thread that loads it ~10 MB of RSS (a genesis build runs in two).
 */
const { createKeccak } = createRequire(import.meta.url)('hash-wasm/dist/keccak.umd.min.js') as { createKeccak: typeof CreateKeccak };

/**
 * keccak256 through hash-wasm's WebAssembly build (one hasher, reused: each call initializes, absorbs
 * and finishes it synchronously), the pure-JS `ethereum-cryptography` one with
 * BASALT_PURE_JS_CRYPTO=1 (benchmarks measure against it). Same digest either way
 * (test/unit/util/keccak.test.ts). On the 2-core reference machine, a hash of 32 or 110 bytes takes
 * 0.70 us (the `keccak` package's N-API binding, used before: 2.4 us; pure JS: 3-9 us), one of a
 * 532-byte branch node 1.9 us (native 3.9, pure JS 10-33), 4 MiB 12.3 ms (native 13.6, pure JS 247).
 * It matters where a peer chooses the size (an IBFT message's signer is recovered over keccak256 of
 * its body, which may carry a block of up to 4 MiB: issue #26), and where millions of nodes are hashed:
 * a genesis state's root, a restore, a block's trie. It needs no native build.
 */
const wasm = process.env.BASALT_PURE_JS_CRYPTO === '1' ? undefined : await createKeccak(256);

/** Which implementation hashes: reported by tests and benchmarks. */
export const keccakBackend: 'wasm' | 'pure-js' = wasm ? 'wasm' : 'pure-js';

export const keccak256: (data: Uint8Array) => Uint8Array = wasm
  ? (data) => {
      wasm.init();
      wasm.update(data);
      return wasm.digest('binary');
    }
  : jsKeccak256;
