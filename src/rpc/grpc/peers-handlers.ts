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
      service()
        .then(async (p) => p.add(checked(call.request.address, 'peer address', 'a peer address is required: /ip4/…/tcp/…/p2p/<node ID>')))
        .then(
          () => cb(null, {}),
          (err) => cb(toGrpcStatus(err)),
        );
    },
    PeersRemove: (call, cb) => {
      service()
        .then(async (p) => p.remove(checked(call.request.id, 'peer ID', 'a peer is required: its node ID (16Uiu2HA…) or /ip4/…/tcp/…/p2p/<node ID>')))
        .then(
          (r) => cb(null, { wasConnected: r.wasConnected }),
          (err) => cb(toGrpcStatus(err)),
        );
    },
  };
}

/** A request's peer field: present and at most MAX_ADDRESS_LENGTH characters, or INVALID_ARGUMENT. */
function checked(value: string | undefined, what: string, missing: string): string {
  const v = value ?? '';
  if (v.length > MAX_ADDRESS_LENGTH) throw new UserError(`${what} longer than ${MAX_ADDRESS_LENGTH} characters`);
  if (v === '') throw new UserError(missing);
  return v;
}
