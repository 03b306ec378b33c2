import { equalsBytes } from '@ethereumjs/util';
import { orderedTrieRoot } from '../../../chain/stack-trie.js';
import { keccak256 } from '../../../util/keccak.js';
import { type RlpSpan, rlpListItems, rlpSpanAt } from '../../../util/rlp-spans.js';
import { errorMessage } from '../../../util/errors.js';
import { MessageError } from './messages.js';

/** Index of transactionsTrie in the RLP list of header fields. */
const TRANSACTIONS_ROOT_INDEX = 4;

/**
 * Check that `bytes`, the unsigned attachment of a ROUND-CHANGE, is the block its signed prepared
 * certificate names by `hash`, byte for byte, without decoding it: [header, transactions, no uncles]
 * (Basalt blocks are London-shaped), the header's keccak256 is `hash` (a prepared block is a proposal,
 * which carries no committed seals, so its IBFT hash is that of its header as it stands), and the
 * transactions are those of the header's transactions root. So nobody can attach another body (or
 * junk) to a validator's signed message. Throws MessageError. `transactions: false`: all but the
 * transactions root (a trie of up to 4 MiB of transactions, ~0.25 s for 38,000 of them: for a block
 * an honest validator is known to have executed).
 */
export function checkPreparedBlock(hash: Uint8Array, bytes: Uint8Array, transactions = true): void {
  let items: RlpSpan[];
  let fields: RlpSpan[];
  let txs: RlpSpan[];
  try {
    const outer = rlpSpanAt(bytes, 0);
    if (!outer.list || outer.end !== bytes.length) throw new MessageError('not one RLP list');
    items = rlpListItems(bytes, outer);
    if (items.length !== 3 || !items.every((i) => i.list) || items[2]!.end !== items[2]!.payloadAt) {
      throw new MessageError('not [header, transactions, no uncles]');
    }
    fields = rlpListItems(bytes, items[0]!);
    txs = rlpListItems(bytes, items[1]!);
  } catch (err) {
    throw new MessageError(`prepared block: ${errorMessage(err)}`);
  }
  if (!equalsBytes(keccak256(bytes.subarray(items[0]!.at, items[0]!.end)), hash)) {
    throw new MessageError('prepared block: its header is not the one its certificate names');
  }
  if (!transactions) return;
  const root = fields[TRANSACTIONS_ROOT_INDEX];
  if (root === undefined || root.list || root.end - root.payloadAt !== 32) throw new MessageError('prepared block: header without a transactions root');
  // A legacy transaction is its RLP list, a typed one a string of its type byte and payload.
  const values = txs.map((t) => {
    const v = t.list ? bytes.subarray(t.at, t.end) : bytes.subarray(t.payloadAt, t.end);
    if (!t.list && (v.length === 0 || v[0]! >= 0x80)) throw new MessageError('prepared block: a transaction is neither legacy nor typed');
    return v;
  });
  if (!equalsBytes(orderedTrieRoot(values), bytes.subarray(root.payloadAt, root.end))) {
    throw new MessageError("prepared block: its transactions are not its header's");
  }
}
