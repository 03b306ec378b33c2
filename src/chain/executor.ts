import { Block } from '@ethereumjs/block';
import type { MerkleStateManager } from '@ethereumjs/statemanager';
import type { TypedTransaction } from '@ethereumjs/tx';
import { type BlockBuilder, buildBlock, createVM, encodeReceipt, runBlock, type TxReceipt, type VM } from '@ethereumjs/vm';
import type { TrieNodeStore } from '../storage/trie-node-store.js';
import type { StoredReceipt } from '../storage/receipts.js';
import { chainEvmOpts, type ChainRules, type EvmFork } from './forks.js';
import { openState } from './state.js';
import { orderedTrieRoot } from './stack-trie.js';
import { classifyBuildError, type Rejection } from './ethereumjs-errors.js';
import { ExecutionTimeout } from './exec-guard.js';
import { headerOpts } from './block-util.js';
import { txBytes } from '../util/tx-bytes.js';
import {
  BLOCK_ITEMS_BESIDE_TRANSACTIONS,
  MAX_BLOCK_ITEMS,
  MAX_BLOCK_RECEIPTS_BYTES,
  MAX_BLOCK_TX_BYTES,
  mostReceiptBytes,
  RECEIPT_BYTES,
  txBlockItems,
} from '../util/rlp-bounds.js';

/** Answers BLOCKHASH for the EVM from the canonical chain. */
export interface CanonicalHashes {
  canonicalHash(num: bigint): Promise<Uint8Array | undefined>;
}

export interface Execution {
  receipts: StoredReceipt[];
}

export interface BuiltBlock {
  block: Block;
  receipts: StoredReceipt[];
  /** Transactions that could not be included, with the reason. */
  rejected: ({ tx: TypedTransaction } & Rejection)[];
}

/** Transactions executed between two turns of the event loop while a block is built. */
const YIELD_EVERY = 10;

/**
 * Where an execution under a deadline reads the clock: JUMPDEST (no loop, in or across frames, goes
 * around without passing one) and the opcodes that start a message (each costs a code analysis and a
 * state checkpoint: @ethereumjs analyses a callee's whole code on every call, so warm calls into large
 * code run 150-300x slower per gas than ordinary opcodes; a transaction of them could hold a block's
 * build, and every check of that block, for minutes).
 */
const CLOCKED_OPCODES = [0x5b, 0xf0, 0xf1, 0xf2, 0xf4, 0xf5, 0xfa];

/** A block's first transaction may run this many build times (Executor.build): one alone then fits a block. */
export const FIRST_TX_BUILD_TIMES = 2;

/** How a proposal's check past its time (Executor.execute's maxMs) is refused. */
export const PROPOSAL_TOO_SLOW = 'execution took longer than';

/** The handlers Executor.clock installed (so that an opcode is wrapped once). */
const clockedHandlers = new WeakSet<object>();

type OpcodeEntry = { opHandler: (...args: unknown[]) => unknown } & Record<string, unknown>;

/** What an aborted execution leaves to undo, read from @ethereumjs's internals (tests pin them). */
interface Unwindable {
  stateManager: { _checkpointCount: number; revert(): Promise<void> };
  evm: { journal: { cleanJournal(): void }; transientStorage: { clear(): void; _indices: number[] } };
}

/** Let the event loop serve what waits (I/O callbacks: JSON-RPC requests) before going on. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Runs blocks through @ethereumjs/vm on top of the trie node store. Trie writes stay pending in the
 * store until the chain flushes them; on failure the caller discards them.
 * Not re-entrant: the chain calls it under its write lock.
 */
export class Executor {
  /** One VM per rule set, sharing one state manager (the executor runs one block at a time). */
  private readonly vms = new Map<EvmFork, VM>();
  /**
   * When (performance.now()) the execution under way must stop (ExecutionTimeout), Infinity for none:
   * set while a block is built (its build time) or a proposal checked, never while a committed block is
   * imported (a block a quorum signed is executed however long it takes).
   */
  private deadline = Number.POSITIVE_INFINITY;
  /** The most RLP items a block it builds holds (MAX_BLOCK_ITEMS; tests make it smaller). */
  maxBlockItems = MAX_BLOCK_ITEMS;
  /** The most bytes of transactions a block it builds holds (MAX_BLOCK_TX_BYTES; tests make it smaller). */
  maxBlockTxBytes = MAX_BLOCK_TX_BYTES;
  /** The most bytes of receipts a block it builds holds, by `receiptBytes`' count (MAX_BLOCK_RECEIPTS_BYTES; tests make it smaller). */
  maxBlockReceiptBytes = MAX_BLOCK_RECEIPTS_BYTES;

  private constructor(
    private readonly rules: ChainRules,
    private readonly stateManager: MerkleStateManager,
    private readonly blockchain: unknown,
  ) {}

  static async create(rules: ChainRules, store: TrieNodeStore, hashes: CanonicalHashes): Promise<Executor> {
    const stateManager = await openState(store, rules.commonAt(0n), undefined, { caches: true });
    const blockchain = {
      async getBlock(num: number) {
        const hash = (await hashes.canonicalHash(BigInt(num))) ?? new Uint8Array(32);
        return { hash: () => hash };
      },
      shallowCopy() {
        return blockchain;
      },
      async putBlock() {},
    };
    return new Executor(rules, stateManager, blockchain);
  }

  /** The VM for block `num`'s rules. */
  private async vmAt(num: bigint): Promise<VM> {
    const fork = this.rules.forkAt(num);
    let vm = this.vms.get(fork);
    if (!vm) {
      const common = this.rules.commonFor(fork);
      vm = await createVM({
        common,
        stateManager: this.stateManager,
        blockchain: this.blockchain as never,
        evmOpts: chainEvmOpts(common),
      });
      this.vms.set(fork, vm);
    }
    this.clock(vm);
    return vm;
  }

  /**
   * Have `vm`'s EVM read the clock at CLOCKED_OPCODES while a deadline is set: ExecutionTimeout once
   * it has passed. A synchronous check in the opcode's own handler (the EVM's 'step' event would copy
   * the stack and memory at every opcode, and a custom opcode is awaited at every JUMPDEST); without a
   * deadline it costs one comparison. Checked at each use: the EVM rebuilds its table on a hardfork change.
   */
  private clock(vm: VM): void {
    const map = (vm.evm as unknown as { _opcodeMap?: (OpcodeEntry | undefined)[] })._opcodeMap;
    if (!Array.isArray(map)) throw new Error('cannot bound block execution in time: @ethereumjs/evm has no opcode table (_opcodeMap)');
    for (const op of CLOCKED_OPCODES) {
      const entry = map[op];
      if (entry === undefined || clockedHandlers.has(entry.opHandler)) continue;
      const inner = entry.opHandler;
      const opHandler = (...args: unknown[]) => {
        if (this.deadline !== Number.POSITIVE_INFINITY && performance.now() >= this.deadline) throw new ExecutionTimeout();
        return inner(...args);
      };
      clockedHandlers.add(opHandler);
      map[op] = { ...entry, opHandler };
    }
  }

  /**
   * After an ExecutionTimeout: the state as it was at checkpoint depth `depth`. The timeout passes
   * through the EVM's frames without closing their checkpoints (it is not an EVM error), and runTx
   * resets its journal without reverting the state manager's: left open, the aborted transaction's
   * writes would stay under the next one's and in the block's state.
   */
  private async unwind(vm: VM, depth: number): Promise<void> {
    const u = vm as unknown as Unwindable;
    while (u.stateManager._checkpointCount > depth) await u.stateManager.revert();
    u.evm.journal.cleanJournal();
    u.evm.transientStorage.clear();
    u.evm.transientStorage._indices = [];
  }

  /** The state manager's checkpoint depth (unwind). */
  private depth(vm: VM): number {
    const n = (vm as unknown as Unwindable).stateManager._checkpointCount;
    if (typeof n !== 'number') throw new Error('cannot bound block execution in time: @ethereumjs/statemanager has no checkpoint count');
    return n;
  }

  /**
   * Execute `block` on its parent's state; throws if gas used, receipts, bloom or state root differ.
   * With `maxMs` (a proposal's check), ExecutionTimeout once its execution has taken that long.
   */
  async execute(block: Block, parentStateRoot: Uint8Array, maxMs = Number.POSITIVE_INFINITY): Promise<Execution> {
    const vm = await this.vmAt(block.header.number);
    const depth = this.depth(vm);
    this.deadline = performance.now() + maxMs;
    try {
      const result = await runBlock(vm, {
        block,
        root: parentStateRoot,
        skipHeaderValidation: true,
        skipHardForkValidation: true,
      });
      return { receipts: result.receipts.map(toStored) };
    } catch (err) {
      if (err instanceof ExecutionTimeout) {
        await this.unwind(vm, depth);
        throw new ExecutionTimeout(`${PROPOSAL_TOO_SLOW} the ${Math.round(maxMs)} ms a proposal's check may`);
      }
      throw err;
    } finally {
      this.deadline = Number.POSITIVE_INFINITY;
    }
  }

  /**
   * Build a block on `parent` from `txs` (in order), skipping any that cannot be included. With
   * `maxBuildMs`, no transaction is started once that much time has gone (at least one is tried): the
   * rest wait for a later block, as Besu's block transaction selection time does. Nor does one run
   * past it (the first one, past FIRST_TX_BUILD_TIMES of it): stopped there, it is left out ('too-slow'
   * when it had the whole build time: it never fits a block; 'out-of-time' when it started late: a
   * later block may hold it), as Besu's "tx evaluation too long".
   */
  async build(
    parent: Block,
    headerData: Parameters<typeof buildBlock>[1]['headerData'],
    txs: Iterable<TypedTransaction>,
    maxBuildMs = Number.POSITIVE_INFINITY,
  ): Promise<BuiltBlock> {
    const started = performance.now();
    const vm = await this.vmAt(parent.header.number + 1n);
    await vm.stateManager.setStateRoot(parent.header.stateRoot);
    const builder = await buildBlock(vm, {
      parentBlock: parent,
      headerData,
      blockOpts: { putBlockIntoBlockchain: false, skipConsensusFormatValidation: true, freeze: false },
    });
    try {
      return await this.fill(vm, builder, txs, started, maxBuildMs);
    } catch (err) {
      // Leave the shared state manager as it was: no checkpoint open, no account changed in its caches.
      await builder.revert().catch(() => {});
      throw err;
    }
  }

  private async fill(vm: VM, builder: BlockBuilder, txs: Iterable<TypedTransaction>, started: number, maxBuildMs: number): Promise<BuiltBlock> {
    const rejected: BuiltBlock['rejected'] = [];
    // BlockBuilder.addTransaction builds a scratch block of every transaction added so far (each one
    // re-constructed) before running the next: quadratic, 15 s for 400 transfers. That block only
    // supplies the header to runTx, so hand it an empty list and keep the real one aside.
    const internal = builder as unknown as { transactions: TypedTransaction[] };
    const included: TypedTransaction[] = [];
    let sinceYield = 0;
    let tried = 0;
    let executed = 0;
    // A block every node can decode: at most MAX_BLOCK_ITEMS RLP items, whatever the gas limit allows.
    let items = BLOCK_ITEMS_BESIDE_TRANSACTIONS;
    // And one its proposal carries to the other validators: at most MAX_BLOCK_TX_BYTES of transactions.
    let bytes = 0;
    // And one every backup format holds with its receipts: a transaction is started only where all the
    // logs its gas could pay for still fit (a log byte costs at least 8 gas).
    let receipts = 0;
    for (const tx of txs) {
      if (tried++ > 0 && performance.now() - started >= maxBuildMs) break;
      const raw = txBytes(tx);
      if (bytes + raw.length > this.maxBlockTxBytes) {
        rejected.push(
          raw.length > this.maxBlockTxBytes
            ? { tx, kind: 'invalid', reason: `transaction of ${raw.length} bytes: no block may hold more than ${this.maxBlockTxBytes}` }
            : { tx, kind: 'block-full', reason: `the block holds ${bytes} of its ${this.maxBlockTxBytes} bytes of transactions` },
        );
        continue;
      }
      const txItems = txBlockItems(raw, tx.type !== 0);
      if (items + txItems > this.maxBlockItems) {
        rejected.push(
          BLOCK_ITEMS_BESIDE_TRANSACTIONS + txItems > this.maxBlockItems
            ? { tx, kind: 'invalid', reason: `transaction of ${txItems} RLP items: no block may hold more than ${this.maxBlockItems}` }
            : { tx, kind: 'block-full', reason: `the block holds ${items} of its ${this.maxBlockItems} RLP items` },
        );
        continue;
      }
      const mostLogs = mostReceiptBytes(tx.gasLimit);
      if (receipts + mostLogs > this.maxBlockReceiptBytes) {
        rejected.push(
          mostLogs > this.maxBlockReceiptBytes
            ? {
                tx,
                kind: 'invalid',
                reason: `gas limit ${tx.gasLimit} pays for more logs than a block's ${this.maxBlockReceiptBytes} bytes of receipts may hold`,
              }
            : { tx, kind: 'block-full', reason: `the block's receipts hold ${receipts} of their ${this.maxBlockReceiptBytes} bytes` },
        );
        continue;
      }
      // Execution over cached trie nodes never waits for I/O: let JSON-RPC requests in between.
      if (++sinceYield === YIELD_EVERY) {
        sinceYield = 0;
        await nextTurn();
      }
      internal.transactions = [];
      // The builder opens its own checkpoint in its first addTransaction: that one stays open.
      const depth = this.depth(vm) + ((builder as unknown as { checkpointed: boolean }).checkpointed ? 0 : 1);
      const txStarted = performance.now();
      // A block's first transaction may run twice the build time (a heavy transaction of ordinary opcodes
      // near the gas limit takes over one build time here); the others, what is left of it.
      this.deadline = started + maxBuildMs * (executed++ === 0 ? FIRST_TX_BUILD_TIMES : 1);
      try {
        await builder.addTransaction(tx, { skipHardForkValidation: true });
        included.push(...internal.transactions);
        items += txItems;
        bytes += raw.length;
        receipts += receiptBytes(builder.transactionReceipts.at(-1)!);
      } catch (err) {
        if (!(err instanceof ExecutionTimeout)) {
          rejected.push({ tx, ...classifyBuildError(err) });
          continue;
        }
        await this.unwind(vm, depth);
        // Started with (nearly) the whole build time, it never fits one; started late, a later block may hold it.
        const had = this.deadline - txStarted;
        rejected.push(
          had >= maxBuildMs * 0.9
            ? { tx, kind: 'too-slow', reason: `its execution takes longer than the ${Math.round(had)} ms a block's first transaction may` }
            : { tx, kind: 'out-of-time', reason: `its execution outlasted the ${Math.round(this.deadline - txStarted)} ms left of the block's build time` },
        );
        break; // the build time is spent
      } finally {
        this.deadline = Number.POSITIVE_INFINITY;
      }
    }
    // build() computes the roots from `internal.transactions` (each put into a trie in memory: 270 ms for
    // a block of 1,428 transfers, one turn of the event loop), then makes its block of them by creating
    // each transaction again from its fields. Compute the roots here (a sorted build, each node hashed
    // once), have build() take them as they are and make its block of none, and assemble the block of
    // the transactions already made.
    // Each of the two roots and the state root is a piece of work that waits for nothing (~15 ms for a
    // block of 1,428 transfers): a turn of the event loop each, with requests let in between.
    await nextTurn();
    const transactionsTrie = orderedTrieRoot(included.map(txBytes));
    await nextTurn();
    const receiptTrie = orderedTrieRoot(builder.transactionReceipts.map((r, i) => encodeReceipt(r, included[i]!.type)));
    await nextTurn();
    const roots = builder as unknown as { transactionsTrie(): Promise<Uint8Array>; receiptTrie(): Promise<Uint8Array> };
    roots.transactionsTrie = () => Promise.resolve(transactionsTrie);
    roots.receiptTrie = () => Promise.resolve(receiptTrie);
    internal.transactions = [];
    const { block: shell } = await builder.build();
    const block = new Block(shell.header, included, [], shell.withdrawals, headerOpts(shell.common));
    return { block, receipts: builder.transactionReceipts.map(toStored), rejected };
  }
}

/** A log's bytes as stored beside its address, topics and data, at most. */
const LOG_BYTES = 32;

/** A receipt's bytes as stored, at most (its logs' addresses, topics and data, and RECEIPT_BYTES / LOG_BYTES each). */
function receiptBytes(r: TxReceipt): number {
  let n = RECEIPT_BYTES;
  for (const [, topics, data] of r.logs) n += LOG_BYTES + 20 + 33 * topics.length + data.length;
  return n;
}

function toStored(r: TxReceipt): StoredReceipt {
  return {
    status: 'status' in r ? r.status : 1,
    cumulativeGasUsed: r.cumulativeBlockGasUsed,
    logs: r.logs,
  };
}
