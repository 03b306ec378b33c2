import type { PeerSummary, PeersService } from '../../p2p/peers-service.js';
import { unaryCall } from './proto.js';
import type { OperatorClient } from './generated/basalt/operator/v1/Operator.js';
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

  async remove(peer: string): Promise<{ wasConnected: boolean }> {
    const res = await this.call<{ wasConnected: boolean }>((client, deadline, cb) => client.PeersRemove({ id: peer }, { deadline }, cb));
    return { wasConnected: res.wasConnected };
  }

  private call<T>(run: (client: OperatorClient, deadline: number, cb: (err: unknown, r?: T) => void) => void): Promise<T> {
    return unaryCall(this.address, this.opts, run);
  }
}
