import { createHash } from 'node:crypto';
import { concatBytes } from '@ethereumjs/util';
import { UserError } from '../util/errors.js';
import { encodeJson, encodePreamble, encodeRecord, MAX_HEADER_BYTES, readableVersions, RecordType, type ContainerKind } from './framing.js';

/**
 * Produces a container's bytes in order: preamble and header, body records, trailer. Keeps the running
 * sha256 digest of everything before the trailer, and the byte count. Each call returns the bytes to
 * write next; the caller decides where they go.
 *
 * It never produces what ContainerReader refuses: a header over MAX_HEADER_BYTES or a record over
 * `maxRecordBytes` (the limit the format's reader is given) fails with a UserError before any of its
 * bytes are returned.
 */
export class ContainerWriter {
  private readonly digest = createHash('sha256');
  bytesWritten = 0;

  constructor(
    private readonly kind: ContainerKind,
    private readonly maxRecordBytes: number,
  ) {}

  /** The preamble (of `version`, one its readers accept) and the header record. */
  start(header: object, version = this.kind.version): Uint8Array {
    if (!readableVersions(this.kind).includes(version)) throw new Error(`${this.kind.noun} writer: no version ${version}`);
    const json = encodeJson(header);
    if (json.length > MAX_HEADER_BYTES) {
      throw new UserError(
        `cannot write the ${this.kind.noun}: its header would be ${json.length} bytes, above the ${MAX_HEADER_BYTES}-byte limit of its readers`,
        { code: 'FAILED_PRECONDITION' },
      );
    }
    return this.emit(concatBytes(encodePreamble(this.kind, version), encodeRecord(RecordType.Header, json)));
  }

  record(type: number, payload: Uint8Array): Uint8Array {
    this.checkLength(payload.length);
    return this.emit(encodeRecord(type, payload));
  }

  /** The trailer record: `fields` plus the digest of every byte written before it. */
  finish(fields: Record<string, string>): { bytes: Uint8Array; digest: string } {
    const digest = `0x${this.digest.digest('hex')}`;
    const payload = encodeJson({ ...fields, digest });
    this.checkLength(payload.length);
    const bytes = encodeRecord(RecordType.Trailer, payload);
    this.bytesWritten += bytes.length;
    return { bytes, digest };
  }

  private checkLength(length: number): void {
    if (length > this.maxRecordBytes) {
      throw new UserError(`cannot write the ${this.kind.noun}: a record would be ${length} bytes, above the ${this.maxRecordBytes}-byte limit of its readers`, {
        code: 'FAILED_PRECONDITION',
      });
    }
  }

  private emit(bytes: Uint8Array): Uint8Array {
    this.digest.update(bytes);
    this.bytesWritten += bytes.length;
    return bytes;
  }
}
