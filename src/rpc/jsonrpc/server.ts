import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from '../../util/log.js';
import { UserError } from '../../util/errors.js';
import { RpcError, RpcErrorCode } from './errors.js';
import type { RpcMethods } from './methods.js';

export interface JsonRpcServerOptions {
  methods: RpcMethods;
  logger: Logger;
  /** Allowed CORS origins ("*" for any); none: no CORS headers. */
  cors?: string[];
  maxBodyBytes?: number;
  /** Largest batch accepted. */
  maxBatch?: number;
}

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

  constructor(private readonly opts: JsonRpcServerOptions) {
    this.maxBodyBytes = opts.maxBodyBytes ?? 5 * 1024 * 1024;
    this.maxBatch = opts.maxBatch ?? 1000;
    this.server = createServer((req, res) => void this.onRequest(req, res));
    // Clients keep connections alive and reuse them; closing an idle one just as a client sends on it
    // gives that client ECONNRESET. Keep idle connections longer than clients do (undici: 4 s), even
    // when block execution delays our timers.
    this.server.keepAliveTimeout = 60_000;
    this.server.headersTimeout = 65_000;
    this.server.on('connection', (s) => {
      this.sockets.add(s);
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
    if (req.method !== 'POST') {
      res.writeHead(405, { Allow: 'POST, OPTIONS', 'Content-Type': 'text/plain' }).end('JSON-RPC: send a POST request\n');
      return;
    }
    let body: string;
    try {
      body = await this.readBody(req);
    } catch {
      res.writeHead(413, { 'Content-Type': 'text/plain' }).end(`request body exceeds ${this.maxBodyBytes} bytes\n`);
      return;
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

  private readBody(req: IncomingMessage): Promise<string> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size > this.maxBodyBytes) {
          req.destroy();
          reject(new Error('too large'));
        } else chunks.push(c);
      });
      req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      req.on('error', reject);
    });
  }

  private send(res: ServerResponse, payload: Response | Response[]): void {
    const json = JSON.stringify(payload, (_k, v: unknown) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v));
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(json);
  }

  private async handle(raw: unknown): Promise<Response> {
    const req = (raw !== null && typeof raw === 'object' ? raw : {}) as Request;
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
      return errorResponse(id, RpcErrorCode.Internal, `internal error: ${(err as Error)?.message ?? String(err)}`);
    }
  }
}

function errorResponse(id: unknown, code: number, message: string, data?: unknown): Response {
  return { jsonrpc: '2.0', id, error: data === undefined ? { code, message } : { code, message, data } };
}
