import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from '../../util/log.js';
import { UserError, errorMessage } from '../../util/errors.js';
import { AddressCap, DEFAULT_MAX_CONNECTIONS_PER_ADDRESS } from './address-cap.js';
import { addressKey } from '../../util/net.js';
import { RpcDispatcher, errorResponse, type DispatcherOptions } from './dispatch.js';
import { RpcErrorCode, type RpcError } from './errors.js';
import type { RpcMethods } from './methods.js';

export { MAX_JSON_DEPTH } from './dispatch.js';

/** Largest request body (HTTP) or message (WebSocket): 5 MiB. */
export const DEFAULT_MAX_MESSAGE_BYTES = 5 * 1024 * 1024;
/** Open HTTP connections at once (--jsonrpc-max-connections); more are closed as they come. */
export const DEFAULT_HTTP_MAX_CONNECTIONS = 256;
/** An answer its client has not taken whole within this long is dropped with its connection (geth's WriteTimeout). */
export const DEFAULT_HTTP_WRITE_TIMEOUT_MS = 30_000;
/** Bytes of answers handed to connections and not yet taken by their clients, all connections together. */
export const DEFAULT_HTTP_MAX_UNSENT_BYTES = 256 * 1024 * 1024;
/**
 * Requests a connection may pipeline behind the one being answered (each waits its turn); a connection
 * sending more is closed. Clients of JSON-RPC seldom pipeline at all.
 */
export const MAX_PIPELINED_REQUESTS = 16;

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
  /** The error for a method not in `methods` (default: method not found). */
  notFound?: (method: string) => RpcError;
  /** Told of each call (RpcDispatcher's `observe`): the metrics. */
  observe?: DispatcherOptions['observe'];
  /** Open connections at once (DEFAULT_HTTP_MAX_CONNECTIONS). */
  maxConnections?: number;
  /**
   * Open connections from one client address (an IPv6 client's /64) when listening beyond loopback
   * (DEFAULT_MAX_CONNECTIONS_PER_ADDRESS); more are closed as they come. Shared rule: AddressCap.
   */
  maxConnectionsPerAddress?: number;
  /** How long a client may take to read an answer (DEFAULT_HTTP_WRITE_TIMEOUT_MS). */
  writeTimeoutMs?: number;
  /** Unread answers' bytes, all connections together (DEFAULT_HTTP_MAX_UNSENT_BYTES). */
  maxUnsentBytes?: number;
}

/** What JsonRpcServer.serve swaps in. */
export type JsonRpcService = Pick<JsonRpcServerOptions, 'methods' | 'health' | 'notFound' | 'observe'>;

/** Ethereum JSON-RPC 2.0 over HTTP POST (single and batch requests), as geth serves it. */
export class JsonRpcServer {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  /** Open connections by client address: one address cannot hold every connection. */
  private readonly perAddress: AddressCap;
  private readonly maxBodyBytes: number;
  /**
   * The requests each connection pipelined behind the one being answered (an empty list: one is being
   * answered, none waits); a connection without an entry has none in progress.
   */
  private readonly pipelines = new Map<Socket, [IncomingMessage, ServerResponse][]>();
  /** The answer each connection was handed and its client has not taken whole yet, oldest first. */
  private readonly unsent = new Map<Socket, { bytes: number; address: string }>();
  private unsentBytes = 0;
  private dispatcher!: RpcDispatcher;
  private health: JsonRpcServerOptions['health'];

  constructor(private readonly opts: JsonRpcServerOptions) {
    this.maxBodyBytes = opts.maxBodyBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.perAddress = new AddressCap(opts.maxConnectionsPerAddress ?? DEFAULT_MAX_CONNECTIONS_PER_ADDRESS);
    this.serve(opts);
    // Nothing a client sends may throw out of here: an escaped rejection would end the process.
    this.server = createServer((req, res) => {
      req.on('error', () => undefined);
      res.on('error', () => undefined);
      this.inTurn(req, res);
    });
    // Malformed HTTP ('clientError') is left to Node's default: 400/408/431, then close.
    // Clients keep connections alive and reuse them; closing an idle one just as a client sends on it
    // gives that client ECONNRESET. Keep idle connections longer than clients do (undici: 4 s), even
    // when block execution delays our timers.
    this.server.keepAliveTimeout = 60_000;
    this.server.headersTimeout = 65_000;
    // Past the cap, Node closes a new connection as it is accepted: no socket, no parser, no request.
    this.server.maxConnections = opts.maxConnections ?? DEFAULT_HTTP_MAX_CONNECTIONS;
    // And one address (kept alive by a tiny request a minute) may not hold all of them: past its own
    // bound a connection is closed before it is read.
    this.server.on('connection', (s) => {
      s.on('error', () => undefined); // a reset by the peer; 'close' follows
      if (!this.perAddress.admit(s)) return void s.destroy();
      this.sockets.add(s);
      s.on('close', () => {
        this.sockets.delete(s);
        this.pipelines.delete(s);
      });
    });
  }

  /**
   * Answer with these methods (and /health) from now on, on the same listening socket: a node
   * restoring from a peer's snapshot serves a few methods, then hands over to all of them without
   * closing the port. A request already in progress finishes with the methods it started with.
   */
  serve(service: JsonRpcService): void {
    this.health = service.health;
    this.dispatcher = new RpcDispatcher({
      methods: service.methods,
      logger: this.opts.logger,
      ...(this.opts.maxBatch !== undefined ? { maxBatch: this.opts.maxBatch } : {}),
      ...(this.opts.maxDepth !== undefined ? { maxDepth: this.opts.maxDepth } : {}),
      ...(service.notFound ? { notFound: service.notFound } : {}),
      ...(service.observe ? { observe: service.observe } : {}),
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
        this.perAddress.listening(addr.address);
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

  /**
   * One request of a connection at a time, as geth (Go's net/http) serves them: Node hands over every
   * request a client pipelines on a connection at once, and their answers go out in order, each waiting
   * for the one before it without a socket, uncounted by the bound on unread answers and out of reach of
   * its eviction. A request waits until the answer before it was taken whole (or its connection closed);
   * a connection pipelining more than MAX_PIPELINED_REQUESTS behind the one being answered is closed.
   */
  private inTurn(req: IncomingMessage, res: ServerResponse): void {
    const socket = req.socket;
    const waiting = this.pipelines.get(socket);
    if (waiting === undefined) {
      this.pipelines.set(socket, []);
      return this.answer(req, res);
    }
    if (waiting.length >= MAX_PIPELINED_REQUESTS) return void socket.destroy();
    waiting.push([req, res]);
  }

  /** Answer `req`, then the next request its connection pipelined. */
  private answer(req: IncomingMessage, res: ServerResponse): void {
    const socket = req.socket;
    const next = () => {
      res.off('finish', next);
      res.off('close', next);
      const following = socket.destroyed ? undefined : this.pipelines.get(socket)?.shift();
      if (following) this.answer(...following);
      else this.pipelines.delete(socket);
    };
    res.once('finish', next);
    res.once('close', next);
    this.onRequest(req, res).catch((err: unknown) => this.lastResort(res, err));
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
    const gone = new AbortController();
    const onClose = () => gone.abort();
    res.once('close', onClose); // also after the answer is sent: nothing is left to stop then
    try {
      this.send(req.socket, res, await this.dispatcher.handleText(body, undefined, gone.signal, this.perAddress.clientOf(req.socket)));
    } finally {
      res.off('close', onClose);
    }
  }

  /** 200 while the node is healthy, 503 with the reason when not (for load balancers and monitors). */
  private sendHealth(res: ServerResponse): void {
    const h = this.health?.() ?? { healthy: true };
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

  private send(socket: Socket, res: ServerResponse, json: string): void {
    if (res.headersSent || res.destroyed) return;
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(json);
    this.untilTaken(socket, res, json.length);
  }

  /**
   * The node never waits for a client, nor holds its answers without bound: an answer not taken whole
   * (handed to the OS) within the write timeout is dropped with its connection, and once the answers
   * not taken, all connections together, pass their bound, the client address holding the most of them
   * loses its largest until they fit (as a WebSocket client that does not read is dropped): a client
   * that asks for many answers and reads none cannot push out another's one slow download. A connection
   * holds one answer at a time (inTurn), on its socket: dropping it is destroying the socket.
   */
  private untilTaken(socket: Socket, res: ServerResponse, bytes: number): void {
    if (res.writableFinished || res.destroyed) return;
    const timer = setTimeout(() => socket.destroy(), this.opts.writeTimeoutMs ?? DEFAULT_HTTP_WRITE_TIMEOUT_MS);
    timer.unref();
    const held = { bytes, address: addressKey(socket.remoteAddress) };
    const done = () => {
      clearTimeout(timer);
      res.off('finish', done);
      res.off('close', done);
      if (this.unsent.get(socket) !== held) return;
      this.unsent.delete(socket);
      this.unsentBytes -= bytes;
    };
    res.once('finish', done);
    res.once('close', done);
    this.unsent.set(socket, held);
    this.unsentBytes += bytes;
    const limit = this.opts.maxUnsentBytes ?? DEFAULT_HTTP_MAX_UNSENT_BYTES;
    while (this.unsentBytes > limit && this.unsent.size > 1) {
      const byAddress = new Map<string, number>();
      for (const { bytes: b, address } of this.unsent.values()) byAddress.set(address, (byAddress.get(address) ?? 0) + b);
      let heaviest = '';
      let most = -1;
      for (const [address, b] of byAddress) if (b > most) [heaviest, most] = [address, b];
      let victim: Socket | undefined;
      let largest = -1;
      for (const [s, { bytes: b, address }] of this.unsent) if (address === heaviest && b > largest) [victim, largest] = [s, b];
      this.unsentBytes -= largest;
      this.unsent.delete(victim!);
      victim!.destroy();
    }
  }

  /** A failure outside any request's handling: answer 500 if still possible, never throw. */
  private lastResort(res: ServerResponse, err: unknown): void {
    try {
      this.opts.logger.error({ err: errorMessage(err) }, 'JSON-RPC request failed');
      if (!res.headersSent && !res.destroyed) {
        res
          .writeHead(500, { 'Content-Type': 'application/json', Connection: 'close' })
          .end(JSON.stringify(errorResponse(null, RpcErrorCode.Internal, 'internal error')));
      } else res.destroy();
    } catch {
      res.destroy();
    }
  }
}
