import { keccak256 } from 'ethereum-cryptography/keccak.js';
import { assemble, deployer } from './evm-asm.js';

/** topic0 of the storage contract's event: keccak256("Set(uint256)"). */
export const SET_TOPIC = keccak256(new TextEncoder().encode('Set(uint256)'));

/** ABI encoding of Error("zero"): what the contract reverts with. */
function errorZero(): Uint8Array {
  const out = new Uint8Array(100);
  out.set([0x08, 0xc3, 0x79, 0xa0]);
  out[4 + 31] = 0x20; // offset
  out[36 + 31] = 4; // length
  out.set(new TextEncoder().encode('zero'), 68);
  return out;
}

/**
 * A storage contract, hand-assembled:
 *   no calldata          -> returns slot 0
 *   32-byte word v != 0  -> slot 0 = v, emits Set(uint256) with v as data
 *   v == 0               -> reverts with Error("zero")
 */
export const STORAGE_RUNTIME = assemble([
  'CALLDATASIZE',
  'ISZERO',
  { ref: 'get' },
  'JUMPI',
  { push: 0n },
  'CALLDATALOAD',
  'DUP1',
  'ISZERO',
  { ref: 'fail' },
  'JUMPI',
  'DUP1',
  { push: 0n },
  'SSTORE',
  { push: 0n },
  'MSTORE',
  { push: SET_TOPIC },
  { push: 32n },
  { push: 0n },
  'LOG1',
  'STOP',
  { label: 'get' },
  { push: 0n },
  'SLOAD',
  { push: 0n },
  'MSTORE',
  { push: 32n },
  { push: 0n },
  'RETURN',
  { label: 'fail' },
  { push: 100n },
  { ref: 'blob' },
  { push: 0n },
  'CODECOPY',
  { push: 100n },
  { push: 0n },
  'REVERT',
  { mark: 'blob' },
  { data: errorZero() },
]);

export const STORAGE_INITCODE = deployer(STORAGE_RUNTIME);

export function word(v: bigint): string {
  return `0x${v.toString(16).padStart(64, '0')}`;
}

/** Loops forever (until out of gas). */
export const LOOP_RUNTIME = assemble([{ label: 'top' }, { ref: 'top' }, 'JUMP']);

/** Returns the gas left when it starts (the GAS opcode), as a 32-byte word. */
export const GAS_RUNTIME = assemble(['GAS', { push: 0n }, 'MSTORE', { push: 32n }, { push: 0n }, 'RETURN']);
