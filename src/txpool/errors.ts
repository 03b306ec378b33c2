/**
 * Why a transaction is refused, as far as the peer that relayed it is concerned:
 * - 'invalid': it can never be valid on this chain for anyone (signature, chain id, gas above the
 *   block gas limit, intrinsic gas): a node that checked it before relaying would not have relayed it;
 * - 'unexecutable': valid, but its sender cannot pay for it or its nonce is far ahead, in the state
 *   this node has: a relayer that checked it saw the same state, give or take a block (the network
 *   counts it against the relayer only while this node is at the head and the relayer no further);
 * - undefined: a refusal that is no one's fault (already known, nonce already used, this node's own
 *   price floor, a full pool, a node that cannot write blocks).
 */
export type TxFault = 'invalid' | 'unexecutable';

/** A transaction the pool refuses; the message follows geth's wording so that tools recognise it. */
export class TxPoolError extends Error {
  constructor(
    message: string,
    readonly fault?: TxFault,
    /** A refusal by this node's own policy that no new head changes (its price floor): the same transaction is refused again. */
    readonly lasting = false,
  ) {
    super(message);
    this.name = 'TxPoolError';
  }
}
