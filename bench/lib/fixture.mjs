// The benchmark chain: BENCH_BLOCKS blocks of mixed transfers and contract storage writes, sealed by
// one validator, built once and cached outside the repo (CACHE). Rebuilt when FIXTURE_VERSION changes.
import { cpSync, existsSync, mkdirSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createFeeMarket1559Tx, createLegacyTx } from '@ethereumjs/tx';
import { bytesToHex, hexToBytes, privateToAddress, setLengthLeft, bigIntToBytes, concatBytes, generateAddress } from '@ethereumjs/util';
import { CACHE, importBlocks } from './util.mjs';

const dist = (p) => import(new URL(`../../dist/${p}`, import.meta.url).href);

export const BENCH_BLOCKS = Number(process.env.BASALT_BENCH_BLOCKS ?? 2000);
const TRANSFERS_PER_BLOCK = 6;
const WRITES_PER_BLOCK = 6;
const FIXTURE_VERSION = 1;
const SENDERS = Array.from({ length: 16 }, (_, i) => setLengthLeft(bigIntToBytes(BigInt(1000 + i)), 32));
const VALIDATOR = setLengthLeft(bigIntToBytes(7n), 32);
// Storage contract: runtime `PUSH1 0x20 CALLDATALOAD PUSH1 0x00 CALLDATALOAD SSTORE STOP` stores
// calldata[32:64] at slot calldata[0:32]; the init code copies those 8 bytes and returns them.
const RUNTIME = '6020356000355500';
const INITCODE = hexToBytes(`0x6008600c60003960086000f3${RUNTIME}`);

export function fixtureDir() {
  return join(CACHE, `chain-${BENCH_BLOCKS}-v${FIXTURE_VERSION}`);
}

/** Build (or reuse) the fixture; returns { dataDir, genesisPath, blocks, txs }. */
export async function ensureFixture(log = (m) => process.stderr.write(`${m}\n`)) {
  const dir = fixtureDir();
  const meta = join(dir, 'fixture.json');
  if (existsSync(meta)) return JSON.parse(readFileSync(meta, 'utf8'));
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const { makeGenesisFile, DEFAULT_BASE_FEE } = await dist('consensus/ibft/genesis.js');
  const { writeKeyFile } = await dist('keys/keyfile.js');
  const { dataDirLayout } = await dist('storage/data-dir.js');
  const { openNodeDatabases } = await dist('storage/node-databases.js');
  const { Chain } = await dist('chain/chain.js');
  const { IbftEngine } = await dist('consensus/ibft/engine.js');
  const { sealBlock } = await dist('consensus/ibft/seal.js');
  const { decodeIbftExtra, encodeIbftExtra } = await dist('consensus/ibft/extra.js');

  const genesis = makeGenesisFile({
    name: 'bench',
    chainId: 100,
    validators: [privateToAddress(VALIDATOR)],
    premine: SENDERS.map((k) => ({ address: bytesToHex(privateToAddress(k)), balance: 10n ** 24n })),
    gasLimit: 30_000_000n,
    baseFee: DEFAULT_BASE_FEE,
    timestamp: 1_700_000_000n,
  });
  const genesisPath = join(dir, 'genesis.json');
  writeFileSync(genesisPath, JSON.stringify(genesis, null, 2));
  const dataDir = join(dir, 'node');
  writeKeyFile(join(dataDir, 'consensus/validator.key'), VALIDATOR);
  writeKeyFile(join(dataDir, 'keystore/libp2p.key'), setLengthLeft(bigIntToBytes(8n), 32));
  // Keys made here: their journal says they signed nothing (else the validator waits as a restored one).
  const { markNothingSigned } = await dist('consensus/ibft/core/sign-journal.js');
  markNothingSigned(join(dataDir, 'consensus'));
  const dbs = await openNodeDatabases(dataDirLayout(dataDir));
  const chain = await Chain.open({ blockchainDb: dbs.blockchain, trieDb: dbs.trie, genesis, engine: new IbftEngine() });
  const nonces = SENDERS.map(() => 0n);
  const common = chain.commonAt(1n); // no fork after genesis: the rules of every block
  const fee = { maxFeePerGas: 10n ** 11n, maxPriorityFeePerGas: 10n ** 9n };
  let contract;
  let txCount = 0;
  const t0 = performance.now();
  for (let n = 1; n <= BENCH_BLOCKS; n++) {
    const txs = [];
    if (n === 1) {
      const tx = createFeeMarket1559Tx({ nonce: nonces[0]++, gasLimit: 100_000n, data: INITCODE, chainId: 100n, ...fee }, { common }).sign(SENDERS[0]);
      contract = bytesToHex(generateAddress(privateToAddress(SENDERS[0]), new Uint8Array(0))); // nonce 0
      txs.push(tx);
    } else {
      for (let i = 0; i < TRANSFERS_PER_BLOCK; i++) {
        const s = (n * 7 + i) % SENDERS.length;
        const to = bytesToHex(setLengthLeft(bigIntToBytes(BigInt(n * 100 + i)), 20));
        const tx =
          i % 2 === 0
            ? createFeeMarket1559Tx({ nonce: nonces[s]++, to, value: 10n ** 15n, gasLimit: 21_000n, chainId: 100n, ...fee }, { common })
            : createLegacyTx({ nonce: nonces[s]++, to, value: 10n ** 15n, gasLimit: 21_000n, gasPrice: 10n ** 11n }, { common });
        txs.push(tx.sign(SENDERS[s]));
      }
      for (let i = 0; i < WRITES_PER_BLOCK; i++) {
        const s = (n * 11 + i + 3) % SENDERS.length;
        const data = concatBytes(setLengthLeft(bigIntToBytes(BigInt(n * 1000 + i)), 32), setLengthLeft(bigIntToBytes(BigInt(n)), 32));
        txs.push(createFeeMarket1559Tx({ nonce: nonces[s]++, to: contract, data, gasLimit: 60_000n, chainId: 100n, ...fee }, { common }).sign(SENDERS[s]));
      }
    }
    const head = chain.head.header;
    const extra = decodeIbftExtra(head.extraData);
    const res = await chain.produceBlock(
      {
        coinbase: privateToAddress(VALIDATOR),
        timestamp: head.timestamp + 2n,
        extraData: encodeIbftExtra({ ...extra, proposerSeal: new Uint8Array(0), committedSeals: [] }),
      },
      txs,
      async (built) => sealBlock(built.block, VALIDATOR, [VALIDATOR], common),
    );
    if (res.built.rejected.length) throw new Error(`fixture block ${n}: ${res.built.rejected[0].reason}`);
    txCount += txs.length;
    if (n % 250 === 0) log(`fixture: ${n}/${BENCH_BLOCKS} blocks (${((n / (performance.now() - t0)) * 1000).toFixed(0)} blocks/s)`);
  }
  await chain.close();
  await dbs.close();
  const info = { dataDir, genesisPath, blocks: BENCH_BLOCKS, txs: txCount };
  writeFileSync(meta, JSON.stringify(info));
  return info;
}

/**
 * The bench chain copied into `work` (`src`: opening a data dir writes to it), an empty data dir `node`
 * beside it, and `importRange(from, to)`, which imports blocks from..to of `src` into `node`.
 */
export async function fixtureCopy(work) {
  const fx = await ensureFixture();
  const src = join(work, 'src');
  cpSync(fx.dataDir, src, { recursive: true });
  const node = join(work, 'node');
  return { fx, src, node, importRange: (from, to) => importBlocks({ work, src, node, genesisPath: fx.genesisPath }, from, to) };
}
