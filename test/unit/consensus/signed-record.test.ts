import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SIGNED_RECORD_FILE, SignedRecord } from '../../../src/consensus/ibft/signed-record.js';

const hash = (b: number) => new Uint8Array(32).fill(b);
const dir = () => mkdtempSync(join(tmpdir(), 'basalt-signed-'));

describe('signed record', () => {
  it('has nothing recorded in a data dir without the file, and allows any height', () => {
    const r = SignedRecord.open(dir());
    expect(r.highest).toBeUndefined();
    expect(r.refusal(1n)).toBeUndefined();
  });

  it('survives a reopen and refuses heights at or below a committed signed block', () => {
    const d = dir();
    const r = SignedRecord.open(d);
    r.signing(5n, hash(1));
    r.committed(5n, hash(1));
    const again = SignedRecord.open(d);
    expect(again.highest).toEqual({ number: 5n, hash: `0x${'01'.repeat(32)}`, committed: true });
    expect(again.refusal(6n)).toBeUndefined();
    expect(again.refusal(5n)).toMatch(/already signed block 5 .*rolled back/);
    expect(again.refusal(2n)).toMatch(/already signed block 5/);
    expect(() => again.signing(5n, hash(2))).toThrow(/already signed block 5/);
    expect(readdirSync(d)).toEqual([SIGNED_RECORD_FILE]); // no temporary file left
  });

  it('allows the same height again after a crash between signing and commit (the block never left the node), but not below', () => {
    const d = dir();
    SignedRecord.open(d).signing(7n, hash(1));
    const r = SignedRecord.open(d);
    expect(r.highest?.committed).toBe(false);
    expect(r.refusal(7n)).toBeUndefined();
    expect(r.refusal(6n)).toMatch(/already signed block 7/);
  });

  it('ignores a temporary file left by a crash mid-write', () => {
    const d = dir();
    writeFileSync(join(d, `${SIGNED_RECORD_FILE}.tmp`), 'half a rec');
    const r = SignedRecord.open(d);
    expect(r.highest).toBeUndefined();
    r.signing(1n, hash(3));
    expect(JSON.parse(readFileSync(join(d, SIGNED_RECORD_FILE), 'utf8'))).toMatchObject({ version: 1, number: '1', committed: false });
  });

  it('refuses a malformed record rather than reading it as "nothing signed"', () => {
    for (const text of [
      '',
      '{',
      `{"version":2,"number":"1","hash":"0x${'00'.repeat(32)}","committed":true}`,
      `{"version":1,"number":"-1","hash":"0x${'00'.repeat(32)}","committed":true}`,
      'x'.repeat(5000),
    ]) {
      const d = dir();
      writeFileSync(join(d, SIGNED_RECORD_FILE), text);
      expect(() => SignedRecord.open(d), text.slice(0, 40)).toThrow(/malformed|larger than/);
    }
  });
});

describe('sealer and the signed record', () => {
  async function runSealer(signedAt: bigint) {
    const { createTestChain, sealNext } = await import('../../helpers/chain-fixture.js');
    const { IbftSealer } = await import('../../../src/consensus/ibft/sealer.js');
    const { default: pino } = await import('pino');
    const t = await createTestChain(1);
    for (let i = 0; i < 3; i++) await sealNext(t);
    const d = dir();
    const record = SignedRecord.open(d);
    record.signing(signedAt, hash(9));
    record.committed(signedAt, hash(9));
    const lines: { level: number; msg: string }[] = [];
    const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
    const sealer = new IbftSealer({ chain: t.chain, keys: t.keys, blockTimeMs: 20, txs: { pending: () => [] }, logger, signed: record });
    sealer.start();
    const deadline = Date.now() + 10_000;
    while (sealer.sealing && t.chain.head.number < 5n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await sealer.stop();
    const head = t.chain.head.number;
    await t.close();
    return { head, lines, record: SignedRecord.open(d).highest };
  }

  it('refuses to seal at or below the highest signed block after a roll-back: one error line, no block', async () => {
    const { head, lines, record } = await runSealer(5n); // the chain (head 3) lost blocks 4 and 5
    expect(head).toBe(3n);
    const errors = lines.filter((l) => l.level >= 50);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.msg).toMatch(/^refusing to seal: this validator already signed block 5 .*, and block 4 is at or below it.*`basalt restore`/);
    expect(record?.number).toBe(5n);
  });

  it('seals above it and records each block, committed, before going on', async () => {
    const { head, lines, record } = await runSealer(2n);
    expect(head).toBeGreaterThanOrEqual(5n);
    expect(lines.filter((l) => l.level >= 50)).toEqual([]);
    expect(record?.committed).toBe(true);
    expect(record!.number).toBeGreaterThanOrEqual(5n);
  });
});
