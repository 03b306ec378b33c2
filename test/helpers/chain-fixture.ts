import { Genesis } from '../../src/chain/genesis-source.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Block } from '@ethereumjs/block';
import type { TypedTransaction } from '@ethereumjs/tx';
import { bytesToHex, privateToAddress } from '@ethereumjs/util';
import { secp256k1 } from 'ethereum-cryptography/secp256k1.js';
import { Chain } from '../../src/chain/chain.js';
import type { GenesisFile } from '../../src/chain/chain-config.js';
import { ibftEngineFor, quorumRuleOf } from '../../src/consensus/ibft/genesis.js';
import { DEFAULT_BASE_FEE, makeGenesisFile } from '../../src/consensus/ibft/genesis.js';
import { decodeIbftExtra, encodeIbftExtra } from '../../src/consensus/ibft/extra.js';
import { sealBlock } from '../../src/consensus/ibft/seal.js';
import { nextProposer } from '../../src/consensus/ibft/validators.js';
import { openBytesDB, type BytesDB } from '../../src/storage/open-db.js';

export interface TestChain {
  chain: Chain;
  keys: Uint8Array[];
  genesis: GenesisFile;
  dir: string;
  dbs: BytesDB[];
  close(): Promise<void>;
}

/** Deterministic test keys: 0x01…01, 0x02…02, … */
export function testKey(i: number): Uint8Array {
  return new Uint8Array(32).fill(i + 1);
}

export function testGenesis(validatorCount: number, premine: string[] = []): { genesis: GenesisFile; keys: Uint8Array[] } {
  const keys = Array.from({ length: validatorCount }, (_, i) => testKey(i));
  const genesis = makeGenesisFile({
    name: 'test',
    chainId: 100,
    validators: keys.map((k) => privateToAddress(k)),
    premine: premine.map((address) => ({ address, balance: 10n ** 24n })),
    gasLimit: 30_000_000n,
    baseFee: DEFAULT_BASE_FEE,
    timestamp: 1_700_000_000n,
  });
  return { genesis, keys };
}

/** `now`: the chain's clock (Chain.open's option; default Date.now). */
export async function openTestChain(
  genesis: GenesisFile | Genesis,
  dir = mkdtempSync(join(tmpdir(), 'basalt-chain-')),
  opts: { now?: () => number; genesisState?: 'write' | 'deferred' } = {},
): Promise<{ chain: Chain; dir: string; dbs: BytesDB[]; close(): Promise<void> }> {
  const blockchainDb = await openBytesDB(join(dir, 'blockchain'), 'blockchain', dir);
  const trieDb = await openBytesDB(join(dir, 'trie'), 'trie', dir);
  let chain: Chain;
  try {
    chain = await Chain.open({
      blockchainDb,
      trieDb,
      genesis,
      engine: ibftEngineFor(genesis instanceof Genesis ? genesis.config : genesis, 'test genesis'),
      ...(opts.now ? { now: opts.now } : {}),
      ...(opts.genesisState ? { genesisState: opts.genesisState } : {}),
    });
  } catch (err) {
    await blockchainDb.close();
    await trieDb.close();
    throw err;
  }
  return {
    chain,
    dir,
    dbs: [blockchainDb, trieDb],
    async close() {
      await chain.close();
      await blockchainDb.close();
      await trieDb.close();
    },
  };
}

export async function createTestChain(validatorCount = 1, premine: string[] = [], opts: { now?: () => number } = {}): Promise<TestChain> {
  const { genesis, keys } = testGenesis(validatorCount, premine);
  const opened = await openTestChain(genesis, undefined, opts);
  return {
    ...opened,
    keys,
    genesis,
    async close() {
      await opened.close();
      rmSync(opened.dir, { recursive: true, force: true });
    },
  };
}

/** Produce and commit the next block, sealed by the round-0 proposer and a quorum of `keys`. */
export async function sealNext(t: { chain: Chain; keys: Uint8Array[] }, txs: TypedTransaction[] = [], timestampDelta = 1n): Promise<Block> {
  const head = t.chain.head.header;
  const extra = decodeIbftExtra(head.extraData);
  const proposer = nextProposer(extra.validators, head.number === 0n ? undefined : head.coinbase.bytes);
  const proposerKey = t.keys.find((k) => bytesToHex(privateToAddress(k)) === bytesToHex(proposer))!;
  const committers = t.keys.slice(0, quorumRuleOf(t.chain.genesisConfig).at(head.number + 1n, extra.validators.length));
  const result = await t.chain.produceBlock(
    {
      coinbase: proposer,
      timestamp: head.timestamp + timestampDelta,
      // The head's vote (if any) is its own: the next block carries none.
      extraData: encodeIbftExtra({ ...extra, proposerSeal: new Uint8Array(0), committedSeals: [], vote: undefined }),
    },
    txs,
    async (built) => sealBlock(built.block, proposerKey, committers, t.chain.commonAt(built.block.header.number)),
  );
  if (!result) throw new Error('block abandoned');
  if (result.built.rejected.length > 0) throw new Error(`rejected txs: ${result.built.rejected.map((r) => r.reason).join('; ')}`);
  return result.block;
}

export function addressOf(key: Uint8Array): string {
  return bytesToHex(privateToAddress(key));
}

export { secp256k1 };
