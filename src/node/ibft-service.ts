import { bytesToHex, equalsBytes, hexToBytes } from '@ethereumjs/util';
import type { Chain } from '../chain/chain.js';
import type { IbftEngine } from '../consensus/ibft/engine.js';
import type { VoteProposals } from '../consensus/ibft/proposals.js';
import { IBFT_STATUS_SCAN_BLOCKS, type IbftService, type IbftStatusView, type ValidatorSnapshotView, type VoteKind } from '../consensus/ibft/service.js';
import { loadSnapshot } from '../consensus/ibft/vote-book.js';
import { VoteError, voteRefusal, type ValidatorSnapshot } from '../consensus/ibft/votes.js';
import { validatorIndex } from '../consensus/ibft/validators.js';
import { UserError } from '../util/errors.js';
import { event } from '../util/events.js';
import { Semaphore } from '../util/mutex.js';
import type { Logger } from '../util/log.js';
import type { Validator } from './consensus.js';

/**
 * Snapshots below the head loaded at once. Each replays up to an epoch of consensus records (100,000
 * blocks by default) through a LevelDB iterator, with no cache, and `ibft_getSnapshot` may be open to
 * any JSON-RPC client: a thousand in parallel kept iterators and CPU busy and slowed sealing. More are
 * refused at once (RESOURCE_EXHAUSTED) rather than queued, so a flood holds no memory either.
 */
export const MAX_SNAPSHOT_LOADS = 2;

/** The node's IBFT operator service over its chain, engine, proposed votes and validator. */
export class LocalIbftService implements IbftService {
  private readonly loads = new Semaphore(MAX_SNAPSHOT_LOADS);

  constructor(
    private readonly chain: Chain,
    private readonly engine: IbftEngine,
    private readonly proposals: VoteProposals,
    private readonly address: Uint8Array,
    private readonly opts: {
      networked: boolean;
      validator: () => Validator | undefined;
      logger: Logger;
      /** Whether a node holding the candidate's key is connected and synced (the network's view). */
      candidateReady?: (candidate: Uint8Array) => boolean;
    },
  ) {}

  async propose(candidate: string, vote: VoteKind): Promise<void> {
    const addr = parseAddress(candidate);
    const state = this.engine.votes.state;
    if ('unknown' in state) {
      const next = this.chain.head.number - (this.chain.head.number % this.engine.epochSize) + this.engine.epochSize;
      throw new UserError(`the votes pending at the head are not known on this node (${state.unknown}): it can vote from block ${next}, where votes reset`, {
        code: 'FAILED_PRECONDITION',
      });
    }
    if (vote === 'auth' && !this.opts.networked) {
      throw new UserError('this node runs without networking: a validator added to the set could not reach it, and the chain would stop', {
        code: 'FAILED_PRECONDITION',
      });
    }
    const refused = voteRefusal(state.snapshot, this.address, { candidate: addr, authorize: vote === 'auth' });
    const remaining = state.snapshot.validators.length + (vote === 'auth' ? 1 : -1);
    // The earliest block the new set could decide: the vote goes into the next block, the set changes after it.
    const from = this.chain.head.number + 2n;
    const unsafe = refused === undefined ? this.engine.quorum.unsafeAt(from, remaining) : undefined;
    if (unsafe !== undefined) {
      const switchBlock = this.engine.quorum.switchBlock;
      const how =
        switchBlock === undefined
          ? "switch to the safe quorum first: set params.engine.ibft.quorumSwitchBlock to a block above the head in every node's genesis file, restart each node before that block, and vote once the head is 2 blocks before it"
          : `vote once the head is at block ${switchBlock - 2n}, 2 blocks before the switch to the safe quorum (params.engine.ibft.quorumSwitchBlock ${switchBlock})`;
      throw new UserError(`vote refused: if it passes, ${remaining} validators decide from block ${from} under the legacy quorum: ${unsafe}; ${how}`, {
        code: 'FAILED_PRECONDITION',
      });
    }
    if (refused === undefined && vote === 'auth' && this.opts.candidateReady && !this.opts.candidateReady(addr)) {
      throw new UserError(
        `vote refused: no node holding the key of ${bytesToHex(addr)} is connected to this one and synced: start it (with --seal), let it sync, then vote (a set that grows by a validator that is not there can lose its quorum)`,
        { code: 'FAILED_PRECONDITION' },
      );
    }
    try {
      this.proposals.propose(state.snapshot, this.address, { candidate: addr, authorize: vote === 'auth' });
    } catch (err) {
      if (err instanceof VoteError) throw new UserError(`vote refused: ${err.message}`, { code: 'FAILED_PRECONDITION' });
      throw err;
    }
    this.opts.logger.info(event('ibft.vote-proposed', { candidate: bytesToHex(addr), vote }), `validator vote proposed: ${vote} ${bytesToHex(addr)}`);
    if (vote === 'drop' && remaining < 4) {
      this.opts.logger.warn({ validators: remaining }, `if this vote passes the set has ${remaining} validators: it tolerates no faulty or lost validator`);
    }
  }

  async discard(candidate: string): Promise<boolean> {
    const addr = parseAddress(candidate);
    const had = this.proposals.discard(addr);
    if (had) this.opts.logger.info(event('ibft.vote-discarded', { candidate: bytesToHex(addr) }), `validator vote discarded: ${bytesToHex(addr)}`);
    return had;
  }

  async candidates(): Promise<{ candidate: string; vote: VoteKind }[]> {
    const state = this.engine.votes.state;
    // What the set reflects already is settled: not a candidate any more.
    const settled = (c: Uint8Array, authorize: boolean) => 'snapshot' in state && validatorIndex(state.snapshot.validators, c) >= 0 === authorize;
    return this.proposals
      .list()
      .filter((v) => !settled(v.candidate, v.authorize))
      .map((v) => ({ candidate: bytesToHex(v.candidate), vote: v.authorize ? 'auth' : 'drop' }));
  }

  async snapshot(number?: bigint): Promise<ValidatorSnapshotView> {
    const head = this.chain.head;
    const n = number ?? head.number;
    if (n > head.number) throw new UserError(`block ${n} is beyond the head ${head.number}`, { code: 'NOT_FOUND' });
    let snap: ValidatorSnapshot;
    let hash: Uint8Array;
    const state = this.engine.votes.state;
    if (n === head.number && 'snapshot' in state) {
      snap = state.snapshot;
      hash = head.hash;
    } else {
      if (!this.loads.tryAcquire()) {
        throw new UserError(
          `busy: ${MAX_SNAPSHOT_LOADS} validator snapshots below the head are being loaded (each replays up to an epoch of votes): try again shortly`,
          { code: 'RESOURCE_EXHAUSTED' },
        );
      }
      try {
        const header = await this.chain.store.canonicalHeader(n);
        if (!header) throw new UserError(`block ${n} is missing from the canonical chain`, { code: 'NOT_FOUND' });
        try {
          snap = await loadSnapshot(this.chain.store, header, this.engine.epochSize, this.engine.setChanges);
        } catch (err) {
          if (err instanceof VoteError) throw new UserError(err.message, { code: 'FAILED_PRECONDITION' });
          throw err;
        }
        hash = this.engine.blockHash(header);
      } finally {
        this.loads.release();
      }
    }
    return {
      number: snap.number,
      hash: bytesToHex(hash),
      validators: snap.validators.map((v) => bytesToHex(v)),
      votes: snap.votes.map((v) => ({ voter: bytesToHex(v.voter), candidate: bytesToHex(v.candidate), vote: v.authorize ? 'auth' : 'drop' })),
      epochSize: this.engine.epochSize,
    };
  }

  async status(): Promise<IbftStatusView> {
    const head = this.chain.head;
    const validators = this.engine.validatorsAfter(head.header);
    const state = this.engine.votes.state;
    const validator = this.opts.validator();
    const out: IbftStatusView = {
      address: bytesToHex(this.address),
      inSet: validatorIndex(validators, this.address) >= 0,
      head: head.number,
      validators: validators.length,
      sealing: validator?.sealing ?? false,
    };
    const signed = validator?.core.signedHeight;
    if (signed !== undefined) out.lastSigned = signed;
    if ('unknown' in state) out.votesUnknown = state.unknown;
    const floor = head.number >= IBFT_STATUS_SCAN_BLOCKS ? head.number - IBFT_STATUS_SCAN_BLOCKS + 1n : 1n;
    for (let n = head.number; n >= floor; n--) {
      const header = n === head.number ? head.header : await this.chain.store.canonicalHeader(n);
      if (header && equalsBytes(header.coinbase.bytes, this.address)) {
        out.lastProposed = n;
        break;
      }
    }
    return out;
  }
}

/** A 0x-prefixed 20-byte address from an operator, or one line saying why not. */
export function parseAddress(s: string): Uint8Array {
  if (typeof s !== 'string' || !/^0x[0-9a-fA-F]{40}$/.test(s)) {
    const shown = typeof s === 'string' ? (s.length > 60 ? `${s.slice(0, 60)}…` : s) : typeof s;
    throw new UserError(`"${shown}" is not an address: 0x and 40 hex digits`, { code: 'INVALID_ARGUMENT' });
  }
  return hexToBytes(s as `0x${string}`);
}
