import { afterAll, describe, expect, it } from 'vitest';
import { restoringService } from '../../../src/rpc/jsonrpc/restoring.js';
import { JsonRpcServer } from '../../../src/rpc/jsonrpc/server.js';
import type { SnapshotSyncProgress } from '../../../src/sync/sync-state.js';
import { silentLogger } from '../../../src/util/log.js';
import { CLIENT_VERSION } from '../../../src/util/version.js';

let server: JsonRpcServer | undefined;
afterAll(async () => {
  await server?.close();
});

describe('JSON-RPC while restoring from a peer snapshot', () => {
  it('answers who it is and eth_syncing, refuses the rest with -32002, is unhealthy; then the same port serves the full methods', async () => {
    let progress: SnapshotSyncProgress = { currentBlock: 0n, highestBlock: 0n, bytesReceived: 0, bytesAnnounced: 0 };
    server = new JsonRpcServer({ ...restoringService({ chainId: 100n, progress: () => progress }), logger: silentLogger() });
    const { port } = await server.listen('127.0.0.1', 0);
    const url = `http://127.0.0.1:${port}`;
    const call = async (method: string, params: unknown[] = []) => {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
      });
      return (await res.json()) as { result?: unknown; error?: { code: number; message: string } };
    };
    expect(await call('eth_chainId')).toMatchObject({ result: '0x64' });
    expect(await call('net_version')).toMatchObject({ result: '100' });
    expect(await call('web3_clientVersion')).toMatchObject({ result: CLIENT_VERSION });
    expect(await call('eth_blockNumber')).toMatchObject({ result: '0x0' });
    expect(await call('eth_syncing')).toMatchObject({
      result: { startingBlock: '0x0', currentBlock: '0x0', highestBlock: '0x0', snapshotBytesReceived: '0x0', snapshotBytesAnnounced: '0x0' },
    });
    progress = { peer: 'p', currentBlock: 7n, highestBlock: 20n, bytesReceived: 4096, bytesAnnounced: 10_000 };
    expect(await call('eth_syncing')).toMatchObject({
      result: { startingBlock: '0x0', currentBlock: '0x7', highestBlock: '0x14', snapshotBytesReceived: '0x1000', snapshotBytesAnnounced: '0x2710' },
    });
    for (const method of ['eth_getBalance', 'eth_sendRawTransaction', 'no_such_method']) {
      expect(await call(method, ['0x00'])).toMatchObject({
        error: {
          code: -32002,
          message: `${method} is not available yet: the node is restoring from a peer's snapshot (--sync snapshot); eth_syncing shows its progress`,
        },
      });
    }
    const health = await fetch(`${url}/health`);
    expect(health.status).toBe(503);
    expect(await health.json()).toEqual({ status: 'unhealthy', reason: "the node is restoring from a peer's snapshot (--sync snapshot)" });

    server.serve({ methods: { eth_blockNumber: () => '0x9' }, health: () => ({ healthy: true }) });
    expect(await call('eth_blockNumber')).toMatchObject({ result: '0x9' });
    expect(await call('eth_syncing')).toMatchObject({ error: { code: -32601 } });
    expect((await fetch(`${url}/health`)).status).toBe(200);
  });
});
