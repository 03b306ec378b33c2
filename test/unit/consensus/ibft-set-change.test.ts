import { rmSync } from 'node:fs';
import { bytesToHex, privateToAddress } from '@ethereumjs/util';
import { afterAll, describe, expect, it } from 'vitest';
import type { GenesisFile } from '../../../src/chain/chain-config.js';
import { parseGenesisConfig } from '../../../src/chain/chain-config.js';
import { ChainBackend } from '../../../src/consensus/ibft/core/chain-backend.js';
import { decodeIbftExtra } from '../../../src/consensus/ibft/extra.js';
import { checkIbftGenesis } from '../../../src/consensus/ibft/genesis.js';
import { MessageType } from '../../../src/consensus/ibft/core/messages.js';
import { MemorySignedStore, NOTHING_SIGNED } from '../../../src/consensus/ibft/core/sign-journal.js';
import { openMessage } from '../../../src/consensus/ibft/core/signing.js';
import { sealBlock } from '../../../src/consensus/ibft/seal.js';
import { openTestChain, sealNext, testGenesis, testKey } from '../../helpers/chain-fixture.js';
import { IbftNet } from '../../helpers/ibft-net.js';

type Opened = Awaited<ReturnType<typeof openTestChain>>;
const addr = (i: number) => bytesToHex(privateToAddress(testKey(i)));
const withChange = (g: GenesisFile, block: number, validators: string[]): GenesisFile => {
  const copy = structuredClone(g);
  copy.params.engine.ibft.validatorSetChanges = [{ block, validators }];
  return copy;
};

describe('emergency validator-set change (genesis validatorSetChanges)', () => {
  const cleanup: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const c of cleanup) await c();
  });
  const open = async (g: GenesisFile, dir?: string): Promise<Opened> => {
    const c = await openTestChain(g, dir);
    cleanup.push(async () => {
      await c.close().catch(() => undefined);
      rmSync(c.dir, { recursive: true, force: true });
    });
    return c;
  };
  /**
   * After the change: validators 0 and 1 reopen their data dirs (`dirs`) with the changed genesis, a
   * fresh validator 4 imports their blocks up to `head`, and the three seal together (with their sign
   * journals in `stores`, if given).
   */
  const underChange = async (changed: GenesisFile, dirs: string[], head: bigint, stores?: MemorySignedStore[]) => {
    const c0 = await open(changed, dirs[0]);
    const c1 = await open(changed, dirs[1]);
    const c4 = await open(changed);
    for (let n = 1n; n <= head; n++) await c4.chain.importBlock((await c0.chain.blockByNumber(n))!);
    const next = [c0, c1, undefined, undefined, c4];
    const net = new IbftNet(5, {
      blockTimeMs: 2000,
      genesis: changed,
      ...(stores ? { store: (i: number) => stores[i]! } : {}),
      backend: (i, key, clock) => new ChainBackend({ chain: (next[i] ?? c0)!.chain, key, clock: () => clock.nowMs }),
    });
    net.start(0, 1, 4);
    return { c0, c1, c4, net };
  };

  it("ChainBackend names the validators of a height where they are known: the head's next, and the one after where the genesis file changes the set there", async () => {
    const { genesis, keys } = testGenesis(4);
    const c = await open(withChange(genesis, 2, [addr(0), addr(1), addr(4)]));
    const backend = new ChainBackend({ chain: c.chain, key: keys[0]! });
    const set = (h: bigint) => backend.validators(h)?.map((v) => bytesToHex(v));
    expect(set(1n)).toEqual([0, 1, 2, 3].map(addr));
    expect(set(2n)).toEqual([addr(0), addr(1), addr(4)]); // the validators a node deciding block 1 keeps block 2's messages from
    expect(set(3n)).toBeUndefined(); // after block 2, not decided yet
    await sealNext({ chain: c.chain, keys });
    expect(set(2n)).toEqual([addr(0), addr(1), addr(4)]);
    expect(set(3n)).toBeUndefined();
    expect(set(1n)).toBeUndefined();
  });

  it('refuses changes out of order or naming a validator twice, in one line', () => {
    const { genesis } = testGenesis(4);
    const bad = structuredClone(genesis);
    bad.params.engine.ibft.validatorSetChanges = [
      { block: 10, validators: [addr(0)] },
      { block: 5, validators: [addr(1)] },
    ];
    expect(() => checkIbftGenesis(parseGenesisConfig(JSON.stringify(bad), 'g.json'), 'g.json')).toThrow(/block 5 does not come after block 10/);
    const twice = withChange(genesis, 3, [addr(0), addr(0).toUpperCase().replace('0X', '0x')]);
    expect(() => checkIbftGenesis(parseGenesisConfig(JSON.stringify(twice), 'g.json'), 'g.json')).toThrow(/names a validator twice/);
  });

  it('refuses a change new to a data dir to a set the legacy quorum lets fork, unless the quorum switch comes at or before it; a chain that carries one still opens', async () => {
    const { genesis } = testGenesis(4);
    const legacy = (g: GenesisFile, quorumSwitchBlock?: number): GenesisFile => {
      const copy = structuredClone(g);
      if (quorumSwitchBlock === undefined) delete copy.params.engine.ibft.quorumSwitchBlock;
      else copy.params.engine.ibft.quorumSwitchBlock = quorumSwitchBlock;
      return copy;
    };
    const existing = await open(legacy(genesis));
    const dir = existing.dir;
    await existing.close();
    const reopen = async (g: GenesisFile) => {
      const c = await openTestChain(g, dir);
      await c.close();
    };
    // 3 under 2F+1: a quorum of 1, each validator alone seals; 6: 3 and 3.
    for (const n of [2, 3, 5, 6]) {
      const set = Array.from({ length: n }, (_, i) => addr(i));
      await expect(reopen(legacy(withChange(genesis, 10, set)))).rejects.toThrow(
        new RegExp(
          `^genesis file puts an emergency validator-set change at block 10 \\(params\\.engine\\.ibft\\.validatorSetChanges\\) under the legacy quorum: the quorum of \\d of ${n} validators .* forks the chain; set params\\.engine\\.ibft\\.quorumSwitchBlock at or before block 10`,
        ),
      );
      await expect(reopen(legacy(withChange(genesis, 10, set), 11))).rejects.toThrow(/quorumSwitchBlock at or before block 10/);
      // A node joining a chain that carries it (a new data dir) opens, and so does every check of its file.
      const joiner = await open(legacy(withChange(genesis, 10, set)));
      await joiner.close();
      expect(() => checkIbftGenesis(parseGenesisConfig(JSON.stringify(legacy(withChange(genesis, 10, set))), 'g.json'), 'g.json')).not.toThrow();
    }
    // 1, 4 and 7 (3F+1) are safe under 2F+1 too; any size with the switch at or before the change.
    for (const n of [1, 4, 7])
      await reopen(
        legacy(
          withChange(
            genesis,
            10,
            Array.from({ length: n }, (_, i) => addr(i)),
          ),
        ),
      );
    await reopen(legacy(withChange(genesis, 10, [addr(0), addr(1), addr(2)]), 10));
  });

  it("a node behind the change counts a peer's claimed head past it by the change's set: honest peers past it are not refused, forged claims still are", async () => {
    const { genesis, keys } = testGenesis(4);
    // The change at block 3: validator 0 and two keys the genesis set never had (4, 5: as if voted in).
    const changed = withChange(genesis, 3, [addr(0), addr(4), addr(5)]);
    const src = await open(changed);
    await sealNext({ chain: src.chain, keys });
    await sealNext({ chain: src.chain, keys });
    // Block 3 on, sealed by validators 0 and 4 (2 of 3, a quorum of the new set).
    const seal = async (committers: Uint8Array[]) => {
      const parent = src.chain.head.header;
      const fields = src.chain.engine.nextHeader(parent);
      const proposer = [0, 4, 5].map(testKey).find((k) => bytesToHex(privateToAddress(k)) === bytesToHex(fields.coinbase))!;
      const r = await src.chain.produceBlock({ ...fields, timestamp: parent.timestamp + 1n }, [], async (built) =>
        sealBlock(built.block, proposer, committers, src.chain.commonAt(built.block.header.number)),
      );
      return r!.block;
    };
    const b3 = await seal([testKey(0), testKey(4)]);
    const b4 = await seal([testKey(0), testKey(4)]);
    expect(decodeIbftExtra(b4.header.extraData).validators.map((v) => bytesToHex(v))).toEqual([addr(0), addr(4), addr(5)]);

    // A fresh node with the changed genesis file (head 0): one seal of its genesis set, yet the claim counts.
    const behind = await open(changed);
    expect(() => behind.chain.engine.verifyClaimedHead(b4.header, behind.chain.head.header)).not.toThrow();
    expect(() => behind.chain.engine.verifyClaimedHead(b3.header, behind.chain.head.header)).not.toThrow();
    // Without the change in its genesis file, the same claim is one seal of 4 known validators: refused.
    const unaware = await open(genesis);
    expect(() => unaware.chain.engine.verifyClaimedHead(b4.header, unaware.chain.head.header)).toThrow(
      /1 committed seals of the 4 validators known here, at least 2 needed/,
    );
    // Below the change the genesis set still decides: block 2 sealed by keys 4 and 5 alone is refused.
    const b2 = (await src.chain.blockByNumber(2n))!;
    const forged = sealBlock(b2, testKey(1), [testKey(4), testKey(5)], src.chain.commonAt(2n));
    expect(() => behind.chain.engine.verifyClaimedHead(forged.header, behind.chain.head.header)).toThrow(/0 committed seals of the 4 validators/);
    // Past the change, seals of keys outside the change's set do not count.
    const b5 = await seal([testKey(0), testKey(4)]);
    const outsiders = sealBlock(b5, testKey(1), [testKey(1), testKey(2), testKey(3)], src.chain.commonAt(5n));
    expect(() => behind.chain.engine.verifyClaimedHead(outsiders.header, behind.chain.head.header)).toThrow(/0 committed seals of the 3 validators/);
    // Once past the change, the node's own set (after its head) decides.
    for (let n = 1n; n <= 4n; n++) expect(await behind.chain.importBlock((await src.chain.blockByNumber(n))!)).toBe('imported');
    expect(() => behind.chain.engine.verifyClaimedHead(b5.header, behind.chain.head.header)).not.toThrow();
  });

  it('2 of 4 validators lost for good: the chain halts; the change brings the remaining 2 and a new key back to sealing from its block, and no data dir takes it below its head', async () => {
    const { genesis } = testGenesis(4);
    const chains = [await open(genesis), await open(genesis), await open(genesis), await open(genesis)];
    // The sign journals outlive the processes, as the consensus/ folder does (the new key's starts absent).
    const stores = [0, 1, 2, 3, 4].map(() => new MemorySignedStore());
    let net = new IbftNet(5, {
      blockTimeMs: 2000,
      genesis,
      store: (i) => stores[i]!,
      backend: (i, key, clock) => new ChainBackend({ chain: chains[Math.min(i, 3)]!.chain, key, clock: () => clock.nowMs }),
    });
    net.start(0, 1, 2, 3);
    for (let k = 0; k < 4; k++) await net.advance(2000);
    await net.crash(2);
    await net.crash(3);
    const halted = chains[0]!.chain.head.number;
    for (let k = 0; k < 4; k++) await net.advance(2000);
    expect(chains[0]!.chain.head.number).toBeLessThanOrEqual(halted + 1n); // a block in flight at most, then nothing
    await net.crash(0);
    await net.crash(1);
    const head = chains[0]!.chain.head.number;
    expect(chains[1]!.chain.head.number).toBe(head);

    // The operators put the change after the head in every genesis file and restart.
    const at = Number(head) + 1;
    const changed = withChange(genesis, at, [addr(0), addr(1), addr(4)]);
    // Below the head is refused, like a fork.
    const dir0 = chains[0]!.dir;
    await chains[0]!.close();
    await expect(openTestChain(withChange(genesis, Number(head), [addr(0), addr(1), addr(4)]), dir0)).rejects.toThrow(
      new RegExp(`adds the emergency validator-set change at block ${head} .* holds blocks up to ${head}`),
    );
    await chains[1]!.close();
    const under = await underChange(changed, [dir0, chains[1]!.dir], head, stores);
    const { c0, c1, c4 } = under;
    net = under.net;
    // The new key's data dir has no sign journal: it signs once 0 and 1 commit a block proposed after its start.
    const proposers = new Set<string>();
    for (let k = 0; k < 20 && !proposers.has(addr(4)); k++) {
      await net.advance(2000);
      for (let n = head + 1n; n <= c4.chain.head.number; n++) proposers.add((await c4.chain.store.canonicalHeader(n))!.coinbase.toString());
    }
    expect(c4.chain.head.number).toBeGreaterThanOrEqual(head + 4n);
    const first = (await c0.chain.store.canonicalHeader(head + 1n))!;
    expect(decodeIbftExtra(first.extraData).validators.map((v) => bytesToHex(v))).toEqual([addr(0), addr(1), addr(4)]);
    expect(proposers.has(addr(4))).toBe(true);
    expect(bytesToHex((await c1.chain.canonicalHash(head + 3n))!)).toBe(bytesToHex((await c4.chain.canonicalHash(head + 3n))!));
    for (const i of [0, 1, 4]) await net.crash(i);

    // A fresh node with the changed genesis imports across the change; one with the old genesis refuses its first block.
    const fresh = await open(changed);
    const old = await open(genesis);
    for (let n = 1n; n <= head + 3n; n++) {
      const b = (await c0.chain.blockByNumber(n))!;
      expect(await fresh.chain.importBlock(b)).toBe('imported');
      if (n <= head) await old.chain.importBlock(b);
      else if (n === head + 1n) await expect(old.chain.importBlock(b)).rejects.toThrow(/validator set differs from its parent without a vote|not a validator/);
    }
    // Removing the change once blocks past it exist is refused too.
    const dir1 = c1.dir;
    await c1.close();
    await expect(openTestChain(genesis, dir1)).rejects.toThrow(/removes the emergency validator-set change/);
  }, 60_000);

  it('the 2 left had prepared a block of the old set at the change height when the others were lost: their journals carry that lock, yet the new set seals from there', async () => {
    const { genesis } = testGenesis(4);
    const chains = [await open(genesis), await open(genesis), await open(genesis), await open(genesis)];
    // The sign journals outlive the processes, as the consensus/ folder does.
    const stores = [0, 1, 2, 3, 4].map(() => new MemorySignedStore(NOTHING_SIGNED)); // keys made here
    let net = new IbftNet(5, {
      blockTimeMs: 2000,
      genesis,
      store: (i) => stores[i]!,
      backend: (i, key, clock) => new ChainBackend({ chain: chains[Math.min(i, 3)]!.chain, key, clock: () => clock.nowMs }),
    });
    net.start(0, 1, 2, 3);
    for (let k = 0; k < 3; k++) await net.advance(2000);
    await net.crash(3); // 0, 1 and 2 still make a quorum of 3
    for (let k = 0; k < 2; k++) await net.advance(2000);
    // Validator 2 is lost between its PREPARE and its COMMIT: no COMMIT gets through, so validators 0
    // and 1 prepare the next block (PREPAREs of 0, 1 and 2) and nobody commits it.
    const head = chains[0]!.chain.head.number;
    net.filter = (_from, _to, bytes) => openMessage(bytes).body.type !== MessageType.Commit;
    await net.advance(2500);
    await net.crash(2);
    await net.crash(0);
    await net.crash(1);
    const sentBefore = [0, 1].map((i) => [...net.nodes[i]!.sent]);
    expect(chains[0]!.chain.head.number).toBe(head);
    for (const i of [0, 1]) {
      const j = stores[i]!.load()!;
      expect(j.height).toBe(head + 1n);
      expect(j.prepared?.prepares.length).toBe(3);
    }

    const at = Number(head) + 1;
    const changed = withChange(genesis, at, [addr(0), addr(1), addr(4)]);
    const dirs = [chains[0]!.dir, chains[1]!.dir];
    await chains[0]!.close();
    await chains[1]!.close();
    const under = await underChange(changed, dirs, head, stores);
    const { c0, c4 } = under;
    net = under.net;
    for (let k = 0; k < 20 && c4.chain.head.number < head + 3n; k++) await net.advance(2000);
    expect(c4.chain.head.number).toBeGreaterThanOrEqual(head + 3n);
    expect(bytesToHex((await c0.chain.canonicalHash(head + 3n))!)).toBe(bytesToHex((await c4.chain.canonicalHash(head + 3n))!));
    const first = (await c0.chain.store.canonicalHeader(head + 1n))!;
    expect(decodeIbftExtra(first.extraData).validators.map((v) => bytesToHex(v))).toEqual([addr(0), addr(1), addr(4)]);
    // Across both processes, neither key signed two values in one round.
    for (const i of [0, 1]) {
      const values = new Map<string, Set<string>>();
      for (const bytes of [...sentBefore[i]!, ...net.nodes[i]!.sent]) {
        const { body } = openMessage(bytes);
        if (body.type !== MessageType.Prepare && body.type !== MessageType.Commit) continue;
        const k = `${body.height}/${body.round}`;
        values.set(k, (values.get(k) ?? new Set()).add(bytesToHex(body.hash)));
      }
      expect([...values].filter(([, v]) => v.size > 1)).toEqual([]);
    }
    for (const i of [0, 1, 4]) await net.crash(i);
  }, 60_000);
});
