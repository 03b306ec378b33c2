import { existsSync } from 'node:fs';
import { LocalBackupService } from '../backup/local.js';
import { Chain } from '../chain/chain.js';
import { parseGenesisConfig, type GenesisConfig } from '../chain/chain-config.js';
import { ibftEngineFor } from '../consensus/ibft/genesis.js';
import { Genesis, genesisAt } from '../chain/genesis-source.js';
import { readChainConfigJson } from '../storage/block-store.js';
import { dataDirLayout } from '../storage/data-dir.js';
import { openNodeDatabases } from '../storage/node-databases.js';
import { UserError } from '../util/errors.js';
import type { Logger } from '../util/log.js';

export interface OfflineChain {
  chain: Chain;
  close(): Promise<void>;
}

/**
 * Open a data dir's chain in this process, for offline export/import/snapshot when no node runs on
 * it. The LevelDB locks decide: if a node holds the dir, this fails and the operator is told to go
 * through that node's gRPC API instead. The genesis is the one stored in the data dir unless
 * `genesisPath` is given (which must then match it).
 */
export async function openOfflineChain(dataDir: string, opts: { genesisPath?: string; create?: boolean; logger?: Logger } = {}): Promise<OfflineChain> {
  const layout = dataDirLayout(dataDir);
  if (!opts.create && !existsSync(layout.blockchain)) {
    throw new UserError(`${layout.root} is not a Basalt data dir (no blockchain/ database)`, { code: 'NOT_FOUND' });
  }
  let dbs;
  try {
    dbs = await openNodeDatabases(layout);
  } catch (err) {
    if (err instanceof UserError && err.code === 'LOCKED') {
      throw new UserError(
        `data dir ${layout.root} is locked by another running node; drop --data-dir to go through the running node's gRPC API (--grpc-address)`,
        {
          code: 'LOCKED',
          cause: err,
        },
      );
    }
    throw err;
  }
  try {
    // The genesis file given (checked against the stored chain), or the data dir's own configuration.
    const genesis = opts.genesisPath ? await Genesis.read(genesisAt(opts.genesisPath)) : undefined;
    let config: GenesisConfig | undefined = genesis?.config;
    if (!config) {
      const stored = await readChainConfigJson(dbs.blockchain);
      if (stored === undefined) throw new UserError(`${layout.root} has no chain yet: pass --chain genesis.json`, { code: 'FAILED_PRECONDITION' });
      config = parseGenesisConfig(stored, `${layout.blockchain} (stored genesis)`);
    }
    const chain = await Chain.open({
      blockchainDb: dbs.blockchain,
      trieDb: dbs.trie,
      ...(genesis ? { genesis } : {}),
      scratchDir: layout.root,
      engine: ibftEngineFor(config, genesis?.bytes.name ?? `${layout.blockchain} (stored genesis)`),
      damage: dbs.reporter,
      ...(opts.logger ? { logger: opts.logger } : {}),
    });
    return {
      chain,
      async close() {
        await chain.close();
        await dbs.close();
      },
    };
  } catch (err) {
    await dbs.close();
    throw err;
  }
}

/** The backup service over a data dir opened offline; close it when done. */
export async function openOfflineBackupService(
  dataDir: string,
  opts: { genesisPath?: string; create?: boolean } = {},
): Promise<{ service: LocalBackupService; close(): Promise<void> }> {
  const { chain, close } = await openOfflineChain(dataDir, opts);
  return { service: new LocalBackupService(chain), close };
}
