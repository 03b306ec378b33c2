import { join } from 'node:path';
import { markNothingSigned } from '../../../src/consensus/ibft/core/sign-journal.js';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { BasaltNode } from '../../../src/node/node.js';
import { LIBP2P_KEY_PATH, VALIDATOR_KEY_PATH, writeKeyFile } from '../../../src/keys/keyfile.js';
import type { StorageDamageError } from '../../../src/storage/damage.js';
import * as schema from '../../../src/storage/schema.js';
import { testGenesis, testKey } from '../../helpers/chain-fixture.js';
import { tempDir } from '../../helpers/cli.js';

describe('storage damage met at run time', () => {
  it('stops the node through one fatal path: one fatal line naming the database and what to do, no "not found" answer', async () => {
    const dataDir = join(tempDir(), 'node');
    writeKeyFile(join(dataDir, VALIDATOR_KEY_PATH), testKey(0));
    writeKeyFile(join(dataDir, LIBP2P_KEY_PATH), testKey(9));
    markNothingSigned(join(dataDir, 'consensus')); // keys made here (secrets init writes it)
    const lines: { level: number; msg: string; event?: string; database?: string }[] = [];
    const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
    let fatal!: (e: StorageDamageError) => void;
    const fataled = new Promise<StorageDamageError>((resolve) => (fatal = resolve));
    const node = await BasaltNode.start({
      dataDir,
      genesis: testGenesis(1).genesis,
      seal: true,
      blockTimeMs: 50,
      jsonrpc: { host: '127.0.0.1', port: 0 },
      logger,
      onFatal: fatal,
    });
    try {
      while (node.chain.head.number < 3n) await new Promise((r) => setTimeout(r, 20));
      // Lose block 1's canonical index entry under the running node (as a damaged table would).
      await node.chain.store.db.del(schema.canonicalHashKey(1n));
      const res = await fetch(`http://127.0.0.1:${node.jsonRpcAddress!.port}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_getBlockByNumber', params: ['0x1', false] }),
      });
      const body = (await res.json()) as { result?: unknown; error?: unknown };
      expect(body.result).toBeUndefined(); // never `null` for a block below the head
      expect(body.error).toBeDefined();

      const err = await fataled;
      expect(err.code).toBe('DATA_LOSS');
      expect(err.exitCode).not.toBe(0);
      const fatals = lines.filter((l) => l.level >= 60);
      expect(fatals).toHaveLength(1);
      expect(fatals[0]!.database).toBe('blockchain');
      expect(fatals[0]!.msg).toMatch(
        /^stopping: the blockchain database at .*blockchain is damaged \(canonical block 1 is missing from the index, below the head \d+\); restore the data dir from a snapshot \(`basalt restore`\)/,
      );
      expect(lines.some((l) => l.event === 'node.stopped')).toBe(true);
      expect(node.fatalError).toBe(err);
    } finally {
      await node.stop();
    }
  });
});
