import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { createFeeMarket1559Tx, type TypedTransaction } from '@ethereumjs/tx';
import { bytesToHex, concatBytes, createContractAddress, createAddressFromString, hexToBytes, setLengthLeft, bigIntToBytes } from '@ethereumjs/util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importArchive } from '../../../src/backup/import.js';
import { restoreSnapshot } from '../../../src/backup/restore.js';
import { createSnapshot } from '../../../src/backup/snapshot.js';
import { verifyArchive } from '../../../src/backup/verify-archive.js';
import { parseGenesisFile, type GenesisFile } from '../../../src/chain/chain-config.js';
import { forkAt } from '../../../src/chain/forks.js';
import { traceBlock } from '../../../src/chain/trace.js';
import { CallTracer } from '../../../src/chain/tracers.js';
import { blockHash } from '../../../src/consensus/ibft/hash.js';
import { addressOf, openTestChain, sealNext, testGenesis, testKey } from '../../helpers/chain-fixture.js';
import { tempDir } from '../../helpers/cli.js';
import { CANCUN_SOURCE, compileSolidity } from '../../helpers/solc.js';
import { chunked, exportBytes } from '../archive/archive-fixture.js';

const SENDER = testKey(40);
const { Transient } = compileSolidity(CANCUN_SOURCE);
const RUN = hexToBytes('0xa444f5e9'); // run(uint256)

function withForks(g: GenesisFile, forks: Record<string, number>): GenesisFile {
  const out = structuredClone(g);
  for (const k of ['cancun', 'prague']) delete out.params.forks[k];
  Object.assign(out.params.forks, forks);
  return parseGenesisFile(JSON.stringify(out), 'test');
}

describe('fork schedule', () => {
  it('picks the rules of each block by number', () => {
    expect(forkAt({}, 10n ** 9n)).toBe('london');
    expect(forkAt({ cancun: 3n }, 2n)).toBe('london');
    expect(forkAt({ cancun: 3n }, 3n)).toBe('cancun');
    expect(forkAt({ cancun: 3n, prague: 5n }, 4n)).toBe('cancun');
    expect(forkAt({ cancun: 3n, prague: 5n }, 5n)).toBe('prague');
  });

  it('refuses unknown forks and Prague before Cancun', () => {
    const { genesis } = testGenesis(1);
    expect(() => withForks(genesis, { cancum: 0 })).toThrow(/params.forks.cancum is not a fork Basalt knows/);
    expect(() => withForks(genesis, { prague: 0 })).toThrow(/params.forks.prague \(0\) needs params.forks.cancun/);
    expect(() => withForks(genesis, { cancun: 5, prague: 4 })).toThrow(/needs params.forks.cancun at or before it/);
    expect(() => withForks(genesis, { cancun: -1 })).toThrow(/params.forks.cancun/);
  });

  it('does not change the genesis hash: the same genesis with and without forks', async () => {
    const { genesis } = testGenesis(1);
    const a = await openTestChain(withForks(genesis, {}));
    const b = await openTestChain(withForks(genesis, { cancun: 0, prague: 0 }));
    try {
      expect(bytesToHex(b.chain.genesisHash)).toBe(bytesToHex(a.chain.genesisHash));
    } finally {
      await a.close();
      await b.close();
    }
  });
});

describe('moving a fork in an existing data dir', () => {
  it('is refused at or below the head and recorded when ahead of it', async () => {
    const { genesis: base, keys } = testGenesis(1);
    const london = withForks(base, {});
    const first = await openTestChain(london);
    await sealNext({ chain: first.chain, keys });
    await sealNext({ chain: first.chain, keys });
    await first.close();
    const reopen = async (g: GenesisFile) => {
      const o = await openTestChain(g, first.dir);
      await o.close();
    };
    await expect(reopen(withForks(base, { cancun: 2 }))).rejects.toThrow(
      /moves the cancun fork from unscheduled to 2, but this data dir already holds blocks up to 2/,
    );
    await reopen(withForks(base, { cancun: 5, prague: 5 })); // an upgrade ahead of the head
    await expect(reopen(london)).resolves.toBeUndefined(); // and unscheduled again, still ahead
    await reopen(withForks(base, { cancun: 3 }));
    const o = await openTestChain(withForks(base, { cancun: 3 }), first.dir);
    try {
      await sealNext({ chain: o.chain, keys });
      expect(o.chain.head.number).toBe(3n);
    } finally {
      await o.close();
    }
    await expect(reopen(london)).rejects.toThrow(/moves the cancun fork from 3 to unscheduled/);
    // the chain ID is not in the genesis block (the hash stays), but every transaction names it
    const otherId = withForks(base, { cancun: 3 });
    otherId.params.chainID = 555;
    await expect(reopen(otherId)).rejects.toThrow(
      /changes the chain ID \(params\.chainID\) from 100 to 555, but this data dir already holds blocks up to 3 under the old one/,
    );
    await expect(reopen(otherId)).rejects.toThrow(/changes the chain ID/); // still refused: nothing of it was recorded
    const again = await openTestChain(withForks(base, { cancun: 3 }), first.dir);
    expect(again.chain.chainId).toBe(100n);
    await again.close();
    rmSync(first.dir, { recursive: true, force: true });
  });
});

describe('a chain with cancun at block 3', () => {
  const { genesis: base, keys } = testGenesis(1, [addressOf(SENDER)]);
  const genesis = withForks(base, { cancun: 3 });
  let t: Awaited<ReturnType<typeof openTestChain>> & { keys: Uint8Array[] };
  let nonce = 0n;
  let contract: Uint8Array;
  const tx = (data: Uint8Array, to?: Uint8Array): TypedTransaction =>
    createFeeMarket1559Tx(
      { nonce: nonce++, ...(to ? { to } : {}), data, gasLimit: 2_000_000n, maxFeePerGas: 10n ** 11n, maxPriorityFeePerGas: 1n, chainId: 100n },
      { common: t.chain.commonAt(t.chain.head.number + 1n) },
    ).sign(SENDER);
  const statusOf = async (num: bigint) => (await t.chain.receipts(num, (await t.chain.canonicalHash(num))!))!.map((r) => r.status);

  beforeAll(async () => {
    t = { ...(await openTestChain(genesis)), keys };
  });
  afterAll(async () => {
    await t?.close();
    rmSync(t.dir, { recursive: true, force: true });
  });

  it('runs TSTORE/MCOPY only from the fork block on', async () => {
    contract = createContractAddress(createAddressFromString(addressOf(SENDER)), 0n).bytes;
    await sealNext(t, [tx(Transient!.bytecode)]); // block 1: deploying does not run the new opcodes
    const call = concatBytes(RUN, setLengthLeft(bigIntToBytes(42n), 32));
    await sealNext(t, [tx(call, contract)]); // block 2: London rules: TSTORE is invalid
    expect(await statusOf(1n)).toEqual([1]);
    expect(await statusOf(2n)).toEqual([0]);
    await sealNext(t, [tx(call, contract)]); // block 3: Cancun
    expect(await statusOf(3n)).toEqual([1]);
    const state = await t.chain.stateAt(t.chain.head.header);
    expect(bytesToHex(await state.getStorage(createAddressFromString(bytesToHex(contract)), new Uint8Array(32)))).toBe('0x2a');
    await sealNext(t, []);
  });

  it('traces each block under its own rules: TSTORE fails in block 2 and succeeds in block 3, as they were executed', async () => {
    for (const [num, failed] of [
      [2n, true],
      [3n, false],
    ] as const) {
      const block = (await t.chain.blockByNumber(num))!;
      const [trace] = await traceBlock(t.chain, block, () => new CallTracer({}));
      const receipts = (await t.chain.receipts(num, (await t.chain.canonicalHash(num))!))!;
      const frame = trace!.result as { error?: string; gasUsed: string };
      expect(frame.error !== undefined, `block ${num}: ${JSON.stringify(frame)}`).toBe(failed);
      expect(BigInt(frame.gasUsed)).toBe(receipts[0]!.cumulativeGasUsed);
    }
  });

  it('exports, imports, verifies and restores identically across the fork', async () => {
    const archive = await exportBytes(t.chain);
    const report = await verifyArchive(() => chunked(archive), genesis);
    expect(report).toBeDefined();
    const other = await openTestChain(genesis);
    try {
      await importArchive(other.chain, chunked(archive));
      for (let n = 1n; n <= t.chain.head.number; n++) {
        expect(bytesToHex((await other.chain.blockByNumber(n))!.header.stateRoot)).toBe(bytesToHex((await t.chain.blockByNumber(n))!.header.stateRoot));
      }
      expect(bytesToHex(other.chain.head.hash)).toBe(bytesToHex(t.chain.head.hash));
    } finally {
      await other.close();
    }
    // The same blocks under London rules throughout: block 3 must not import.
    const london = await openTestChain(withForks(base, {}));
    try {
      await expect(importArchive(london.chain, chunked(archive))).rejects.toThrow(/block 3/);
    } finally {
      await london.close();
    }

    const snap = await createSnapshot(t.chain, { compression: 'zstd' });
    const parts: Uint8Array[] = [];
    for (;;) {
      const r = await snap.chunks.next();
      if (r.done) break;
      parts.push(r.value);
    }
    const dataDir = join(tempDir(), 'restored');
    await restoreSnapshot(chunked(Buffer.concat(parts)), { dataDir, genesis });
    const restored = await openTestChain(genesis, dataDir);
    try {
      expect(bytesToHex(restored.chain.head.hash)).toBe(bytesToHex(t.chain.head.hash));
      expect(bytesToHex(blockHash(restored.chain.head.header))).toBe(bytesToHex(t.chain.head.hash));
      // The restored node goes on under Cancun rules: the same call succeeds in its next block.
      const r = { ...restored, keys };
      const next = createFeeMarket1559Tx(
        {
          nonce,
          to: contract,
          data: concatBytes(RUN, setLengthLeft(bigIntToBytes(7n), 32)),
          gasLimit: 2_000_000n,
          maxFeePerGas: 10n ** 11n,
          maxPriorityFeePerGas: 1n,
          chainId: 100n,
        },
        { common: restored.chain.commonAt(restored.chain.head.number + 1n) },
      ).sign(SENDER);
      await sealNext(r, [next]);
      const receipts = await restored.chain.receipts(restored.chain.head.number, restored.chain.head.hash);
      expect(receipts!.map((x) => x.status)).toEqual([1]);
    } finally {
      await restored.close();
    }
  });
});
