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
  /** Disconnect a peer (a node ID or a multiaddr ending in /p2p/<id>) and stop redialling it; whether it was connected. */
  remove(peer: string): Promise<{ wasConnected: boolean }>;
}
