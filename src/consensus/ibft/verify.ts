import type { BlockHeader } from '@ethereumjs/block';
import { KECCAK256_RLP_ARRAY, bytesToHex, equalsBytes } from '@ethereumjs/util';
import { recoverAddress } from '../../util/secp256k1.js';
import type { RecoverSigner } from '../../chain/engine.js';
import { BlockVerificationError, FutureBlockError, MAX_FUTURE_SECONDS, UnprovenHeadError } from '../../chain/errors.js';
import { IBFT_MIX_HASH, IbftExtraError, headerExtra, type IbftExtra } from './extra.js';
import { blockHash, committedSealHash, proposerSealHash } from './hash.js';
import { QuorumRule, maxFaulty, sameValidatorSet, validatorIndex } from './validators.js';
import { errorMessage } from '../../util/errors.js';
import { DEFAULT_EPOCH_SIZE, VoteError, allowedNextSets, type Vote } from './votes.js';

/**
 * What a check knows of validator votes: the chain's epoch size and, when it follows the chain (the
 * block after its head), the votes pending after the parent; without them a vote's tally is not
 * checked (votes.ts allowedNextSets).
 */
export interface VoteContext {
  epochSize: bigint;
  pending?: Vote[] | undefined;
  /** The genesis file's emergency set for this block's height: it decides the block, which carries it and no vote. */
  setChange?: Uint8Array[] | undefined;
}

const NO_VOTE_CONTEXT: VoteContext = { epochSize: DEFAULT_EPOCH_SIZE };

/**
 * Verify everything about `header` that IBFT and the header chain decide, against its parent:
 * linkage, header fields, the proposer seal and a quorum of distinct committed seals from the
 * parent's validator set, the quorum being the one `rule` sets for the header's height. Execution
 * results (state root, receipts) are checked by the executor. Works for any validator set size (up to
 * MAX_IBFT_VALIDATORS).
 * Throws BlockVerificationError.
 */
export function verifyIbftHeader(
  header: BlockHeader,
  parent: BlockHeader,
  nowSeconds = BigInt(Math.floor(Date.now() / 1000)),
  rule: QuorumRule = QuorumRule.OPTIMAL,
  recover: RecoverSigner = recoverAddress,
  votes: VoteContext = NO_VOTE_CONTEXT,
  seals = true,
): IbftExtra {
  const { extra, validators } = verifyProposalFields(header, parent, seals ? recover : undefined, votes);
  if (seals) verifyCommittedSeals(header, extra, validators, rule, recover);
  verifyNotFuture(header, nowSeconds);
  return extra;
}

/**
 * The seals of `header` alone, against the set `validators` that decides it: its proposer seal is by
 * its coinbase, and a quorum (by `rule`) of distinct validators of the set signed its hash, and nobody
 * else. With verifyIbftHeader's `seals: false` check of the same header, the whole of verifyIbftHeader.
 */
export function verifyIbftSeals(
  header: BlockHeader,
  validators: Uint8Array[],
  rule: QuorumRule = QuorumRule.OPTIMAL,
  recover: RecoverSigner = recoverAddress,
): void {
  let extra: IbftExtra;
  try {
    extra = headerExtra(header);
  } catch (err) {
    if (err instanceof IbftExtraError) throw new BlockVerificationError(header.number, err.message);
    throw err;
  }
  let proposer: Uint8Array;
  try {
    proposer = recover(proposerSealHash(header), extra.proposerSeal);
  } catch (err) {
    throw new BlockVerificationError(header.number, `invalid proposer seal: ${errorMessage(err)}`);
  }
  if (validatorIndex(validators, proposer) < 0) throw new BlockVerificationError(header.number, `proposer seal is by ${bytesToHex(proposer)}, not a validator`);
  if (!equalsBytes(header.coinbase.bytes, proposer))
    throw new BlockVerificationError(header.number, `proposer seal is by ${bytesToHex(proposer)}, not the coinbase ${header.coinbase.toString()}`);
  verifyCommittedSeals(header, extra, validators, rule, recover);
}

/**
 * A timestamp more than MAX_FUTURE_SECONDS ahead of `nowSeconds`: FutureBlockError (held, not
 * invalid). Checked last, so that a block held for it is valid in every other respect.
 */
export function verifyNotFuture(header: BlockHeader, nowSeconds: bigint): void {
  if (header.timestamp > nowSeconds + MAX_FUTURE_SECONDS) throw new FutureBlockError(header.number, header.timestamp, nowSeconds, MAX_FUTURE_SECONDS);
}

/**
 * The committed seals of `header`: a quorum (by `rule` at its height) of distinct validators of
 * `validators` signed its hash, and nobody else.
 */
export function verifyCommittedSeals(
  header: BlockHeader,
  extra: IbftExtra,
  validators: Uint8Array[],
  rule: QuorumRule,
  recover: RecoverSigner = recoverAddress,
): void {
  const { signers } = sealSigners(header, extra, validators, true, recover, validators.length);
  const quorum = rule.at(header.number, validators.length);
  if (signers < quorum) {
    throw new BlockVerificationError(header.number, `${signers} committed seals, quorum is ${quorum} of ${validators.length} validators`);
  }
}

/**
 * At least `needed` distinct signers of `validators` among the committed seals of `header`; seals of
 * other keys are passed over (a claimed head: the set may have changed since), a seal that does not
 * recover or a second seal of one key is refused, and no seal is recovered once `needed` are found.
 * The set that decides the block is at most one larger than the set it carries (a vote adds one), so a
 * longer list of seals is refused before any is recovered. Too few of `validators` is
 * UnprovenHeadError (the set may have changed since: votes this node has not seen) where all the
 * seals, whoever's, are at least the F + 1 of a set one smaller than the one the block carries (a
 * quorum of the set that decided it, at most one larger, signed an honest block); fewer is
 * BlockVerificationError.
 */
export function verifyKnownSeals(
  header: BlockHeader,
  extra: IbftExtra,
  validators: Uint8Array[],
  needed: number,
  recover: RecoverSigner = recoverAddress,
): void {
  const { signers, others } = sealSigners(header, extra, validators, false, recover, extra.validators.length + 1, needed);
  if (signers >= needed) return;
  const reason = `${signers} committed seals of the ${validators.length} validators known here, at least ${needed} needed`;
  if (signers + others >= maxFaulty(Math.max(extra.validators.length - 1, 1)) + 1) {
    throw new UnprovenHeadError(header.number, `${reason} (${others} by other keys: the validator set may have changed since)`);
  }
  throw new BlockVerificationError(header.number, reason);
}

/**
 * How many distinct validators of `validators` put a committed seal on `header`, counted up to
 * `enough` (the seals after are not recovered), and how many distinct other keys did (0 with `strict`). More than `most` seals, a copy of a seal, a seal that
 * does not recover and a second seal of one key throw (none is in a valid block, and a seal costs
 * ~80 us to recover); with `strict`, so does a seal by another key (otherwise it is not counted).
 */
function sealSigners(
  header: BlockHeader,
  extra: IbftExtra,
  validators: Uint8Array[],
  strict: boolean,
  recover: RecoverSigner,
  most: number,
  enough = Number.POSITIVE_INFINITY,
): { signers: number; others: number } {
  const seals = extra.committedSeals;
  if (seals.length > most) throw new BlockVerificationError(header.number, `${seals.length} committed seals, more than the ${most} its validator set allows`);
  // Counting stops early, so a copy is looked for first (a key signs a hash once: one low-s seal). When
  // every seal is recovered, a copy is a second seal of its signer (no hex strings on a restore's path).
  if (enough !== Number.POSITIVE_INFINITY && new Set(seals.map((seal) => bytesToHex(seal))).size !== seals.length)
    throw new BlockVerificationError(header.number, 'duplicate committed seal (the same bytes twice)');
  const commitHash = committedSealHash(blockHash(header));
  const signers = new Set<number>();
  const others = new Set<string>();
  for (const seal of seals) {
    if (signers.size >= enough) break;
    let signer: Uint8Array;
    try {
      signer = recover(commitHash, seal);
    } catch (err) {
      throw new BlockVerificationError(header.number, `invalid committed seal: ${errorMessage(err)}`);
    }
    const idx = validatorIndex(validators, signer);
    if (idx < 0) {
      if (strict) throw new BlockVerificationError(header.number, `committed seal by ${bytesToHex(signer)}, not a validator`);
      const key = bytesToHex(signer);
      if (others.has(key)) throw new BlockVerificationError(header.number, `duplicate committed seal by ${key}`);
      others.add(key);
    } else {
      if (signers.has(idx)) throw new BlockVerificationError(header.number, `duplicate committed seal by ${bytesToHex(signer)}`);
      signers.add(idx);
    }
  }
  return { signers: signers.size, others: others.size };
}

/**
 * Everything verifyIbftHeader checks but the committed seals: what a validator checks of a proposal
 * (a proposer-sealed header, before consensus adds committed seals). The timestamp is checked last
 * against `nowSeconds` (FutureBlockError).
 */
export function verifyIbftProposal(
  header: BlockHeader,
  parent: BlockHeader,
  nowSeconds = BigInt(Math.floor(Date.now() / 1000)),
  votes: VoteContext = NO_VOTE_CONTEXT,
): { extra: IbftExtra; validators: Uint8Array[]; proposer: Uint8Array } {
  const r = verifyProposalFields(header, parent, recoverAddress, votes);
  verifyNotFuture(header, nowSeconds);
  return r;
}

/**
 * The proposal's checks without the clock: linkage, fields, proposer seal. Without `recover`, the
 * proposer seal is left to verifyIbftSeals: the coinbase stands for the proposer (a header a later
 * header's quorum certifies, whose seals a restore does not recover).
 */
function verifyProposalFields(
  header: BlockHeader,
  parent: BlockHeader,
  recover: RecoverSigner | undefined,
  votes: VoteContext = NO_VOTE_CONTEXT,
): { extra: IbftExtra; validators: Uint8Array[]; proposer: Uint8Array } {
  const n = header.number;
  const fail = (msg: string): never => {
    throw new BlockVerificationError(n, msg);
  };
  if (n !== parent.number + 1n) fail(`number does not follow parent ${parent.number}`);
  if (!equalsBytes(header.parentHash, blockHash(parent))) {
    fail(`parent hash ${bytesToHex(header.parentHash)} is not the hash of block ${parent.number} (${bytesToHex(blockHash(parent))})`);
  }
  if (header.timestamp < parent.timestamp) fail(`timestamp ${header.timestamp} is before its parent's ${parent.timestamp}`);
  if (!equalsBytes(header.mixHash, IBFT_MIX_HASH)) fail('mixHash is not the IBFT digest');
  if (!equalsBytes(header.uncleHash, KECCAK256_RLP_ARRAY)) fail('uncle hash is not empty');
  if (header.nonce.some((b) => b !== 0)) fail('nonce is not zero');
  if (header.difficulty !== n) fail(`difficulty ${header.difficulty} is not the block number`);
  if (header.gasUsed > header.gasLimit) fail(`gas used ${header.gasUsed} exceeds gas limit ${header.gasLimit}`);
  try {
    header.validateGasLimit(parent);
  } catch (err) {
    fail(`gas limit: ${errorMessage(err)}`);
  }
  const expectedBaseFee = parent.calcNextBaseFee();
  if (header.baseFeePerGas !== expectedBaseFee) fail(`base fee ${header.baseFeePerGas} is not ${expectedBaseFee}`);

  let extra: IbftExtra;
  let parentExtra: IbftExtra;
  try {
    extra = headerExtra(header);
    parentExtra = headerExtra(parent);
  } catch (err) {
    if (err instanceof IbftExtraError) return fail(err.message);
    throw err;
  }
  // The parent carries the set after its own vote: the set that decides this block (unless the
  // genesis file's emergency change starts here).
  const validators = votes.setChange ?? parentExtra.validators;
  let proposer: Uint8Array;
  if (recover === undefined) {
    proposer = header.coinbase.bytes;
    if (validatorIndex(validators, proposer) < 0) fail(`coinbase ${header.coinbase.toString()} is not a validator`);
  } else {
    try {
      proposer = recover(proposerSealHash(header), extra.proposerSeal);
    } catch (err) {
      return fail(`invalid proposer seal: ${errorMessage(err)}`);
    }
    if (validatorIndex(validators, proposer) < 0) fail(`proposer seal is by ${bytesToHex(proposer)}, not a validator`);
    if (!equalsBytes(header.coinbase.bytes, proposer)) fail(`coinbase ${header.coinbase.toString()} is not the proposer ${bytesToHex(proposer)}`);
  }

  // The set it carries is the set after its vote (if any): what decides the next block.
  let allowed: Uint8Array[][];
  if (votes.setChange && extra.vote)
    fail('it carries a validator vote where the emergency validator-set change of the genesis file starts (votes reset there)');
  try {
    allowed = votes.setChange ? [votes.setChange] : allowedNextSets(validators, { number: n, proposer, vote: extra.vote }, votes.epochSize, votes.pending);
  } catch (err) {
    if (err instanceof VoteError) return fail(err.message);
    throw err;
  }
  if (!allowed.some((set) => sameValidatorSet(extra.validators, set))) {
    fail(
      extra.vote
        ? `the validator set it carries is not the one its vote leads to (${allowed.map((s) => s.length).join(' or ')} validators)`
        : 'validator set differs from its parent without a vote',
    );
  }

  return { extra, validators, proposer };
}

/** The signatures verifyIbftHeader recovers: the proposer seal and each committed seal, with their digests. */
export function ibftSealSignatures(header: BlockHeader): { hash: Uint8Array; signature: Uint8Array }[] {
  let extra: IbftExtra;
  try {
    extra = headerExtra(header);
  } catch {
    return [];
  }
  const commitHash = committedSealHash(blockHash(header));
  return [{ hash: proposerSealHash(header), signature: extra.proposerSeal }, ...extra.committedSeals.map((signature) => ({ hash: commitHash, signature }))];
}
