import type { Command } from 'commander';
import { DEFAULT_GRPC_ADDRESS } from '../rpc/grpc/backup-client.js';
import type { ClientTls } from '../rpc/grpc/tls.js';
import { parseHostPortString } from './options.js';

/** The flags of every command that dials a node's operator API. */
export interface GrpcDialOpts {
  grpcAddress: string;
  grpcTlsCa?: string;
  grpcTlsCert?: string;
  grpcTlsKey?: string;
}

export function addGrpcDialOptions(cmd: Command, addressHelp = 'gRPC operator API of the running node'): Command {
  return cmd
    .option('--grpc-address <host:port>', addressHelp, parseHostPortString, DEFAULT_GRPC_ADDRESS)
    .option(
      '--grpc-tls-ca <file>',
      "dial over TLS, trusting the node's certificate if this CA (PEM) signed it (default with another --grpc-tls-* flag: the system's CAs)",
    )
    .option('--grpc-tls-cert <file>', 'dial over TLS with this client certificate (PEM), for a node started with --grpc-tls-client-ca')
    .option('--grpc-tls-key <file>', "the client certificate's private key (PEM)");
}

/** TLS settings from the flags; undefined (plain text) when none is given. */
export function grpcClientTls(opts: GrpcDialOpts): ClientTls | undefined {
  if (opts.grpcTlsCa === undefined && opts.grpcTlsCert === undefined && opts.grpcTlsKey === undefined) return undefined;
  dropTlsIpServerNameWarning();
  return { ca: opts.grpcTlsCa, cert: opts.grpcTlsCert, key: opts.grpcTlsKey };
}

/**
 * grpc-js sends the dialled host as the TLS server name even when it is an IP address (the usual
 * `--grpc-address 127.0.0.1:9632`), and Node then prints a deprecation warning (DEP0123) that tells
 * an operator nothing and would break the one-line output. The certificate is still checked against
 * the IP address.
 */
function dropTlsIpServerNameWarning(): void {
  const emit = process.emitWarning.bind(process) as (...args: unknown[]) => void;
  process.emitWarning = ((...args: unknown[]) => {
    const code = typeof args[1] === 'object' && args[1] !== null ? (args[1] as { code?: unknown }).code : args[2];
    if (code !== 'DEP0123') emit(...args);
  }) as typeof process.emitWarning;
}
