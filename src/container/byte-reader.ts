/**
 * Reads exact byte counts from a stream of chunks, holding no more than the bytes asked for plus
 * one chunk: memory stays bounded by the largest record, whatever the archive's size.
 */
export class ByteReader {
  private readonly it: AsyncIterator<Uint8Array>;
  /** Chunks not yet handed out from `head` on (an index, not shift(): a record of a million one-byte chunks was quadratic). */
  private chunks: Uint8Array[] = [];
  private head = 0;
  private buffered = 0;
  private done = false;
  /** Bytes handed out so far. */
  offset = 0;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.it = source[Symbol.asyncIterator]();
  }

  /** Chunks held, consumed ones not yet let go counted (tests: the array does not grow without bound). */
  get heldChunks(): number {
    return this.chunks.length;
  }

  /** Exactly n bytes; fewer only at the end of the stream (check the length). */
  async read(n: number): Promise<Uint8Array> {
    while (this.buffered < n && !this.done) {
      const r = await this.it.next();
      if (r.done) this.done = true;
      else if (r.value.length > 0) {
        this.chunks.push(r.value);
        this.buffered += r.value.length;
      }
    }
    const take = Math.min(n, this.buffered);
    const out = new Uint8Array(take);
    let filled = 0;
    while (filled < take) {
      const c = this.chunks[this.head]!;
      const need = take - filled;
      if (c.length <= need) {
        out.set(c, filled);
        filled += c.length;
        this.head++;
      } else {
        out.set(c.subarray(0, need), filled);
        this.chunks[this.head] = c.subarray(need);
        filled += need;
      }
    }
    if (this.head === this.chunks.length) {
      this.chunks = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.chunks.length) {
      this.chunks = this.chunks.slice(this.head); // the consumed ones let go, each remaining chunk moved once per halving
      this.head = 0;
    }
    this.buffered -= take;
    this.offset += take;
    return out;
  }

  /** True when no byte is left. */
  async atEnd(): Promise<boolean> {
    if (this.buffered > 0) return false;
    while (!this.done) {
      const r = await this.it.next();
      if (r.done) this.done = true;
      else if (r.value.length > 0) {
        this.chunks.push(r.value);
        this.buffered += r.value.length;
        return false;
      }
    }
    return true;
  }

  /** Stop reading the source (lets a file stream close). */
  async close(): Promise<void> {
    await this.it.return?.();
  }
}
