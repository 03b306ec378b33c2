import type { PeerScore, PeerScoreParams, PeerScoreThresholds } from '@chainsafe/libp2p-gossipsub/score';

/**
 * What a proven validator scores in gossipsub, on top of the IP colocation penalty it is spared.
 * Positive, so gossipsub drops its record when it disconnects (only scores <= 0 are kept for
 * `retainScore`) and it comes back fresh; 100 keeps it above the graylist threshold (-80) through
 * transient behaviour penalties (P7: -10 x count², the count decaying by 0.2 a second) while a
 * validator that keeps breaking gossip promises still sinks below it.
 */
export const VALIDATOR_SCORE = 100;

/** The part of gossipsub's PeerScore that holds what P6 (IP colocation) is computed from. */
export type ColocationState = Pick<PeerScore, 'peerStats' | 'peerIPs' | 'params'>;

/**
 * gossipsub's P6 for `peer`, as a positive amount: for each address it came from that is shared with
 * more than IPColocationFactorThreshold peers (retained disconnected ones included, for an hour),
 * surplus² x -IPColocationFactorWeight. The same sum as @chainsafe/libp2p-gossipsub 14.1.2's
 * compute-score.js (the version is pinned; test/unit/p2p/scoring.test.ts checks it against a live one).
 */
export function colocationPenalty(peer: string, state: ColocationState): number {
  const { IPColocationFactorThreshold: threshold, IPColocationFactorWeight: weight, IPColocationFactorWhitelist: whitelist } = state.params;
  let penalty = 0;
  for (const ip of state.peerStats.get(peer)?.knownIPs ?? []) {
    if (whitelist.has(ip)) continue;
    const n = state.peerIPs.get(ip)?.size ?? 0;
    if (n > threshold) penalty += (n - threshold) ** 2 * -weight;
  }
  return penalty;
}

/**
 * gossipsub's score parameters. Validators are told apart by the validator set, not by address:
 * validators behind one NAT, on one host, or in a cluster with SNAT share an address with each other
 * and with anyone else there, and gossipsub's Sybil defence (P6) would otherwise graylist their links
 * to each other as soon as more than ten peers come from that address (an idle peer costs nothing to
 * run). So a peer that proved in the handshake that it holds the key of a current validator gets
 * VALIDATOR_SCORE plus exactly its P6 back (application-specific score, P5); every other peer is
 * scored as gossipsub does by default, and hostile ones are penalised as before.
 *
 * Not direct peers (`directPeers`): gossipsub refuses GRAFTs from a direct peer and leaves it out of
 * every mesh, which works only when both sides agree at the same moment; two validators that learn of
 * each other a moment apart, or see a validator set change at different heights, would prune each
 * other. Not the IP whitelist (`IPColocationFactorWhitelist`): it exempts an address, hostile peers
 * there included.
 *
 * `state` is the live PeerScore (undefined until the host exists); `isValidator` asks the peer manager.
 */
export function gossipScoring(
  isValidator: (peer: string) => boolean,
  state: () => ColocationState | undefined,
): { scoreParams: Partial<PeerScoreParams>; scoreThresholds: PeerScoreThresholds } {
  return {
    scoreParams: {
      // P1-P4 (per topic) stay off, as before: gossip is validated before it is relayed, and a peer
      // that sends an invalid message is banned outright (gossip.ts), which no score needs to learn.
      topics: {},
      // P5 counts one for one: VALIDATOR_SCORE is in score units.
      appSpecificWeight: 1,
      appSpecificScore: (peer) => {
        if (!isValidator(peer)) return 0;
        const s = state();
        return VALIDATOR_SCORE + (s ? colocationPenalty(peer, s) : 0);
      },
      // P6, gossipsub's defaults kept for everyone but validators: more than 10 peers from one address
      // cost each of them 5 x surplus²: from the 14th (-80) below the publish threshold, from the 15th
      // (-125) graylisted. That is what a Sybil attack from one host costs.
      IPColocationFactorWeight: -5,
      IPColocationFactorThreshold: 10,
      IPColocationFactorWhitelist: new Set(),
      // P7 (GRAFT during backoff, broken IWANT promises): defaults, for validators too.
      behaviourPenaltyWeight: -10,
      behaviourPenaltyThreshold: 0,
      behaviourPenaltyDecay: 0.2,
      decayInterval: 1000,
      decayToZero: 0.1,
      // A peer that leaves with a score <= 0 keeps it for an hour (it cannot reset it by reconnecting;
      // its address keeps counting for P6 meanwhile). A validator's score is positive: not kept.
      retainScore: 3600 * 1000,
    },
    scoreThresholds: {
      // gossipsub's defaults: below -10 no gossip (IHAVE/IWANT) with the peer, below -50 nothing of
      // ours is published to it, below -80 nothing from it is accepted. Validators never get there
      // for sharing an address (above), and no other score component is raised by what others do.
      gossipThreshold: -10,
      publishThreshold: -50,
      graylistThreshold: -80,
      // Peer exchange is off (doPX: false); opportunistic grafting picks peers scoring above 20 (validators).
      acceptPXThreshold: 10,
      opportunisticGraftThreshold: 20,
    },
  };
}
