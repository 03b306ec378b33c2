import type { TypedTransaction } from '@ethereumjs/tx';
import type { EOACode7702AuthorizationListBytesItem } from '@ethereumjs/util';
import { authorityOf } from '../chain/authorities.js';

/**
 * The most authorizations a set-code (EIP-7702, type 4) transaction may carry into this pool: each is a
 * signature recovered at admission (intrinsic gas alone allows ~1,200 in 30M gas). A transaction with
 * more stays valid in a block; this pool does not hold it.
 */
export const MAX_POOLED_AUTHORIZATIONS = 64;

/**
 * The accounts a set-code transaction's authorizations name on `chainId` (lower-case hex addresses),
 * recovered from their signatures. An authorization the EVM would skip whatever the state names none
 * (authorityOf): else anyone could name an account by replaying an authorization it signed elsewhere,
 * or a malleated copy, and hold it to one pooled transaction.
 */
export function authoritiesOf(tx: TypedTransaction, chainId: bigint): string[] {
  if (tx.type !== 4) return [];
  const list = (tx as unknown as { authorizationList: EOACode7702AuthorizationListBytesItem[] }).authorizationList;
  const out = new Set<string>();
  for (const item of list) {
    const authority = authorityOf(item, chainId);
    if (authority) out.add(authority.toString());
  }
  return [...out];
}
