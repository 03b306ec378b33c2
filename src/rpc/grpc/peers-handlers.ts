import type { PeersService } from '../../p2p/peers-service.js';
import { UserError } from '../../util/errors.js';
import type { OperatorHandlers } from './generated/basalt/operator/v1/Operator.js';
import { toGrpcStatus } from './errors.js';

/** Longest address PeersAdd accepts (a multiaddr with a peer ID is ~100 characters). */
const MAX_ADDRESS_LENGTH = 1024;

/** PeersList and PeersAdd: thin adapters over the node's PeersService. */
export function peersHandlers(peers: PeersService | undefined): Pick<OperatorHandlers, 'PeersList' | 'PeersAdd'> {
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
  };
}
