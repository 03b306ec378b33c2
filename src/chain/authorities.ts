import {
  Address,
  MAX_UINT64,
  SECP256K1_ORDER_DIV_2,
  bytesToBigInt,
  eoaCode7702AuthorizationHashedMessageToSign,
  eoaCode7702RecoverAuthority,
  publicToAddress,
  type EOACode7702AuthorizationListBytesItem,
} from '@ethereumjs/util';
import { nativeEcrecover, secp256k1Backend } from '../util/native-secp256k1.js';

/**
 * The account an EIP-7702 authorization ([chainId, address, nonce, yParity, r, s]) names on chain
 * `chainId`, recovered from its signature; undefined for one the EVM skips whatever the state (another
 * chain's, a nonce of 2^64 - 1 or more, a y parity above 1, a high s) or that does not recover. The one
 * check of the pool (which accounts a set-code transaction names) and the simulations (eth_call,
 * eth_estimateGas, eth_createAccessList, debug_traceCall), with libsecp256k1 where it loads.
 */
export function authorityOf(item: EOACode7702AuthorizationListBytesItem, chainId: bigint): Address | undefined {
  const [chain, , nonce, yParity, r, s] = item;
  const c = bytesToBigInt(chain);
  if ((c !== 0n && c !== chainId) || bytesToBigInt(nonce) >= MAX_UINT64 || bytesToBigInt(yParity) > 1n || bytesToBigInt(s) > SECP256K1_ORDER_DIV_2)
    return undefined;
  try {
    if (secp256k1Backend !== 'libsecp256k1') return eoaCode7702RecoverAuthority(item);
    const digest = eoaCode7702AuthorizationHashedMessageToSign([chain, item[1], nonce]);
    return new Address(publicToAddress(nativeEcrecover(digest, bytesToBigInt(yParity), r, s)));
  } catch {
    return undefined; // not recoverable: it delegates nothing
  }
}
