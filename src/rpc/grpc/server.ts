import * as grpc from '@grpc/grpc-js';
import type { BackupService } from '../../backup/types.js';
import type { Logger } from '../../util/log.js';
import { UserError } from '../../util/errors.js';
import { operatorHandlers, type BackupNow } from './backup-handlers.js';
import { operatorService } from './proto.js';

/** The gRPC operator API: the Operator service over the node's backup service. */
export class OperatorServer {
  private readonly server = new grpc.Server();
  private boundPort = 0;

  constructor(service: BackupService, private readonly log: Logger, backupNow?: BackupNow) {
    this.server.addService(operatorService().service, operatorHandlers(service, log, backupNow));
  }

  async listen(address: string): Promise<number> {
    this.boundPort = await new Promise<number>((resolve, reject) => {
      this.server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, port) => {
        if (err) reject(new UserError(`cannot listen for gRPC on ${address}: ${err.message}`, { code: 'UNAVAILABLE' }));
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
