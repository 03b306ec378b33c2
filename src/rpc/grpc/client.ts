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
  if (e.code === grpc.status.INVALID_ARGUMENT || e.code === grpc.status.FAILED_PRECONDITION) return new UserError(e.details ?? e.message);
  if (e.code === grpc.status.CANCELLED) return new UserError(`the call to ${address} was cancelled`);
  return new UserError(`node at ${address} failed: ${e.details ?? e.message}`);
}

export interface GrpcArchiveInfo {
  chainId: string;
  genesisHash: string;
  startBlock: string;
  endBlock: string;
  compression: string;
}
export interface GrpcProgress {
  block: string;
  blocksDone: string;
  blocksTotal: string;
  bytes: string;
  skipped: string;
}
export interface GrpcSummary {
  startBlock: string;
  endBlock: string;
  blocks: string;
  bytes: string;
  digest: string;
  durationMs: string;
  imported: string;
  skipped: string;
  head: string;
}
export type ArchiveStreamEvent =
  | { event: 'started'; started: GrpcArchiveInfo }
  | { event: 'data'; data: Buffer }
  | { event: 'progress'; progress: GrpcProgress }
  | { event: 'summary'; summary: GrpcSummary };

type Stream = grpc.ClientReadableStream<ArchiveStreamEvent>;
type Duplex = grpc.ClientDuplexStream<{ data: Uint8Array }, ArchiveStreamEvent>;

/** A server-streaming call: its events in order, errors as one-line UserErrors; cancel() stops it. */
function serverStream(address: string, method: 'Export' | 'Snapshot', req: object): { events: AsyncIterable<ArchiveStreamEvent>; cancel(): void } {
  const client = operatorClient(address) as unknown as Record<typeof method, (req: object) => Stream> & { close(): void };
  const call = client[method](req);
  async function* events(): AsyncGenerator<ArchiveStreamEvent> {
    try {
      for await (const ev of call as AsyncIterable<ArchiveStreamEvent>) yield ev;
    } catch (err) {
      throw grpcUserError(err, address);
    } finally {
      client.close();
    }
  }
  return { events: events(), cancel: () => call.cancel() };
}

/** Call Export; events arrive in order. */
export function callExport(address: string, req: { startBlock?: bigint; endBlock?: bigint; compression: string }) {
  return serverStream(address, 'Export', {
    startBlock: (req.startBlock ?? 0n).toString(),
    ...(req.endBlock !== undefined ? { endBlock: req.endBlock.toString() } : {}),
    compression: req.compression,
  });
}

/** Call Snapshot; events as for Export (summary.imported = state nodes, summary.skipped = codes). */
export function callSnapshot(address: string, compression: string) {
  return serverStream(address, 'Snapshot', { compression });
}

/** Call Import, streaming `source` to the node with backpressure; yields the node's events. */
export function callImport(address: string, source: AsyncIterable<Uint8Array>): AsyncIterable<ArchiveStreamEvent> {
  const client = operatorClient(address) as unknown as { Import(): Duplex; close(): void };
  const call = client.Import();
  let sendError: unknown;
  const pump = (async () => {
    try {
      for await (const chunk of source) {
        if (!call.write({ data: chunk })) await new Promise((r) => call.once('drain', r));
      }
      call.end();
    } catch (err) {
      sendError = err;
      call.cancel();
    }
  })();
  async function* events(): AsyncGenerator<ArchiveStreamEvent> {
    try {
      for await (const ev of call as AsyncIterable<ArchiveStreamEvent>) yield ev;
    } catch (err) {
      if (sendError) throw sendError;
      throw grpcUserError(err, address);
    } finally {
      await pump;
      client.close();
    }
  }
  return events();
}

