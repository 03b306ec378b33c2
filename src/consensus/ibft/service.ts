/**
 * What an operator asks of a node's IBFT validator set (issue #23): `basalt ibft …` over the gRPC
 * operator API and the `ibft_` JSON-RPC namespace are thin adapters over one implementation
 * (node/ibft-service.ts). Addresses are 0x-prefixed lowercase hex.
 */

export type VoteKind = 'auth' | 'drop';

export interface PendingVoteView {
  voter: string;
  candidate: string;
  vote: VoteKind;
}

/** The validator set after a block (it decides the next one) and the votes pending then. */
export interface ValidatorSnapshotView {
  number: bigint;
  hash: string;
  validators: string[];
  votes: PendingVoteView[];
  epochSize: bigint;
}

export interface IbftStatusView {
  /** This node's validator address. */
  address: string;
  /** Whether the set deciding the next block holds it. */
  inSet: boolean;
  head: bigint;
  /** Size of the set deciding the next block. */
  validators: number;
  /** Taking part in consensus now. */
  sealing: boolean;
  /** The last block it proposed among the last IBFT_STATUS_SCAN_BLOCKS (undefined: none there). */
  lastProposed?: bigint;
  /** The highest height its sign journal holds (undefined: it signed nothing, or it runs no validator). */
  lastSigned?: bigint;
  /** Whether the votes pending at the head are known here (why not, if not). */
  votesUnknown?: string;
}

export interface IbftService {
  /** Propose a vote this validator puts into the blocks it proposes until the set reflects it. */
  propose(candidate: string, vote: VoteKind): Promise<void>;
  /** Forget a proposed vote; whether there was one. */
  discard(candidate: string): Promise<boolean>;
  /** The votes this node's operator proposed and that are not settled yet. */
  candidates(): Promise<{ candidate: string; vote: VoteKind }[]>;
  /** The snapshot after block `number` (default: the head). */
  snapshot(number?: bigint): Promise<ValidatorSnapshotView>;
  status(): Promise<IbftStatusView>;
}

/** Blocks `status` looks back for the last one this validator proposed. */
export const IBFT_STATUS_SCAN_BLOCKS = 1024n;
