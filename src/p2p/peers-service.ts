/** A connected peer, as the operator API lists it. */
export interface PeerSummary {
  id: string;
  address: string;
  direction: 'inbound' | 'outbound';
  head: bigint;
}

/** The operator's view of the node's peers (`basalt peers list|add`), local or over gRPC. */
export interface PeersService {
  list(): Promise<PeerSummary[]>;
  /** Connect to a peer (`/ip4/…/tcp/…/p2p/<id>`) and keep redialling it. */
  add(address: string): Promise<void>;
}
