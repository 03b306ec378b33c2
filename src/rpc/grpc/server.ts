import * as grpc from '@grpc/grpc-js';
import type { BackupService } from '../../backup/types.js';
import type { Logger } from '../../util/log.js';
import { UserError } from '../../util/errors.js';
import { listensOnLoopbackOnly, splitHostPort } from '../../util/net.js';
import type { PeersService } from '../../p2p/peers-service.js';
import { operatorHandlers, type BackupNow, type StreamLimits } from './backup-handlers.js';
import { peersHandlers } from './peers-handlers.js';
import { ibftHandlers } from './ibft-handlers.js';
import type { IbftService } from '../../consensus/ibft/service.js';
import { operatorService } from './proto.js';
import { serverCredentials, type ServerTls } from './tls.js';
import { event } from '../../util/events.js';

export interface OperatorServerOptions extends StreamLimits {
  /** Serve TLS (with client certificates when `clientCa` is set); plain text without. */
  tls?: ServerTls | undefined;
  /** Allow an address other machines can reach without client certificates (plain text, or TLS that authenticates no caller). */
  insecure?: boolean | undefined;
}

/**
 * Refuse an operator API on `address` that other machines can reach and that would not authenticate
 * its callers: it has no authentication of its own, client certificates (TLS with `clientCa`) are
 * what authenticate them. `insecure` lets it bind in plain text or with TLS alone. One line. A host
 * name counts as loopback only if every address it resolves to is (listensOnLoopbackOnly: grpc-js
 * binds them all). Returns whether `address` is reachable from other machines.
 */
export async function checkOperatorAddress(address: string, opts: Pick<OperatorServerOptions, 'tls' | 'insecure'>): Promise<boolean> {
  const at = splitHostPort(address);
  const exposed = at === undefined || !(await listensOnLoopbackOnly(at.host));
  if (!exposed || opts.tls?.clientCa !== undefined || opts.insecure) return exposed;
  if (!opts.tls) {
    throw new UserError(
      `--grpc-address ${address} is reachable from other machines and the operator API has no authentication: serve it with TLS (--grpc-tls-cert, --grpc-tls-key, --grpc-tls-client-ca) or pass --grpc-insecure`,
    );
  }
  throw new UserError(
    `--grpc-address ${address} is reachable from other machines and TLS without client certificates authenticates no caller (anyone who can reach it could vote, add or remove peers, import blocks): add --grpc-tls-client-ca or pass --grpc-insecure`,
  );
}

/**
 * HTTP/2 streams (calls) one connection may have open at once, advertised in SETTINGS
 * (maxConcurrentStreams): without it grpc-js advertises no limit, and a client could open 200,000
 * calls on one connection, each holding a call object and its closure in the node's memory.
 */
export const MAX_GRPC_STREAMS_PER_CONNECTION = 64;

/** The gRPC operator API: the Operator service over the node's backup service and its peers. */
export class OperatorServer {
  private readonly server = new grpc.Server({ 'grpc.max_concurrent_streams': MAX_GRPC_STREAMS_PER_CONNECTION });
  private boundPort = 0;

  /** `peers` undefined: a node without networking (the peers RPCs fail with FAILED_PRECONDITION). */
  constructor(
    service: BackupService,
    private readonly log: Logger,
    private readonly opts: OperatorServerOptions,
    peers?: PeersService,
    backupNow?: BackupNow,
    ibft?: IbftService,
  ) {
    this.server.addService(operatorService().service, { ...operatorHandlers(service, log, opts, backupNow), ...peersHandlers(peers), ...ibftHandlers(ibft) });
  }

  /**
   * Bind `address` (host:port). The API has no authentication of its own: an address other machines
   * can reach needs TLS with client certificates, which authenticate callers, or `insecure`
   * (checkOperatorAddress).
   */
  async listen(address: string): Promise<number> {
    const exposed = await checkOperatorAddress(address, this.opts);
    const creds = serverCredentials(this.opts.tls);
    this.boundPort = await new Promise<number>((resolve, reject) => {
      this.server.bindAsync(address, creds, (err, port) => {
        if (err) reject(new UserError(`cannot listen for gRPC on ${address}: ${err.message}`, { code: 'UNAVAILABLE' }));
        else resolve(port);
      });
    });
    const tls = this.opts.tls ? (this.opts.tls.clientCa ? 'client certificates' : 'server only') : 'off';
    this.log.info(event('grpc.listening', { address, port: this.boundPort, tls, maxStreams: this.opts.maxStreams }), 'gRPC operator API listening');
    if (exposed && !this.opts.tls)
      this.log.warn(
        event('api.exposed', { api: 'grpc', address }),
        'gRPC operator API in plain text on a non-loopback address (--grpc-insecure): anyone who can reach it can export, snapshot and import',
      );
    else if (exposed && !this.opts.tls?.clientCa)
      this.log.warn(
        event('api.exposed', { api: 'grpc', address }),
        'gRPC operator API without client certificates on a non-loopback address (--grpc-insecure): anyone who can reach it can call it; add --grpc-tls-client-ca',
      );
    return this.boundPort;
  }

  /** Stop accepting calls; give calls in flight a moment, then cut them. */
  async close(graceMs = 2000): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, graceMs);
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
