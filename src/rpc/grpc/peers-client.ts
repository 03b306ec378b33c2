import type { PeerSummary, PeersService } from '../../p2p/peers-service.js';
import { fromGrpcError } from './errors.js';
import { operatorClient } from './proto.js';
import type { ClientTls } from './tls.js';

/** A running node's peers, over its gRPC operator API (`basalt peers`). */
export class RemotePeersService implements PeersService {
  constructor(
    private readonly address: string,
    private readonly opts: { tls?: ClientTls | undefined; timeoutMs?: number } = {},
  ) {}

  async list(): Promise<PeerSummary[]> {
    const res = await this.call<{ peers: { id: string; address: string; direction: string; head: string }[] }>((client, deadline, cb) =>
      client.PeersList({}, { deadline }, cb),
    );
    return res.peers.map((p) => ({ id: p.id, address: p.address, direction: p.direction === 'inbound' ? 'inbound' : 'outbound', head: BigInt(p.head) }));
  }

  async add(address: string): Promise<void> {
    await this.call((client, deadline, cb) => client.PeersAdd({ address }, { deadline }, cb));
  }

  private async call<T>(run: (client: ReturnType<typeof operatorClient>, deadline: number, cb: (err: unknown, r?: T) => void) => void): Promise<T> {
    const client = operatorClient(this.address, this.opts.tls);
    try {
      return await new Promise<T>((resolve, reject) =>
        run(client, Date.now() + (this.opts.timeoutMs ?? 15_000), (err, r) => (err || r === undefined ? reject(err ?? new Error('empty answer')) : resolve(r))),
      );
    } catch (err) {
      throw fromGrpcError(err, this.address);
    } finally {
      client.close();
    }
  }
}
