import { bytesToHex, createAddressFromString, hexToBytes } from '@ethereumjs/util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ethMethods, type RpcMethods } from '../../../src/rpc/jsonrpc/methods.js';
import { MAX_OVERRIDE_ACCOUNTS, MAX_OVERRIDE_SLOTS } from '../../../src/rpc/jsonrpc/call-overrides.js';
import { TxPool } from '../../../src/txpool/txpool.js';
import { createTestChain, sealNext, type TestChain } from '../../helpers/chain-fixture.js';
import { assemble, type Item } from '../../helpers/evm-asm.js';

let t: TestChain;
let m: RpcMethods;
const AT = '0x00000000000000000000000000000000000c0de0';
const word = (n: bigint) => bytesToHex(hexToBytes(`0x${n.toString(16).padStart(64, '0')}`));
/** Code that returns the word `pre` leaves on the stack (NUMBER, TIMESTAMP, COINBASE, BASEFEE, SLOAD(0) …). */
const returning = (...pre: Item[]) => bytesToHex(assemble([...pre, { push: 0n }, 'MSTORE', { push: 32n }, { push: 0n }, 'RETURN']));
const call = async (code: string, tag: unknown = 'latest', state: Record<string, unknown> = {}, block?: unknown) =>
  BigInt((await m.eth_call!([{ to: AT }, tag, { [AT]: { code }, ...state }, ...(block ? [block] : [])])) as string);

beforeAll(async () => {
  t = await createTestChain(1);
  m = ethMethods({ chain: t.chain, txpool: new TxPool(t.chain), blockTimeMs: 5000 });
  await sealNext(t);
  await sealNext(t);
});
afterAll(async () => {
  await t?.close();
});

describe('eth_call block context', () => {
  it('runs latest and pending in the next block; an explicit number in that block', async () => {
    const head = t.chain.head.header;
    expect(await call(returning('NUMBER'))).toBe(head.number + 1n);
    expect(await call(returning('NUMBER'), 'pending')).toBe(head.number + 1n);
    expect(await call(returning('NUMBER'), `0x${head.number.toString(16)}`)).toBe(head.number);
    // The sealer's timestamp: at least parent + block time (5 s here), never the head's own.
    expect(await call(returning('TIMESTAMP'))).toBeGreaterThanOrEqual(head.timestamp + 5n);
    expect(await call(returning('BASEFEE'))).toBe(head.calcNextBaseFee());
  });

  it('applies block overrides', async () => {
    expect(await call(returning('NUMBER'), 'latest', {}, { number: '0x77' })).toBe(0x77n);
    expect(await call(returning('TIMESTAMP'), 'latest', {}, { time: '0x1234' })).toBe(0x1234n);
    expect(await call(returning('COINBASE'), 'latest', {}, { feeRecipient: '0x00000000000000000000000000000000000000aa' })).toBe(0xaan);
    expect(await call(returning('BASEFEE'), 'latest', {}, { baseFeePerGas: '0x7' })).toBe(7n);
    await expect(call(returning('NUMBER'), 'latest', {}, { beaconRoot: word(1n) })).rejects.toThrow(/unsupported field "beaconRoot"/);
    await expect(call(returning('NUMBER'), 'latest', {}, { number: `0x1${'0'.repeat(16)}` })).rejects.toThrow(/does not fit in 64 bits/);
  });
});

describe('eth_call state overrides', () => {
  const sload0 = returning({ push: 0n }, 'SLOAD');
  it('replaces all storage with state and patches slots with stateDiff', async () => {
    expect(await call(sload0, 'latest', { [AT]: { code: sload0, state: { [word(0n)]: word(5n) } } })).toBe(5n);
    expect(await call(sload0, 'latest', { [AT]: { code: sload0, stateDiff: { [word(0n)]: word(6n) } } })).toBe(6n);
  });

  it('sets balance and nonce', async () => {
    const other = '0x00000000000000000000000000000000000000b1';
    const code = returning({ push: hexToBytes(other) }, 'BALANCE');
    expect(await call(code, 'latest', { [other]: { balance: '0x64' } })).toBe(100n);
  });

  it('refuses bad override sets before anything runs', async () => {
    await expect(call(sload0, 'latest', { [AT]: { code: sload0, state: {}, stateDiff: {} } })).rejects.toThrow(
      `account ${AT} has both 'state' and 'stateDiff'`,
    );
    await expect(m.eth_call!([{ to: AT }, 'latest', { '0x1234': {} }])).rejects.toThrow(/20 bytes/);
    await expect(m.eth_call!([{ to: AT }, 'latest', { [AT]: { balance: `0x1${'0'.repeat(64)}` } }])).rejects.toThrow(/hex quantity/);
    await expect(m.eth_call!([{ to: AT }, 'latest', { [AT]: { nonce: `0x1${'0'.repeat(16)}` } }])).rejects.toThrow(/64 bits/);
    await expect(m.eth_call!([{ to: AT }, 'latest', { [AT]: { stateDiff: { '0x01': word(1n) } } }])).rejects.toThrow(/32 bytes/);
    await expect(m.eth_call!([{ to: AT }, 'latest', { [AT]: { movePrecompileToAddress: AT } }])).rejects.toThrow(/not supported/);
    await expect(m.eth_call!([{ to: AT }, 'latest', { [AT]: { balanse: '0x1' } }])).rejects.toThrow(/unknown field "balanse"/);
    await expect(m.eth_call!([{ to: AT }, 'latest', [1]])).rejects.toThrow(/must be an object/);
    const many = Object.fromEntries(Array.from({ length: MAX_OVERRIDE_ACCOUNTS + 1 }, (_, i) => [`0x${i.toString(16).padStart(40, '0')}`, { balance: '0x1' }]));
    await expect(m.eth_call!([{ to: AT }, 'latest', many])).rejects.toThrow(/at most 1000 allowed/);
    const slots = Object.fromEntries(Array.from({ length: MAX_OVERRIDE_SLOTS + 1 }, (_, i) => [word(BigInt(i)), word(1n)]));
    await expect(m.eth_call!([{ to: AT }, 'latest', { [AT]: { stateDiff: slots } }])).rejects.toThrow(/more than 10000 storage slots/);
  });

  it('leaves no trace: the same call without overrides sees the chain as it is', async () => {
    await call(sload0, 'latest', { [AT]: { code: sload0, state: { [word(0n)]: word(5n) } } });
    expect(await m.eth_call!([{ to: AT }, 'latest'])).toBe('0x');
    const state = await t.chain.stateAt(t.chain.head.header);
    expect(await state.getAccount(createAddressFromString(AT))).toBeUndefined();
  });
});
