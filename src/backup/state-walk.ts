import { RLP } from '@ethereumjs/rlp';
import { KECCAK256_NULL, KECCAK256_RLP, bytesToHex, equalsBytes } from '@ethereumjs/util';
import type { StateReader } from '../storage/trie-node-store.js';
import { HashSet } from '../util/hash-set.js';

export class MissingStateError extends Error {}

type Kind = 'account' | 'storage';

export type StateItem = { kind: 'node'; hash: Uint8Array; data: Uint8Array } | { kind: 'code'; hash: Uint8Array; data: Uint8Array };

/**
 * The world state reachable from `stateRoot`: the account trie, every account's storage trie and
 * every contract's code, each stored trie node once (nodes shorter than 32 bytes live inline in their
 * parent and are not stored) and each distinct code once. Throws MissingStateError if a referenced
 * node or code is absent. Depth-first with an explicit stack, so deep tries cannot overflow.
 */
export async function* stateItems(source: StateReader, stateRoot: Uint8Array): AsyncGenerator<StateItem> {
  // What was visited, ~32 bytes a node (a Set of hex strings took ~120): the walk of a state of
  // millions of nodes keeps its memory in tens of MB.
  const seenNodes = new HashSet();
  const seenCode = new HashSet();
  const stack: { hash: Uint8Array; kind: Kind }[] = [];
  if (!equalsBytes(stateRoot, KECCAK256_RLP)) stack.push({ hash: stateRoot, kind: 'account' });
  const pendingCode: Uint8Array[] = [];

  const visit = (node: unknown, kind: Kind): void => {
    if (!Array.isArray(node)) return;
    if (node.length === 17) {
      for (let i = 0; i < 16; i++) child(node[i], kind);
      return;
    }
    if (node.length !== 2) throw new MissingStateError(`malformed trie node with ${node.length} items`);
    const path = node[0] as Uint8Array;
    const isLeaf = path.length > 0 && (path[0]! >> 4) >= 2;
    if (!isLeaf) return child(node[1], kind);
    if (kind === 'account') {
      const account = RLP.decode(node[1] as Uint8Array) as Uint8Array[];
      if (account.length !== 4) throw new MissingStateError('malformed account in the state trie');
      const storageRoot = account[2]!;
      const codeHash = account[3]!;
      if (storageRoot.length === 32 && !equalsBytes(storageRoot, KECCAK256_RLP)) stack.push({ hash: storageRoot, kind: 'storage' });
      if (codeHash.length === 32 && !equalsBytes(codeHash, KECCAK256_NULL)) pendingCode.push(codeHash);
    }
  };
  const child = (ref: unknown, kind: Kind): void => {
    if (ref instanceof Uint8Array) {
      if (ref.length === 32) stack.push({ hash: ref, kind });
      else if (ref.length !== 0) throw new MissingStateError('malformed trie node reference');
    } else if (Array.isArray(ref)) visit(ref, kind); // an inline node
  };

  while (stack.length > 0) {
    const { hash, kind } = stack.pop()!;
    if (!seenNodes.add(hash)) continue;
    const node = await source.node(hash);
    if (node === undefined) throw new MissingStateError(`state trie node ${bytesToHex(hash)} is missing`);
    yield { kind: 'node', hash, data: node };
    visit(RLP.decode(node), kind);
    while (pendingCode.length > 0) {
      const codeHash = pendingCode.pop()!;
      if (!seenCode.add(codeHash)) continue;
      const code = await source.code(codeHash);
      if (code === undefined) throw new MissingStateError(`contract code ${bytesToHex(codeHash)} is missing`);
      yield { kind: 'code', hash: codeHash, data: code };
    }
  }
}

/** Check that the whole state under `stateRoot` is present; returns the counts. */
export async function checkStateComplete(source: StateReader, stateRoot: Uint8Array): Promise<{ nodes: number; codes: number }> {
  let nodes = 0;
  let codes = 0;
  for await (const item of stateItems(source, stateRoot)) {
    if (item.kind === 'node') nodes++;
    else codes++;
  }
  return { nodes, codes };
}
