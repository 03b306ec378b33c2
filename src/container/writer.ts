import { createHash } from 'node:crypto';
import { concatBytes } from '@ethereumjs/util';
import { encodeJson, encodePreamble, encodeRecord, RecordType, type ContainerKind } from './framing.js';

/**
 * Produces a container's bytes in order: preamble and header, body records, trailer. Keeps the running
 * sha256 digest of everything before the trailer, and the byte count. Each call returns the bytes to
 * write next; the caller decides where they go.
 */
export class ContainerWriter {
  private readonly digest = createHash('sha256');
  bytesWritten = 0;

  constructor(private readonly kind: ContainerKind) {}

  /** The preamble and the header record. */
  start(header: object): Uint8Array {
    return this.emit(concatBytes(encodePreamble(this.kind), encodeRecord(RecordType.Header, encodeJson(header))));
  }

  record(type: number, payload: Uint8Array): Uint8Array {
    return this.emit(encodeRecord(type, payload));
  }

  /** The trailer record: `fields` plus the digest of every byte written before it. */
  finish(fields: Record<string, string>): { bytes: Uint8Array; digest: string } {
    const digest = `0x${this.digest.digest('hex')}`;
    const bytes = encodeRecord(RecordType.Trailer, encodeJson({ ...fields, digest }));
    this.bytesWritten += bytes.length;
    return { bytes, digest };
  }

  private emit(bytes: Uint8Array): Uint8Array {
    this.digest.update(bytes);
    this.bytesWritten += bytes.length;
    return bytes;
  }
}
