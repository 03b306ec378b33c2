import { rmSync } from 'node:fs';
import { createEOACode7702Tx, createLegacyTx, type TypedTransaction } from '@ethereumjs/tx';
import { bytesToHex, createAddressFromString, eoaCode7702SignAuthorization } from '@ethereumjs/util';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { Executor } from '../../../src/chain/executor.js';
import { Block, createBlock } from '@ethereumjs/block';
import { blockWithHeader, headerOpts, headerWithExtraData } from '../../../src/chain/block-util.js';
import { proposerSealedExtra, sealBlock } from '../../../src/consensus/ibft/seal.js';
import { verifyIbftProposal } from '../../../src/consensus/ibft/verify.js';
import type { Chain } from '../../../src/chain/chain.js';
import { ChainBackend } from '../../../src/consensus/ibft/core/chain-backend.js';
import { decodeIbftExtra } from '../../../src/consensus/ibft/extra.js';
import { blockHash } from '../../../src/consensus/ibft/hash.js';
import { addressOf, openTestChain, testGenesis, testKey } from '../../helpers/chain-fixture.js';
import { IbftNet } from '../../helpers/ibft-net.js';
import { slowCall, slowGenesis } from '../../helpers/slow-contracts.js';
import { silentLogger, type Logger } from '../../../src/util/log.js';

const SENDER = testKey(20);
const TO = '0x000000000000000000000000000000000000beef';

describe('IBFT core over real chains', () => {
  const cleanup: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const c of cleanup) await c();
  });
  /** `n` fresh chains of `genesis`, removed after the tests. */
  const openChains = async (genesis: Parameters<typeof openTestChain>[0], n: number): Promise<Chain[]> => {
    const chains: Chain[] = [];
    for (let i = 0; i < n; i++) {
      const c = await openTestChain(genesis);
      cleanup.push(async () => {
        await c.close();
        rmSync(c.dir, { recursive: true, force: true });
      });
      chains.push(c.chain);
    }
    return chains;
  };

  it('4 validators commit executed blocks that a fresh chain imports through Chain.importBlock', async () => {
    const { genesis } = testGenesis(4, [addressOf(SENDER)]);
    const chains = await openChains(genesis, 5);
    let pending: TypedTransaction[] = [
      createLegacyTx({ nonce: 0n, to: TO, value: 1234n, gasLimit: 21_000n, gasPrice: 10n ** 11n }, { common: chains[0]!.commonAt(0n) }).sign(SENDER),
    ];
    const net = new IbftNet(4, {
      blockTimeMs: 2000,
      backend: (i, key, clock) => new ChainBackend({ chain: chains[i]!, key, clock: () => clock.nowMs, txs: { pending: () => pending } }),
    });
    for (const c of chains) c.on('head', () => (pending = []));
    net.start();
    await net.advance(2000);
    await net.advance(2000);
    const heads = chains.slice(0, 4).map((c) => [c.head.number, bytesToHex(c.head.hash)]);
    expect(new Set(heads.map((h) => h[1])).size).toBe(1);
    expect(heads[0]![0]).toBe(2n);

    const blocks: Block[] = [];
    for (let n = 1n; n <= 2n; n++) blocks.push((await chains[0]!.blockByNumber(n))!);
    expect(blocks[0]!.transactions.length).toBe(1);
    expect(decodeIbftExtra(blocks[0]!.header.extraData).committedSeals.length).toBeGreaterThanOrEqual(3);
    const fresh = chains[4]!;
    for (const b of blocks) expect(await fresh.importBlock(b)).toBe('imported');
    expect(bytesToHex(fresh.head.hash)).toBe(bytesToHex(blockHash(blocks[1]!.header)));
    const state = await fresh.stateAt(fresh.head.header);
    expect((await state.getAccount(createAddressFromString(TO)))?.balance).toBe(1234n);
  });

  it('each validator executes a block once: the proposer when it builds it, the others when they check it (the commit writes what the check computed)', async () => {
    const { genesis } = testGenesis(4, [addressOf(SENDER)]);
    const chains = await openChains(genesis, 4);
    let nonce = 0n;
    const tx = () => createLegacyTx({ nonce, to: TO, value: 1n, gasLimit: 21_000n, gasPrice: 10n ** 11n }, { common: chains[0]!.commonAt(0n) }).sign(SENDER);
    let pending: TypedTransaction[] = [tx()];
    const net = new IbftNet(4, {
      blockTimeMs: 2000,
      backend: (i, key, clock) => new ChainBackend({ chain: chains[i]!, key, clock: () => clock.nowMs, txs: { pending: () => pending } }),
    });
    chains[0]!.on('head', () => {
      nonce++;
      pending = [tx()];
    });
    const execute = vi.spyOn(Executor.prototype, 'execute');
    net.start();
    for (let k = 0; k < 3; k++) await net.advance(2000);
    const blocks = Number(chains[0]!.head.number);
    expect(blocks).toBeGreaterThanOrEqual(3);
    // Three validators check each round-0 proposal; none executes it again at commit (that was six a block).
    expect(execute.mock.calls.length).toBe(3 * blocks);
    execute.mockRestore();
    for (const c of chains) expect(bytesToHex(c.head.hash)).toBe(bytesToHex(chains[0]!.head.hash));
    const state = await chains[3]!.stateAt(chains[3]!.head.header);
    expect((await state.getAccount(createAddressFromString(TO)))?.balance).toBe(BigInt(blocks));
  });

  it("a committed block whose body is not the checked proposal's is executed (and refused), not committed from the check", async () => {
    const { genesis, keys } = testGenesis(4, [addressOf(SENDER)]);
    const [a, b] = [await openTestChain(genesis), await openTestChain(genesis)];
    for (const c of [a, b])
      cleanup.push(async () => {
        await c.close();
        rmSync(c.dir, { recursive: true, force: true });
      });
    const common = a.chain.commonAt(1n);
    const tx = createLegacyTx({ nonce: 0n, to: TO, value: 5n, gasLimit: 21_000n, gasPrice: 10n ** 11n }, { common }).sign(SENDER);
    const proposer = new ChainBackend({ chain: a.chain, key: keys[0]!, clock: () => 1_700_000_001_000, txs: { pending: () => [tx] } });
    const proposal = await proposer.buildProposal(1n, 0);
    expect(proposal.transactions.length).toBe(1);
    const checker = new ChainBackend({ chain: b.chain, key: keys[1]!, clock: () => 1_700_000_001_000 });
    expect(await checker.verifyProposal(proposal)).toBe(true);
    const sealed = sealBlock(proposal, keys[0]!, keys.slice(0, 3), common);
    // Same header (same hash), no transactions: the check's results must not be taken for it.
    const emptied = new Block(sealed.header, [], [], undefined, headerOpts(common));
    await expect(b.chain.importBlock(emptied)).rejects.toThrow(/transaction/i);
    expect(b.chain.head.number).toBe(0n);
    expect(await b.chain.importBlock(sealed)).toBe('imported');
  });

  it('a proposal too slow to check within 3 build times is not prepared, and says so; without a build time it is', async () => {
    const { genesis, keys } = slowGenesis([addressOf(SENDER)]);
    const c = await openTestChain(genesis);
    cleanup.push(async () => {
      await c.close();
      rmSync(c.dir, { recursive: true, force: true });
    });
    const common = c.chain.commonAt(1n);
    // ~60,000 gas of calls into 24 KiB of code: about a second here, whatever its gas.
    const slow = slowCall(common, SENDER, 60_000n);
    // A byzantine proposer builds it with no build time of its own.
    const proposal = await new ChainBackend({ chain: c.chain, key: keys[0]!, clock: () => 1_700_000_001_000, txs: { pending: () => [slow] } }).buildProposal(
      1n,
      0,
    );
    expect(proposal.transactions).toHaveLength(1);
    const warnings: unknown[] = [];
    const logger = silentLogger();
    logger.warn = ((obj: unknown) => warnings.push(obj)) as unknown as Logger['warn'];
    const hurried = new ChainBackend({ chain: c.chain, key: keys[0]!, clock: () => 1_700_000_001_000, maxBuildMs: () => 5, logger });
    expect(await hurried.verifyProposal(proposal)).toBe(false);
    expect(warnings).toEqual([
      expect.objectContaining({ event: 'ibft.proposal-too-slow', number: 1, reason: expect.stringMatching(/the 15 ms a proposal's check may/) }),
    ]);
    // A later round lasts long enough: a validator too loaded to check it in one round signs it in a later one.
    expect(await hurried.verifyProposal(proposal, { roundTimeoutMs: 120_000 })).toBe(true);
    expect(await new ChainBackend({ chain: c.chain, key: keys[0]!, clock: () => 1_700_000_001_000 }).verifyProposal(proposal)).toBe(true);
  });

  it('a proposal that does not execute to its header is not prepared', async () => {
    const { genesis } = testGenesis(4);
    const c = await openTestChain(genesis);
    cleanup.push(async () => {
      await c.close();
      rmSync(c.dir, { recursive: true, force: true });
    });
    const backend = new ChainBackend({ chain: c.chain, key: testKey(0), clock: () => 1_700_000_001_000 });
    const good = await backend.buildProposal(1n, 0);
    expect(await backend.verifyProposal(good)).toBe(true);
    // a wrong state root, properly proposer-sealed: only execution can tell
    const common = c.chain.commonAt(0n);
    const wrong = createBlock({ header: { ...good.header.toJSON(), stateRoot: new Uint8Array(32).fill(1) } }, headerOpts(common));
    const bad = blockWithHeader(wrong, headerWithExtraData(wrong.header, proposerSealedExtra(wrong.header, testKey(0)), common), common);
    expect(() => verifyIbftProposal(bad.header, c.chain.head.header, 1_700_000_001n)).not.toThrow();
    expect(await backend.verifyProposal(bad)).toBe(false);
    expect(c.chain.head.number).toBe(0n); // checking commits nothing
  });

  it("decodes each proposal under its own height's rules: a set-code (EIP-7702) transaction right after a scheduled Prague fork", async () => {
    const { genesis } = testGenesis(4, [addressOf(SENDER)]);
    genesis.params.forks = { ...genesis.params.forks, cancun: 2, prague: 2 };
    const chains = await openChains(genesis, 4);
    const prague = chains[0]!.commonAt(2n);
    const authorization = eoaCode7702SignAuthorization({ chainId: '0x64', address: TO, nonce: '0x0' }, testKey(21));
    const setCode = createEOACode7702Tx(
      { nonce: 0n, to: TO, gasLimit: 100_000n, maxFeePerGas: 10n ** 11n, maxPriorityFeePerGas: 1n, authorizationList: [authorization] },
      { common: prague },
    ).sign(SENDER);
    const net = new IbftNet(4, {
      blockTimeMs: 2000,
      genesis,
      backend: (i, key, clock) =>
        new ChainBackend({ chain: chains[i]!, key, clock: () => clock.nowMs, txs: { pending: () => (chains[i]!.head.number === 1n ? [setCode] : []) } }),
    });
    net.start();
    await net.advance(2000);
    await net.advance(2000);
    for (const c of chains) expect(c.head.number).toBe(2n);
    const block2 = (await chains[3]!.blockByNumber(2n))!;
    expect(block2.transactions.map((t) => t.type)).toEqual([4]);
  });
});
