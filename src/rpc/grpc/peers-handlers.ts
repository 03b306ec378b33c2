import type { PeersService } from '../../p2p/peers-service.js';
import { UserError } from '../../util/errors.js';
import type { OperatorHandlers } from './generated/basalt/operator/v1/Operator.js';
import { toGrpcStatus } from './errors.js';

/** Longest address PeersAdd accepts (a multiaddr with a peer ID is ~100 characters). */
const MAX_ADDRESS_LENGTH = 1024;

/** PeersList, PeersAdd and PeersRemove: thin adapters over the node's PeersService. */
export function peersHandlers(peers: PeersService | undefined): Pick<OperatorHandlers, 'PeersList' | 'PeersAdd' | 'PeersRemove'> {
  const service = async (): Promise<PeersService> => {
    if (!peers) throw new UserError('this node runs without networking (--no-libp2p, or --dev without --libp2p)', { code: 'FAILED_PRECONDITION' });
    return peers;
  };
  return {
    PeersList: (_call, cb) => {
      service()
        .then((p) => p.list())
        .then(
          (list) => cb(null, { peers: list.map((p) => ({ id: p.id, address: p.address, direction: p.direction, head: p.head.toString() })) }),
          (err) => cb(toGrpcStatus(err)),
        );
    },
    PeersAdd: (call, cb) => {
      const address = call.request.address ?? '';
      service()
        .then((p) => {
          if (address.length > MAX_ADDRESS_LENGTH) throw new UserError(`peer address longer than ${MAX_ADDRESS_LENGTH} characters`);
          if (address === '') throw new UserError('a peer address is required: /ip4/…/tcp/…/p2p/<node ID>');
          return p.add(address);
        })
        .then(
          () => cb(null, {}),
          (err) => cb(toGrpcStatus(err)),
        );
    },
    PeersRemove: (call, cb) => {
      const id = call.request.id ?? '';
      service()
        .then((p) => {
          if (id.length > MAX_ADDRESS_LENGTH) throw new UserError(`peer ID longer than ${MAX_ADDRESS_LENGTH} characters`);
          if (id === '') throw new UserError('a peer is required: its node ID (16Uiu2HA…) or /ip4/…/tcp/…/p2p/<node ID>');
          return p.remove(id);
        })
        .then(
          (r) => cb(null, { wasConnected: r.wasConnected }),
          (err) => cb(toGrpcStatus(err)),
        );
    },
  };
}
