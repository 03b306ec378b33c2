import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { ProtoGrpcType } from './generated/operator.js';
import type { OperatorClient } from './generated/basalt/operator/v1/Operator.js';
import { channelCredentials, type ClientTls } from './tls.js';
import { fromGrpcError } from './errors.js';

/** The repo's proto/ folder (src/rpc/grpc or dist/rpc/grpc -> ../../../proto). */
export const PROTO_ROOT = fileURLToPath(new URL('../../../proto/', import.meta.url));
export const OPERATOR_PROTO = 'basalt/operator/v1/operator.proto';

/** Must match the flags of `npm run proto`, which generates ./generated from the same .proto. */
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_ROOT],
};

let cached: ProtoGrpcType['basalt']['operator']['v1']['Operator'] | undefined;

/** The Operator service, loaded from our own .proto (as any operator tool would), typed by the generated code. */
export function operatorService(): ProtoGrpcType['basalt']['operator']['v1']['Operator'] {
  if (!cached) {
    const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(OPERATOR_PROTO, LOADER_OPTIONS)) as unknown as ProtoGrpcType;
    cached = pkg.basalt.operator.v1.Operator;
  }
  return cached;
}

/** A client of the Operator service at `address`: plain text, or TLS with `tls` (see channelCredentials). */
export function operatorClient(address: string, tls?: ClientTls): OperatorClient {
  const Client = operatorService();
  return new Client(address, channelCredentials(tls));
}

/**
 * One unary call on a fresh client of `address`, closed after: `run` makes the call with the deadline
 * (`timeoutMs`, default 15 s) and the callback. An error comes back as fromGrpcError's one line.
 */
export async function unaryCall<T>(
  address: string,
  opts: { tls?: ClientTls | undefined; timeoutMs?: number },
  run: (client: OperatorClient, deadline: number, cb: (err: unknown, r?: T) => void) => void,
): Promise<T> {
  const client = operatorClient(address, opts.tls);
  try {
    return await new Promise<T>((resolve, reject) =>
      run(client, Date.now() + (opts.timeoutMs ?? 15_000), (err, r) => (err || r === undefined ? reject(err ?? new Error('empty answer')) : resolve(r))),
    );
  } catch (err) {
    throw fromGrpcError(err, address);
  } finally {
    client.close();
  }
}
