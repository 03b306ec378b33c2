import { join } from 'node:path';
import { createBlockHeaderFromBytesArray } from '@ethereumjs/block';
import { bytesToHex, concatBytes } from '@ethereumjs/util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restoreSnapshot } from '../../../src/backup/restore.js';
import { createSnapshot } from '../../../src/backup/snapshot.js';
import { MissingStateError, StreamedStateCheck } from '../../../src/backup/state-walk.js';
import { blockWithHeader, headerOpts } from '../../../src/chain/block-util.js';
import { blockHash } from '../../../src/consensus/ibft/hash.js';
import { sealBlock } from '../../../src/consensus/ibft/seal.js';
import { BackupFileError } from '../../../src/container/errors.js';
import { encodePreamble, encodeRecord, RecordType } from '../../../src/container/framing.js';
import { SNAPSHOT, type SnapshotHeader } from '../../../src/snapshot/format.js';
import { readSnapshot } from '../../../src/snapshot/reader.js';
import { SnapshotWriter } from '../../../src/snapshot/writer.js';
import { keccak256 } from '../../../src/util/keccak.js';
import { rlpPrefix } from '../../../src/util/rlp-spans.js';
import { createTestChain, sealNext, type TestChain } from '../../helpers/chain-fixture.js';
import { tempDir } from '../../helpers/cli.js';
import { collect } from '../../helpers/collect.js';

/**
 * Snapshots a hostile writer made (one who chose the genesis and holds the validators' keys, so every
 * seal is good): what `basalt restore` refuses must be one BackupFileError line, never a stack trace.
 */
let t: TestChain;
let real: Uint8Array;

async function* once(b: Uint8Array): AsyncGenerator<Uint8Array> {
  yield b;
}

async function refusal(bytes: Uint8Array, opts: { trustGenesis?: boolean } = {}): Promise<BackupFileError> {
  const dataDir = join(tempDir(), 'restored');
  try {
    await restoreSnapshot(once(bytes), { dataDir, ...(opts.trustGenesis ? {} : { genesis: t.genesis }) });
  } catch (err) {
    expect(err).toBeInstanceOf(BackupFileError);
    return err as BackupFileError;
  }
  throw new Error('the snapshot was restored');
}

beforeAll(async () => {
  t = await createTestChain(1);
  await sealNext(t);
  real = await collect((await createSnapshot(t.chain, { compression: 'zstd' })).chunks);
});
afterAll(async () => {
  await t?.close();
});

/** The real snapshot of block 1, with block 1 sealed again over a state root that is `root`'s hash, and `root` its whole state. */
async function snapshotWithState(root: Uint8Array): Promise<Uint8Array> {
  const common = t.chain.commonAt(1n);
  let header: SnapshotHeader | undefined;
  for await (const ev of readSnapshot(once(real))) {
    if (ev.kind === 'header') header = ev.header;
    if (ev.kind !== 'block') continue;
    const block = (await t.chain.blockByNumber(1n))!;
    const raw = block.header.raw();
    raw[3] = keccak256(root); // stateRoot
    const forged = sealBlock(blockWithHeader(block, createBlockHeaderFromBytesArray(raw, headerOpts(common)), common), t.keys[0]!, [t.keys[0]!], common);
    const hash = blockHash(forged.header);
    const writer = new SnapshotWriter({ ...header!, head: { number: '1', hash: bytesToHex(hash), stateRoot: bytesToHex(keccak256(root)) } });
    return Buffer.concat([
      await collect(writer.start()),
      await writer.block(1n, hash, forged.serialize(), ev.receiptsRlp),
      await writer.items('nodes', [root]),
      writer.finish().bytes,
    ]);
  }
  throw new Error('no block 1');
}

/** An RLP list of the given encoded items. */
const list = (...items: Uint8Array[]) => {
  const payload = concatBytes(...items);
  return concatBytes(rlpPrefix(payload.length, true), payload);
};
/** An RLP string. */
const str = (b: Uint8Array) => (b.length === 1 && b[0]! < 0x80 ? b : concatBytes(rlpPrefix(b.length, false), b));

describe('a hostile state in a snapshot', () => {
  it('restores the state as written (the forgery below changes nothing else)', async () => {
    const dataDir = join(tempDir(), 'honest');
    expect((await restoreSnapshot(once(real), { dataDir, genesis: t.genesis })).head).toBe(1n);
  });

  it("an account leaf whose value is not RLP is refused as the snapshot's fault", async () => {
    const leaf = list(str(Uint8Array.from({ length: 33 }, (_, i) => (i === 0 ? 0x20 : i))), str(Uint8Array.of(0xb8)));
    const err = await refusal(await snapshotWithState(leaf));
    expect(err.message).toMatch(/^snapshot's state is not the head's: malformed account in the state trie: .*\(altered, padded or out of order\)$/);
  });

  it('inline nodes nested 6,000 deep (24 KB) are refused at the first inline node of 32 bytes or more', async () => {
    let node = list(str(Uint8Array.of(0x00)), str(new Uint8Array(0)));
    for (let i = 0; i < 6000; i++) node = list(str(Uint8Array.of(0x00)), node); // an extension node holding the one before inline
    expect(node.length).toBeGreaterThan(20_000);
    const err = await refusal(await snapshotWithState(node));
    expect(err.message).toMatch(
      /^snapshot's state is not the head's: an inline trie node of \d+ bytes \(a node of 32 bytes or more is referred to by its hash\)/,
    );
  });
});

describe('a hostile state record', () => {
  /** The real snapshot (of a state without accounts), with a state record of `items` (of `kind`) before its trailer. */
  async function withRecord(kind: 'nodes' | 'code', items: Uint8Array[]): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    let writer: SnapshotWriter | undefined;
    for await (const ev of readSnapshot(once(real))) {
      if (ev.kind === 'header') {
        writer = new SnapshotWriter(ev.header);
        parts.push(await collect(writer.start()));
      } else if (ev.kind === 'block') parts.push(await writer!.block(ev.number, ev.hash, ev.blockRlp, ev.receiptsRlp));
      else if (ev.kind === 'trailer') parts.push(await writer!.items(kind, items), writer!.finish().bytes);
      else throw new Error(`a ${ev.kind} record in the real snapshot`);
    }
    return Buffer.concat(parts);
  }

  it('a million empty items (4 MiB of zero lengths, a few hundred bytes of zstd) are refused at the first, as are empty codes', async () => {
    const empty = Array.from({ length: 1 << 20 }, () => new Uint8Array(0));
    for (const kind of ['nodes', 'code'] as const) {
      const bytes = await withRecord(kind, empty);
      expect(bytes.length).toBeLessThan(real.length + 1024);
      const min = kind === 'nodes' ? 32 : 1;
      expect((await refusal(bytes)).message).toBe(`snapshot holds an item of 0 bytes, below the ${min} of its kind (corrupt or hostile file)`);
    }
  });

  it('a trie node under 32 bytes (inline in its parent, never stored by hash) is refused; a code of one byte is not', async () => {
    expect((await refusal(await withRecord('nodes', [new Uint8Array(31).fill(0xc0)]))).message).toBe(
      'snapshot holds an item of 31 bytes, below the 32 of its kind (corrupt or hostile file)',
    );
    // A code nothing refers to: past the reader's bound, the restore refuses it as not the head's.
    expect((await refusal(await withRecord('code', [Uint8Array.of(0x00)]))).message).not.toMatch(/below the/);
  });
});

describe("the trie's rule for inline nodes: a child under 32 bytes is inlined, one of 32 or more is referred to by its hash", () => {
  it('takes an inline child of 31 bytes and refuses one of 32', () => {
    for (const size of [31, 32]) {
      const inline = list(str(Uint8Array.from({ length: size - 3 }, (_, i) => (i === 0 ? 0x00 : i))), str(new Uint8Array(0))); // an extension node
      expect(inline.length).toBe(size);
      const branch = list(inline, ...Array.from({ length: 16 }, () => str(new Uint8Array(0))));
      const check = new StreamedStateCheck(keccak256(branch), 'unique');
      if (size === 31) {
        check.node(keccak256(branch), branch);
        expect(check.finish()).toEqual({ nodes: 1, codes: 0 });
      } else expect(() => check.node(keccak256(branch), branch)).toThrow(MissingStateError);
    }
  });
});

describe('a hostile snapshot header', () => {
  it('a version 1 genesis nested 20,000 deep (40 KB) is refused in one line, also with the genesis trusted', async () => {
    let header: SnapshotHeader | undefined;
    for await (const ev of readSnapshot(once(real))) if (ev.kind === 'header') header = ev.header;
    const json = JSON.stringify({ ...header!, genesis: { deep: 'HERE' } }).replace('"HERE"', `${'['.repeat(20_000)}${']'.repeat(20_000)}`);
    expect(json.length).toBeLessThan(64 * 1024);
    const bytes = concatBytes(encodePreamble(SNAPSHOT, 1), encodeRecord(RecordType.Header, new TextEncoder().encode(json)));
    for (const trustGenesis of [true, false]) {
      const err = await refusal(bytes, { trustGenesis });
      expect(err.message).toBe('snapshot header nests deeper than 80 levels (corrupt or hostile file)');
    }
  });
});
