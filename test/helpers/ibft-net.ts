import { createBlock, type Block } from '@ethereumjs/block';
import type { Common } from '@ethereumjs/common';
import { bytesToHex, privateToAddress } from '@ethereumjs/util';
import { headerOpts, headerWithExtraData, blockWithHeader } from '../../src/chain/block-util.js';
import { createChainRules } from '../../src/chain/chain-config.js';
import type { GenesisFile } from '../../src/chain/chain-config.js';
import { IBFT_MIX_HASH, encodeIbftExtra } from '../../src/consensus/ibft/extra.js';
import { blockHash } from '../../src/consensus/ibft/hash.js';
import { proposerSealedExtra } from '../../src/consensus/ibft/seal.js';
import { IbftCore, MAX_FUTURE_MS, type Backend } from '../../src/consensus/ibft/core/core.js';
import { openMessage } from '../../src/consensus/ibft/core/signing.js';
import { openRecallRequest, signRecallAnswer } from '../../src/consensus/ibft/core/recall.js';
import type { Timers } from '../../src/consensus/ibft/core/round-timer.js';
import { MemorySignedStore, NOTHING_SIGNED, type SignedStore } from '../../src/consensus/ibft/core/sign-journal.js';
import type { QuorumRule } from '../../src/consensus/ibft/validators.js';
import { testGenesis } from './chain-fixture.js';

/** A clock whose time moves only when the test says so. */
export class FakeClock implements Timers {
  nowMs: number;
  private seq = 0;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();

  constructor(startMs: number) {
    this.nowMs = startMs;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.timers.set(id, { at: this.nowMs + ms, fn });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }

  now(): number {
    return this.nowMs;
  }

  /** Remove and return the earliest timer due at or before `limit`. */
  takeDue(limit: number): { at: number; fn: () => void } | undefined {
    let best: [number, { at: number; fn: () => void }] | undefined;
    for (const e of this.timers) if (e[1].at <= limit && (best === undefined || e[1].at < best[1].at)) best = e;
    if (best === undefined) return undefined;
    this.timers.delete(best[0]);
    return best[1];
  }
}

/**
 * A Backend without execution: blocks are headers with a proposer seal; `accept` decides validity.
 * Its wall clock is the fake clock plus `skewMs`; like the chain's, it takes a block's timestamp from
 * it (never below the parent's) and refuses a proposal more than MAX_FUTURE_MS ahead of it.
 */
export class MockBackend implements Backend {
  readonly committed: Block[] = [];
  accept: (block: Block) => boolean = () => true;
  /** This validator's clock minus the true time (the fake clock). */
  skewMs = 0;
  /** Whether peersTime() has been measured (a PeerClock with enough samples): then it is the true time. */
  measured = true;

  peersTime(): number | undefined {
    return this.measured ? this.clock.nowMs : undefined;
  }

  /** Proposals of others seen as clock samples: height and how long ago each arrived. */
  readonly observed: { height: bigint; agoMs: number }[] = [];

  observeProposal(header: Block['header'], agoMs: number): void {
    this.observed.push({ height: header.number, agoMs });
  }
  private headBlock: { number: bigint; proposer: Uint8Array | undefined; timestampMs: number; hash: Uint8Array };

  constructor(
    readonly key: Uint8Array,
    readonly validatorSet: Uint8Array[],
    readonly common: Common,
    private readonly clock: FakeClock,
    genesisMs: number,
  ) {
    this.headBlock = { number: 0n, proposer: undefined, timestampMs: genesisMs, hash: new Uint8Array(32) };
  }

  head() {
    return this.headBlock;
  }
  validators(): Uint8Array[] {
    return this.validatorSet;
  }
  now(): number {
    return this.clock.nowMs + this.skewMs;
  }

  /** Goes into the proposal's vanity: changing it makes a different block for the same slot. */
  vanity = 0;

  async buildProposal(height: bigint, _round: number): Promise<Block> {
    const timestamp = BigInt(Math.max(Math.floor(this.now() / 1000), Math.floor(this.headBlock.timestampMs / 1000)));
    return mockBlock(this.common, this.key, this.validatorSet, height, this.headBlock.hash, timestamp, this.vanity);
  }

  async verifyProposal(block: Block): Promise<boolean> {
    if (Number(block.header.timestamp) * 1000 > this.now() + MAX_FUTURE_MS) return false;
    return block.header.number === this.headBlock.number + 1n && this.accept(block);
  }

  async onCommit(block: Block): Promise<void> {
    this.committed.push(block);
    this.headBlock = {
      number: block.header.number,
      proposer: block.header.coinbase.bytes,
      timestampMs: Number(block.header.timestamp) * 1000,
      hash: blockHash(block.header),
    };
  }
}

export function mockBlock(
  common: Common,
  key: Uint8Array,
  validators: Uint8Array[],
  height: bigint,
  parentHash: Uint8Array,
  timestamp: bigint,
  vanity = 0,
): Block {
  const extraData = encodeIbftExtra({ vanity: new Uint8Array([vanity]), validators, proposerSeal: new Uint8Array(0), committedSeals: [] });
  const block = createBlock(
    {
      header: {
        number: height,
        parentHash,
        coinbase: privateToAddress(key),
        timestamp,
        extraData,
        difficulty: height,
        mixHash: IBFT_MIX_HASH,
        gasLimit: 30_000_000n,
        baseFeePerGas: 1_000_000_000n,
      },
    },
    headerOpts(common),
  );
  const header = headerWithExtraData(block.header, proposerSealedExtra(block.header, key), common);
  return blockWithHeader(block, header, common);
}

export interface NetNode {
  i: number;
  key: Uint8Array;
  address: string;
  core: IbftCore;
  backend: Backend;
  store: SignedStore;
  up: boolean;
  /** Every message this node broadcast. */
  sent: Uint8Array[];
}

export interface NetOptions {
  baseTimeoutMs?: number;
  maxTimeoutMs?: number;
  /** Default 1 s: consecutive heights are one `advance(1000)` apart. */
  blockTimeMs?: number;
  /** A real-chain backend instead of MockBackend. */
  backend?: (i: number, key: Uint8Array, clock: FakeClock) => Backend;
  store?: (i: number) => SignedStore;
  /** The chain's genesis (its fork schedule gives the rules by height); default testGenesis(n). */
  genesis?: GenesisFile;
  /** The quorum rule (default: the optimal quorum, as new chains). */
  quorum?: QuorumRule;
  /** false: the cores get no recall transport (they cannot learn what their key signed before a restart). */
  recall?: false;
  /**
   * Validators that are not started are scripted by the test: they answer recall requests with
   * nothing (signed with their keys), as validators that hold no message of the asker would.
   */
  scriptedAnswerRecall?: boolean;
}

export const GENESIS_MS = 1_700_000_000_000;

/** N validators' state machines over an in-memory bus, on a fake clock. */
export class IbftNet {
  readonly clock = new FakeClock(GENESIS_MS);
  readonly nodes: NetNode[] = [];
  readonly common: Common;
  readonly rules: ReturnType<typeof createChainRules>;
  readonly keys: Uint8Array[];
  readonly validators: Uint8Array[];
  /** Whether a message from `from` reaches `to` (default: always). */
  filter: (from: number, to: number, bytes: Uint8Array) => boolean = () => true;
  /** Whether `from` can reach `to` at all (recall requests and answers; default: always). */
  link: (from: number, to: number) => boolean = () => true;
  private delivered = 0;

  constructor(
    n: number,
    private readonly opts: NetOptions = {},
  ) {
    const { genesis, keys } = testGenesis(n);
    this.rules = createChainRules(opts.genesis ?? genesis);
    this.common = this.rules.commonAt(1n);
    this.keys = keys;
    this.validators = keys.map((k) => privateToAddress(k));
    for (let i = 0; i < n; i++) {
      const backend = opts.backend?.(i, keys[i]!, this.clock) ?? new MockBackend(keys[i]!, this.validators, this.common, this.clock, GENESIS_MS);
      // Keys made here: a journal saying the key signed nothing (NOTHING_SIGNED), as secrets init writes.
      const store = opts.store?.(i) ?? new MemorySignedStore(NOTHING_SIGNED);
      const node: NetNode = { i, key: keys[i]!, address: bytesToHex(this.validators[i]!), backend, store, up: false, sent: [], core: undefined as never };
      node.core = this.makeCore(node);
      this.nodes.push(node);
    }
  }

  private makeCore(node: NetNode): IbftCore {
    return new IbftCore({
      key: node.key,
      backend: node.backend,
      store: node.store,
      commonAt: (h) => this.rules.commonAt(h),
      blockTimeMs: this.opts.blockTimeMs ?? 1000,
      ...(this.opts.quorum ? { quorum: this.opts.quorum } : {}),
      baseTimeoutMs: this.opts.baseTimeoutMs ?? 1000,
      maxTimeoutMs: this.opts.maxTimeoutMs ?? 64_000,
      timers: this.clock,
      transport: { broadcast: (bytes) => this.broadcast(node.i, bytes) },
      ...(this.opts.recall === false ? {} : { recall: (req: Uint8Array) => this.recall(node.i, req) }),
    });
  }

  broadcast(from: number, bytes: Uint8Array): void {
    this.nodes[from]?.sent.push(bytes);
    for (const to of this.nodes) {
      if (to.i === from || !to.up || !this.filter(from, to.i, bytes)) continue;
      this.delivered++;
      to.core.onMessage(bytes);
    }
  }

  /** Recall requests answered, by requester: how many answers it got. */
  readonly recallAnswers = new Map<number, number>();

  /** A recall request from `from` goes to every up node the filter lets it reach; their answers come back the same way. */
  recall(from: number, req: Uint8Array): void {
    for (const to of this.nodes) {
      if (to.i === from || !this.link(from, to.i) || !this.link(to.i, from)) continue;
      let answer: Uint8Array;
      if (to.up) answer = to.core.answerRecall(req);
      else if (this.opts.scriptedAnswerRecall) answer = signRecallAnswer(openRecallRequest(req), [], to.key);
      else continue;
      this.delivered++;
      this.recallAnswers.set(from, (this.recallAnswers.get(from) ?? 0) + 1);
      this.nodes[from]!.core.onRecallAnswer(answer);
    }
  }

  /** Deliver `bytes` to one node only (a scripted or byzantine sender). */
  deliver(to: number, bytes: Uint8Array): void {
    this.delivered++;
    this.nodes[to]!.core.onMessage(bytes);
  }

  start(...which: number[]): void {
    for (const i of which.length ? which : this.nodes.map((n) => n.i)) {
      const node = this.nodes[i]!;
      node.up = true;
      node.core.start();
    }
  }

  async crash(i: number): Promise<void> {
    const node = this.nodes[i]!;
    node.up = false;
    await node.core.stop();
  }

  /** A new state machine for node `i` over the same backend and sign journal (a process restart). */
  restart(i: number): void {
    const node = this.nodes[i]!;
    node.core = this.makeCore(node);
    node.up = true;
    node.core.start();
  }

  /** Run until no node has work left. */
  async settle(): Promise<void> {
    for (;;) {
      const before = this.delivered;
      const tails = this.nodes.map((n) => n.core.idle());
      await Promise.all(tails);
      await new Promise((r) => setImmediate(r));
      if (this.delivered === before && this.nodes.every((n, k) => n.core.idle() === tails[k])) return;
    }
  }

  /** Move the clock forward by `ms`, firing timers in order and letting every node react to each. */
  async advance(ms: number): Promise<void> {
    const target = this.clock.nowMs + ms;
    await this.settle();
    for (;;) {
      const t = this.clock.takeDue(target);
      if (t === undefined) break;
      this.clock.nowMs = Math.max(this.clock.nowMs, t.at);
      t.fn();
      await this.settle();
    }
    this.clock.nowMs = target;
  }

  committed(i: number): Block[] {
    return (this.nodes[i]!.backend as MockBackend).committed;
  }

  /** Decoded messages node `i` sent. */
  sentBy(i: number) {
    return this.nodes[i]!.sent.map((b) => openMessage(b).body);
  }
}

export function hashHex(block: Block): string {
  return bytesToHex(blockHash(block.header));
}
