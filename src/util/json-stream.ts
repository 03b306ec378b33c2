/**
 * A streaming JSON tokenizer: bytes in, in pieces of any size, events out (objects, arrays, keys,
 * values), so that a document far larger than memory is read with a few MiB held. It accepts what
 * JSON.parse accepts (RFC 8259: one value, whitespace around it) and nothing else. Each string and
 * literal is bounded (`maxTokenBytes`), and so is the nesting (`maxDepth`): a hostile file gets a
 * JsonStreamError naming the byte where it went wrong, never unbounded memory.
 */

export type JsonScalar = string | number | boolean | null;

/** What the tokenizer reports, in document order. A handler may throw to stop the parse. */
export interface JsonHandler {
  startObject(): void;
  endObject(): void;
  startArray(): void;
  endArray(): void;
  key(key: string): void;
  value(value: JsonScalar): void;
}

export class JsonStreamError extends Error {
  override name = 'JsonStreamError';
}

export interface JsonStreamLimits {
  /** The longest string or literal, in bytes of the document. */
  maxTokenBytes: number;
  /** The deepest nesting of objects and arrays. */
  maxDepth: number;
}

enum Expect {
  Value,
  Key,
  Colon,
  CommaOrClose,
  Nothing,
}

const OBJECT = 0;
const ARRAY = 1;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/** Bytes a literal (number, true, false, null) may contain; JSON.parse checks its grammar. */
function isLiteralByte(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === 0x2b || c === 0x2d || c === 0x2e;
}

export class JsonTokenizer {
  private pending: Buffer = Buffer.alloc(0);
  /** Bytes of the document before `pending`. */
  private consumed = 0;
  private readonly stack: number[] = [];
  private expect = Expect.Value;
  /** Whether the container just opened may close at once (`{}` or `[]`). */
  private mayClose = false;

  constructor(
    private readonly handler: JsonHandler,
    private readonly limits: JsonStreamLimits,
  ) {}

  /** Bytes of the document read so far. */
  get offset(): number {
    return this.consumed;
  }

  /** Tokenize the next piece of the document; a token cut at its end waits for the next piece. */
  feed(piece: Uint8Array): void {
    const chunk = Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
    const buf = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const used = this.run(buf, false);
    // Copied: the caller may reuse its buffer, and a view would keep a whole chunk alive.
    this.pending = used === buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(used));
    this.consumed += used;
  }

  /** The document is complete: a value was read whole, and nothing but whitespace follows it. */
  end(): void {
    const used = this.run(this.pending, true);
    this.consumed += used;
    this.pending = Buffer.alloc(0);
    if (this.expect !== Expect.Nothing) throw this.error('the document ends before its value does');
  }

  private error(what: string, at = this.consumed): JsonStreamError {
    return new JsonStreamError(`${what} at byte ${at}`);
  }

  /** Handle the tokens of `buf` that are complete; returns how many bytes they took. */
  private run(buf: Buffer, final: boolean): number {
    const h = this.handler;
    const n = buf.length;
    let i = 0;
    while (i < n) {
      const c = buf[i]!;
      if (isSpace(c)) {
        i++;
        continue;
      }
      const at = this.consumed + i;
      switch (this.expect) {
        case Expect.Value:
          if (c === 0x7b /* { */) {
            this.open(OBJECT, at);
            h.startObject();
            this.expect = Expect.Key;
            this.mayClose = true;
            i++;
          } else if (c === 0x5b /* [ */) {
            this.open(ARRAY, at);
            h.startArray();
            this.mayClose = true;
            i++;
          } else if (c === 0x5d /* ] */ && this.mayClose) {
            this.close(ARRAY, at);
            i++;
          } else if (c === QUOTE) {
            const end = this.stringEnd(buf, i, at);
            if (end < 0) return i;
            h.value(this.string(buf, i, end, at));
            this.afterValue();
            i = end + 1;
          } else if (isLiteralByte(c)) {
            let end = i + 1;
            while (end < n && isLiteralByte(buf[end]!)) end++;
            if (end - i > this.limits.maxTokenBytes) throw this.error(`a literal longer than ${this.limits.maxTokenBytes} bytes`, at);
            if (end === n && !final) return i;
            h.value(this.literal(buf, i, end, at));
            this.afterValue();
            i = end;
          } else {
            throw this.unexpected(c, at);
          }
          break;
        case Expect.Key:
          if (c === QUOTE) {
            const end = this.stringEnd(buf, i, at);
            if (end < 0) return i;
            h.key(this.string(buf, i, end, at));
            this.expect = Expect.Colon;
            i = end + 1;
          } else if (c === 0x7d /* } */ && this.mayClose) {
            this.close(OBJECT, at);
            i++;
          } else {
            throw this.unexpected(c, at, 'a key');
          }
          break;
        case Expect.Colon:
          if (c !== 0x3a) throw this.unexpected(c, at, "':'");
          this.expect = Expect.Value;
          this.mayClose = false;
          i++;
          break;
        case Expect.CommaOrClose: {
          const top = this.stack[this.stack.length - 1];
          if (c === 0x2c /* , */) {
            this.expect = top === OBJECT ? Expect.Key : Expect.Value;
            this.mayClose = false;
          } else if (c === 0x7d && top === OBJECT) {
            this.close(OBJECT, at);
          } else if (c === 0x5d && top === ARRAY) {
            this.close(ARRAY, at);
          } else {
            throw this.unexpected(c, at, top === OBJECT ? "',' or '}'" : "',' or ']'");
          }
          i++;
          break;
        }
        case Expect.Nothing:
          throw this.unexpected(c, at, 'nothing after the value');
      }
    }
    return i;
  }

  private open(kind: number, at: number): void {
    if (this.stack.length >= this.limits.maxDepth) throw this.error(`nesting deeper than ${this.limits.maxDepth}`, at);
    this.stack.push(kind);
  }

  private close(kind: number, _at: number): void {
    this.stack.pop();
    if (kind === OBJECT) this.handler.endObject();
    else this.handler.endArray();
    this.afterValue();
  }

  private afterValue(): void {
    this.expect = this.stack.length === 0 ? Expect.Nothing : Expect.CommaOrClose;
    this.mayClose = false;
  }

  private unexpected(c: number, at: number, wanted = 'a value'): JsonStreamError {
    const shown = c >= 0x20 && c < 0x7f ? `'${String.fromCharCode(c)}'` : `byte 0x${c.toString(16).padStart(2, '0')}`;
    return this.error(`unexpected ${shown} where ${wanted} should be`, at);
  }

  /** The index of the quote that closes the string opening at `start`, or -1 if it is not in `buf` yet. */
  private stringEnd(buf: Buffer, start: number, at: number): number {
    let from = start + 1;
    for (;;) {
      const q = buf.indexOf(QUOTE, from);
      if (q < 0 || q - start > this.limits.maxTokenBytes + 1) {
        if (buf.length - start > this.limits.maxTokenBytes + 1) throw this.error(`a string longer than ${this.limits.maxTokenBytes} bytes`, at);
        return -1;
      }
      let slashes = 0;
      while (buf[q - 1 - slashes] === BACKSLASH) slashes++;
      if (slashes % 2 === 0) return q;
      from = q + 1;
    }
  }

  private string(buf: Buffer, start: number, end: number, at: number): string {
    let escaped = false;
    for (let k = start + 1; k < end; k++) {
      const b = buf[k]!;
      if (b < 0x20) throw this.error('a control character inside a string', this.consumed + k);
      if (b === BACKSLASH) escaped = true;
    }
    if (!escaped) return buf.toString('utf8', start + 1, end);
    try {
      return JSON.parse(buf.toString('utf8', start, end + 1)) as string;
    } catch {
      throw this.error('a string with an invalid escape', at);
    }
  }

  private literal(buf: Buffer, start: number, end: number, at: number): JsonScalar {
    const text = buf.toString('latin1', start, end);
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch {
      throw this.error(`'${text.slice(0, 40)}' is not a JSON value`, at);
    }
    return v as JsonScalar;
  }
}

/**
 * Builds the plain value a run of events describes (what JSON.parse would return for it: a later
 * duplicate key wins), counting the bytes of its keys and strings against `budget`.
 */
export class JsonValueBuilder implements JsonHandler {
  private readonly stack: { container: Record<string, unknown> | unknown[]; key?: string }[] = [];
  private result: unknown;
  private done = false;
  bytes = 0;

  constructor(
    private readonly budget: number,
    private readonly onBudget: () => Error,
  ) {}

  get complete(): boolean {
    return this.done;
  }

  get built(): unknown {
    return this.result;
  }

  private count(n: number): void {
    this.bytes += n;
    if (this.bytes > this.budget) throw this.onBudget();
  }

  private put(v: unknown): void {
    const top = this.stack[this.stack.length - 1];
    if (top === undefined) {
      this.result = v;
      this.done = true;
    } else if (Array.isArray(top.container)) {
      top.container.push(v);
    } else {
      // defineProperty: a key "__proto__" is an own property, as JSON.parse makes it.
      Object.defineProperty(top.container, top.key!, { value: v, enumerable: true, writable: true, configurable: true });
    }
  }

  startObject(): void {
    this.count(2);
    const o: Record<string, unknown> = {};
    this.put(o);
    this.done = false;
    this.stack.push({ container: o });
  }

  startArray(): void {
    this.count(2);
    const a: unknown[] = [];
    this.put(a);
    this.done = false;
    this.stack.push({ container: a });
  }

  endObject(): void {
    this.stack.pop();
    this.done = this.stack.length === 0;
  }

  endArray(): void {
    this.endObject();
  }

  key(key: string): void {
    this.count(key.length + 1);
    this.stack[this.stack.length - 1]!.key = key;
  }

  value(value: JsonScalar): void {
    this.count(typeof value === 'string' ? value.length + 2 : 8);
    this.put(value);
  }
}
