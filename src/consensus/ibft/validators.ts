import { bytesToHex } from '@ethereumjs/util';

/** The largest number of faulty validators a set of `n` tolerates: F = floor((n - 1) / 3). */
export function maxFaulty(n: number): number {
  return Math.floor((n - 1) / 3);
}

/** Committed seals a block needs: 2F + 1 of the validator set (Polygon SDK's IBFT quorum). */
export function quorumSize(n: number): number {
  return 2 * maxFaulty(n) + 1;
}

export function validatorIndex(validators: Uint8Array[], addr: Uint8Array): number {
  const hex = bytesToHex(addr);
  return validators.findIndex((v) => bytesToHex(v) === hex);
}

export function sameValidatorSet(a: Uint8Array[], b: Uint8Array[]): boolean {
  return a.length === b.length && a.every((v, i) => bytesToHex(v) === bytesToHex(b[i]!));
}

/** Round-robin proposer for the block after the one `lastProposer` sealed (round 0). */
export function nextProposer(validators: Uint8Array[], lastProposer: Uint8Array | undefined, round = 0): Uint8Array {
  const last = lastProposer ? validatorIndex(validators, lastProposer) : -1;
  const idx = (last + 1 + round) % validators.length;
  return validators[idx < 0 ? 0 : idx]!;
}
