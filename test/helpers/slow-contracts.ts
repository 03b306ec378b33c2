import type { Common } from '@ethereumjs/common';
import { createFeeMarket1559Tx } from '@ethereumjs/tx';
import { bytesToHex } from '@ethereumjs/util';
import { testGenesis } from './chain-fixture.js';

/**
 * A genesis whose contracts execute far slower per gas than ordinary opcodes: CALLEE is 24 KiB of code
 * (PUSH1 4; JUMP; STOP; JUMPDEST; STOP; then PUSH1s) that @ethereumjs analyses whole at every call; CALLER
 * loops for ever, each turn writing slot 0 (a write the timeout must undo) and calling CALLEE warm.
 */
export const CALLEE: `0x${string}` = `0x${'cc'.repeat(20)}`;
export const CALLER: `0x${string}` = `0x${'aa'.repeat(20)}`;
export function slowGenesis(premine: string[]) {
  const { genesis, keys } = testGenesis(1, premine);
  const code = new Uint8Array(24_576);
  code.set([0x60, 0x04, 0x56, 0x00, 0x5b, 0x00]);
  for (let i = 6; i + 1 < code.length; i += 2) code.set([0x60, 0x01], i);
  genesis.genesis.alloc[CALLEE] = { balance: '0x0', code: bytesToHex(code) };
  // JUMPDEST; GAS; PUSH0; SSTORE; PUSH0 x4; PUSH20 CALLEE; GAS; STATICCALL; POP; PUSH0; JUMP
  const loop = [0x5b, 0x5a, 0x5f, 0x55, 0x5f, 0x5f, 0x5f, 0x5f, 0x73, ...Buffer.from('cc'.repeat(20), 'hex'), 0x5a, 0xfa, 0x50, 0x5f, 0x56];
  genesis.genesis.alloc[CALLER] = { balance: '0x0', code: bytesToHex(Uint8Array.from(loop)) };
  return { genesis, keys };
}

/** A call of CALLER by `key` (nonce 0) with `gasLimit`, CALLEE warm: its loop runs until that gas is spent. */
export function slowCall(common: Common, key: Uint8Array, gasLimit: bigint) {
  return createFeeMarket1559Tx(
    {
      nonce: 0n,
      to: CALLER,
      gasLimit,
      maxFeePerGas: 10n ** 11n,
      maxPriorityFeePerGas: 1n,
      chainId: 100n,
      accessList: [{ address: CALLEE, storageKeys: [] }],
    },
    { common },
  ).sign(key);
}
