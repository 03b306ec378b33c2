import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RLP } from '@ethereumjs/rlp';
import { bytesToHex, privateToAddress } from '@ethereumjs/util';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { MAX_LIST, MessageError, MessageType, decodeBody, decodeEnvelope, encodeBody, type Body } from '../../../src/consensus/ibft/core/messages.js';
import { RlpBoundsError, checkBlockRlp, checkRlp } from '../../../src/util/rlp-bounds.js';
import { MAX_TIMER_MS, OneShotTimer, roundTimeoutMs } from '../../../src/consensus/ibft/core/round-timer.js';
import { FileSignedStore, SIGN_JOURNAL_FILE, decodeSignedState, encodeSignedState, type SignedState } from '../../../src/consensus/ibft/core/sign-journal.js';
import { openMessage, signMessage } from '../../../src/consensus/ibft/core/signing.js';
import { nextProposer } from '../../../src/consensus/ibft/validators.js';
import { UserError } from '../../../src/util/errors.js';
import { testKey } from '../../helpers/chain-fixture.js';

/** readSync counted (and otherwise itself): a journal refused by its size must be refused unread. */
vi.mock('node:fs', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs')>();
  return { ...real, readSync: vi.fn(real.readSync) };
});

const H = new Uint8Array(32).fill(0xab);

describe('IBFT core messages', () => {
  const bodies: Body[] = [
    { type: MessageType.Preprepare, height: 7n, round: 0, block: new Uint8Array([1, 2, 3]), roundChanges: [] },
    { type: MessageType.Preprepare, height: 7n, round: 2, block: new Uint8Array([1]), roundChanges: [new Uint8Array([9, 9])] },
    { type: MessageType.Prepare, height: 1n, round: 3, hash: H },
    { type: MessageType.Commit, height: 2n ** 40n, round: 0, hash: H, seal: new Uint8Array(65).fill(5) },
    { type: MessageType.RoundChange, height: 1n, round: 1 },
    { type: MessageType.RoundChange, height: 1n, round: 4, prepared: { round: 2, hash: H, prepares: [new Uint8Array([1])] } },
  ];

  it('round-trip every message type and recover the signer', () => {
    for (const b of bodies) {
      const m = openMessage(signMessage(b, testKey(2)));
      expect(m.body).toEqual(b);
      expect(bytesToHex(m.sender)).toBe(bytesToHex(privateToAddress(testKey(2))));
    }
  });

  it('carry an unsigned attachment, and certificates carry the envelope without it', () => {
    const bytes = signMessage(bodies[5]!, testKey(1), new Uint8Array([7, 7, 7]));
    const m = openMessage(bytes);
    expect(m.attachment).toEqual(new Uint8Array([7, 7, 7]));
    const bare = openMessage(m.bare);
    expect(bare.attachment.length).toBe(0);
    expect(bytesToHex(bare.sender)).toBe(bytesToHex(m.sender));
  });

  it('refuse oversized, malformed and non-canonical input with a MessageError', () => {
    const ok = signMessage(bodies[2]!, testKey(1));
    expect(() => decodeEnvelope(ok, ok.length - 1)).toThrow(/exceeds/);
    const bad = (x: unknown) => () => decodeBody(RLP.encode(x as never));
    expect(bad([1, 1, 0])).toThrow(MessageError); // too short
    expect(bad([1, 1, 0, new Uint8Array(31)])).toThrow(/hash of 31 bytes/);
    expect(bad([1, new Uint8Array([0, 1]), 0, H])).toThrow(/leading zeros/);
    expect(bad([1, new Uint8Array(9).fill(1), 0, H])).toThrow(/too large/);
    expect(bad([1, 1, new Uint8Array(5).fill(1), H])).toThrow(/too large/);
    expect(bad([7, 1, 0, H])).toThrow(/unknown message type/);
    expect(bad([2, 1, 0, H, new Uint8Array(64)])).toThrow(/committed seal/);
    expect(bad([3, 1, 1, [1, H]])).toThrow(/prepared certificate/);
    expect(bad([0, 1, 1, new Uint8Array(1), Array.from({ length: MAX_LIST + 1 }, () => new Uint8Array(1))])).toThrow(/at most/);
    expect(bad([0, 1, 1, [], []])).toThrow(/block must be bytes/);
    expect(() => decodeBody(new Uint8Array([0xf8]))).toThrow(/not valid RLP/);
    expect(() => decodeEnvelope(RLP.encode([encodeBody(bodies[2]!), new Uint8Array(64), new Uint8Array()]))).toThrow(/signature of 64 bytes/);
    // deeply nested lists in a small message are refused, not a crash
    const headers: number[][] = [];
    let len = 1; // the innermost empty list, 0xc0
    for (let i = 0; i < 100_000; i++) {
      const h = listHeader(len);
      headers.push(h);
      len += h.length;
    }
    const deep = Uint8Array.from([...headers.reverse().flat(), 0xc0]);
    expect(() => openMessage(deep)).toThrow(/nested deeper/);
    // and so is a wide list of tiny items (decoding 4M of them takes the RLP library ~20 s)
    const n = 4_000_000;
    const wide = new Uint8Array(4 + n).fill(1);
    wide.set([0xfa, n >> 16, (n >> 8) & 0xff, n & 0xff]);
    expect(() => openMessage(wide)).toThrow(/too many items/);
  });

  it('a large block is decoded as a view of the message, small fields as copies of their own', () => {
    const block = new Uint8Array(1024 * 1024).fill(3);
    const bytes = signMessage({ type: MessageType.Preprepare, height: 9n, round: 1, block, roundChanges: [new Uint8Array(40).fill(8)] }, testKey(1));
    const m = openMessage(bytes);
    if (m.body.type !== MessageType.Preprepare) throw new Error('not a PREPREPARE');
    expect(m.body.block).toEqual(block);
    expect(m.body.block.constructor).toBe(Uint8Array);
    expect(m.body.block.buffer).toBe(bytes.buffer); // no copy of the megabyte
    expect(m.body.roundChanges[0]).toEqual(new Uint8Array(40).fill(8));
    expect(m.body.roundChanges[0]!.buffer).not.toBe(bytes.buffer); // kept for a round without pinning the message
    expect(m.signature.buffer).not.toBe(bytes.buffer);
  });

  it('a tampered body recovers to another signer', () => {
    const env = RLP.decode(signMessage(bodies[2]!, testKey(1))) as Uint8Array[];
    const body = Uint8Array.from(env[0]!);
    body[body.length - 1]! ^= 0xff;
    const m = openMessage(RLP.encode([body, env[1]!, env[2]!]));
    expect(bytesToHex(m.sender)).not.toBe(bytesToHex(privateToAddress(testKey(1))));
  });
});

function listHeader(len: number): number[] {
  if (len < 56) return [0xc0 + len];
  const bytes: number[] = [];
  for (let n = len; n > 0; n = Math.floor(n / 256)) bytes.unshift(n % 256);
  return [0xf7 + bytes.length, ...bytes];
}

describe('RLP bounds', () => {
  it('walks well-formed RLP and refuses truncated, overlong, trailing, too deep or too many items', () => {
    const ok = RLP.encode([1, [2, [3]], new Uint8Array(100)]);
    expect(() => checkRlp(ok, { maxDepth: 3, budget: { items: 100 } })).not.toThrow();
    expect(() => checkRlp(ok, { maxDepth: 2, budget: { items: 100 } })).toThrow(/deeper than 2/);
    expect(() => checkRlp(ok, { maxDepth: 3, budget: { items: 5 } })).toThrow(/too many items/);
    expect(() => checkRlp(ok.subarray(0, ok.length - 1), { maxDepth: 3, budget: { items: 100 } })).toThrow(RlpBoundsError);
    expect(() => checkRlp(Uint8Array.from([...ok, 1]), { maxDepth: 3, budget: { items: 100 } })).toThrow(/more than one item/);
    expect(() => checkRlp(Uint8Array.from([0xc2, 0xc3, 0x01]), { maxDepth: 3, budget: { items: 100 } })).toThrow(RlpBoundsError);
  });

  it("bounds the lists inside a block's typed transactions", () => {
    const deepList = (d: number): unknown => (d === 0 ? [] : [deepList(d - 1)]);
    const typedTx = Uint8Array.from([2, ...RLP.encode(deepList(4) as never)]);
    const block = RLP.encode([[1, 2], [typedTx], []]);
    expect(() => checkBlockRlp(block)).toThrow(/deeper than 4/);
    const fine = RLP.encode([[1, 2], [Uint8Array.from([2, ...RLP.encode(deepList(3) as never)])], []]);
    expect(() => checkBlockRlp(fine)).not.toThrow();
  });
});

describe('IBFT core rounds', () => {
  it('round timeouts grow as base * 2^round up to the cap', () => {
    expect([0, 1, 2, 3, 4, 10, 1000].map((r) => roundTimeoutMs(r, 1000, 30_000))).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000]);
  });

  it('a timer longer than Node runs (2^31 ms, ~24.8 days) waits the longest it can, not 1 ms (a proposal held for its timestamp 30 days ahead)', () => {
    const delays: number[] = [];
    const timers = { setTimeout: (_fn: () => void, ms: number) => delays.push(ms), clearTimeout: () => {}, now: () => 0 };
    const t = new OneShotTimer(timers);
    for (const ms of [30 * 24 * 3600 * 1000, 2 ** 31, Number.POSITIVE_INFINITY, 5, -5, Number.NaN]) t.start(ms, () => {});
    expect(delays).toEqual([MAX_TIMER_MS, MAX_TIMER_MS, MAX_TIMER_MS, 5, 0, 0]);
    expect(MAX_TIMER_MS).toBe(2 ** 31 - 1);
  });

  it('the proposer of round r is r places after the round-0 proposer', () => {
    const vs = [0, 1, 2, 3].map((i) => privateToAddress(testKey(i)));
    const at = (last: Uint8Array | undefined, r: number) => vs.findIndex((v) => bytesToHex(v) === bytesToHex(nextProposer(vs, last, r)));
    expect([0, 1, 2, 3, 4, 5].map((r) => at(undefined, r))).toEqual([0, 1, 2, 3, 0, 1]);
    expect([0, 1, 2, 3].map((r) => at(vs[2], r))).toEqual([3, 0, 1, 2]);
  });
});

describe('IBFT sign journal file', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
  const dir = () => {
    const d = mkdtempSync(join(tmpdir(), 'basalt-journal-'));
    dirs.push(d);
    return join(d, 'consensus');
  };

  it('is empty until saved, then reads back what was saved, replaced atomically', async () => {
    const store = new FileSignedStore(dir());
    expect(store.load()).toBeUndefined();
    const s1: SignedState = { height: 5n, round: 0, hash: H, kind: 'prepare' };
    await store.save(s1);
    expect(store.load()).toEqual(s1);
    const s2: SignedState = {
      height: 5n,
      round: 2,
      hash: H,
      kind: 'commit',
      prepared: { round: 2, hash: H, prepares: [new Uint8Array([1, 2])], block: new Uint8Array([3]) },
    };
    await store.save(s2);
    expect(new FileSignedStore(join(store.path, '..')).load()).toEqual(s2);
    expect(readdirSync(join(store.path, '..'))).toEqual([SIGN_JOURNAL_FILE]); // no temp file left
    // A floor (an earlier version's signed.json folded in) is carried; a journal without one reads as before.
    const s3: SignedState = { ...s2, floor: 7n };
    await store.save(s3);
    expect(store.load()).toEqual(s3);
    expect(decodeSignedState(encodeSignedState(s1))).toEqual(s1);
    // A lock learned from its lost self, with and without a floor.
    const locked: SignedState = { ...s1, lock: { round: 3, hash: new Uint8Array(32).fill(4), set: new Uint8Array(32).fill(6) } };
    expect(decodeSignedState(encodeSignedState(locked))).toEqual(locked);
    expect(decodeSignedState(encodeSignedState({ ...locked, floor: 9n }))).toEqual({ ...locked, floor: 9n });
    expect(() =>
      decodeSignedState(RLP.encode([...(RLP.decode(encodeSignedState(locked)) as Uint8Array[]).slice(0, 7), [1, new Uint8Array(32), new Uint8Array(5)]])),
    ).toThrow(/bad lock/);
  });

  it('a damaged journal is refused with one clear error, not guessed around', async () => {
    const store = new FileSignedStore(dir());
    await store.save({ height: 1n, round: 0, hash: H, kind: 'prepare' });
    writeFileSync(store.path, new Uint8Array([0xc2, 0x01]));
    expect(() => store.load()).toThrow(UserError);
    expect(() => store.load()).toThrow(/sign journal .* is damaged/);
  });

  it('a directory, a FIFO or a file of gigabytes at its name is refused in one line naming it, never read', async () => {
    const userError = (store: FileSignedStore): UserError => {
      try {
        store.load();
      } catch (err) {
        expect(err).toBeInstanceOf(UserError);
        return err as UserError;
      }
      throw new Error('expected a UserError, got none');
    };
    const folder = new FileSignedStore(dir());
    mkdirSync(folder.path, { recursive: true });
    const e1 = userError(folder);
    expect(e1.message).toBe(`consensus sign journal ${folder.path} is damaged (it is a directory); refusing to sign without it`);
    expect(e1.code).toBe('CORRUPT_FILE');
    // A FIFO is opened without waiting for a writer (the node would hang at its start), then refused.
    const fifo = new FileSignedStore(dir());
    mkdirSync(join(fifo.path, '..'));
    execFileSync('mkfifo', [fifo.path]);
    expect(userError(fifo).message).toBe(`consensus sign journal ${fifo.path} is damaged (it is not a regular file); refusing to sign without it`);
    // Sparse files of 3 GiB (past what one read can return) and of the limit + 1 byte: refused by their
    // size, before anything is allocated for them or read.
    for (const size of [3 * 1024 ** 3, 64 * 1024 * 1024 + 1]) {
      const big = new FileSignedStore(dir());
      mkdirSync(join(big.path, '..'));
      writeFileSync(big.path, '');
      truncateSync(big.path, size);
      vi.mocked(readSync).mockClear();
      const e = userError(big);
      // The count, not the calls: a failure message printing a call would print its 64 MiB buffer.
      expect(vi.mocked(readSync).mock.calls.length).toBe(0);
      expect(e.message).toBe(`consensus sign journal ${big.path} is damaged (it is larger than 67108864 bytes); refusing to sign without it`);
      expect(e.code).toBe('CORRUPT_FILE');
    }
  });
});
