import { getCreateAddress, hexlify, JsonRpcProvider, Wallet } from 'ethers';
import { describe, expect, it } from 'vitest';
import { processesKilledAfterEach, rpc, serverArgs, singleValidatorChain } from '../helpers/cli.js';
import { LOOP_RUNTIME } from '../helpers/contracts.js';
import { deployer } from '../helpers/evm-asm.js';
import { DEV_ADDRESS, DEV_KEY } from '../helpers/load.js';

const startNode = processesKilledAfterEach();

describe('an endless eth_call against the real CLI', () => {
  it('runs without a cap or timeout, yet the node keeps sealing and answering, and SIGTERM stops it', async () => {
    const c = singleValidatorChain({ premine: [`${DEV_ADDRESS}:${10n ** 24n}`] });
    const node = startNode(serverArgs(c.node1, c.genesis, ['--seal', '--block-time', '0.25', '--rpc-gas-cap', '0', '--rpc-evm-timeout', '0']));
    const url = await node.rpcUrl();
    const provider = new JsonRpcProvider(url, undefined, { staticNetwork: true, pollingInterval: 100, cacheTimeout: -1 });
    try {
      const wallet = new Wallet(DEV_KEY, provider);
      const receipt = await (await wallet.sendTransaction({ data: hexlify(deployer(LOOP_RUNTIME)) })).wait();
      expect(receipt?.status).toBe(1);
      const loop = getCreateAddress({ from: DEV_ADDRESS, nonce: 0 });

      // 2^64-1 gas, no cap, no timeout: the call runs until the node stops.
      let callSettled = false;
      const call = fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_call', params: [{ to: loop, gas: '0xffffffffffffffff' }, 'latest'] }),
      })
        .then((r) => r.text())
        .catch(() => 'connection closed')
        .finally(() => (callSettled = true));
      const sealedBefore = node.sealed().length;
      const heads: number[] = [];
      while (heads.length < 8) heads.push(Number(await rpc<string>(url, 'eth_blockNumber')));
      await node.waitFor(() => node.sealed().length >= sealedBefore + 4, '4 blocks sealed during the call', 20_000);
      expect(callSettled).toBe(false); // all of the above happened while the call ran
      expect(Number(await rpc<string>(url, 'eth_blockNumber'))).toBeGreaterThan(heads[0]!);

      const exit = await node.stop('SIGTERM');
      expect(exit.code).toBe(0);
      expect(node.events('node.stopped').length > 0).toBe(true);
      await call;
    } finally {
      provider.destroy();
    }
  });
});
