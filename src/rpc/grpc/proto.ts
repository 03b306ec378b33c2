import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { ProtoGrpcType } from './generated/operator.js';
import type { OperatorClient } from './generated/basalt/operator/v1/Operator.js';
import { channelCredentials, type ClientTls } from './tls.js';

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
