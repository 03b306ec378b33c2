import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { hexToBytes } from '@ethereumjs/util';
import { z } from 'zod';
import { DEFAULT_BASE_FEE, DEFAULT_GAS_LIMIT, makeGenesisFile } from '../consensus/ibft/genesis.js';
import { initNodeSecrets } from './new-keys.js';
import { loadNodeKeys } from '../keys/keyfile.js';
import { replaceFile } from '../util/durable.js';
import { UserError, errorMessage } from '../util/errors.js';
import { DEV_ACCOUNT, DEV_CHAIN_ID } from './dev.js';

/**
 * `basalt devnet`: a local IBFT network in one folder (as Polygon Edge's cluster scripts and Besu's
 * quickstart). The folder holds one data dir per node, the genesis (the validators, the dev account
 * premined, every node a bootnode) and `devnet.json`, which records the nodes and their ports, so a
 * second run starts the same network. This module prepares the folder; the CLI runs the processes.
 */

export const DEVNET_FILE = 'devnet.json';
/** Ports each node takes from its base: JSON-RPC, WebSocket, gRPC, libp2p, Prometheus. */
const PORTS_PER_NODE = 5;
/** Node i's ports start at base + i * NODE_PORT_STRIDE. */
const NODE_PORT_STRIDE = 10;
export const DEVNET_MAX_NODES = 32;
const DEV_BALANCE = 10n ** 24n;

export interface DevnetNode {
  name: string;
  role: 'validator' | 'full';
  dataDir: string;
  validatorAddress: string;
  nodeId: string;
  ports: { jsonrpc: number; ws: number; grpc: number; libp2p: number; metrics: number };
}

export interface Devnet {
  dir: string;
  genesis: string;
  chainId: number;
  blockTime: number;
  nodes: DevnetNode[];
}

const devnetSchema = z.object({
  version: z.literal(1),
  chainId: z.number().int().positive(),
  blockTime: z.number().positive(),
  nodes: z
    .array(
      z.object({
        name: z.string().regex(/^[a-z]+\d+$/),
        role: z.enum(['validator', 'full']),
        validatorAddress: z.string(),
        nodeId: z.string(),
        ports: z.object({
          jsonrpc: z.number().int().min(1).max(65535),
          ws: z.number().int().min(1).max(65535),
          grpc: z.number().int().min(1).max(65535),
          libp2p: z.number().int().min(1).max(65535),
          metrics: z.number().int().min(1).max(65535),
        }),
      }),
    )
    .min(1)
    .max(DEVNET_MAX_NODES),
});

export interface DevnetOptions {
  dir: string;
  validators: number;
  fullNodes: number;
  basePort: number;
  blockTime: number;
}

/**
 * The devnet of `opts.dir`: read from its devnet.json when one is there (the node counts and ports
 * given now must not contradict it), else created (keys, genesis, devnet.json, in that order, so a run
 * killed half-way is finished by the next one: keys are reused, the genesis and devnet.json written
 * last and durably).
 */
export function prepareDevnet(opts: DevnetOptions, given: { validators: boolean; fullNodes: boolean }): { devnet: Devnet; created: boolean } {
  const dir = resolve(opts.dir);
  const file = join(dir, DEVNET_FILE);
  if (existsSync(file)) {
    const devnet = readDevnet(dir);
    const validators = devnet.nodes.filter((n) => n.role === 'validator').length;
    const full = devnet.nodes.length - validators;
    if ((given.validators && opts.validators !== validators) || (given.fullNodes && opts.fullNodes !== full)) {
      throw new UserError(
        `${dir} holds a devnet of ${validators} validators and ${full} full nodes; start it as it is, or use another --dir for ${opts.validators} and ${opts.fullNodes}`,
      );
    }
    return { devnet, created: false };
  }
  if (opts.validators + opts.fullNodes > DEVNET_MAX_NODES) throw new UserError(`a devnet has at most ${DEVNET_MAX_NODES} nodes`);
  const lastPort = opts.basePort + (opts.validators + opts.fullNodes - 1) * NODE_PORT_STRIDE + PORTS_PER_NODE - 1;
  if (lastPort > 65535)
    throw new UserError(`--base-port ${opts.basePort} leaves no room for ${opts.validators + opts.fullNodes} nodes (ports up to ${lastPort})`);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError(`cannot make the devnet folder ${dir}: ${code === 'EEXIST' || code === 'ENOTDIR' ? 'a file is in the way' : errorMessage(err)}`);
  }
  const nodes: DevnetNode[] = [];
  const count = opts.validators + opts.fullNodes;
  for (let i = 0; i < count; i++) {
    const role = i < opts.validators ? 'validator' : 'full';
    const name = role === 'validator' ? `v${i + 1}` : `f${i - opts.validators + 1}`;
    const dataDir = join(dir, name);
    const keys = existsSync(join(dataDir, 'consensus', 'validator.key')) ? readKeys(dataDir) : initNodeSecrets(dataDir);
    const base = opts.basePort + i * NODE_PORT_STRIDE;
    nodes.push({
      name,
      role,
      dataDir,
      validatorAddress: keys.validatorAddress,
      nodeId: keys.nodeId,
      ports: { jsonrpc: base, ws: base + 1, grpc: base + 2, libp2p: base + 3, metrics: base + 4 },
    });
  }
  const validators = nodes.filter((n) => n.role === 'validator');
  const genesis = makeGenesisFile({
    name: 'basalt-devnet',
    chainId: DEV_CHAIN_ID,
    validators: validators.map((v) => hexToBytes(v.validatorAddress as `0x${string}`)),
    premine: [{ address: DEV_ACCOUNT.address, balance: DEV_BALANCE }],
    gasLimit: DEFAULT_GAS_LIMIT,
    baseFee: DEFAULT_BASE_FEE,
    timestamp: BigInt(Math.floor(Date.now() / 1000)),
  });
  genesis.bootnodes = nodes.map(bootnodeOf);
  const genesisPath = join(dir, 'genesis.json');
  replaceFile(genesisPath, new TextEncoder().encode(`${JSON.stringify(genesis, null, 2)}\n`), 0o644);
  const record = {
    version: 1,
    chainId: DEV_CHAIN_ID,
    blockTime: opts.blockTime,
    nodes: nodes.map(({ dataDir: _, ...n }) => n),
  };
  replaceFile(join(dir, DEVNET_FILE), new TextEncoder().encode(`${JSON.stringify(record, null, 2)}\n`), 0o644);
  return { devnet: { dir, genesis: genesisPath, chainId: DEV_CHAIN_ID, blockTime: opts.blockTime, nodes }, created: true };
}

/** The keys of a node a run killed before devnet.json created (initSecrets refuses existing keys). */
function readKeys(dataDir: string): { validatorAddress: string; nodeId: string } {
  const { validatorAddress, nodeId } = loadNodeKeys(dataDir);
  return { validatorAddress, nodeId };
}

function readDevnet(dir: string): Devnet {
  const file = join(dir, DEVNET_FILE);
  let parsed: z.infer<typeof devnetSchema>;
  try {
    parsed = devnetSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
  } catch (err) {
    throw new UserError(`${file} is not a devnet record (${errorMessage(err).split('\n')[0]}); remove the folder to create a new devnet`);
  }
  return {
    dir,
    genesis: join(dir, 'genesis.json'),
    chainId: parsed.chainId,
    blockTime: parsed.blockTime,
    nodes: parsed.nodes.map((n) => ({ ...n, dataDir: join(dir, n.name) })),
  };
}

export function bootnodeOf(n: DevnetNode): string {
  return `/ip4/127.0.0.1/tcp/${n.ports.libp2p}/p2p/${n.nodeId}`;
}

/** Refuse, in one line, the first port of the devnet that something else holds. */
export async function checkDevnetPorts(devnet: Devnet): Promise<void> {
  for (const n of devnet.nodes) {
    for (const [what, port] of Object.entries(n.ports)) {
      const free = await new Promise<boolean>((done) => {
        const s = createServer();
        s.once('error', () => done(false));
        s.listen(port, '127.0.0.1', () => s.close(() => done(true)));
      });
      if (!free) {
        throw new UserError(`port ${port} (${n.name}'s ${what}) is in use: stop what holds it, or start the devnet in a new --dir with another --base-port`, {
          code: 'UNAVAILABLE',
        });
      }
    }
  }
}
