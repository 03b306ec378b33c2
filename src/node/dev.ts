import { existsSync } from 'node:fs';
import { writeFileNew } from '../util/durable.js';
import { join } from 'node:path';
import { hexToBytes } from '@ethereumjs/util';
import { DEFAULT_BASE_FEE, DEFAULT_GAS_LIMIT, makeGenesisFile } from '../consensus/ibft/genesis.js';
import { halfPairError, recoverKeyPair } from '../keys/key-pair.js';
import { initNodeSecrets } from './new-keys.js';
import { loadNodeKeys } from '../keys/keyfile.js';
import type { Logger } from '../util/log.js';
import { event } from '../util/events.js';

export const DEV_DATA_DIR = './data';
export const DEV_CHAIN_ID = 100;
/**
 * A well-known development account (the first Hardhat/Anvil account), premined on the dev chain so
 * wallets and scripts have funds at once. Its key is public: never use it outside a dev chain.
 */
export const DEV_ACCOUNT = {
  address: '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266',
  privateKey: '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80',
};
const DEV_BALANCE = 10n ** 24n; // 1,000,000 ETH

/**
 * The built-in default: a single-validator dev chain in `dataDir`. Creates the keys and
 * `genesis.json` on first use and reuses them after. Returns the genesis path.
 */
export function prepareDevDataDir(dataDir: string, log: Logger): string {
  const state = recoverKeyPair(dataDir, (note) => log.warn(note));
  if (state.kind === 'one') throw halfPairError(state);
  if (state.kind === 'none') {
    const created = initNodeSecrets(dataDir);
    log.info(event('keys.created', { validator: created.validatorAddress, nodeId: created.nodeId }), 'dev: created node keys');
  }
  const genesisPath = join(dataDir, 'genesis.json');
  if (!existsSync(genesisPath)) {
    const { validatorAddress } = loadNodeKeys(dataDir);
    const genesis = makeGenesisFile({
      name: 'basalt-dev',
      chainId: DEV_CHAIN_ID,
      validators: [hexToBytes(validatorAddress as `0x${string}`)],
      premine: [
        { address: validatorAddress, balance: DEV_BALANCE },
        { address: DEV_ACCOUNT.address, balance: DEV_BALANCE },
      ],
      gasLimit: DEFAULT_GAS_LIMIT,
      baseFee: DEFAULT_BASE_FEE,
      timestamp: BigInt(Math.floor(Date.now() / 1000)),
    });
    writeFileNew(genesisPath, Buffer.from(`${JSON.stringify(genesis, null, 2)}\n`), 0o644);
    log.info({ genesis: genesisPath, devAccount: DEV_ACCOUNT.address }, 'dev: wrote genesis (dev account key is public: dev only)');
  }
  return genesisPath;
}
