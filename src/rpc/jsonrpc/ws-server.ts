import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { UserError, errorMessage } from '../../util/errors.js';
import type { Logger } from '../../util/log.js';
import { AddressCap, DEFAULT_MAX_CONNECTIONS_PER_ADDRESS } from './address-cap.js';
import type { RpcDispatcher } from './dispatch.js';
import { RpcErrorCode } from './errors.js';
import { subscriptionMethods } from './methods/eth-subscribe.js';
import type { RpcMethods } from './methods/context.js';
import { DEFAULT_MAX_MESSAGE_BYTES } from './server.js';
import type { SubscriptionHub, SubscriptionSink } from './subscriptions.js';

export interface WsLimits {
  /** Largest message a client may send (ws maxPayload; larger: the connection is closed with 1009). */
  maxMessageBytes: number;
  /** Open connections at once; more are refused at the upgrade with HTTP 503. */
  maxConnections: number;
  /**
   * Open connections from one client address (an IPv6 client's /64: addressKey), when the server listens
   * on a non-loopback address; more are refused with HTTP 429. On loopback every client comes through the same machine (a reverse
   * proxy: one address for all its users), which must bound them itself.
   */
  maxConnectionsPerAddress: number;
  /** eth_subscribe subscriptions per connection. */
  maxSubscriptions: number;
  /** eth_subscribe subscriptions of all connections together: each event is sent to each of them. */
  maxTotalSubscriptions: number;
  /**
   * Messages (responses and notifications) sent but not yet taken by the client's socket: past it, the
   * client is dropped once the socket has taken none of them for `queueStallMs` (see WsConnection.send).
   */
  maxQueuedMessages: number;
  /** How long a client past `maxQueuedMessages` may go with its socket taking none of them. */
  queueStallMs: number;
  /** Bytes sent but not yet taken by the client's socket. Past either bound the client is dropped. */
  maxQueuedBytes: number;
  /** Requests of one connection being answered at once; reading pauses at this many. */
  maxConcurrentRequests: number;
  /**
   * Requests of one connection waiting for one of those to end: the messages left in what the client
   * sent at once when reading paused. Past it the connection is closed (1008).
   */
  maxWaitingRequests: number;
  /** How long a client may take to send its whole upgrade request; then its connection is closed (HTTP 408). */
  upgradeTimeoutMs: number;
}

export const DEFAULT_WS_LIMITS: WsLimits = {
  maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES,
  maxConnections: 256,
  maxConnectionsPerAddress: DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
  maxSubscriptions: 128,
  maxTotalSubscriptions: 8192,
  maxQueuedMessages: 1000,
  queueStallMs: 5000,
  maxQueuedBytes: 16 * 1024 * 1024,
  maxConcurrentRequests: 16,
  maxWaitingRequests: 1000,
  upgradeTimeoutMs: 10_000,
};

export interface WsServerOptions {
  dispatcher: RpcDispatcher;
  hub: SubscriptionHub;
  logger: Logger;
  limits?: Partial<WsLimits>;
}

/** A dropped client gets this long to take the close frame before its socket is destroyed. */
const CLOSE_GRACE_MS = 1000;
/**
 * Sockets beyond the connection bounds (all together, and one address's) that are read at all: those of
 * upgrades in progress, or to be answered 503 / 429. More are closed as they are accepted.
 */
export const WS_UPGRADE_MARGIN = 8;

/**
 * Ethereum JSON-RPC over WebSocket (geth's --ws): the same methods and bounds as HTTP (through the
 * shared RpcDispatcher), plus eth_subscribe / eth_unsubscribe. A client that does not read what it is
 * sent (responses or notifications) is dropped once its queue passes the bounds: the node never
 * waits for a client and never buffers without limit.
 */
export class WsRpcServer {
  private readonly http: Server;
  private readonly wss: WebSocketServer;
  private readonly limits: WsLimits;
  private readonly connections = new Set<WsConnection>();
  private readonly sockets = new Set<Socket>();
  /** Open connections by client address: maxConnectionsPerAddress, no bound when listening on loopback. */
  private readonly perAddress: AddressCap;
  /** Open sockets by client address, upgraded or not: WS_UPGRADE_MARGIN more than perAddress. */
  private readonly socketsPerAddress: AddressCap;

  constructor(private readonly opts: WsServerOptions) {
    this.limits = { ...DEFAULT_WS_LIMITS, ...opts.limits };
    this.perAddress = new AddressCap(this.limits.maxConnectionsPerAddress);
    this.socketsPerAddress = new AddressCap(this.limits.maxConnectionsPerAddress + WS_UPGRADE_MARGIN);
    this.wss = new WebSocketServer({ noServer: true, maxPayload: this.limits.maxMessageBytes, perMessageDeflate: false, clientTracking: false });
    // A socket that has not sent its whole upgrade request within upgradeTimeoutMs is closed (Node checks
    // every connectionsCheckingInterval): a client cannot hold sockets by never finishing its request.
    const timeout = this.limits.upgradeTimeoutMs;
    this.http = createServer({ headersTimeout: timeout, requestTimeout: timeout, connectionsCheckingInterval: Math.min(1000, timeout) }, (_req, res) => {
      res.on('error', () => undefined);
      res.writeHead(426, { 'Content-Type': 'text/plain', Upgrade: 'websocket' }).end('JSON-RPC over WebSocket: connect with a WebSocket client\n');
    });
    // The connection bounds are checked at the upgrade (503, 429); the sockets below it are bounded too,
    // with a margin for the upgrades in progress: past it Node closes a new one as it is accepted, and one
    // address's past its own bound is closed before it is read.
    this.http.maxConnections = this.limits.maxConnections + WS_UPGRADE_MARGIN;
    this.http.on('connection', (s) => {
      s.on('error', () => undefined);
      if (!this.socketsPerAddress.admit(s)) return void s.destroy();
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    this.http.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => this.onUpgrade(req, socket, head));
  }

  listen(host: string, port: number): Promise<{ host: string; port: number }> {
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) =>
        reject(new UserError(`cannot listen for JSON-RPC over WebSocket on ${host}:${port}: ${err.code === 'EADDRINUSE' ? 'address in use' : err.message}`));
      this.http.once('error', onError);
      this.http.listen(port, host, () => {
        this.http.off('error', onError);
        const bound = (this.http.address() as AddressInfo).address;
        this.perAddress.listening(bound);
        this.socketsPerAddress.listening(bound);
        resolve({ host, port: (this.http.address() as AddressInfo).port });
      });
    });
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** Close every connection (1001 going away) and stop listening. */
  close(): Promise<void> {
    for (const c of this.connections) c.close(1001, 'node shutting down');
    return new Promise((resolve) => {
      this.http.close(() => resolve());
      setTimeout(() => {
        for (const s of this.sockets) s.destroy();
      }, CLOSE_GRACE_MS).unref();
    });
  }

  private onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    socket.on('error', () => undefined);
    if (this.connections.size >= this.limits.maxConnections) {
      socket.end(
        `HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: text/plain\r\n\r\ntoo many WebSocket connections (limit ${this.limits.maxConnections})\n`,
      );
      return;
    }
    // Counted until the socket closes: the connection's end, or its upgrade's failure.
    if (!this.perAddress.admit(socket)) {
      socket.end(
        `HTTP/1.1 429 Too Many Requests\r\nConnection: close\r\nContent-Type: text/plain\r\n\r\ntoo many WebSocket connections from your address (limit ${this.perAddress.limit})\n`,
      );
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const conn = new WsConnection(ws, socket, this.perAddress.clientOf(socket), this.opts, this.limits);
      this.connections.add(conn);
      ws.on('close', () => {
        this.connections.delete(conn);
        conn.closed();
      });
    });
  }
}

/** One client: its requests, its subscriptions, and the bounded queue of what it has not read yet. */
class WsConnection implements SubscriptionSink {
  private queued = 0;
  /** When the socket last took a message (a write's callback). */
  private lastTaken = performance.now();
  /** A check of `queued` against its bound is due (a timer of queueStallMs). */
  private countCheck = false;
  /** The socket is corked until the next tick: the notifications of one event go out in one write. */
  private corked = false;
  private inProgress = 0;
  /** Messages waiting for one of the requests in progress to end, oldest first (maxWaitingRequests). */
  private readonly waiting: string[] = [];
  private closing = false;
  private readonly methods: RpcMethods;

  constructor(
    private readonly ws: WebSocket,
    private readonly socket: Socket,
    /** Its address where the server tells clients apart (RpcCall.client). */
    private readonly client: string | undefined,
    private readonly opts: WsServerOptions,
    private readonly limits: WsLimits,
  ) {
    this.methods = subscriptionMethods(opts.hub, this, limits);
    ws.on('error', () => undefined); // a reset or a protocol violation (oversized message: closed with 1009); 'close' follows
    ws.on('message', (data, isBinary) => this.onMessage(data, isBinary));
  }

  private readonly gone = new AbortController();

  get open(): boolean {
    return !this.closing;
  }

  /** Its socket closed: no more subscriptions, those it had dropped, no more of its batches run. */
  closed(): void {
    this.closing = true;
    this.gone.abort();
    this.opts.hub.dropSink(this);
  }

  notify(subscription: string, result: string): void {
    if (this.closing) return;
    // The notifications of one event (a pending transaction to many subscriptions, a block's logs) go to
    // the socket in one write rather than one system call each.
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    // The result was stringified once for every subscriber; only the envelope is made per subscription
    // (`subscription` is one of the hub's IDs: a hex quantity, nothing to escape).
    this.send(`{"jsonrpc":"2.0","method":"eth_subscription","params":{"subscription":"${subscription}","result":${result}}}`);
  }

  /** It missed notifications (SubscriptionHub skipped heads): close 1013 (try again later) with the hub's reason. */
  drop(reason: string): void {
    this.close(1013, reason);
  }

  close(code: number, reason: string): void {
    if (this.closing) return;
    this.closing = true;
    this.opts.hub.dropSink(this);
    try {
      this.ws.close(code, reason);
    } catch {
      /* already closed */
    }
    // A client that does not read does not take the close frame either.
    setTimeout(() => this.ws.terminate(), CLOSE_GRACE_MS).unref();
  }

  private onMessage(data: RawData, _isBinary: boolean): void {
    if (this.closing) return;
    const text = (Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data)).toString('utf8');
    if (this.inProgress < this.limits.maxConcurrentRequests) return this.run(text);
    // Reading is paused, but ws still hands over every message left in what it was reading (a client's
    // many small messages in one write): they wait their turn, within a bound.
    if (this.waiting.length >= this.limits.maxWaitingRequests) {
      this.close(1008, `too many requests at once: more than ${this.limits.maxConcurrentRequests + this.limits.maxWaitingRequests}; await answers`);
      return;
    }
    this.waiting.push(text);
  }

  /** Answer one message; at maxConcurrentRequests in progress reading pauses until one ends and none waits. */
  private run(text: string): void {
    if (++this.inProgress >= this.limits.maxConcurrentRequests) this.ws.pause();
    this.opts.dispatcher
      .handleText(text, this.methods, this.gone.signal, this.client)
      .then((answer) => this.send(answer.length > this.limits.maxQueuedBytes ? this.tooLarge(text, answer.length) : answer))
      .catch((err: unknown) => this.opts.logger.error({ err: errorMessage(err) }, 'JSON-RPC over WebSocket: request failed'))
      .finally(() => {
        this.inProgress--;
        if (this.closing) return void (this.waiting.length = 0);
        const next = this.waiting.shift();
        if (next !== undefined) this.run(next);
        else if (this.ws.isPaused) this.ws.resume();
      });
  }

  /**
   * An answer larger than the bytes a client may have unread could never be sent without dropping it as
   * a slow consumer: it gets an error for the request instead (-32005; over HTTP the answer goes whole).
   */
  private tooLarge(request: string, bytes: number): string {
    let id: unknown = null;
    try {
      const p = JSON.parse(request) as { id?: unknown };
      if (!Array.isArray(p) && (typeof p?.id === 'string' || typeof p?.id === 'number')) id = p.id;
    } catch {
      /* answered already: it parsed once */
    }
    return JSON.stringify({
      jsonrpc: '2.0',
      id,
      error: {
        code: RpcErrorCode.LimitExceeded,
        message: `response too large for WebSocket: ${bytes} bytes, more than ${this.limits.maxQueuedBytes}; ask over HTTP`,
      },
    });
  }

  /**
   * Hand a message to the socket, or drop the client when it has not read enough of what it was sent.
   * Bytes are judged at once (`bufferedAmount` drops as soon as the socket takes a write). The message
   * count only where the socket has taken none of them for `queueStallMs`: a write's callback comes when
   * the kernel takes it, a tick later on loopback and later still over a slow link, so within one burst
   * (a block's logs, a batch of transactions) the count grows with every message to a client that reads
   * them all (it was dropped at the 1,000th, first within a turn of the loop, then over a WAN).
   */
  private send(text: string): void {
    if (this.closing || this.ws.readyState !== this.ws.OPEN) return;
    if (this.ws.bufferedAmount + text.length > this.limits.maxQueuedBytes) return this.dropSlow();
    this.queued++;
    this.ws.send(text, () => {
      this.queued--;
      this.lastTaken = performance.now();
    });
    if (this.queued > this.limits.maxQueuedMessages && !this.countCheck) this.checkCount(performance.now());
  }

  /** From `since`, drop the client if its socket takes none of its messages for queueStallMs while past the bound. */
  private checkCount(since: number): void {
    this.countCheck = true;
    setTimeout(() => {
      this.countCheck = false;
      if (this.closing || this.queued <= this.limits.maxQueuedMessages) return;
      if (this.lastTaken <= since) return this.dropSlow();
      this.checkCount(performance.now());
    }, this.limits.queueStallMs).unref();
  }

  private dropSlow(): void {
    if (this.closing) return;
    this.opts.logger.warn({ queued: this.queued, bufferedBytes: this.ws.bufferedAmount }, 'JSON-RPC over WebSocket: dropping a client that does not read');
    this.close(1008, `slow consumer: more than ${this.limits.maxQueuedMessages} messages or ${this.limits.maxQueuedBytes} bytes unread`);
  }
}
