import { createBlockFromRLP, type Block, type BlockHeader } from '@ethereumjs/block';
import { RLP } from '@ethereumjs/rlp';
import type { PeerId } from '@libp2p/interface';
import { bytesToHex, equalsBytes } from '@ethereumjs/util';
import { blockPartSpans, headerFromRlp, transactionsBeyondGas } from '../backup/block-records.js';
import { headerOpts } from '../chain/block-util.js';
import { IbftExtraError, MAX_IBFT_EXTRA_BYTES } from '../consensus/ibft/extra.js';
import { blockHashFromRlp } from '../consensus/ibft/hash.js';
import type { BlockReader, BlockRules, StoredBlock } from '../storage/block-store.js';
import type { Host } from '../p2p/host.js';
import {
  MAX_BLOCKS_PER_REQUEST,
  MAX_BLOCK_BYTES,
  MAX_IBFT_GOSSIP_BYTES,
  MAX_REQUEST_BYTES,
  MessageError,
  SOFT_RESPONSE_BYTES,
  decodeGetBlocks,
  encodeGetBlocks,
} from '../p2p/messages.js';
import { request, serve } from '../p2p/streams.js';
import { errorMessage } from '../util/errors.js';
import type { Semaphore } from '../util/mutex.js';
import { checkBlockRlp } from '../util/rlp-bounds.js';
import { type RlpSpan, rlpStringPair } from '../util/rlp-spans.js';

/** GetBlocks{from, count} -> the canonical blocks from `from` on, as RLP, one message each. */
export function blocksProtocol(genesisHash: Uint8Array): string {
  return `/basalt/${bytesToHex(genesisHash).slice(2, 18)}/blocks/1`;
}

export const BLOCKS_TIMEOUT_MS = 10_000;
/**
 * Block and history answers built and sent at once over all peers (blocks/1 and history/1 share the
 * cap: serveBlocks and serveHistory are given one Semaphore of this size). Each is held whole in memory
 * until sent (up to 4 MiB and one block), so 40 peers with two requests of each protocol would
 * otherwise hold 160 of them (640 MiB and more); a request beyond waits, within its timeout.
 */
export const MAX_BLOCK_ANSWERS = 16;
/**
 * Of those, the most one peer holds at once over both protocols (the Semaphore's `perKey`): a few
 * peers that ask and never read would otherwise hold all 16 and starve every honest asker. A request
 * beyond waits, within its timeout, for one of its peer's own answers to end.
 */
export const MAX_BLOCK_ANSWERS_PER_PEER = 2;
/**
 * Of those, the most the peers of one IP address hold together, and the most all peers hold together
 * (the Semaphore's `perGroup` and `grouped`), but for validators of the set, bootnodes and added peers,
 * which are counted by peer alone and may take the places the others leave (4). Peer IDs cost nothing:
 * eight identities holding two places each for the whole timeout (reading a piece just inside the
 * stall limit) held every place, and an honest asker waited past its deadline, until its syncer banned
 * the node. A devnet's nodes share 127.0.0.1: its validators are not counted by address, and full nodes
 * there share four places, each held for the few milliseconds an honest answer takes.
 */
export const MAX_BLOCK_ANSWERS_PER_ADDRESS = 4;
export const MAX_BLOCK_ANSWERS_FOR_OTHERS = 12;
/**
 * The most one block with its receipts may take in a history/1 answer: logs are not bounded by the
 * block size (LOG data costs 8 gas a byte), so the limit is the one the snapshot format and the backup
 * repository's segments have for a block with its receipts (64 MiB).
 */
export const MAX_HISTORY_BLOCK_BYTES = 64 * 1024 * 1024;

export interface BlockServerSource {
  head: { number: bigint };
  store: Pick<BlockReader, 'storedBlock' | 'storedBlocks'>;
}

/**
 * GetBlocks{from, count} -> the canonical blocks from `from` on with their stored receipts, one message
 * each: RLP([block RLP, receipts RLP]) (a history back-fill's; streams of their own, apart from block sync's).
 */
export function historyProtocol(genesisHash: Uint8Array): string {
  return `/basalt/${bytesToHex(genesisHash).slice(2, 18)}/history/1`;
}

interface ServeOptions {
  isReady(peer: PeerId): boolean;
  onBadPeer(peer: PeerId, reason: string): void;
  timeoutMs?: number;
  /**
   * The node's places for answers being built and sent (MAX_BLOCK_ANSWERS, MAX_BLOCK_ANSWERS_PER_PEER,
   * MAX_BLOCK_ANSWERS_PER_ADDRESS, MAX_BLOCK_ANSWERS_FOR_OTHERS), shared by both protocols.
   */
  answering: Semaphore;
  /** Validators, bootnodes and added peers: their places are counted by peer alone (streams' ServeOptions.trusted). */
  trusted?(peer: PeerId): boolean;
  /** An answer its asker takes none of for this long is abandoned (streams' SEND_STALL_MS by default). */
  stallMs?: number;
}

/**
 * Serve GetBlocks to ready peers: up to `count` canonical blocks from `from`, stopping at the head,
 * at a block this node does not hold (a restored node has no history below its snapshot, or not yet:
 * its back-fill gap) or once the response passes SOFT_RESPONSE_BYTES (at least one block is always sent).
 */
export async function serveBlocks(host: Host, genesisHash: Uint8Array, chain: BlockServerSource, opts: ServeOptions): Promise<void> {
  await servePart(host, blocksProtocol(genesisHash), chain, opts, (b) => b.blockRlp);
}

/**
 * Serve canonical blocks with their receipts (Basalt's stored form: `[status, cumulativeGasUsed, logs]`
 * per transaction) as serveBlocks serves the blocks, so that a node back-filling its history from peers
 * can check them against each header's roots.
 */
export async function serveHistory(host: Host, genesisHash: Uint8Array, chain: BlockServerSource, opts: ServeOptions): Promise<void> {
  await servePart(host, historyProtocol(genesisHash), chain, opts, (b) => RLP.encode([b.blockRlp, b.receiptsRlp]));
}

async function servePart(host: Host, protocol: string, chain: BlockServerSource, opts: ServeOptions, part: (b: StoredBlock) => Uint8Array): Promise<void> {
  await serve(
    host,
    protocol,
    async (req, peer) => {
      const { from, count } = decodeGetBlocks(req);
      if (!opts.isReady(peer)) return [];
      const out: Uint8Array[] = [];
      let bytes = 0;
      const last = from + BigInt(count) - 1n < chain.head.number ? from + BigInt(count) - 1n : chain.head.number;
      try {
        for await (const b of chain.store.storedBlocks(from, last)) {
          const bytesOf = part(b);
          out.push(bytesOf);
          bytes += bytesOf.length;
          if (bytes >= SOFT_RESPONSE_BYTES) break;
        }
      } catch {
        // A block of the batch is not held here: the answer is the blocks before it, read one by one.
        for (let n = from + BigInt(out.length); n <= last && bytes < SOFT_RESPONSE_BYTES; n++) {
          const b = await chain.store.storedBlock(n).catch(() => undefined);
          if (!b) break;
          const bytesOf = part(b);
          out.push(bytesOf);
          bytes += bytesOf.length;
        }
      }
      return out;
    },
    {
      maxRequestBytes: MAX_REQUEST_BYTES,
      timeoutMs: opts.timeoutMs ?? BLOCKS_TIMEOUT_MS,
      maxConcurrent: 2,
      onBadPeer: opts.onBadPeer,
      answering: opts.answering,
      ...(opts.trusted ? { trusted: opts.trusted } : {}),
      ...(opts.stallMs !== undefined ? { stallMs: opts.stallMs } : {}),
    },
  );
}

/** A GetBlocks request over `protocol`: up to `count` messages, each at most `maxMessageBytes`, in all the soft limit plus one such message. */
async function getBlocks(
  host: Host,
  peer: PeerId,
  protocol: string,
  from: bigint,
  count: number,
  maxMessageBytes: number,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  answered: AnswerSize | undefined,
): Promise<Uint8Array[]> {
  if (count < 1 || count > MAX_BLOCKS_PER_REQUEST) throw new RangeError(`count ${count} is not 1-${MAX_BLOCKS_PER_REQUEST}`);
  const msgs = await request(host, peer, protocol, encodeGetBlocks({ from, count }), {
    timeoutMs,
    ...(signal ? { signal } : {}),
    maxMessageBytes,
    maxMessages: count,
    maxTotalBytes: SOFT_RESPONSE_BYTES + maxMessageBytes,
  });
  if (answered) answered.bytes = msgs.reduce((n, m) => n + m.byteLength, 0);
  return msgs;
}

/** Filled in by fetchBlocks and fetchHistory: the bytes of the answer's messages. */
export interface AnswerSize {
  bytes: number;
}

/**
 * Whether an answer of `got` of `count` blocks, `bytes` in all, in `ms`, came at a pace at which a
 * whole answer would take longer than `limitMs`. A whole answer is `count` blocks or SOFT_RESPONSE_BYTES,
 * whichever comes first: with large blocks every answer is a part cut at that size, and is judged for
 * what it is, not projected over the blocks it could not hold (bytes 0: unknown, by blocks alone).
 */
export function slowAnswer(count: number, got: number, bytes: number, ms: number, limitMs: number): boolean {
  if (got === 0) return false;
  const wholeBy = Math.min(count / got, bytes > 0 ? Math.max(SOFT_RESPONSE_BYTES / bytes, 1) : Number.POSITIVE_INFINITY);
  return ms * wholeBy > limitMs;
}

/**
 * A peer's block: its header, decoded alone and checked (blockFromPeer), and its body, decoded only
 * when asked for. A body costs @ethereumjs ~70 µs and ~1 KB a transaction (it copies the Common for
 * each): 64 blocks of ~10,000 one-byte-field transactions are a minute of the event loop and half a
 * GB, so none is decoded before its header is found worth it.
 */
export interface PeerBlock {
  readonly header: BlockHeader;
  /** The whole block (its header decoded again, its transactions): MessageError where it does not decode. Decoded once. */
  block(): Block;
}

/**
 * Block `n` from a peer's RLP, with the rules of its own height (a fork inside a range changes them):
 * bounded (checkBlockRlp), its header decoded alone (found by its span) and block `n`, hashing to
 * `canonical` where the caller knows the chain's block there (a back-fill's), and its transaction list,
 * counted from its spans, no longer than its gas used pays for (transactionsBeyondGas). MessageError otherwise.
 * Nothing of the body is decoded here.
 */
function blockFromPeer(rlp: Uint8Array, n: bigint, rules: BlockRules, what = 'block', canonical?: Uint8Array): PeerBlock {
  const common = rules.commonAt(n);
  const undecodable = (err: unknown) => new MessageError(`${what} ${n} from the peer cannot be decoded: ${errorMessage(err)}`);
  let header: BlockHeader;
  let headerRlp: Uint8Array;
  let headerSpans: { outer: RlpSpan; items: RlpSpan[] };
  let transactions: RlpSpan;
  try {
    checkBlockRlp(rlp); // bounded before anything of it is decoded (a list of millions of items)
    const spans = blockPartSpans(rlp);
    transactions = spans.transactions;
    headerRlp = rlp.subarray(spans.header.at, spans.header.end);
    ({ header, spans: headerSpans } = headerFromRlp(headerRlp, common));
  } catch (err) {
    throw undecodable(err);
  }
  if (header.number !== n) throw new MessageError(`asked for block ${n}, the peer sent block ${header.number}`);
  if (canonical !== undefined) {
    let hash: Uint8Array;
    try {
      hash = blockHashFromRlp(header, headerRlp, headerSpans);
    } catch (err) {
      if (!(err instanceof IbftExtraError)) throw err;
      throw new MessageError(`block ${n} from the peer has malformed IBFT extra data: ${err.message}`);
    }
    if (!equalsBytes(hash, canonical)) throw new MessageError(`block ${n} from the peer is ${bytesToHex(hash)}, not the chain's ${bytesToHex(canonical)}`);
  }
  const most = transactionsBeyondGas(rlp, transactions, header.gasUsed);
  if (most !== undefined)
    throw new MessageError(`${what} ${n} from the peer lists more transactions than its gas used (${header.gasUsed}) pays for (${most} at most)`);
  let block: Block | undefined;
  return {
    header,
    block() {
      try {
        block ??= createBlockFromRLP(rlp, headerOpts(common));
      } catch (err) {
        throw undecodable(err);
      }
      return block;
    },
  };
}

/** Let the node's other work (timers, IBFT, RPC) run between two blocks' decodes. */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Ask `peer` for blocks `from`..`from+count-1`. The answer may be shorter (the peer's head, its size
 * limit) but must be those blocks, in order: anything else is a MessageError. Every header is checked
 * (blockFromPeer) before any body is decoded; each body is decoded when its block is taken
 * (PeerBlock.block), so block sync decodes a block only once the ones before it were imported, and a
 * forged answer costs one body at most. Full verification is the chain's (importBlock).
 */
export async function fetchBlocks(
  host: Host,
  peer: PeerId,
  genesisHash: Uint8Array,
  rules: BlockRules,
  from: bigint,
  count: number,
  timeoutMs = BLOCKS_TIMEOUT_MS,
  signal?: AbortSignal,
  answered?: AnswerSize,
): Promise<PeerBlock[]> {
  const msgs = await getBlocks(host, peer, blocksProtocol(genesisHash), from, count, MAX_BLOCK_BYTES, timeoutMs, signal, answered);
  return msgs.map((rlp, i) => blockFromPeer(rlp, from + BigInt(i), rules));
}

/**
 * The largest answer to a head proof (Syncer.prove: the block a peer claims as its head). Every block
 * of the chain was a proposal first, in one IBFT message of at most MAX_IBFT_GOSSIP_BYTES (the block
 * builder keeps its transactions to 3 MiB), and gained only its committed seals after, within the
 * MAX_IBFT_EXTRA_BYTES of its extra data: a larger answer is refused from its length prefix, before a
 * byte of it is read (OversizedMessageError), not taken in whole and decoded as a sync answer's 16 MiB are.
 */
export const MAX_HEAD_PROOF_BYTES = MAX_IBFT_GOSSIP_BYTES + MAX_IBFT_EXTRA_BYTES;

/**
 * Ask `peer` for block `n`, the head it claims, in at most MAX_HEAD_PROOF_BYTES; undefined if it sends
 * none. As fetchBlocks otherwise: its body is decoded when taken (after its header's seals are checked).
 */
export async function fetchHeadProof(
  host: Host,
  peer: PeerId,
  genesisHash: Uint8Array,
  rules: BlockRules,
  n: bigint,
  timeoutMs: number,
): Promise<PeerBlock | undefined> {
  const [rlp] = await getBlocks(host, peer, blocksProtocol(genesisHash), n, 1, MAX_HEAD_PROOF_BYTES, timeoutMs, undefined, undefined);
  return rlp === undefined ? undefined : blockFromPeer(rlp, n, rules);
}

/**
 * Ask `peer` for blocks `from`..`from+count-1` with their stored receipts. The answer may be shorter
 * (the peer's head, a block it does not hold, its size limit) but must be those blocks, in order, each
 * a [block, receipts] pair that decodes: anything else is a MessageError. The blocks are the chain's,
 * whose headers this node holds (a back-fill's): each header is decoded alone and must hash to
 * `canonicalHash` of its number, and its transactions be no more than its gas used pays for
 * (blockFromPeer), every header of the answer before any body is decoded; then the bodies, one at a
 * time, the event loop let run between them. What the receipts hold is checked by the caller against
 * the block's header (verifyContents).
 */
export async function fetchHistory(
  host: Host,
  peer: PeerId,
  genesisHash: Uint8Array,
  rules: BlockRules,
  canonicalHash: (n: bigint) => Promise<Uint8Array | undefined>,
  from: bigint,
  count: number,
  timeoutMs = BLOCKS_TIMEOUT_MS,
  signal?: AbortSignal,
  answered?: AnswerSize,
): Promise<{ block: Block; receiptsRlp: Uint8Array }[]> {
  const msgs = await getBlocks(host, peer, historyProtocol(genesisHash), from, count, MAX_HISTORY_BLOCK_BYTES + 16, timeoutMs, signal, answered);
  const checked: { block: PeerBlock; receiptsRlp: Uint8Array }[] = [];
  for (const [i, m] of msgs.entries()) {
    const n = from + BigInt(i);
    let pair: [Uint8Array, Uint8Array];
    try {
      pair = rlpStringPair(m);
    } catch (err) {
      throw new MessageError(`block ${n} with its receipts from the peer cannot be decoded: not a [block, receipts] pair (${errorMessage(err)})`);
    }
    const canonical = await canonicalHash(n);
    // Not the peer's doing: no header here to check it by (a back-fill asks for blocks whose headers it holds).
    if (canonical === undefined) throw new Error(`no header of block ${n} here to check the peer's by`);
    checked.push({ block: blockFromPeer(pair[0], n, rules, 'block with its receipts', canonical), receiptsRlp: pair[1] });
  }
  const out: { block: Block; receiptsRlp: Uint8Array }[] = [];
  for (const { block, receiptsRlp } of checked) {
    if (out.length > 0) await nextTurn();
    out.push({ block: block.block(), receiptsRlp });
  }
  return out;
}
