import { hexToBytes } from '@ethereumjs/util';
import { invalidParams } from './errors.js';

/** Check the number of positional params (optional ones may be missing). */
export function expectParams(params: unknown[], min: number, max = min): void {
  if (params.length < min || params.length > max) {
    const want = min === max ? `${min}` : `${min} to ${max}`;
    throw invalidParams(`expected ${want} params, got ${params.length}`);
  }
}

export type BlockTag =
  | { kind: 'number'; number: bigint }
  | { kind: 'tag'; tag: 'latest' | 'earliest' | 'pending' | 'safe' | 'finalized' }
  | { kind: 'hash'; hash: Uint8Array };

const TAGS = new Set(['latest', 'earliest', 'pending', 'safe', 'finalized']);

/** A block number, tag, or (EIP-1898) block hash / {blockNumber} / {blockHash} object. */
export function blockTag(value: unknown): BlockTag {
  if (typeof value === 'string') {
    if (TAGS.has(value)) return { kind: 'tag', tag: value as 'latest' };
    if (/^0x[0-9a-fA-F]{64}$/.test(value)) return { kind: 'hash', hash: hexToBytes(value as `0x${string}`) };
    const number = hexQuantity(value, 'block number');
    // Block numbers are 64-bit (stored as 8 bytes): a larger one is no block, refused as such, not an internal error.
    if (number >= 2n ** 64n) throw invalidParams(`block number ${value.slice(0, 20)}… is above 2^64 - 1`);
    return { kind: 'number', number };
  }
  if (value !== null && typeof value === 'object') {
    const o = value as { blockHash?: unknown; blockNumber?: unknown };
    if (o.blockHash !== undefined) return { kind: 'hash', hash: hexData(o.blockHash, 'blockHash', 32) };
    if (o.blockNumber !== undefined) return blockTag(o.blockNumber);
  }
  throw invalidParams(`invalid block tag ${JSON.stringify(value)}: want a hex number, "latest", "earliest", "pending", "safe" or "finalized"`);
}

/** A hex quantity ("0x1a"), no leading zeros required to be absent (clients differ). */
export function hexQuantity(value: unknown, name: string): bigint {
  if (typeof value !== 'string' || !/^0x[0-9a-fA-F]{1,64}$/.test(value)) {
    throw invalidParams(`${name} must be a hex quantity like "0x1a", got ${JSON.stringify(value)}`);
  }
  return BigInt(value);
}

/** Hex bytes, optionally of an exact length. */
export function hexData(value: unknown, name: string, length?: number): Uint8Array {
  if (typeof value !== 'string' || !/^0x([0-9a-fA-F]{2})*$/.test(value)) {
    throw invalidParams(`${name} must be 0x-prefixed hex bytes, got ${JSON.stringify(value)}`);
  }
  const bytes = hexToBytes(value as `0x${string}`);
  if (length !== undefined && bytes.length !== length) throw invalidParams(`${name} must be ${length} bytes, got ${bytes.length}`);
  return bytes;
}

export function bool(value: unknown, name: string): boolean {
  if (typeof value !== 'boolean') throw invalidParams(`${name} must be true or false, got ${JSON.stringify(value)}`);
  return value;
}
