import type { Block } from '@ethereumjs/block';
import { bytesToUnprefixedHex, createZeroAddress, hexToBytes } from '@ethereumjs/util';
import type { Chain } from './chain.js';
import { ExecutionGuard } from './exec-guard.js';
import type { CallRequest } from './simulate.js';
import { scratchVm } from './simulate.js';
import { recoveredFor, scratchCall } from './trace.js';

export interface AccessListResult {
  accessList: { address: Uint8Array; storageKeys: Uint8Array[] }[];
  gasUsed: bigint;
  error?: string;
  returnValue: Uint8Array;
}

/** Rounds of "run with the list found so far" before giving up on a list that keeps changing (geth: unbounded). */
const MAX_ROUNDS = 8;

/**
 * eth_createAccessList: the addresses and slots a call touches (its sender, recipient and the
 * precompiles left out, as geth does), found by running it until the list stops changing, and the gas
 * the call uses with that list. Runs on scratch state under `deadline`.
 */
export async function createAccessList(chain: Chain, block: Block, req: CallRequest, gas: bigint, deadline = Infinity): Promise<AccessListResult> {
  const guard = new ExecutionGuard(deadline);
  const vm = await scratchVm(chain, block.header, block.header.number, guard);
  const authorities = await recoveredFor(vm, req, guard); // once for all the rounds
  const excluded = new Set([
    bytesToUnprefixedHex((req.from ?? createZeroAddress()).bytes),
    ...(req.to ? [bytesToUnprefixedHex(req.to.bytes)] : []),
    ...vm.evm.precompiles.keys(),
  ]);
  let list = req.accessList ?? [];
  let previous = '';
  for (let round = 0; ; round++) {
    await vm.stateManager.checkpoint();
    let r;
    try {
      vm.evm.journal.startReportingAccessList();
      r = await scratchCall(vm, block, { ...req, accessList: list }, gas, guard, authorities);
    } finally {
      await vm.stateManager.revert();
    }
    const found: AccessListResult['accessList'] = [];
    for (const [address, slots] of vm.evm.journal.accessList ?? new Map<string, Set<string>>()) {
      if (excluded.has(address)) continue; // as geth: neither the address nor its slots
      found.push({ address: hexToBytes(`0x${address}`), storageKeys: [...slots].map((s) => hexToBytes(`0x${s}`)) });
    }
    const key = JSON.stringify(found.map((f) => [bytesToUnprefixedHex(f.address), f.storageKeys.map(bytesToUnprefixedHex)]));
    if (key === previous || round === MAX_ROUNDS)
      return { accessList: list, gasUsed: r.gasUsed, returnValue: r.returnValue, ...(r.error ? { error: r.error } : {}) };
    previous = key;
    list = found;
  }
}
