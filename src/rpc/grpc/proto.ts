import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/** The repo's proto/ folder (src/rpc/grpc or dist/rpc/grpc -> ../../../proto). */
export const PROTO_ROOT = fileURLToPath(new URL('../../../proto/', import.meta.url));
export const OPERATOR_PROTO = 'basalt/operator/v1/operator.proto';

export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_ROOT],
};

interface OperatorPackage {
  basalt: { operator: { v1: { Operator: grpc.ServiceClientConstructor } } };
}

let cached: grpc.ServiceClientConstructor | undefined;

/** The Operator service definition, loaded from our own .proto (as any operator tool would). */
export function operatorService(): grpc.ServiceClientConstructor {
  if (!cached) {
    const def = protoLoader.loadSync(OPERATOR_PROTO, LOADER_OPTIONS);
    cached = (grpc.loadPackageDefinition(def) as unknown as OperatorPackage).basalt.operator.v1.Operator;
  }
  return cached;
}

export interface StatusResponse {
  chainId: string;
  genesisHash: string;
  number: string;
  hash: string;
  stateRoot: string;
  timestamp: string;
  validatorAddress: string;
  nodeId: string;
  sealing: boolean;
  clientVersion: string;
}
