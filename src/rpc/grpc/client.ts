import * as grpc from '@grpc/grpc-js';
import { UserError } from '../../util/errors.js';
import { operatorService, type StatusResponse } from './proto.js';

export const DEFAULT_GRPC_ADDRESS = '127.0.0.1:9632';

type OperatorClient = grpc.Client & {
  Status(req: object, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: StatusResponse) => void): void;
};

export function operatorClient(address: string): OperatorClient {
  const Ctor = operatorService();
  return new Ctor(address, grpc.credentials.createInsecure()) as unknown as OperatorClient;
}

export async function fetchStatus(address: string, timeoutMs = 5000): Promise<StatusResponse> {
  const client = operatorClient(address);
  try {
    return await new Promise<StatusResponse>((resolve, reject) => {
      client.Status({}, { deadline: Date.now() + timeoutMs }, (err, res) => (err ? reject(err) : resolve(res)));
    });
  } catch (err) {
    throw grpcUserError(err, address);
  } finally {
    client.close();
  }
}

export function grpcUserError(err: unknown, address: string): UserError {
  const e = err as grpc.ServiceError;
  if (e.code === grpc.status.UNAVAILABLE || e.code === grpc.status.DEADLINE_EXCEEDED) {
    return new UserError(`no node answers on ${address}: start one with \`basalt server\` or pass --grpc-address`);
  }
  return new UserError(`node at ${address} failed: ${e.details ?? e.message}`);
}
