import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from '../../util/log.js';
import { UserError } from '../../util/errors.js';
import { RpcError, RpcErrorCode } from './errors.js';
import { jsonDepthExceeds } from './json-depth.js';
import type { RpcMethods } from './methods.js';

export interface JsonRpcServerOptions {
  methods: RpcMethods;
  logger: Logger;
  /** GET /health answers 200 or 503 with this; default: always healthy. */
  health?: () => { healthy: boolean; reason?: string };
  /** Allowed CORS origins ("*" for any); none: no CORS headers. */
  cors?: string[];
  maxBodyBytes?: number;
  /** Largest batch accepted (geth's BatchRequestLimit: 1000). */
  maxBatch?: number;
  /** Deepest nesting of arrays and objects accepted in a request body. */
  maxDepth?: number;
}

/**
 * Real requests nest a handful of levels (batch, request, params, call object, access list, keys);
 * 64 leaves ample room while staying far from the stack depth at which JSON.stringify throws.
 */
export const MAX_JSON_DEPTH = 64;

interface Request {
  jsonrpc?: unknown;
  id?: unknown;
  method?: unknown;
  params?: unknown;
}

type Response = { jsonrpc: '2.0'; id: unknown } & ({ result: unknown } | { error: { code: number; message: string; data?: unknown } });

/** Ethereum JSON-RPC 2.0 over HTTP POST (single and batch requests), as geth serves it. */
export class JsonRpcServer {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly maxBodyBytes: number;
  private readonly maxBatch: number;
  private readonly maxDepth: number;

  constructor(private readonly opts: JsonRpcServerOptions) {
    this.maxBodyBytes = opts.maxBodyBytes ?? 5 * 1024 * 1024;
    this.maxBatch = opts.maxBatch ?? 1000;
    this.maxDepth = opts.maxDepth ?? MAX_JSON_DEPTH;
    // Nothing a client sends may throw out of here: an escaped rejection would end the process.
    this.server = createServer((req, res) => {
      req.on('error', () => undefined);
      res.on('error', () => undefined);
      this.onRequest(req, res).catch((err: unknown) => this.lastResort(res, err));
    });
    // Malformed HTTP ('clientError') is left to Node's default: 400/408/431, then close.
    // Clients keep connections alive and reuse them; closing an idle one just as a client sends on it
    // gives that client ECONNRESET. Keep idle connections longer than clients do (undici: 4 s), even
    // when block execution delays our timers.
    this.server.keepAliveTimeout = 60_000;
    this.server.headersTimeout = 65_000;
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('error', () => undefined); // a reset by the peer; 'close' follows
      s.on('close', () => this.sockets.delete(s));
    });
  }

  listen(host: string, port: number): Promise<{ host: string; port: number }> {
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) =>
        reject(new UserError(`cannot listen for JSON-RPC on ${host}:${port}: ${err.code === 'EADDRINUSE' ? 'address in use' : err.message}`));
      this.server.once('error', onError);
      this.server.listen(port, host, () => {
        this.server.off('error', onError);
        const addr = this.server.address() as AddressInfo;
        resolve({ host, port: addr.port });
      });
    });
  }

  /** Stop accepting connections and drop idle keep-alive ones. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeIdleConnections();
      setTimeout(() => {
        for (const s of this.sockets) s.destroy();
      }, 1000).unref();
    });
  }

  private setCors(req: IncomingMessage, res: ServerResponse): void {
    const allowed = this.opts.cors;
    const origin = req.headers.origin;
    if (!allowed || !origin) return;
    if (allowed.includes('*')) res.setHeader('Access-Control-Allow-Origin', '*');
    else if (allowed.includes(origin)) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Vary', 'Origin');
    } else return;
    res.setHeader('Access-Control-Allow-Methods', 'POST, GET, OPTIONS');
    res.setHeader('Access-Control-Allow-Headers', 'Content-Type');
  }

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.setCors(req, res);
    if (req.method === 'OPTIONS') return void res.writeHead(204).end();
    if (req.method === 'GET' && (req.url === '/health' || req.url?.startsWith('/health?'))) return this.sendHealth(res);
    if (req.method !== 'POST') {
      res.writeHead(405, { Allow: 'POST, OPTIONS (GET /health)', 'Content-Type': 'text/plain' }).end('JSON-RPC: send a POST request\n');
      return;
    }
    const declared = Number(req.headers['content-length']);
    const body = declared > this.maxBodyBytes ? undefined : await this.readBody(req);
    if (body === undefined) return this.tooLarge(req, res);
    if (jsonDepthExceeds(body, this.maxDepth)) {
      return this.send(res, errorResponse(null, RpcErrorCode.InvalidRequest, `invalid request: JSON nested deeper than ${this.maxDepth} levels`));
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      return this.send(res, errorResponse(null, RpcErrorCode.ParseError, 'parse error: body is not valid JSON'));
    }
    if (Array.isArray(parsed)) {
      if (parsed.length === 0) return this.send(res, errorResponse(null, RpcErrorCode.InvalidRequest, 'empty batch'));
      if (parsed.length > this.maxBatch) {
        return this.send(res, errorResponse(null, RpcErrorCode.InvalidRequest, `batch of ${parsed.length} exceeds the limit of ${this.maxBatch}`));
      }
      const out: Response[] = [];
      for (const r of parsed) out.push(await this.handle(r));
      return this.send(res, out);
    }
    this.send(res, await this.handle(parsed));
  }

  /** 200 while the node is healthy, 503 with the reason when not (for load balancers and monitors). */
  private sendHealth(res: ServerResponse): void {
    const h = this.opts.health?.() ?? { healthy: true };
    const body = JSON.stringify(h.healthy ? { status: 'ok' } : { status: 'unhealthy', reason: h.reason });
    res.writeHead(h.healthy ? 200 : 503, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) }).end(body);
  }

  /** The body, or undefined once it passes the size limit (the rest is then read and dropped). */
  private readBody(req: IncomingMessage): Promise<string | undefined> {
    return new Promise((resolve) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const onData = (c: Buffer) => {
        size += c.length;
        if (size <= this.maxBodyBytes) return void chunks.push(c);
        req.off('data', onData);
        chunks.length = 0;
        resolve(undefined);
      };
      req.on('data', onData);
      req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      req.on('error', () => resolve(undefined));
    });
  }

  /**
   * 413 with a JSON-RPC error, then close the connection. The rest of the body is read and dropped
   * meanwhile (not a reset, which could destroy the answer before the client reads it); the server's
   * request timeout bounds how long that can take.
   */
  private tooLarge(req: IncomingMessage, res: ServerResponse): void {
    req.resume();
    const json = JSON.stringify(errorResponse(null, RpcErrorCode.InvalidRequest, `request body exceeds ${this.maxBodyBytes} bytes`));
    res.writeHead(413, { 'Content-Type': 'application/json', Connection: 'close' }).end(json);
  }

  /**
   * Serialise and send. Each response is encoded on its own, so one that cannot be encoded (a cycle,
   * an exotic value) becomes an internal error for that request alone.
   */
  private send(res: ServerResponse, payload: Response | Response[]): void {
    const json = Array.isArray(payload) ? `[${payload.map((p) => this.encode(p)).join(',')}]` : this.encode(payload);
    if (res.headersSent || res.destroyed) return;
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(json);
  }

  private encode(r: Response): string {
    try {
      return JSON.stringify(r, (_k, v: unknown) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v));
    } catch (err) {
      this.opts.logger.error({ err: String((err as Error)?.message) }, 'JSON-RPC response could not be encoded');
      const id = typeof r.id === 'string' || typeof r.id === 'number' ? r.id : null;
      return JSON.stringify(errorResponse(id, RpcErrorCode.Internal, 'internal error: the response could not be encoded'));
    }
  }

  /** A failure outside any request's handling: answer 500 if still possible, never throw. */
  private lastResort(res: ServerResponse, err: unknown): void {
    try {
      this.opts.logger.error({ err: String((err as Error)?.message ?? 'unknown') }, 'JSON-RPC request failed');
      if (!res.headersSent && !res.destroyed) {
        res.writeHead(500, { 'Content-Type': 'application/json', Connection: 'close' }).end(JSON.stringify(errorResponse(null, RpcErrorCode.Internal, 'internal error')));
      } else res.destroy();
    } catch {
      res.destroy();
    }
  }

  private async handle(raw: unknown): Promise<Response> {
    const req = (raw !== null && typeof raw === 'object' ? raw : {}) as Request;
    // JSON-RPC 2.0 ids are strings, numbers or null (absent: answered with null, as geth does).
    if (req.id !== undefined && req.id !== null && typeof req.id !== 'string' && typeof req.id !== 'number') {
      return errorResponse(null, RpcErrorCode.InvalidRequest, 'invalid request: id must be a string, a number or null');
    }
    const id = req.id ?? null;
    if (req.jsonrpc !== '2.0' || typeof req.method !== 'string') {
      return errorResponse(id, RpcErrorCode.InvalidRequest, 'invalid request: want {"jsonrpc":"2.0","method":...}');
    }
    const fn = Object.hasOwn(this.opts.methods, req.method) ? this.opts.methods[req.method] : undefined;
    if (!fn) return errorResponse(id, RpcErrorCode.MethodNotFound, `the method ${req.method} does not exist/is not available`);
    const params = req.params === undefined ? [] : req.params;
    if (!Array.isArray(params)) return errorResponse(id, RpcErrorCode.InvalidParams, 'params must be an array');
    try {
      const result = await fn(params);
      return { jsonrpc: '2.0', id, result: result === undefined ? null : result };
    } catch (err) {
      if (err instanceof RpcError) return errorResponse(id, err.code, err.message, err.data);
      this.opts.logger.error({ err, method: req.method }, 'JSON-RPC method failed');
      return errorResponse(id, RpcErrorCode.Internal, `internal error: ${describe(err)}`);
    }
  }
}

function errorResponse(id: unknown, code: number, message: string, data?: unknown): Response {
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
