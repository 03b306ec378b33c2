import { pino } from 'pino';
import { expect, it } from 'vitest';
import { RpcDispatcher } from '../../../src/rpc/jsonrpc/dispatch.js';
import { RpcError } from '../../../src/rpc/jsonrpc/errors.js';

it('tells the metrics of each call by method, errors included; a method it does not serve is "other", whatever its name', async () => {
  const seen: [string, boolean][] = [];
  const d = new RpcDispatcher({
    methods: {
      eth_blockNumber: async () => '0x1',
      eth_call: async () => {
        throw new RpcError(3, 'execution reverted');
      },
    },
    logger: pino({ level: 'silent' }),
    observe: (method, ok, seconds) => {
      expect(seconds).toBeGreaterThanOrEqual(0);
      seen.push([method, ok]);
    },
  });
  const call = (method: string) => d.handleText(JSON.stringify({ jsonrpc: '2.0', id: 1, method, params: [] }));
  await call('eth_blockNumber');
  await call('eth_call');
  await call(`attacker_${'x'.repeat(100)}`);
  await d.handleText(JSON.stringify([1, 2].map((id) => ({ jsonrpc: '2.0', id, method: 'eth_blockNumber' }))));
  expect(seen).toEqual([
    ['eth_blockNumber', true],
    ['eth_call', false],
    ['other', false],
    ['eth_blockNumber', true],
    ['eth_blockNumber', true],
  ]);
});
