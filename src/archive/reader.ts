import { bytesToHex } from '@ethereumjs/util';
import { BackupFileError } from '../container/errors.js';
import { ContainerReader } from '../container/reader.js';
import { RecordType } from '../container/framing.js';
import {
  ARCHIVE,
  ArchiveRecord,
  decodeBlockPayload,
  decodeHeader,
  decodeTrailer,
  MAX_RECORD_BYTES,
  type ArchiveHeader,
  type ArchiveTrailer,
  type BlockRecord,
} from './format.js';

export type ArchiveEvent =
  | { kind: 'header'; header: ArchiveHeader }
  | { kind: 'block'; record: BlockRecord; bytesRead: number }
  | { kind: 'trailer'; trailer: ArchiveTrailer; bytesRead: number };

/**
 * Parse an archive stream, checking its structure as it goes: magic and version, one header, block
 * records with valid checksums and consecutive numbers inside the stated range, and a trailer whose
 * count, last hash and sha256 digest match what was read, then nothing more. Block contents are not
 * decoded here. Throws BackupFileError at the first problem, naming it.
 */
export async function* readArchive(source: AsyncIterable<Uint8Array>): AsyncGenerator<ArchiveEvent> {
  const reader = new ContainerReader(source, ARCHIVE, MAX_RECORD_BYTES);
  try {
    const header = decodeHeader(await reader.header());
    yield { kind: 'header', header };

    const start = BigInt(header.startBlock);
    const end = BigInt(header.endBlock);
    let next = start;
    let lastHash: string | undefined;
    for (;;) {
      const rec = await reader.next(next === start ? `block ${next}` : `the record after block ${next - 1n}`);
      if (rec.type === RecordType.Trailer) {
        const { fields } = await checkEnd(reader, rec, next, start, end, lastHash);
        yield { kind: 'trailer', trailer: decodeTrailer(fields), bytesRead: reader.offset };
        return;
      }
      if (rec.type !== ArchiveRecord.Block) throw new BackupFileError(`unknown record type ${rec.type} after block ${next - 1n}`);
      const record = decodeBlockPayload(rec.payload);
      if (record.number !== next)
        throw new BackupFileError(`archive holds block ${record.number} where block ${next} should be (blocks out of order or missing)`);
      if (next > end) throw new BackupFileError(`archive holds block ${next}, beyond the end ${end} its header states`);
      lastHash = bytesToHex(record.hash);
      next++;
      yield { kind: 'block', record, bytesRead: reader.offset };
    }
  } finally {
    await reader.close();
  }
}

/** The trailer must close the stated range with the right count and last hash, and the digest must match. */
async function checkEnd(
  reader: ContainerReader,
  rec: { type: number; payload: Uint8Array },
  next: bigint,
  start: bigint,
  end: bigint,
  lastHash: string | undefined,
) {
  if (next - 1n !== end) throw new BackupFileError(`archive is incomplete: it ends at block ${next - 1n}, but its header says ${end}`);
  const done = await reader.finish(rec);
  const trailer = decodeTrailer(done.fields);
  if (BigInt(trailer.blockCount) !== next - start)
    throw new BackupFileError(`archive trailer counts ${trailer.blockCount} blocks, but ${next - start} were read`);
  if (trailer.lastBlockHash !== lastHash) throw new BackupFileError(`archive trailer names last block ${trailer.lastBlockHash}, but it was ${lastHash}`);
  return done;
}
