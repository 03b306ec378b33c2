import { join } from 'node:path';
import pino from 'pino';
import { afterEach } from 'vitest';
import { LIBP2P_KEY_PATH, VALIDATOR_KEY_PATH, writeKeyFile } from '../../src/keys/keyfile.js';
import { BasaltNode, type NodeOptions } from '../../src/node/node.js';
import { openTestChain, sealNext, testGenesis, testKey } from './chain-fixture.js';
import { tempDir } from './cli.js';

/**
 * Nodes of a one-validator chain started in-process, stopped after each test (`stops`, for anything
 * else a test starts): data dirs holding the chain up to a head, with the keys given and no sign
 * journal (what `secrets restore` into a restored data dir leaves).
 */
export function loneValidatorNodes<Line>(prefix: string) {
  const { genesis, keys } = testGenesis(1);
  const stops: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    stops.length = 0;
  });

  /** A data dir holding the chain up to `head`, sealed by the validator's key, with `key` (validator) and `nodeKey` (libp2p). */
  async function dataDirAt(head: number, key = testKey(0), nodeKey = testKey(9)): Promise<string> {
    const dataDir = join(tempDir(prefix), 'node');
    const c = await openTestChain(genesis, dataDir);
    try {
      for (let i = 0; i < head; i++) await sealNext({ chain: c.chain, keys });
    } finally {
      await c.close();
    }
    writeKeyFile(join(dataDir, VALIDATOR_KEY_PATH), key);
    writeKeyFile(join(dataDir, LIBP2P_KEY_PATH), nodeKey);
    return dataDir;
  }

  /** A sealing node on `dataDir` (20 ms blocks), its log lines parsed into `lines`. */
  async function startNode(dataDir: string, lines: Line[], extra: Partial<NodeOptions> = {}): Promise<BasaltNode> {
    const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as Line) });
    const node = await BasaltNode.start({ dataDir, genesis, seal: true, blockTimeMs: 20, logger, ...extra });
    stops.push(() => node.stop());
    return node;
  }

  return { stops, dataDirAt, startNode };
}
