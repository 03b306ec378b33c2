import type { PeerId } from '@libp2p/interface';
import { bytesToHex, equalsBytes } from '@ethereumjs/util';
import type { Host } from './host.js';
import { MAX_STATUS_BYTES, decodeStatus, encodeStatus, type ChainStatus } from './messages.js';
import { request, serve } from './streams.js';

/** The handshake: each side sends its chain ID, genesis hash and head; the other answers with its own. */
export const STATUS_PROTOCOL = '/basalt/status/1';
export const HANDSHAKE_TIMEOUT_MS = 5_000;

/** Why a peer with status `theirs` cannot be ours, or undefined when it runs our chain. */
export function incompatibility(ours: ChainStatus, theirs: ChainStatus): string | undefined {
  if (theirs.chainId !== ours.chainId || !equalsBytes(theirs.genesisHash, ours.genesisHash)) {
    return `another chain (chain ID ${theirs.chainId}, genesis ${bytesToHex(theirs.genesisHash)}; ours is chain ID ${ours.chainId}, genesis ${bytesToHex(ours.genesisHash)})`;
  }
  return undefined;
}

/**
 * Answer handshakes: the requester's status goes to `onStatus` (which refuses a peer of another
 * chain), and ours goes back either way, so that the other side can say why it was refused.
 */
export async function serveStatus(host: Host, ours: () => ChainStatus, onStatus: (peer: PeerId, theirs: ChainStatus) => void, onBadPeer: (peer: PeerId, reason: string) => void): Promise<void> {
  await serve(
    host,
    STATUS_PROTOCOL,
    async (req, peer) => {
      const theirs = decodeStatus(req);
      return (function* () {
        yield encodeStatus(ours());
        onStatus(peer, theirs); // once the answer is written: a refused peer still learns why
      })();
    },
    { maxRequestBytes: MAX_STATUS_BYTES, timeoutMs: HANDSHAKE_TIMEOUT_MS, maxConcurrent: 2, onBadPeer },
  );
}

/** Send our status, read theirs. Throws MessageError, RequestTimeoutError or a connection error. */
export async function requestStatus(host: Host, peer: PeerId, ours: ChainStatus): Promise<ChainStatus> {
  const [reply] = await request(host, peer, STATUS_PROTOCOL, encodeStatus(ours), {
    timeoutMs: HANDSHAKE_TIMEOUT_MS,
    maxMessageBytes: MAX_STATUS_BYTES,
    maxMessages: 1,
    maxTotalBytes: MAX_STATUS_BYTES,
  });
  if (reply === undefined) throw new Error('handshake: the peer closed the stream without its status');
  return decodeStatus(reply);
}
