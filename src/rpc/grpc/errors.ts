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

/**
 * A failed call as the one-line UserError the CLI prints, with the node's error code when it sent one.
 * `tls`: whether the client dialled over TLS (a failed handshake looks like a node that does not answer).
 */
export function fromGrpcError(err: unknown, address: string, tls = false): UserError {
  if (err instanceof UserError) return err;
  const e = err as grpc.ServiceError;
  const sent = e.metadata?.get(ERROR_CODE_KEY)[0];
  if (isErrorCode(sent)) return new UserError(e.details ?? e.message, { code: sent, cause: err });
  if (e.code === grpc.status.UNAVAILABLE || e.code === grpc.status.DEADLINE_EXCEEDED) {
    const why = e.details ? ` (${oneLine(e.details)})` : '';
    const hint = tls
      ? 'check --grpc-address, that the node serves TLS, that --grpc-tls-ca signed its certificate and that it accepts the --grpc-tls-cert client certificate'
      : 'start one with `basalt server` or pass --grpc-address (a node serving TLS also needs --grpc-tls-ca, --grpc-tls-cert and --grpc-tls-key)';
    return new UserError(`no node answers on ${address}${tls ? ' over TLS' : ''}${why}: ${hint}`, { code: 'UNAVAILABLE', cause: err });
  }
  if (e.code === grpc.status.RESOURCE_EXHAUSTED)
    return new UserError(`node at ${address} is busy: ${oneLine(e.details ?? e.message)}`, { code: 'RESOURCE_EXHAUSTED', cause: err });
  if (e.code === grpc.status.CANCELLED) return new UserError(`the call to ${address} was cancelled`, { code: 'CANCELLED', cause: err });
  return new UserError(`node at ${address} failed: ${oneLine(e.details ?? e.message)}`, { code: 'INTERNAL', cause: err });
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}
