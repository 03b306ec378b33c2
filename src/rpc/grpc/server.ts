import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../../util/log.js';
import { UserError } from '../../util/errors.js';
import type { Chain } from '../../chain/chain.js';
import { exportHandler, importHandler, snapshotHandler } from './archive-handlers.js';
import { operatorService, type StatusResponse } from './proto.js';

/** What the operator service needs from the node; the service itself is a thin adapter. */
export interface OperatorBackend {
  status(): StatusResponse;
  readonly chain: Chain;
}

export class OperatorServer {
  private readonly server = new grpc.Server();
  private boundPort = 0;

  constructor(backend: OperatorBackend, private readonly log: Logger) {
    this.server.addService(operatorService().service, {
      Status: (_call: grpc.ServerUnaryCall<unknown, StatusResponse>, cb: grpc.sendUnaryData<StatusResponse>) => {
        try {
          cb(null, backend.status());
        } catch (err) {
          cb({ code: grpc.status.INTERNAL, message: (err as Error).message });
        }
      },
      Export: exportHandler(backend.chain, log),
      Import: importHandler(backend.chain, log),
      Snapshot: snapshotHandler(backend.chain, log),
    });
  }

  async listen(address: string): Promise<number> {
    this.boundPort = await new Promise<number>((resolve, reject) => {
      this.server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, port) => {
        if (err) reject(new UserError(`cannot listen for gRPC on ${address}: ${err.message}`));
        else resolve(port);
      });
    });
    this.log.info({ address, port: this.boundPort }, 'gRPC operator API listening');
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
