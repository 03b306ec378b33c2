import { execFileSync, spawn } from 'node:child_process';
import { createCipheriv, createDecipheriv, scryptSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { checkKdfParams, decryptKeys, DEFAULT_KDF, encryptKeys, readBackupHeader, type KdfParams } from '../../../src/keys/backup.js';
import { obtainPassphrase } from '../../../src/keys/passphrase.js';
import { UserError } from '../../../src/util/errors.js';
import { tempDir } from '../../helpers/cli.js';

const keys = { libp2p: new Uint8Array(32).fill(0x11), validator: new Uint8Array(32).fill(0x22) };
/** The cheapest parameters restore accepts (N = 2^15, 32 MiB): keeps the many derivations below quick. */
const FAST: KdfParams = { log2N: 15, r: 8, p: 1 };
const PASS = 'correct horse battery';
const WRONG_OR_MODIFIED = /^cannot decrypt the key backup: wrong passphrase, or the file was modified or truncated$/;

function flip(file: Uint8Array, pos: number, mask = 0x01): Uint8Array {
  const b = Uint8Array.from(file);
  b[pos]! ^= mask;
  return b;
}

function userError(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(UserError);
    return (err as Error).message;
  }
  throw new Error('expected a UserError, got none');
}

/** An independent implementation of docs/key-backup-format.md, to pin the format down. */
function specEncrypt(plaintext: Buffer, passphrase: string, kdf: KdfParams, header?: Partial<{ version: number; kdfId: number }>): Uint8Array {
  const h = Buffer.alloc(64);
  h.write('BASALTKB', 0, 'latin1');
  h.writeUInt16BE(header?.version ?? 1, 8);
  h.writeUInt8(header?.kdfId ?? 1, 10);
  h.writeUInt8(kdf.log2N, 11);
  h.writeUInt32BE(kdf.r, 12);
  h.writeUInt32BE(kdf.p, 16);
  h.fill(0xa5, 20, 52); // salt
  h.fill(0x5a, 52, 64); // nonce
  const N = 2 ** kdf.log2N;
  const key = scryptSync(passphrase.normalize('NFKC'), h.subarray(20, 52), 32, { N, r: kdf.r, p: kdf.p, maxmem: 256 * N * kdf.r });
  const c = createCipheriv('aes-256-gcm', key, h.subarray(52, 64));
  c.setAAD(h);
  return Buffer.concat([h, c.update(plaintext), c.final(), c.getAuthTag()]);
}

function specDecrypt(file: Uint8Array, passphrase: string): string {
  const b = Buffer.from(file);
  const N = 2 ** b.readUInt8(11);
  const r = b.readUInt32BE(12);
  const key = scryptSync(passphrase.normalize('NFKC'), b.subarray(20, 52), 32, { N, r, p: b.readUInt32BE(16), maxmem: 256 * N * r });
  const d = createDecipheriv('aes-256-gcm', key, b.subarray(52, 64));
  d.setAAD(b.subarray(0, 64));
  d.setAuthTag(b.subarray(b.length - 16));
  return Buffer.concat([d.update(b.subarray(64, b.length - 16)), d.final()]).toString('utf8');
}

describe('encrypted key backup format', () => {
  const file = encryptKeys(keys, PASS, FAST);

  it('round-trips with the default (strong) parameters, which it writes into the header', () => {
    const strong = encryptKeys(keys, PASS);
    expect(readBackupHeader(strong)).toEqual({ version: 1, kdf: { log2N: 17, r: 8, p: 1 } });
    expect(DEFAULT_KDF).toEqual({ log2N: 17, r: 8, p: 1 });
    const back = decryptKeys(strong, PASS);
    expect(Buffer.from(back.libp2p).equals(Buffer.from(keys.libp2p))).toBe(true);
    expect(Buffer.from(back.validator).equals(Buffer.from(keys.validator))).toBe(true);
  });

  it('has the documented layout and never holds a key in the clear', () => {
    const b = Buffer.from(file);
    expect(b.length).toBe(64 + 156 + 16); // header, JSON of two hex keys, tag
    expect(b.subarray(0, 8).toString('latin1')).toBe('BASALTKB');
    expect([b.readUInt16BE(8), b[10], b[11], b.readUInt32BE(12), b.readUInt32BE(16)]).toEqual([1, 1, 15, 8, 1]);
    expect(b.includes(Buffer.from(keys.validator))).toBe(false);
    expect(b.includes(Buffer.from(keys.libp2p))).toBe(false);
    expect(b.toString('latin1')).not.toMatch(/1111|2222|libp2p|validator/);
    // another backup of the same keys shares neither salt, nonce nor ciphertext
    const again = Buffer.from(encryptKeys(keys, PASS, FAST));
    for (const [from, to] of [
      [20, 52],
      [52, 64],
      [64, 220],
    ] as const)
      expect(again.subarray(from, to).equals(b.subarray(from, to))).toBe(false);
  });

  it('matches an independent implementation of the documented format, both ways', () => {
    expect(JSON.parse(specDecrypt(file, PASS))).toEqual({ libp2p: '11'.repeat(32), validator: '22'.repeat(32) });
    const foreignMade = specEncrypt(Buffer.from(JSON.stringify({ libp2p: '33'.repeat(32), validator: '44'.repeat(32) })), PASS, FAST);
    const back = decryptKeys(foreignMade, PASS);
    expect(Buffer.from(back.libp2p).toString('hex')).toBe('33'.repeat(32));
    expect(Buffer.from(back.validator).toString('hex')).toBe('44'.repeat(32));
  });

  it('refuses a wrong passphrase, and normalizes Unicode (NFKC) so the same words always match', () => {
    expect(userError(() => decryptKeys(file, 'correct horse battery!'))).toMatch(WRONG_OR_MODIFIED);
    expect(userError(() => decryptKeys(file, 'Correct horse battery'))).toMatch(WRONG_OR_MODIFIED);
    const composed = 'caf\u00e9 au lait, s\u2019il vous pla\u00eet';
    const f = encryptKeys(keys, composed, FAST);
    expect(decryptKeys(f, composed.normalize('NFD')).validator).toEqual(keys.validator);
  });

  it('refuses a change in every region of the file', () => {
    const regions: [string, number, RegExp][] = [
      ['magic', 0, /^not a Basalt key backup \(bad magic bytes\)$/],
      ['magic', 7, /bad magic bytes/],
      ['version', 8, /format version 257 is not supported .*upgrade Basalt/],
      ['version', 9, /format version 0 is not supported/],
      ['kdf id', 10, /unknown key derivation function \(id 0\)/],
      ['log2N', 11, /unacceptable scrypt parameters \(N=2\^14, r=8, p=1/], // 15 ^ 1 = 14: weaker, refused before deriving
      ['r high byte', 12, /unacceptable scrypt parameters \(N=2\^15, r=16777224/],
      ['r', 15, WRONG_OR_MODIFIED], // r = 9: acceptable, but the header is authenticated
      ['p', 19, /unacceptable scrypt parameters \(N=2\^15, r=8, p=0/],
      ['salt', 20, WRONG_OR_MODIFIED],
      ['salt', 51, WRONG_OR_MODIFIED],
      ['nonce', 52, WRONG_OR_MODIFIED],
      ['nonce', 63, WRONG_OR_MODIFIED],
      ['ciphertext', 64, WRONG_OR_MODIFIED],
      ['ciphertext', 150, WRONG_OR_MODIFIED],
      ['ciphertext', 219, WRONG_OR_MODIFIED],
      ['tag', 220, WRONG_OR_MODIFIED],
      ['tag', 235, WRONG_OR_MODIFIED],
    ];
    expect(file.length).toBe(236);
    for (const [region, pos, expected] of regions) {
      expect(
        userError(() => decryptKeys(flip(file, pos), PASS)),
        `${region} byte ${pos}`,
      ).toMatch(expected);
    }
    // p = 2: acceptable parameters, refused by authentication
    expect(userError(() => decryptKeys(flip(file, 19, 0x03), PASS))).toMatch(WRONG_OR_MODIFIED);
  });

  it('refuses a lowered N even where the lower N is allowed: the header is authenticated', () => {
    const strong = encryptKeys(keys, PASS); // N = 2^17
    const weaker = Uint8Array.from(strong);
    weaker[11] = 16;
    expect(userError(() => decryptKeys(weaker, PASS))).toMatch(WRONG_OR_MODIFIED);
    weaker[11] = 14;
    expect(userError(() => decryptKeys(weaker, PASS))).toMatch(/unacceptable scrypt parameters \(N=2\^14/);
  });

  it('refuses weak, memory-bomb and CPU-bomb parameters before deriving anything', () => {
    const header = (log2N: number, r: number, p: number) => {
      const b = Buffer.from(file);
      b.writeUInt8(log2N, 11);
      b.writeUInt32BE(r, 12);
      b.writeUInt32BE(p, 16);
      return b;
    };
    for (const [log2N, r, p] of [
      [14, 8, 1],
      [1, 8, 1],
      [15, 7, 1],
      [15, 1, 1],
      [15, 8, 0],
      [15, 0xffffffff, 1],
    ]) {
      expect(
        userError(() => decryptKeys(header(log2N!, r!, p!), PASS)),
        `N=2^${log2N} r=${r} p=${p}`,
      ).toMatch(/unacceptable scrypt parameters/);
    }
    // Bombs: deriving with any of these would take seconds (2 GiB and more, or 16 times the default's work).
    for (const [log2N, r, p] of [
      [21, 8, 1],
      [30, 8, 1],
      [20, 16, 1],
      [18, 32, 2],
      [17, 8, 17],
      [20, 8, 2],
      [20, 8, 16],
    ]) {
      const started = Date.now();
      expect(
        userError(() => decryptKeys(header(log2N!, r!, p!), PASS)),
        `N=2^${log2N} r=${r} p=${p}`,
      ).toMatch(/unacceptable scrypt parameters/);
      expect(Date.now() - started).toBeLessThan(500);
    }
    // and a backup is never written with parameters restore would refuse
    expect(userError(() => encryptKeys(keys, PASS, { log2N: 14, r: 8, p: 1 }))).toMatch(/unacceptable scrypt parameters/);
    expect(userError(() => encryptKeys(keys, PASS, { log2N: 20, r: 32, p: 1 }))).toMatch(/unacceptable scrypt parameters/);
    expect(() => checkKdfParams({ log2N: 20, r: 8, p: 1 })).not.toThrow(); // the largest: 1 GiB
  });

  it('refuses truncated and extended files', () => {
    for (const len of [0, 7])
      expect(
        userError(() => decryptKeys(file.subarray(0, len), PASS)),
        `${len} bytes`,
      ).toMatch(/bad magic bytes/);
    for (const len of [8, 20, 64, 79])
      expect(
        userError(() => decryptKeys(file.subarray(0, len), PASS)),
        `${len} bytes`,
      ).toBe(`key backup is truncated (${len} bytes)`);
    for (const len of [80, 100, 220, 235])
      expect(
        userError(() => decryptKeys(file.subarray(0, len), PASS)),
        `${len} bytes`,
      ).toMatch(WRONG_OR_MODIFIED);
    expect(userError(() => decryptKeys(Buffer.concat([file, Buffer.from([0])]), PASS))).toMatch(WRONG_OR_MODIFIED);
  });

  it('refuses foreign files, future versions and other KDFs', () => {
    expect(userError(() => decryptKeys(Buffer.from('{"libp2p":"00","validator":"00"}'), PASS))).toMatch(/^not a Basalt key backup \(bad magic bytes\)$/);
    expect(userError(() => decryptKeys(Buffer.from('BASALTKA').subarray(0), PASS))).toMatch(/bad magic bytes/);
    expect(userError(() => decryptKeys(Buffer.alloc(236), PASS))).toMatch(/bad magic bytes/);
    expect(userError(() => decryptKeys(Buffer.concat([file, Buffer.alloc(4096)]), PASS))).toMatch(/^not a Basalt key backup: 4332 bytes is too large/);
    const v2 = Buffer.from(file);
    v2.writeUInt16BE(2, 8);
    expect(userError(() => decryptKeys(v2, PASS))).toBe('key backup format version 2 is not supported (this Basalt reads version 1): upgrade Basalt');
    const argon = Buffer.from(file);
    argon[10] = 2;
    expect(userError(() => decryptKeys(argon, PASS))).toBe('key backup uses an unknown key derivation function (id 2)');
  });

  it('refuses an authentic file whose content is not two valid keys', () => {
    const payloads = [
      { libp2p: '00'.repeat(32), validator: '22'.repeat(32) }, // zero is not a secp256k1 key
      { libp2p: '11'.repeat(32), validator: 'ff'.repeat(32) }, // above the curve order
      { libp2p: '11'.repeat(32) },
      { libp2p: '11'.repeat(31), validator: '22'.repeat(32) },
    ];
    for (const p of payloads) {
      expect(userError(() => decryptKeys(specEncrypt(Buffer.from(JSON.stringify(p)), PASS, FAST), PASS))).toBe(
        'the key backup decrypted but does not hold two valid secp256k1 keys',
      );
    }
    expect(userError(() => decryptKeys(specEncrypt(Buffer.from('not json'), PASS, FAST), PASS))).toMatch(/does not hold two valid secp256k1 keys/);
  });

  it('refuses empty and short passphrases, and invalid keys, on both sides', () => {
    expect(userError(() => encryptKeys(keys, '', FAST))).toBe('the passphrase is empty');
    expect(userError(() => encryptKeys(keys, 'short12', FAST))).toBe('the passphrase is too short: use at least 8 characters');
    expect(encryptKeys(keys, '12345678', FAST).length).toBe(236); // 8 is enough
    expect(userError(() => decryptKeys(file, ''))).toBe('the passphrase is empty');
    expect(userError(() => decryptKeys(file, 'short'))).toMatch(/too short/);
    expect(userError(() => encryptKeys({ libp2p: new Uint8Array(32), validator: keys.validator }, PASS, FAST))).toMatch(
      /libp2p key is not a valid secp256k1 private key/,
    );
    expect(userError(() => encryptKeys({ libp2p: keys.libp2p, validator: new Uint8Array(31).fill(1) }, PASS, FAST))).toMatch(/validator key is not a valid/);
  });
});

/** A fake terminal: records raw-mode switches and prompts in order, and types `typed` once raw. */
function fakeTty(typed: string[]) {
  const events: string[] = [];
  const input = new PassThrough() as unknown as NodeJS.ReadStream & PassThrough;
  let raw = false;
  Object.assign(input, {
    isTTY: true,
    get isRaw() {
      return raw;
    },
    setRawMode(mode: boolean) {
      raw = mode;
      events.push(`raw:${mode}`);
      return input;
    },
  });
  const output = new Writable({
    write(chunk: Buffer, _enc, cb) {
      const text = chunk.toString();
      events.push(`out:${text}`);
      if (/passphrase: $/i.test(text)) {
        if (!raw) events.push('ECHO: prompt shown before raw mode');
        const answer = typed.shift();
        if (answer !== undefined) setImmediate(() => input.write(answer));
      }
      cb();
    },
  }) as unknown as NodeJS.WriteStream;
  Object.assign(output, { isTTY: true });
  return { input, output, events };
}

describe('passphrase sources', () => {
  const noTty = { input: { isTTY: false } as NodeJS.ReadStream, output: { isTTY: false } as NodeJS.WriteStream };

  it('reads --passphrase-file without one trailing newline, before $BASALT_PASSPHRASE', async () => {
    const dir = tempDir();
    const cases: [string, string][] = [
      ['secret words\n', 'secret words'],
      ['secret words\r\n', 'secret words'],
      ['secret words', 'secret words'],
      ['secret words\n\n', 'secret words\n'],
      [' spaced  words ', ' spaced  words '],
    ];
    for (const [i, [content, expected]] of cases.entries()) {
      writeFileSync(join(dir, `p${i}`), content);
      expect(await obtainPassphrase({ file: join(dir, `p${i}`), confirm: true, env: { BASALT_PASSPHRASE: 'from the environment' }, ...noTty })).toBe(expected);
    }
    expect(await obtainPassphrase({ confirm: true, env: { BASALT_PASSPHRASE: 'from the environment' }, ...noTty })).toBe('from the environment');
  });

  it('explains a missing source, and refuses empty or short passphrases naming their origin', async () => {
    const dir = tempDir();
    await expect(obtainPassphrase({ confirm: false, env: {}, ...noTty })).rejects.toThrow(
      /^no passphrase: pass --passphrase-file FILE, set BASALT_PASSPHRASE, or run in a terminal to be asked$/,
    );
    await expect(obtainPassphrase({ confirm: false, env: { BASALT_PASSPHRASE: '' }, ...noTty })).rejects.toThrow(
      /^the passphrase is empty \(in \$BASALT_PASSPHRASE\)$/,
    );
    writeFileSync(join(dir, 'empty'), '\n');
    await expect(obtainPassphrase({ file: join(dir, 'empty'), confirm: false, env: {}, ...noTty })).rejects.toThrow(/^the passphrase is empty \(in .*empty\)$/);
    writeFileSync(join(dir, 'short'), 'abc\n');
    await expect(obtainPassphrase({ file: join(dir, 'short'), confirm: false, env: {}, ...noTty })).rejects.toThrow(
      /too short: use at least 8 characters \(in /,
    );
    await expect(obtainPassphrase({ file: join(dir, 'none'), confirm: false, env: {}, ...noTty })).rejects.toThrow(
      /^cannot read passphrase file .*none: not found$/,
    );
    await expect(obtainPassphrase({ file: dir, confirm: false, env: {}, ...noTty })).rejects.toThrow(/is a directory/);
  });

  it('reads a --passphrase-file that is a pipe, but never more than 64 KiB of it (a FIFO, /dev/zero)', async () => {
    const dir = tempDir();
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    // A writer in another process: opening the FIFO to read blocks until it opens it to write.
    const feed = (script: string) => spawn('sh', ['-c', script, 'sh', fifo], { stdio: 'ignore' });
    const small = feed('printf "fifo secret words\\n" > "$1"');
    try {
      expect(await obtainPassphrase({ file: fifo, confirm: false, env: {}, ...noTty })).toBe('fifo secret words');
    } finally {
      small.kill();
    }
    // 64 KiB + a few bytes of a valid passphrase's characters: refused for its size, read no further.
    const large = feed('head -c 70000 /dev/zero | tr "\\000" a > "$1"');
    try {
      await expect(obtainPassphrase({ file: fifo, confirm: false, env: {}, ...noTty })).rejects.toThrow(
        /^passphrase file .*fifo is too large to be a passphrase file$/,
      );
    } finally {
      large.kill();
    }
    // A device without an end: refused once past the limit, where reading it whole never returns.
    await expect(obtainPassphrase({ file: '/dev/zero', confirm: false, env: {}, ...noTty })).rejects.toThrow(
      /^passphrase file \/dev\/zero is too large to be a passphrase file$/,
    );
  });

  it('prompts on a terminal with echo off before the question, twice for a backup', async () => {
    const t = fakeTty(['my secret words\r', 'my secret words\r']);
    expect(await obtainPassphrase({ confirm: true, env: {}, input: t.input, output: t.output })).toBe('my secret words');
    expect(t.events).not.toContain('ECHO: prompt shown before raw mode');
    expect(t.events.filter((e) => e.startsWith('out:') && e.includes('assphrase'))).toEqual(['out:Passphrase: ', 'out:Repeat passphrase: ']);
    expect(t.events.join('|')).not.toContain('my secret');
    expect(t.events.at(-2)).toBe('raw:false'); // the terminal is given back
  });

  it('handles backspace and CTRL-U, and asks once for a restore', async () => {
    const t = fakeTty(['wrong\u0015my secrett\u007f words\n', 'never asked\n']);
    expect(await obtainPassphrase({ confirm: false, env: {}, input: t.input, output: t.output })).toBe('my secret words');
    expect(t.events.filter((e) => e.includes('assphrase'))).toHaveLength(1);
  });

  it('refuses a mismatched repeat, an empty answer, and CTRL-C', async () => {
    const mismatch = fakeTty(['my secret words\r', 'my secret wordz\r']);
    await expect(obtainPassphrase({ confirm: true, env: {}, input: mismatch.input, output: mismatch.output })).rejects.toThrow(
      /^the passphrases do not match$/,
    );
    const empty = fakeTty(['\r']);
    await expect(obtainPassphrase({ confirm: true, env: {}, input: empty.input, output: empty.output })).rejects.toThrow(/^the passphrase is empty$/);
    const cancelled = fakeTty(['my sec\u0003']);
    const err = await obtainPassphrase({ confirm: true, env: {}, input: cancelled.input, output: cancelled.output }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).message).toBe('cancelled');
    expect((err as UserError).exitCode).toBe(130);
    expect(cancelled.events).toContain('raw:false');
  });
});
