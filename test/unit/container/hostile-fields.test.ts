import { describe, expect, it } from 'vitest';
import { FORMAT_VERSION, type ArchiveHeader } from '../../../src/archive/format.js';
import { readArchive } from '../../../src/archive/reader.js';
import { ArchiveWriter } from '../../../src/archive/writer.js';
import { decodePackHeader, decodeSegmentHeader } from '../../../src/backup/repository/format.js';
import { BackupFileError } from '../../../src/container/errors.js';
import { encodeJson, encodeRecord, RecordType } from '../../../src/container/framing.js';
import { decodeSnapshotHeader } from '../../../src/snapshot/format.js';
import { quoteUntrusted } from '../../../src/util/errors.js';

/**
 * A backup file is someone else's bytes: what a message or `archive inspect` shows of its fields must
 * stay one short line of printable text, whatever the file holds (a forged "error:" line, terminal
 * escapes, megabytes of text).
 */
const HASH = `0x${'ab'.repeat(32)}`;
const FORGED = 'zstd"\nerror: none, archive OK\n\x1b[32mOK\x1b[0m';

/** One printable line, at most `max` characters. */
function expectOneShortLine(message: string, max = 300): void {
  expect(message.length).toBeLessThanOrEqual(max);
  expect(message).not.toMatch(/[\p{Cc}\p{Zl}\p{Zp}]/u);
}

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

async function refusal(bytes: Uint8Array): Promise<BackupFileError> {
  try {
    for await (const ev of readArchive(once(bytes))) void ev;
  } catch (err) {
    expect(err).toBeInstanceOf(BackupFileError);
    return err as BackupFileError;
  }
  throw new Error('the archive was read');
}

function archiveHeader(extra: Record<string, unknown> = {}): ArchiveHeader {
  return {
    format: 'basalt-archive',
    version: FORMAT_VERSION,
    chainId: '100',
    genesisHash: HASH,
    startBlock: '1',
    endBlock: '1',
    compression: 'none',
    ...extra,
  } as ArchiveHeader;
}

/** An archive of one (undecoded) block record under `header`, closed by `trailer` (a real one by default). */
function archive(header: ArchiveHeader, trailer?: Record<string, unknown>): Uint8Array {
  const w = new ArchiveWriter(header);
  const parts = [w.start(), w.block({ number: 1n, hash: new Uint8Array(32).fill(1), rawLength: 3, data: new Uint8Array(3) })];
  parts.push(trailer ? encodeRecord(RecordType.Trailer, encodeJson(trailer)) : w.finish().bytes);
  return Buffer.concat(parts);
}

describe('quoteUntrusted', () => {
  it('JSON-quotes a string with every unprintable character escaped', () => {
    expect(quoteUntrusted('zstd')).toBe('"zstd"');
    expect(quoteUntrusted(FORGED)).toBe('"zstd\\"\\nerror: none, archive OK\\n\\u001b[32mOK\\u001b[0m"');
    // DEL, a C1 CSI (an escape to some terminals), a bidi override, a line separator, a lone surrogate
    expect(quoteUntrusted('a\x7fb\x9bc\u202ed\u2028e\ud800')).toBe('"a\\u007fb\\u009bc\\u202ed\\u2028e\\ud800"');
    expect(quoteUntrusted('grüße ✓ 𝄞')).toBe('"grüße ✓ 𝄞"');
  });

  it('cuts a long string after 80 characters, escapes counted, with an ellipsis after the quote', () => {
    expect(quoteUntrusted('x'.repeat(80))).toBe(`"${'x'.repeat(80)}"`);
    expect(quoteUntrusted('x'.repeat(81))).toBe(`"${'x'.repeat(80)}"…`);
    expect(quoteUntrusted('x\n'.repeat(8_000_000))).toBe(`"${'x\\n'.repeat(26)}x"…`);
    expect(quoteUntrusted('\x1b'.repeat(100))).toBe(`"${'\\u001b'.repeat(13)}"…`);
  });

  it('shows a number, boolean or null as JSON writes it, anything else by its kind', () => {
    expect([2, true, null, undefined, { a: 'x\n' }, ['x\n'], 1n].map(quoteUntrusted)).toEqual([
      '2',
      'true',
      'null',
      'nothing',
      'an object',
      'a list',
      'a bigint',
    ]);
  });
});

describe("a backup file's fields in messages", () => {
  it("a trailer's digest of 8 million lines is refused in one short line", async () => {
    const h = archiveHeader();
    const err = await refusal(archive(h, { blockCount: '1', lastBlockHash: HASH, digest: 'x\n'.repeat(8_000_000) }));
    expect(err.message).toMatch(/^archive digest mismatch: trailer says "x\\nx\\n.*"…, content hashes to 0x[0-9a-f]{64} \(corrupt archive\)$/);
    expectOneShortLine(err.message);
  });

  it("a header's compression or version cannot forge a line or send a terminal escape", async () => {
    const byCompression = await refusal(archive(archiveHeader({ compression: FORGED })));
    expect(byCompression.message).toBe(`archive header compression ${quoteUntrusted(FORGED)} is unknown`);
    expectOneShortLine(byCompression.message);
    for (const version of [`1\n${FORGED}`, { nested: FORGED }, 'v'.repeat(60_000)]) {
      const err = await refusal(archive(archiveHeader({ version })));
      expect(err.message).toMatch(/^archive header version .* is not supported$/);
      expectOneShortLine(err.message);
    }
  });

  it("keeps a header's informational fields only as short printable strings", async () => {
    const read = async (extra: Record<string, unknown>) => {
      for await (const ev of readArchive(once(archive(archiveHeader(extra))))) if (ev.kind === 'header') return ev.header;
      throw new Error('no header');
    };
    const kept = await read({ createdAt: '2024-05-01T10:00:00.000Z', clientVersion: 'basalt/0.1.0' });
    expect([kept.createdAt, kept.clientVersion]).toEqual(['2024-05-01T10:00:00.000Z', 'basalt/0.1.0']);
    for (const bad of [FORGED, 'x'.repeat(65), '', 7, { a: 1 }]) {
      const h = await read({ createdAt: bad, clientVersion: bad });
      expect(Object.keys(h)).not.toContain('createdAt');
      expect(Object.keys(h)).not.toContain('clientVersion');
    }
    const snapshot = decodeSnapshotHeader(
      {
        format: 'basalt-snapshot',
        version: 2,
        chainId: '1',
        genesisHash: HASH,
        genesisBytes: '10',
        head: { number: '5', hash: HASH, stateRoot: HASH },
        compression: 'zstd',
        createdAt: FORGED,
      },
      2,
    );
    expect(Object.keys(snapshot.header)).not.toContain('createdAt');
  });

  it("a repository object's header fields and a snapshot's stateOrder are quoted by the same rule", () => {
    const message = (f: () => unknown) => {
      try {
        f();
      } catch (err) {
        expect(err).toBeInstanceOf(BackupFileError);
        return (err as Error).message;
      }
      throw new Error('accepted');
    };
    const segment = { format: 'basalt-segment', version: 1, chainId: '1', startBlock: '1', endBlock: '2', genesisHash: HASH, compression: 'zstd' };
    // A header nested deeper than JSON.stringify can go was a RangeError here.
    let deep: unknown = FORGED;
    for (let i = 0; i < 20_000; i++) deep = [deep];
    const messages = [
      message(() => decodeSegmentHeader({ ...segment, format: FORGED })),
      message(() => decodeSegmentHeader({ ...segment, format: deep })),
      message(() => decodeSegmentHeader({ ...segment, version: FORGED })),
      message(() => decodeSegmentHeader({ ...segment, compression: FORGED })),
      message(() => decodePackHeader({ format: 'basalt-pack', version: 1, compression: FORGED })),
      message(() =>
        decodeSnapshotHeader(
          {
            format: 'basalt-snapshot',
            version: 2,
            chainId: '1',
            genesisHash: HASH,
            genesisBytes: '10',
            head: { number: '5', hash: HASH, stateRoot: HASH },
            compression: 'zstd',
            stateOrder: FORGED,
          },
          2,
        ),
      ),
    ];
    expect(messages[0]).toBe(`history segment header: format is ${quoteUntrusted(FORGED)}, not "basalt-segment"`);
    expect(messages[1]).toBe('history segment header: format is a list, not "basalt-segment"');
    expect(messages[5]).toBe(`snapshot header has an unknown stateOrder ${quoteUntrusted(FORGED)} (a newer Basalt's file?)`);
    for (const m of messages) expectOneShortLine(m);
  });
});
