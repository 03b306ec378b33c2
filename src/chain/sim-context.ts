import { createBlock, type Block, type BlockHeader } from '@ethereumjs/block';
import { Account, createAddressFromString, type Address } from '@ethereumjs/util';
import type { MerkleStateManager } from '@ethereumjs/statemanager';
import { headerOpts } from './block-util.js';
import type { Chain } from './chain.js';
import type { ConsensusEngine } from './engine.js';
import type { ExecutionGuard } from './exec-guard.js';

/** geth's block override set (eth_call's 4th parameter): the fields of the simulated block to replace. */
export interface BlockOverrides {
  number?: bigint;
  time?: bigint;
  gasLimit?: bigint;
  coinbase?: Uint8Array;
  baseFee?: bigint;
  difficulty?: bigint;
  mixHash?: Uint8Array;
}

/** geth's state override set (eth_call's 3rd parameter), per account. `state` and `stateDiff` exclude each other. */
export interface AccountOverride {
  balance?: bigint;
  nonce?: bigint;
  code?: Uint8Array;
  /** Replaces all storage of the account. */
  state?: [Uint8Array, Uint8Array][];
  /** Patches these slots. */
  stateDiff?: [Uint8Array, Uint8Array][];
}
export type StateOverrides = Map<string, AccountOverride>;

/**
 * The block a transaction sent now would go into, as its producer would build it on `parent`: number + 1,
 * the next proposer as coinbase, the next base fee, and the earliest timestamp the proposer would give
 * it (it seals at parent time + block time, or at once when that has passed, with the current time).
 */
export function nextBlockContext(
  engine: ConsensusEngine,
  parent: BlockHeader,
  blockTimeMs: number,
  nowMs = Date.now(),
): Required<BlockOverrides> & { parentHash: Uint8Array } {
  const number = parent.number + 1n;
  const next = engine.nextHeader(parent);
  const earliestMs = Math.max(nowMs, Number(parent.timestamp) * 1000 + blockTimeMs);
  const time = BigInt(Math.floor(earliestMs / 1000));
  return {
    parentHash: engine.blockHash(parent),
    number,
    time,
    gasLimit: parent.gasLimit,
    coinbase: next.coinbase,
    baseFee: parent.calcNextBaseFee(),
    difficulty: next.difficulty,
    mixHash: next.mixHash,
  };
}

/**
 * The block the EVM sees in a simulation: `base` (a stored block's header, or the next block's
 * context) with `overrides` applied, built with the rules of its (possibly overridden) number.
 */
export function simulationBlock(chain: Chain, base: BlockHeader | ReturnType<typeof nextBlockContext>, overrides: BlockOverrides = {}): Block {
  const b =
    'stateRoot' in base
      ? {
          parentHash: base.parentHash,
          number: base.number,
          time: base.timestamp,
          gasLimit: base.gasLimit,
          coinbase: base.coinbase.bytes,
          baseFee: base.baseFeePerGas ?? 0n,
          difficulty: base.difficulty,
          mixHash: base.mixHash,
        }
      : base;
  const number = overrides.number ?? b.number;
  return createBlock(
    {
      header: {
        parentHash: b.parentHash,
        number,
        timestamp: overrides.time ?? b.time,
        gasLimit: overrides.gasLimit ?? b.gasLimit,
        coinbase: overrides.coinbase ?? b.coinbase,
        baseFeePerGas: overrides.baseFee ?? b.baseFee,
        difficulty: overrides.difficulty ?? b.difficulty,
        mixHash: overrides.mixHash ?? b.mixHash,
      },
    },
    headerOpts(chain.commonAt(number)),
  );
}

/** Slots of a state override written between two checks of the simulation's guard (a slot: ~0.5 ms on 2 cores). */
const OVERRIDE_SLOTS_A_CHECK = 8;

/**
 * Write `overrides` into a scratch state (never one that is flushed), under the simulation's `guard`:
 * checked at each account and every 8 slots, so 10,000 slots (~5 s of trie writes) yield to the event
 * loop every ~10 ms and stop at the deadline.
 */
export async function applyStateOverrides(state: MerkleStateManager, overrides: StateOverrides, guard: ExecutionGuard): Promise<void> {
  let slots = 0;
  for (const [addr, o] of overrides) {
    await guard.check();
    const address: Address = createAddressFromString(addr);
    const account = (await state.getAccount(address)) ?? new Account();
    if (o.balance !== undefined) account.balance = o.balance;
    if (o.nonce !== undefined) account.nonce = o.nonce;
    await state.putAccount(address, account);
    if (o.code !== undefined) await state.putCode(address, o.code);
    if (o.state !== undefined) await state.clearStorage(address);
    for (const [slot, value] of o.state ?? o.stateDiff ?? []) {
      if (++slots % OVERRIDE_SLOTS_A_CHECK === 0) await guard.check();
      await state.putStorage(address, slot, stripLeadingZeros(value));
    }
  }
}

function stripLeadingZeros(b: Uint8Array): Uint8Array {
  let i = 0;
  while (i < b.length && b[i] === 0) i++;
  return b.subarray(i);
}
