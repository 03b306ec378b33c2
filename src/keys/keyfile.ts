import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { secp256k1 } from 'ethereum-cryptography/secp256k1.js';
import { bytesToHex, hexToBytes, toChecksumAddress } from '@ethereumjs/util';
import { UserError } from '../util/errors.js';
import { privateKeyToAddress } from './address.js';
import { libp2pPeerId } from './node-id.js';

/** Where the keys live inside a data dir (the Polygon SDK layout). */
export const LIBP2P_KEY_PATH = 'keystore/libp2p.key';
export const VALIDATOR_KEY_PATH = 'consensus/validator.key';

export interface NodeKeys {
  validatorKey: Uint8Array;
  /** EIP-55 checksummed. */
  validatorAddress: string;
  libp2pKey: Uint8Array;
  nodeId: string;
}

export interface CreatedSecrets {
  validatorAddress: string;
  nodeId: string;
}

/**
 * Create the node's two secp256k1 keys. Refuses if either exists: overwriting a validator key
 * would lose the identity the chain knows the node by.
 */
export function initSecrets(dataDir: string): CreatedSecrets {
  for (const rel of [LIBP2P_KEY_PATH, VALIDATOR_KEY_PATH]) {
    const path = join(dataDir, rel);
    if (existsSync(path)) throw new UserError(`${path} already exists: refusing to overwrite a key (use another --data-dir)`);
  }
  writeKeyFile(join(dataDir, LIBP2P_KEY_PATH), secp256k1.utils.randomPrivateKey());
  writeKeyFile(join(dataDir, VALIDATOR_KEY_PATH), secp256k1.utils.randomPrivateKey());
  const keys = loadNodeKeys(dataDir);
  return { validatorAddress: keys.validatorAddress, nodeId: keys.nodeId };
}

/** Write a key as hex, mode 0600, in a 0700 folder; never over an existing file. */
export function writeKeyFile(path: string, key: Uint8Array): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700); // mkdir's mode is filtered by the umask and skipped for existing folders
  writeFileSync(path, bytesToHex(key).slice(2), { flag: 'wx', mode: 0o600 });
  chmodSync(path, 0o600);
}

export function readKeyFile(path: string): Uint8Array {
  if (!existsSync(path)) {
    throw new UserError(`key file ${path} not found: run "basalt secrets init --data-dir <dir>" first`);
  }
  if (!statSync(path).isFile()) throw new UserError(`key file ${path} is not a file`);
  const text = readFileSync(path, 'utf8').trim().replace(/^0x/, '');
  if (!/^[0-9a-fA-F]{64}$/.test(text)) throw new UserError(`key file ${path} does not hold a 32-byte hex secp256k1 key`);
  const key = hexToBytes(`0x${text}`);
  if (!secp256k1.utils.isValidPrivateKey(key)) throw new UserError(`key file ${path} holds an invalid secp256k1 key`);
  return key;
}

export function loadValidatorKey(dataDir: string): Uint8Array {
  return readKeyFile(join(dataDir, VALIDATOR_KEY_PATH));
}

export function loadNodeKeys(dataDir: string): NodeKeys {
  const validatorKey = loadValidatorKey(dataDir);
  const libp2pKey = readKeyFile(join(dataDir, LIBP2P_KEY_PATH));
  return {
    validatorKey,
    validatorAddress: toChecksumAddress(bytesToHex(privateKeyToAddress(validatorKey))),
    libp2pKey,
    nodeId: libp2pPeerId(libp2pKey),
  };
}
