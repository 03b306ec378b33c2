import { concatBytes } from '@ethereumjs/util';
import { describe, expect, it } from 'vitest';
import { ARCHIVE, MAX_RECORD_BYTES } from '../../../src/archive/format.js';
import { BackupFileError } from '../../../src/container/errors.js';
import { encodePreamble, MAX_HEADER_BYTES, RecordType } from '../../../src/container/framing.js';
import { ContainerReader } from '../../../src/container/reader.js';
import { MAX_SNAPSHOT_RECORD_BYTES, SNAPSHOT } from '../../../src/snapshot/format.js';

/**
 * A header is at most MAX_HEADER_BYTES: a first record stating more is refused at its length, before
 * any of it is read, not buffered up to the format's record limit (~65 MiB for a snapshot) first.
 */
describe("a container's first record", () => {
  it('stating 32 MiB is refused at the header limit, having read nothing past its length', async () => {
    for (const [kind, limit] of [
      [ARCHIVE, MAX_RECORD_BYTES],
      [SNAPSHOT, MAX_SNAPSHOT_RECORD_BYTES],
    ] as const) {
      const head = new Uint8Array(5);
      head[0] = RecordType.Header;
      new DataView(head.buffer).setUint32(1, 32 * 1024 * 1024);
      expect(32 * 1024 * 1024).toBeLessThan(limit);
      let pulled = 0;
      // The preamble and the record's length, then as many bytes as the reader asks for.
      async function* source(): AsyncGenerator<Uint8Array> {
        yield concatBytes(encodePreamble(kind), head);
        for (;;) {
          pulled += 1024 * 1024;
          yield new Uint8Array(1024 * 1024);
        }
      }
      const reader = new ContainerReader(source(), kind, limit);
      const err = await reader.header().then(
        () => undefined,
        (e: unknown) => e,
      );
      await reader.close();
      expect(err).toBeInstanceOf(BackupFileError);
      expect((err as Error).message).toBe(
        `${kind.noun} header is too large: its record states ${32 * 1024 * 1024} bytes, above the ${MAX_HEADER_BYTES}-byte limit (corrupt or hostile ${kind.noun})`,
      );
      expect(pulled).toBe(0);
    }
  });
});
