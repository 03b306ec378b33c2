import { randomBytes } from 'node:crypto';

/**
 * A random filter or subscription ID (128 bits) written as a quantity, as geth writes them: no
 * leading zeros ("0xf3…", never "0x0f3…"), which the execution-apis quantity pattern forbids.
 */
export function randomQuantityId(): string {
  let id = 0n;
  while (id === 0n) id = BigInt(`0x${randomBytes(16).toString('hex')}`);
  return `0x${id.toString(16)}`;
}

/** The ID a client sent, in the form randomQuantityId gives (lower case, no leading zeros); undefined if not hex. */
export function normalizeId(v: unknown): string | undefined {
  if (typeof v !== 'string' || !/^0x[0-9a-fA-F]{1,64}$/.test(v)) return undefined;
  return `0x${BigInt(v).toString(16)}`;
}
