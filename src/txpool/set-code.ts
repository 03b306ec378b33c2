import type { TypedTransaction } from '@ethereumjs/tx';
import {
  bytesToBigInt,
  eoaCode7702AuthorizationHashedMessageToSign,
  eoaCode7702RecoverAuthority,
  publicToAddress,
  SECP256K1_ORDER_DIV_2,
  type EOACode7702AuthorizationListBytesItem,
} from '@ethereumjs/util';
import { nativeEcrecover, secp256k1Backend } from '../util/native-secp256k1.js';

/**
 * The most authorizations a set-code (EIP-7702, type 4) transaction may carry into this pool: each is a
 * signature recovered at admission (intrinsic gas alone allows ~1,200 in 30M gas). A transaction with
 * more stays valid in a block; this pool does not hold it.
 */
export const MAX_POOLED_AUTHORIZATIONS = 64;

/**
 * The accounts a set-code transaction's authorizations name on `chainId` (lower-case hex addresses),
 * recovered from their signatures. An authorization the EVM would skip whatever the state (another
 * chain's, a y parity above 1, a high s) or that does not recover names none: else anyone could name an
 * account by replaying an authorization it signed elsewhere, or a malleated copy, and hold it to one
 * pooled transaction.
 */
export function authoritiesOf(tx: TypedTransaction, chainId: bigint): string[] {
  if (tx.type !== 4) return [];
  const list = (tx as unknown as { authorizationList: EOACode7702AuthorizationListBytesItem[] }).authorizationList;
  const out = new Set<string>();
  for (const item of list) {
    const [chain, , , yParity, , s] = item;
    const c = bytesToBigInt(chain);
    if ((c !== 0n && c !== chainId) || bytesToBigInt(yParity) > 1n || bytesToBigInt(s) > SECP256K1_ORDER_DIV_2) continue;
    try {
      out.add(recover(item));
    } catch {
      // not recoverable: it delegates nothing
    }
  }
  return [...out];
}

function recover(item: EOACode7702AuthorizationListBytesItem): string {
  if (secp256k1Backend !== 'libsecp256k1') return eoaCode7702RecoverAuthority(item).toString();
  const [chainId, address, nonce, yParity, r, s] = item;
  const digest = eoaCode7702AuthorizationHashedMessageToSign([chainId, address, nonce]);
  const key = nativeEcrecover(digest, bytesToBigInt(yParity), r, s);
  return `0x${Buffer.from(publicToAddress(key)).toString('hex')}`;
}
