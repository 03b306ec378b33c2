import * as grpc from '@grpc/grpc-js';
import { ERROR_CODES, errorCode, errorMessage, isErrorCode, UserError } from '../../util/errors.js';

/** Trailing metadata key that carries Basalt's error code next to the gRPC status. */
export const ERROR_CODE_KEY = 'basalt-error-code';

/** A server-side failure as the call's status: the code's gRPC status, the message, the code in metadata. */
export function toGrpcStatus(err: unknown): Partial<grpc.StatusObject> & Error {
  const code = errorCode(err);
  const message = errorMessage(err);
  const metadata = new grpc.Metadata();
  metadata.set(ERROR_CODE_KEY, code);
  return Object.assign(new Error(message), { code: ERROR_CODES[code].grpcStatus, details: message, metadata });
}

/** A failed call as the one-line UserError the CLI prints, with the node's error code when it sent one. */
export function fromGrpcError(err: unknown, address: string): UserError {
  if (err instanceof UserError) return err;
  const e = err as grpc.ServiceError;
  const sent = e.metadata?.get(ERROR_CODE_KEY)[0];
  if (isErrorCode(sent)) return new UserError(e.details ?? e.message, { code: sent, cause: err });
  if (e.code === grpc.status.UNAVAILABLE || e.code === grpc.status.DEADLINE_EXCEEDED) {
    return new UserError(`no node answers on ${address}: start one with \`basalt server\` or pass --grpc-address`, { code: 'UNAVAILABLE', cause: err });
  }
  if (e.code === grpc.status.CANCELLED) return new UserError(`the call to ${address} was cancelled`, { code: 'CANCELLED', cause: err });
  return new UserError(`node at ${address} failed: ${e.details ?? e.message}`, { code: 'INTERNAL', cause: err });
}
