import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { createBlockFromRLP, type Block } from '@ethereumjs/block';
import { RLP } from '@ethereumjs/rlp';
import { bytesToHex, equalsBytes } from '@ethereumjs/util';
import { keccak256 } from 'ethereum-cryptography/keccak.js';
import { headerOpts } from '../chain/block-util.js';
import { Chain } from '../chain/chain.js';
import { parseGenesisFile, type GenesisFile } from '../chain/chain-config.js';
import { decodeReceipts } from '../chain/receipts.js';
import { decompressRecord, isCompression, type Compression } from '../archive/compression.js';
import { ArchiveError } from '../archive/errors.js';
import { decodeBlockPayload } from '../archive/format.js';
import { ByteReader } from '../archive/byte-reader.js';
import { readRecord } from '../archive/reader.js';
import { BlockVerificationError } from '../consensus/errors.js';
import { IbftEngine } from '../consensus/ibft/engine.js';
import { blockHash } from '../consensus/ibft/hash.js';
import { verifyIbftHeader } from '../consensus/ibft/verify.js';
import { dataDirLayout } from '../node/data-dir.js';
import { openNodeDatabases } from '../node/storage.js';
import { UserError } from '../util/errors.js';
import { checkPreamble, MAX_ITEMS_RAW_BYTES, SNAPSHOT_VERSION, SnapshotRecord, unpackItems, type SnapshotHeader } from './format.js';
import { checkReceipts } from './receipts-root.js';
import { codeKey, checkStateComplete, MissingStateError } from './state-walk.js';

export interface RestoreProgress {
  phase: 'blocks' | 'state' | 'check';
  blocksDone: bigint;
  blocksTotal: bigint;
  nodes: number;
  bytesRead: number;
}

export interface RestoreSummary {
  dataDir: string;
  head: bigint;
  headHash: string;
  stateRoot: string;
  nodes: number;
  codes: number;
  bytes: number;
  digest: string;
  durationMs: number;
}

/**
 * Build a new data dir from a snapshot, trusting nothing it cannot verify: every header against its
 * parent (IBFT seals and quorum), transactions and receipts against the header roots, every state
 * node and code against its hash, and finally that the whole state under the head's state root is
 * present. Works in a temporary folder next to `dataDir` and renames it only when all of that
 * passed, so a failed or interrupted restore never leaves a data dir that looks good.
 */
export async function restoreSnapshot(
  source: AsyncIterable<Uint8Array>,
  opts: { dataDir: string; genesis?: GenesisFile; onProgress?: (p: RestoreProgress) => void },
): Promise<RestoreSummary> {
  const began = Date.now();
  const target = resolve(opts.dataDir);
  if (existsSync(target) && readdirSync(target).length > 0) {
    throw new UserError(`${target} exists and is not empty: restore into a new data dir (a restore never overwrites one)`);
  }
  if (!existsSync(dirname(target))) throw new UserError(`folder ${dirname(target)} does not exist`);
  const tmp = join(dirname(target), `.${basename(target)}.restoring-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { mode: 0o700 });
  const layout = dataDirLayout(tmp);
  const dbs = await openNodeDatabases(layout);
  let chain: Chain | undefined;
  try {
    const reader = new ByteReader(source);
    const digest = createHash('sha256');
    const pre = await reader.read(10);
    if (pre.length === 0) throw new ArchiveError('snapshot is empty');
    checkPreamble(pre);
    digest.update(pre);
    const first = await readRecord(reader, 'the header');
    if (first.type !== SnapshotRecord.Header) throw new ArchiveError('snapshot does not start with a header');
    digest.update(first.raw);
    const header = decodeHeader(first.payload);
    const genesis = opts.genesis ?? parseGenesisFile(JSON.stringify(header.genesis), 'the snapshot header');
    chain = await Chain.open({ blockchainDb: dbs.blockchain, trieDb: dbs.trie, genesis, engine: new IbftEngine() });
    if (bytesToHex(chain.genesisHash) !== header.genesisHash || chain.chainId.toString() !== header.chainId) {
      throw new ArchiveError(
        `snapshot belongs to another chain (chain ID ${header.chainId}, genesis ${header.genesisHash}); the genesis file gives chain ID ${chain.chainId}, genesis ${bytesToHex(chain.genesisHash)}`,
      );
    }
    const headNumber = BigInt(header.head.number);
    const compression = header.compression;
    let parent = chain.head.header;
    let next = 1n;
    let nodes = 0;
    let codes = 0;
    let lastHash = '';
    let phase: 'blocks' | 'state' = 'blocks';
    let fileDigest = '';
    for (;;) {
      const rec = await readRecord(reader, next <= headNumber ? `block ${next}` : 'the state');
      if (rec.type === SnapshotRecord.Trailer) {
        const t = decodeTrailer(rec.payload);
        if (next - 1n !== headNumber) throw new ArchiveError(`snapshot is incomplete: it holds blocks up to ${next - 1n}, its header says ${headNumber}`);
        if (t.blockCount !== headNumber.toString() || t.nodeCount !== String(nodes) || t.codeCount !== String(codes)) {
          throw new ArchiveError('snapshot trailer counts do not match its content (corrupt snapshot)');
        }
        if (t.lastBlockHash !== lastHash) throw new ArchiveError('snapshot trailer names another last block (corrupt snapshot)');
        const actual = `0x${digest.digest('hex')}`;
        if (t.digest !== actual) throw new ArchiveError(`snapshot digest mismatch: trailer says ${t.digest}, content hashes to ${actual} (corrupt snapshot)`);
        if (!(await reader.atEnd())) throw new ArchiveError('snapshot has data after its trailer (corrupt or concatenated file)');
        fileDigest = t.digest;
        break;
      }
      digest.update(rec.raw);
      if (rec.type === SnapshotRecord.Block) {
        if (phase !== 'blocks') throw new ArchiveError('snapshot has a block record after its state records');
        const block = await restoreBlock(chain, rec.payload, compression, next, parent);
        parent = block.header;
        lastHash = bytesToHex(blockHash(block.header));
        next++;
        opts.onProgress?.({ phase: 'blocks', blocksDone: next - 1n, blocksTotal: headNumber, nodes, bytesRead: reader.offset });
      } else if (rec.type === SnapshotRecord.Nodes || rec.type === SnapshotRecord.Code) {
        if (next - 1n !== headNumber) throw new ArchiveError(`snapshot state starts after block ${next - 1n}, before its head ${headNumber}`);
        phase = 'state';
        const items = await decodeItems(rec.payload, compression);
        const batch = dbs.trie.batch();
        for (const item of items) {
          const hash = keccak256(item);
          if (rec.type === SnapshotRecord.Nodes) {
            batch.put(hash, item);
            nodes++;
          } else {
            batch.put(codeKey(hash), item);
            codes++;
          }
        }
        await batch.write();
        opts.onProgress?.({ phase: 'state', blocksDone: headNumber, blocksTotal: headNumber, nodes, bytesRead: reader.offset });
      } else {
        throw new ArchiveError(`unknown snapshot record type ${rec.type}`);
      }
    }
    if (lastHash !== header.head.hash) throw new ArchiveError(`snapshot head ${header.head.hash} is not its last block ${lastHash}`);
    if (bytesToHex(parent.stateRoot) !== header.head.stateRoot) throw new ArchiveError('snapshot header names a state root that is not its head block\'s');
    // Every node was stored under its own hash, so what is reachable from the head's state root is
    // authentic; now make sure all of it is there.
    opts.onProgress?.({ phase: 'check', blocksDone: headNumber, blocksTotal: headNumber, nodes, bytesRead: reader.offset });
    let reachable: { nodes: number; codes: number };
    try {
      reachable = await checkStateComplete(chain.trie, parent.stateRoot);
    } catch (err) {
      if (err instanceof MissingStateError) throw new ArchiveError(`snapshot is incomplete: ${err.message}`);
      throw err;
    }
    if (reachable.codes !== codes) throw new ArchiveError(`snapshot holds ${codes} contract codes, ${reachable.codes} are reachable from its head`);
    const summary: RestoreSummary = {
      dataDir: target,
      head: headNumber,
      headHash: header.head.hash,
      stateRoot: header.head.stateRoot,
      nodes: reachable.nodes,
      codes,
      bytes: reader.offset,
      digest: fileDigest,
      durationMs: Date.now() - began,
    };
    await chain.close();
    chain = undefined;
    await dbs.close();
    writeFileSync(join(tmp, 'genesis.json'), `${JSON.stringify(genesis, null, 2)}\n`);
    renameSync(tmp, target);
    return summary;
  } catch (err) {
    await chain?.close().catch(() => undefined);
    await dbs.close();
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}

async function restoreBlock(chain: Chain, payload: Uint8Array, compression: Compression, expected: bigint, parent: Block['header']): Promise<Block> {
  const rec = decodeBlockPayload(payload);
  if (rec.number !== expected) throw new ArchiveError(`snapshot holds block ${rec.number} where block ${expected} should be`);
  const raw = await decompressRecord(rec.data, compression, rec.rawLength);
  let block: Block;
  let receiptsRlp: Uint8Array;
  try {
    const [blockRlp, r] = RLP.decode(raw) as [Uint8Array, Uint8Array];
    receiptsRlp = r;
    block = createBlockFromRLP(blockRlp, headerOpts(chain.common));
  } catch (err) {
    throw new ArchiveError(`block ${expected} in the snapshot cannot be decoded: ${(err as Error).message}`);
  }
  if (block.header.number !== expected || !equalsBytes(blockHash(block.header), rec.hash)) {
    throw new ArchiveError(`block ${expected} in the snapshot does not hash to the hash its record states`);
  }
  try {
    verifyIbftHeader(block.header, parent);
  } catch (err) {
    if (err instanceof BlockVerificationError) throw new ArchiveError(`${err.message} (snapshot is corrupt or forged)`);
    throw err;
  }
  if (!(await block.transactionsTrieIsValid())) throw new ArchiveError(`block ${expected} in the snapshot: transactions do not match the header's root`);
  let receipts;
  try {
    receipts = decodeReceipts(receiptsRlp);
  } catch {
    throw new ArchiveError(`block ${expected} in the snapshot: receipts cannot be decoded`);
  }
  const bad = await checkReceipts(block, receipts);
  if (bad) throw new ArchiveError(`block ${expected} in the snapshot: ${bad}`);
  await chain.store.writeCanonicalBlock(block, receipts);
  return block;
}

async function decodeItems(payload: Uint8Array, compression: Compression): Promise<Uint8Array[]> {
  if (payload.length < 4) throw new ArchiveError('snapshot state record is too short');
  const rawLength = new DataView(payload.buffer, payload.byteOffset, 4).getUint32(0);
  if (rawLength > MAX_ITEMS_RAW_BYTES) throw new ArchiveError(`snapshot state record states ${rawLength} bytes, above the limit`);
  return unpackItems(await decompressRecord(payload.subarray(4), compression, rawLength));
}

function decodeHeader(p: Uint8Array): SnapshotHeader {
  let h: Partial<SnapshotHeader>;
  try {
    h = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(p)) as Partial<SnapshotHeader>;
  } catch {
    throw new ArchiveError('snapshot header is not valid JSON');
  }
  const hex32 = (v: unknown) => typeof v === 'string' && /^0x[0-9a-f]{64}$/.test(v);
  if (h.format !== 'basalt-snapshot' || h.version !== SNAPSHOT_VERSION) throw new ArchiveError('snapshot header has an unknown format or version');
  if (typeof h.chainId !== 'string' || !/^\d+$/.test(h.chainId) || !hex32(h.genesisHash)) throw new ArchiveError('snapshot header chain fields are malformed');
  if (!h.head || typeof h.head.number !== 'string' || !/^\d+$/.test(h.head.number) || !hex32(h.head.hash) || !hex32(h.head.stateRoot)) {
    throw new ArchiveError('snapshot header head fields are malformed');
  }
  if (typeof h.compression !== 'string' || !isCompression(h.compression)) throw new ArchiveError('snapshot header compression is unknown');
  if (typeof h.genesis !== 'object' || h.genesis === null) throw new ArchiveError('snapshot header has no genesis');
  return h as SnapshotHeader;
}

function decodeTrailer(p: Uint8Array): { blockCount: string; nodeCount: string; codeCount: string; lastBlockHash: string; digest: string } {
  try {
    const t = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(p)) as Record<string, unknown>;
    for (const k of ['blockCount', 'nodeCount', 'codeCount', 'lastBlockHash', 'digest']) if (typeof t[k] !== 'string') throw new Error(k);
    return t as never;
  } catch {
    throw new ArchiveError('snapshot trailer is malformed');
  }
}
