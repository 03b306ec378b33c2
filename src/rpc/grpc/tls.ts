import * as grpc from '@grpc/grpc-js';
import { FileRefused, readBoundedFile } from '../../util/bounded-read.js';
import { UserError, errorMessage } from '../../util/errors.js';

/** The most bytes of a PEM file read: a certificate chain with its CA bundle is tens of KiB. */
const MAX_PEM_BYTES = 1024 * 1024;

/** The server side of TLS: PEM files. With `clientCa`, every client must present a certificate it signed. */
export interface ServerTls {
  cert: string;
  key: string;
  clientCa?: string | undefined;
}

/** The client side of TLS: the CA to trust the server with (default: the system's) and an optional client certificate. */
export interface ClientTls {
  ca?: string | undefined;
  cert?: string | undefined;
  key?: string | undefined;
}

export function serverCredentials(tls: ServerTls | undefined): grpc.ServerCredentials {
  if (!tls) return grpc.ServerCredentials.createInsecure();
  const ca = tls.clientCa === undefined ? null : pem(tls.clientCa, '--grpc-tls-client-ca');
  return grpc.ServerCredentials.createSsl(ca, [{ cert_chain: pem(tls.cert, '--grpc-tls-cert'), private_key: pem(tls.key, '--grpc-tls-key') }], ca !== null);
}

/** Plain text without TLS options; TLS as soon as one is given. */
export function channelCredentials(tls: ClientTls | undefined): grpc.ChannelCredentials {
  if (!tls || (tls.ca === undefined && tls.cert === undefined && tls.key === undefined)) return grpc.credentials.createInsecure();
  if ((tls.cert === undefined) !== (tls.key === undefined))
    throw new UserError('--grpc-tls-cert and --grpc-tls-key go together (the client certificate and its key)');
  return grpc.credentials.createSsl(
    tls.ca === undefined ? null : pem(tls.ca, '--grpc-tls-ca'),
    tls.key === undefined ? null : pem(tls.key, '--grpc-tls-key'),
    tls.cert === undefined ? null : pem(tls.cert, '--grpc-tls-cert'),
  );
}

/**
 * A PEM file's bytes; a file that cannot be read or holds no PEM block is a one-line error naming its
 * flag. Only a regular file of at most MAX_PEM_BYTES is read: /dev/zero was read until memory ran out
 * (a fatal abort, not an error line), and a FIFO held the start-up forever.
 */
function pem(path: string, flag: string): Buffer {
  let bytes: Buffer;
  try {
    bytes = readBoundedFile(path, MAX_PEM_BYTES, { regularOnly: true });
  } catch (err) {
    if (err instanceof FileRefused) throw new UserError(`${flag} ${path} ${err.message}`);
    throw new UserError(`cannot read ${flag} ${path}: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`);
  }
  if (!bytes.includes('-----BEGIN ')) throw new UserError(`${flag} ${path} is not a PEM file`);
  return bytes;
}
