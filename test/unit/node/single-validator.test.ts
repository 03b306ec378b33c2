import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bytesToHex } from '@ethereumjs/util';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { ChainBackend } from '../../../src/consensus/ibft/core/chain-backend.js';
import { LEGACY_SIGNED_FILE, migrateLegacySigned, readLegacySigned, withLegacySigned } from '../../../src/consensus/ibft/core/legacy-signed.js';
import { MessageType } from '../../../src/consensus/ibft/core/messages.js';
import { FileSignedStore, SIGN_JOURNAL_FILE, type SignedState } from '../../../src/consensus/ibft/core/sign-journal.js';
import { signMessage } from '../../../src/consensus/ibft/core/signing.js';
import { blockHash } from '../../../src/consensus/ibft/hash.js';
import { QuorumRule } from '../../../src/consensus/ibft/validators.js';
import { Validator } from '../../../src/node/consensus.js';
import { createTestChain, sealNext, type TestChain } from '../../helpers/chain-fixture.js';
import { until } from '../../helpers/until.js';

/**
 * One validator is the IBFT core with a quorum of one and nobody to send to: the same protocol, the
 * same sign journal as a network's validators. Upgraded from the single-process sealer of earlier
 * versions, it keeps what that sealer recorded in consensus/signed.json.
 */
const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const f of cleanup.reverse()) await f().catch(() => undefined);
  cleanup.length = 0;
});

interface Line {
  level: number;
  msg: string;
  [k: string]: unknown;
}

async function chainAt(head: number): Promise<{ t: TestChain; dir: string }> {
  const t = await createTestChain(1);
  cleanup.push(() => t.close());
  for (let i = 0; i < head; i++) await sealNext(t);
  const dir = join(mkdtempSync(join(tmpdir(), 'basalt-validator-')), 'consensus');
  mkdirSync(dir, { mode: 0o700 });
  cleanup.push(async () => rmSync(join(dir, '..'), { recursive: true, force: true }));
  return { t, dir };
}

/** A validator on `t` with its journal in `dir`, logging into `lines`; `rejected` collects the pool's reports. */
async function validatorOn(t: TestChain, dir: string, lines: Line[], baseTimeoutMs = 60_000, blockTimeMs = 20) {
  const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as Line) });
  const reports: number[] = [];
  const v = await Validator.create({
    chain: t.chain,
    txs: { pending: () => [], onBlockSealed: (b) => void reports.push(Number(b.header.number)) },
    key: t.keys[0]!,
    consensusDir: dir,
    blockTimeMs,
    baseTimeoutMs,
    logger,
    quorum: QuorumRule.OPTIMAL,
  });
  cleanup.push(() => v.stop());
  return { v, reports };
}

const legacy = (dir: string, number: bigint, committed: boolean, hash = `0x${'09'.repeat(32)}`) =>
  writeFileSync(join(dir, LEGACY_SIGNED_FILE), JSON.stringify({ version: 1, number: number.toString(), hash, committed }));

describe('one validator: the IBFT core with a quorum of one', () => {
  it('keeps a sub-second block time between every two blocks (they came in pairs, 150 ms and a few ms apart)', async () => {
    const { t, dir } = await chainAt(0);
    const lines: Line[] = [];
    const { v } = await validatorOn(t, dir, lines, 60_000, 150);
    v.start();
    await until(() => t.chain.head.number >= 7n, 'block 7', 10_000);
    await v.stop();
    const times = lines.filter((l) => l.event === 'block.sealed').map((l) => l.time as number);
    const gaps = times.slice(1).map((x, i) => x - times[i]!);
    expect(gaps.length).toBeGreaterThanOrEqual(6);
    // A block sealed late (a busy machine) shortens the gap after it, as the schedule keeps its pace
    // rather than drift (150 + d ms, then 150 - d), so single gaps prove nothing either way. The pace
    // does: block k is never sealed before k block times after block 0 was due, so the mean gap is at
    // least 150 ms less block 0's own delay spread over the gaps. Pairs gave a mean of 79 ms.
    const mean = (times.at(-1)! - times[0]!) / gaps.length;
    expect(mean, `gaps ${gaps.join(', ')} ms`).toBeGreaterThanOrEqual(125);
  });

  it('seals block after block, each journaled before it is committed, and reports each to the pool', async () => {
    const { t, dir } = await chainAt(0);
    const lines: Line[] = [];
    const { v, reports } = await validatorOn(t, dir, lines);
    v.start();
    await until(() => t.chain.head.number >= 4n, 'block 4');
    await v.stop();
    const head = Number(t.chain.head.number);
    const sealed = lines.filter((l) => l.event === 'block.sealed').map((l) => l.number);
    expect(sealed).toEqual(Array.from({ length: head }, (_, i) => i + 1));
    expect(reports).toEqual(sealed);
    // its journal holds the last height it signed at: the head, or the one after (a proposal in progress at the stop)
    const j = new FileSignedStore(dir).load()!;
    expect(j.height === t.chain.head.number || j.height === t.chain.head.number + 1n).toBe(true);
    // alone, consensus is not news: only 'sealed block' at info
    expect(lines.filter((l) => l.event === 'consensus.reached').every((l) => l.level === 20)).toBe(true);
    expect(lines.filter((l) => l.level >= 40)).toEqual([]);
  });

  it('restarted after journaling its proposal but before the commit: asks for the next round at once and seals there', async () => {
    const { t, dir } = await chainAt(2);
    // It signed a proposal for block 3 in round 0 that it no longer holds (the process died).
    await new FileSignedStore(dir).save({ height: 3n, round: 0, hash: new Uint8Array(32).fill(7), kind: 'prepare' });
    const lines: Line[] = [];
    const { v } = await validatorOn(t, dir, lines);
    v.start();
    await until(() => t.chain.head.number >= 3n, 'block 3', 5_000); // not the 60 s round timeout
    await v.stop();
    const block3 = (await t.chain.blockByNumber(3n))!;
    expect(bytesToHex(blockHash(block3.header))).not.toBe(`0x${'07'.repeat(32)}`);
    expect(lines.find((l) => l.event === 'consensus.reached' && l.height === 3)?.round).toBe(1);
  });

  it('restarted after journaling its COMMIT but before writing the block: commits that same block, never another', async () => {
    const { t, dir } = await chainAt(2);
    const proposal = await new ChainBackend({ chain: t.chain, key: t.keys[0]! }).buildProposal(3n, 0);
    const hash = blockHash(proposal.header);
    const prepare = signMessage({ type: MessageType.Prepare, height: 3n, round: 0, hash }, t.keys[0]!);
    const journaled: SignedState = {
      height: 3n,
      round: 0,
      hash,
      kind: 'commit',
      prepared: { round: 0, hash, prepares: [prepare], block: proposal.serialize() },
    };
    await new FileSignedStore(dir).save(journaled);
    await new Promise((r) => setTimeout(r, 1100)); // a block built now would carry a later timestamp: another hash
    const lines: Line[] = [];
    const { v } = await validatorOn(t, dir, lines);
    v.start();
    await until(() => t.chain.head.number >= 3n, 'block 3', 5_000);
    await v.stop();
    expect(bytesToHex(t.chain.head.number === 3n ? t.chain.head.hash : (await t.chain.canonicalHash(3n))!)).toBe(bytesToHex(hash));
    expect(lines.filter((l) => l.level >= 40)).toEqual([]);
  });
});

describe('consensus/signed.json of earlier versions', () => {
  it('is folded into the journal once and removed; a rolled-back chain below it is refused with one error line, and no block', async () => {
    const { t, dir } = await chainAt(3); // the chain lost blocks 4 and 5, which this validator signed
    legacy(dir, 5n, true);
    const lines: Line[] = [];
    const { v } = await validatorOn(t, dir, lines);
    expect(existsSync(join(dir, LEGACY_SIGNED_FILE))).toBe(false);
    expect(new FileSignedStore(dir).load()).toMatchObject({ height: 5n, floor: 5n, kind: 'commit' });
    v.start();
    await until(() => lines.some((l) => l.level >= 50), 'the refusal');
    await new Promise((r) => setTimeout(r, 200)); // ten block times
    expect(t.chain.head.number).toBe(3n);
    const errors = lines.filter((l) => l.level >= 50);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.msg).toMatch(
      /^refusing to seal: this validator already signed block 5 \(0x0909.*\), and block 4 is at or below it: the chain was rolled back; sealing stopped .*`basalt restore`/,
    );
    expect(v.sealing).toBe(false);
    expect(lines.some((l) => l.event === 'block.sealed')).toBe(false);
  });

  it('above the recorded block it seals on', async () => {
    const { t, dir } = await chainAt(3);
    legacy(dir, 2n, true);
    const lines: Line[] = [];
    const { v } = await validatorOn(t, dir, lines);
    v.start();
    await until(() => t.chain.head.number >= 5n, 'block 5');
    await v.stop();
    expect(lines.filter((l) => l.level >= 50)).toEqual([]);
    expect(new FileSignedStore(dir).load()!.height).toBeGreaterThanOrEqual(5n);
  });

  it('a block signed but never committed (a crash in between) may be signed again, in a later round; below it never', async () => {
    const { t, dir } = await chainAt(3);
    legacy(dir, 4n, false);
    const lines: Line[] = [];
    const { v } = await validatorOn(t, dir, lines);
    v.start();
    await until(() => t.chain.head.number >= 4n, 'block 4', 5_000);
    await v.stop();
    expect(lines.find((l) => l.event === 'consensus.reached' && l.height === 4)?.round).toBe(1);
    const j = withLegacySigned(undefined, { number: 4n, hash: `0x${'09'.repeat(32)}`, committed: false });
    expect(j).toMatchObject({ height: 4n, floor: 3n, kind: 'roundChange' });
  });

  it('never lowers a journal that is further on, and a crash before the removal folds it in again the same way', async () => {
    const { dir } = await chainAt(0);
    const store = new FileSignedStore(dir);
    const ahead: SignedState = { height: 9n, round: 1, hash: new Uint8Array(32).fill(1), kind: 'prepare' };
    await store.save(ahead);
    legacy(dir, 5n, true);
    expect(readLegacySigned(dir)).toEqual({ number: 5n, hash: `0x${'09'.repeat(32)}`, committed: true });
    const first = withLegacySigned(store.load(), readLegacySigned(dir)!);
    expect(first).toEqual({ ...ahead, floor: 5n });
    expect(withLegacySigned(first, readLegacySigned(dir)!)).toBe(first); // folding again changes nothing
    await migrateLegacySigned(dir, store);
    expect(store.load()).toEqual(first);
    expect(await migrateLegacySigned(dir, store)).toBeUndefined(); // nothing left to fold
  });

  it('a malformed record is refused, never read as "nothing signed"', async () => {
    const { dir } = await chainAt(0);
    for (const text of ['', '{', `{"version":2,"number":"1","hash":"0x${'00'.repeat(32)}","committed":true}`, 'x'.repeat(5000)]) {
      writeFileSync(join(dir, LEGACY_SIGNED_FILE), text);
      await expect(migrateLegacySigned(dir, new FileSignedStore(dir)), text.slice(0, 40)).rejects.toThrow(/malformed|larger than/);
      expect(existsSync(join(dir, SIGN_JOURNAL_FILE))).toBe(false);
      expect(readFileSync(join(dir, LEGACY_SIGNED_FILE), 'utf8')).toBe(text);
    }
  });

  it('a record of gigabytes (sparse) is refused as malformed by its size, never read', async () => {
    const { dir } = await chainAt(0);
    const path = join(dir, LEGACY_SIGNED_FILE);
    writeFileSync(path, '');
    truncateSync(path, 3 * 1024 ** 3);
    await expect(migrateLegacySigned(dir, new FileSignedStore(dir))).rejects.toThrow(
      `${path} is malformed (it is larger than 4096 bytes); restore it from a backup of this data dir`,
    );
    expect(existsSync(join(dir, SIGN_JOURNAL_FILE))).toBe(false);
  });
});
