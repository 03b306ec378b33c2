import { bytesToHex } from '@ethereumjs/util';
import type { AccountOverride, BlockOverrides, StateOverrides } from '../../chain/sim-context.js';
import { RpcError, RpcErrorCode, invalidParams } from './errors.js';
import { hexData, hexQuantity } from './params.js';

/** Most accounts one state override set may name. */
export const MAX_OVERRIDE_ACCOUNTS = 1000;
/** Most storage slots (state + stateDiff, all accounts) one override set may write. */
export const MAX_OVERRIDE_SLOTS = 10_000;
/** Largest code an override may install (geth has none; the request size bounds it there). */
export const MAX_OVERRIDE_CODE = 256 * 1024;
const U64_MAX = 2n ** 64n - 1n;

const ACCOUNT_FIELDS = new Set(['balance', 'nonce', 'code', 'state', 'stateDiff']);
const BLOCK_FIELDS: Record<string, true> = {
  number: true,
  time: true,
  gasLimit: true,
  feeRecipient: true,
  coinbase: true,
  baseFeePerGas: true,
  baseFee: true,
  difficulty: true,
  prevRandao: true,
  random: true,
};

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const present = (v: unknown) => v !== undefined && v !== null;

/**
 * geth's state override set: `{ "0xaddr": { balance, nonce, code, state | stateDiff } }`. Every value
 * is checked and bounded before anything runs; a bad one fails the whole request.
 */
export function parseStateOverrides(v: unknown): StateOverrides | undefined {
  if (!present(v)) return undefined;
  if (!isObject(v)) throw invalidParams('state override set must be an object of address → account override');
  const entries = Object.entries(v);
  if (entries.length > MAX_OVERRIDE_ACCOUNTS)
    throw invalidParams(`state override set names ${entries.length} accounts, at most ${MAX_OVERRIDE_ACCOUNTS} allowed`);
  const out: StateOverrides = new Map();
  let slots = 0;
  for (const [addr, o] of entries) {
    const address = bytesToHex(hexData(addr, 'state override address', 20));
    if (out.has(address)) throw invalidParams(`state override names account ${address} twice`);
    if (!isObject(o)) throw invalidParams(`state override of ${address} must be an object`);
    for (const k of Object.keys(o)) {
      if (k === 'movePrecompileToAddress') throw invalidParams('movePrecompileToAddress is not supported');
      if (!ACCOUNT_FIELDS.has(k)) throw invalidParams(`state override of ${address}: unknown field "${k}" (balance, nonce, code, state, stateDiff)`);
    }
    if (present(o.state) && present(o.stateDiff)) throw new RpcError(RpcErrorCode.InvalidInput, `account ${address} has both 'state' and 'stateDiff'`);
    const acct: AccountOverride = {};
    if (present(o.balance)) acct.balance = hexQuantity(o.balance, `balance of ${address}`);
    if (present(o.nonce)) {
      acct.nonce = hexQuantity(o.nonce, `nonce of ${address}`);
      if (acct.nonce > U64_MAX) throw invalidParams(`nonce of ${address} does not fit in 64 bits`);
    }
    if (present(o.code)) {
      acct.code = hexData(o.code, `code of ${address}`);
      if (acct.code.length > MAX_OVERRIDE_CODE) throw invalidParams(`code of ${address} is ${acct.code.length} bytes, at most ${MAX_OVERRIDE_CODE} allowed`);
    }
    for (const field of ['state', 'stateDiff'] as const) {
      if (!present(o[field])) continue;
      if (!isObject(o[field])) throw invalidParams(`${field} of ${address} must be an object of slot → value`);
      const pairs = Object.entries(o[field]);
      slots += pairs.length;
      if (slots > MAX_OVERRIDE_SLOTS) throw invalidParams(`state override writes more than ${MAX_OVERRIDE_SLOTS} storage slots`);
      acct[field] = pairs.map(([slot, value]) => [hexData(slot, `${field} slot of ${address}`, 32), hexData(value, `${field} value of ${address}`, 32)]);
    }
    out.set(address, acct);
  }
  return out;
}

/** geth's block override set: number, time, gasLimit, feeRecipient, baseFeePerGas, difficulty, prevRandao. */
export function parseBlockOverrides(v: unknown): BlockOverrides | undefined {
  if (!present(v)) return undefined;
  if (!isObject(v)) throw invalidParams('block overrides must be an object');
  for (const k of Object.keys(v)) {
    if (!BLOCK_FIELDS[k])
      throw invalidParams(`block overrides: unsupported field "${k}" (number, time, gasLimit, feeRecipient, baseFeePerGas, difficulty, prevRandao)`);
  }
  const out: BlockOverrides = {};
  if (present(v.number)) {
    out.number = hexQuantity(v.number, 'block override number');
    if (out.number > U64_MAX) throw invalidParams('block override number does not fit in 64 bits');
  }
  if (present(v.time)) {
    out.time = hexQuantity(v.time, 'block override time');
    if (out.time > U64_MAX) throw invalidParams('block override time does not fit in 64 bits');
  }
  if (present(v.gasLimit)) {
    out.gasLimit = hexQuantity(v.gasLimit, 'block override gasLimit');
    if (out.gasLimit > U64_MAX) throw invalidParams('block override gasLimit does not fit in 64 bits');
  }
  const coinbase = v.feeRecipient ?? v.coinbase;
  if (present(coinbase)) out.coinbase = hexData(coinbase, 'block override feeRecipient', 20);
  const baseFee = v.baseFeePerGas ?? v.baseFee;
  if (present(baseFee)) out.baseFee = hexQuantity(baseFee, 'block override baseFeePerGas');
  if (present(v.difficulty)) out.difficulty = hexQuantity(v.difficulty, 'block override difficulty');
  const randao = v.prevRandao ?? v.random;
  if (present(randao)) out.mixHash = hexData(randao, 'block override prevRandao', 32);
  return out;
}
