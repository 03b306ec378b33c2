import { HistoryUnavailableError } from '../../storage/history.js';
import type { Logger } from '../../util/log.js';
import { RpcError, RpcErrorCode } from './errors.js';
import { jsonDepthExceeds } from '../../util/json-depth.js';
import type { RpcCall, RpcMethods } from './methods/context.js';
import { errorMessage } from '../../util/errors.js';

/**
 * Real requests nest a handful of levels (batch, request, params, call object, access list, keys);
 * 64 leaves ample room while staying far from the stack depth at which JSON.stringify throws.
 */
export const MAX_JSON_DEPTH = 64;
/** geth's BatchRequestLimit. */
export const MAX_BATCH = 1000;
/** geth's BatchResponseMaxSize: once a batch's answers pass it, the requests left are not run. */
export const MAX_BATCH_RESPONSE_BYTES = 25 * 1000 * 1000;

export interface DispatcherOptions {
  methods: RpcMethods;
  logger: Logger;
  /** Largest batch accepted (geth's BatchRequestLimit: 1000). */
  maxBatch?: number;
  /** Deepest nesting of arrays and objects accepted in a request. */
  maxDepth?: number;
  /** Bytes of a batch's answers past which its later requests are not run (default MAX_BATCH_RESPONSE_BYTES). */
  maxBatchResponseBytes?: number;
  /** The error for a method not in `methods` (default: method not found). */
  notFound?: (method: string) => RpcError;
  /**
   * Told of each call: the method's name if it is one this dispatcher serves, else 'other' (a client
   * must not create metric series at will), whether it answered without an error, and its seconds.
   */
  observe?: (method: string, ok: boolean, seconds: number) => void;
}

interface Request {
  jsonrpc?: unknown;
  id?: unknown;
  method?: unknown;
  params?: unknown;
}

export type Response = { jsonrpc: '2.0'; id: unknown } & ({ result: unknown } | { error: { code: number; message: string; data?: unknown } });

/**
 * The transport-independent part of JSON-RPC 2.0 (HTTP and WebSocket share it): the hostile-input
 * bounds on one message (nesting depth, batch size, id types), parsing, dispatch to the methods and
 * encoding. The transport bounds the message size before handing it here. Never throws.
 */
export class RpcDispatcher {
  private readonly maxBatch: number;
  private readonly maxDepth: number;

  constructor(private readonly opts: DispatcherOptions) {
    this.maxBatch = opts.maxBatch ?? MAX_BATCH;
    this.maxDepth = opts.maxDepth ?? MAX_JSON_DEPTH;
  }

  /**
   * The JSON text answering one message (a request or a batch). `extra`: methods of this connection
   * alone (eth_subscribe over WebSocket), looked up before the shared ones. `gone`: aborted when the
   * client left (its connection closed), so that a batch's later requests are not run for nobody.
   * `client`: the client's address where its server tells clients apart (RpcCall).
   */
  async handleText(text: string, extra?: RpcMethods, gone?: AbortSignal, client?: string): Promise<string> {
    const call: RpcCall = { client };
    if (jsonDepthExceeds(text, this.maxDepth)) {
      return this.encode(errorResponse(null, RpcErrorCode.InvalidRequest, `invalid request: JSON nested deeper than ${this.maxDepth} levels`));
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return this.encode(errorResponse(null, RpcErrorCode.ParseError, 'parse error: body is not valid JSON'));
    }
    if (Array.isArray(parsed)) {
      if (parsed.length === 0) return this.encode(errorResponse(null, RpcErrorCode.InvalidRequest, 'empty batch'));
      if (parsed.length > this.maxBatch) {
        return this.encode(errorResponse(null, RpcErrorCode.InvalidRequest, `batch of ${parsed.length} exceeds the limit of ${this.maxBatch}`));
      }
      const out: string[] = [];
      let bytes = 0;
      const limit = this.opts.maxBatchResponseBytes ?? MAX_BATCH_RESPONSE_BYTES;
      for (const r of parsed) {
        // A client that left gets no answer: the requests its batch has left are not run.
        if (gone?.aborted) break;
        if (bytes > limit) {
          // Not run: each answered with its id (as geth), so that a batch cannot hold the node's memory
          // (or its time) without bound through the answers it asks for.
          const id =
            r !== null && typeof r === 'object' && (typeof (r as Request).id === 'string' || typeof (r as Request).id === 'number') ? (r as Request).id : null;
          out.push(
            this.encode(errorResponse(id, RpcErrorCode.LimitExceeded, `batch response too large: its answers passed ${limit} bytes; this request was not run`)),
          );
          continue;
        }
        const s = this.encode(await this.handle(r, call, extra));
        bytes += s.length;
        out.push(s);
      }
      return `[${out.join(',')}]`;
    }
    return this.encode(await this.handle(parsed, call, extra));
  }

  /**
   * Serialise one response on its own, so that one that cannot be encoded (a cycle, an exotic value)
   * becomes an internal error for that request alone.
   */
  encode(r: Response): string {
    try {
      return JSON.stringify(r, (_k, v: unknown) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v));
    } catch (err) {
      this.opts.logger.error({ err: errorMessage(err) }, 'JSON-RPC response could not be encoded');
      const id = typeof r.id === 'string' || typeof r.id === 'number' ? r.id : null;
      return JSON.stringify(errorResponse(id, RpcErrorCode.Internal, 'internal error: the response could not be encoded'));
    }
  }

  private async handle(raw: unknown, call: RpcCall, extra?: RpcMethods): Promise<Response> {
    const req = (raw !== null && typeof raw === 'object' ? raw : {}) as Request;
    // JSON-RPC 2.0 ids are strings, numbers or null (absent: answered with null, as geth does).
    if (req.id !== undefined && req.id !== null && typeof req.id !== 'string' && typeof req.id !== 'number') {
      return errorResponse(null, RpcErrorCode.InvalidRequest, 'invalid request: id must be a string, a number or null');
    }
    const id = req.id ?? null;
    if (req.jsonrpc !== '2.0' || typeof req.method !== 'string') {
      return errorResponse(id, RpcErrorCode.InvalidRequest, 'invalid request: want {"jsonrpc":"2.0","method":...}');
    }
    const fn =
      (extra && Object.hasOwn(extra, req.method) ? extra[req.method] : undefined) ??
      (Object.hasOwn(this.opts.methods, req.method) ? this.opts.methods[req.method] : undefined);
    if (!fn) {
      this.opts.observe?.('other', false, 0);
      const e = this.opts.notFound?.(req.method);
      return e
        ? errorResponse(id, e.code, e.message, e.data)
        : errorResponse(id, RpcErrorCode.MethodNotFound, `the method ${req.method} does not exist/is not available`);
    }
    const params = req.params === undefined ? [] : req.params;
    if (!Array.isArray(params)) return errorResponse(id, RpcErrorCode.InvalidParams, 'params must be an array');
    const started = performance.now();
    const observe = this.opts.observe;
    try {
      const result = await fn(params, call);
      observe?.(req.method, true, (performance.now() - started) / 1000);
      return { jsonrpc: '2.0', id, result: result === undefined ? null : result };
    } catch (err) {
      observe?.(req.method, false, (performance.now() - started) / 1000);
      if (err instanceof RpcError) return errorResponse(id, err.code, err.message, err.data);
      if (err instanceof HistoryUnavailableError) return errorResponse(id, RpcErrorCode.PrunedHistory, err.message);
      this.opts.logger.error({ err, method: req.method }, 'JSON-RPC method failed');
      return errorResponse(id, RpcErrorCode.Internal, `internal error: ${describe(err)}`);
    }
  }
}

export function errorResponse(id: unknown, code: number, message: string, data?: unknown): Response {
  return { jsonrpc: '2.0', id, error: data === undefined ? { code, message } : { code, message, data } };
}

/** A thrown value's message, whatever was thrown (even an object whose toString throws). */
function describe(err: unknown): string {
  try {
    return err instanceof Error ? err.message : String(err);
  } catch {
    return 'unknown error';
  }
}
