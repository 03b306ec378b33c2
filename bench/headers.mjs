// Header verification benchmark (issue #21: "headers verified at >= 20,000/s on 2 cores"). Prints
// figures, asserts nothing. Usage: npm run bench:headers
//   BASALT_BENCH_HEADERS (default 20000): headers in each chain.
//
// A chain of sealed IBFT headers (no bodies) is made in memory for 1 and for 4 validators, then checked
// three ways, each timed on its own:
//   1. on the calling thread, each header's seals recovered as it is checked (what a node's import does);
//   2. as a restore does: the seals of 256 headers at a time recovered in worker threads (RecoverPool)
//      while the 256 before are checked against them;
//   3. the same-run baseline: the hash links alone (each header's parent hash against its parent's
//      hash), the cost of a header chain below an operator's trusted checkpoint, where no seal is read:
//      once from decoded headers (each hash from the header object, its fields encoded again), and once
//      as a restore checks them (decodeBlockHeaderRlp of each block record: the hash from the record's
//      own bytes; then the parent link and the engine's vote bookkeeping, as the restore's writer does).
//   4. as `backup restore` checks them by default (--seals set-changes): each record
//      decoded as in 3, every rule but the seals checked against its parent (the coinbase standing for
//      the proposer), the vote bookkeeping, and the seals of the blocks after which the validator set
//      changes (none in these chains) and of the last header, whose quorum vouches for those below it.
import { availableParallelism } from 'node:os';

const N = Number(process.env.BASALT_BENCH_HEADERS ?? 20_000);
const WINDOW = 256;
const report = (line) => process.stdout.write(`${line}\n`);
const dist = (p) => import(new URL(`../dist/${p}`, import.meta.url).href);

const { createBlockHeader, createBlockHeaderFromRLP } = await import('@ethereumjs/block');
const { privateToAddress, equalsBytes } = await import('@ethereumjs/util');
const { IbftEngine } = await dist('consensus/ibft/engine.js');
const { QuorumRule } = await dist('consensus/ibft/validators.js');
const { makeGenesisFile } = await dist('consensus/ibft/genesis.js');
const { buildGenesisBlock } = await dist('chain/genesis.js');
const { createChainRules } = await dist('chain/chain-config.js');
const { headerWithExtraData } = await dist('chain/block-util.js');
const { proposerSealedExtra, committedSeal, withCommittedSeals } = await dist('consensus/ibft/seal.js');
const { RecoverPool } = await dist('util/recover-pool.js');
const { decodeBlockHeaderRlp } = await dist('backup/block-records.js');
const { RLP } = await import('@ethereumjs/rlp');

const FAR_FUTURE = { nowSeconds: BigInt(Number.MAX_SAFE_INTEGER) };

/** `n` headers after the genesis of `validators` keys, each sealed by its proposer and a quorum. */
function makeChain(validators, n) {
  const keys = Array.from({ length: validators }, (_, i) => new Uint8Array(32).fill(i + 1));
  const byAddress = new Map(keys.map((k) => [Buffer.from(privateToAddress(k)).toString('hex'), k]));
  const g = makeGenesisFile({
    name: 'bench',
    chainId: 100,
    validators: keys.map((k) => privateToAddress(k)),
    premine: [],
    gasLimit: 30_000_000n,
    baseFee: 1_000_000_000n,
    timestamp: 1_700_000_000n,
  });
  const rules = createChainRules(g);
  const common = rules.commonAt(0n);
  const engine = new IbftEngine(QuorumRule.OPTIMAL);
  const genesis = buildGenesisBlock(g, new Uint8Array(32), common).header;
  const quorum = engine.quorumAt(1n, validators);
  const headers = [];
  let parent = genesis;
  for (let i = 1; i <= n; i++) {
    const next = engine.nextHeader(parent);
    const unsealed = createBlockHeader(
      {
        parentHash: engine.blockHash(parent),
        number: parent.number + 1n,
        timestamp: parent.timestamp + 2n,
        gasLimit: parent.gasLimit,
        baseFeePerGas: parent.calcNextBaseFee(),
        stateRoot: parent.stateRoot,
        ...next,
      },
      { common, skipConsensusFormatValidation: true },
    );
    const proposer = byAddress.get(Buffer.from(next.coinbase).toString('hex'));
    const proposed = headerWithExtraData(unsealed, proposerSealedExtra(unsealed, proposer), common);
    const seals = keys.slice(0, quorum).map((k) => committedSeal(proposed, k));
    parent = headerWithExtraData(proposed, withCommittedSeals(proposed, seals), common);
    headers.push(parent.serialize());
  }
  // Each way below decodes the headers from their bytes, as a restore reads them (and so computes
  // every hash afresh: a decoded header has none cached).
  const decode = (bytes) => createBlockHeaderFromRLP(bytes, { common, skipConsensusFormatValidation: true });
  return { engine, genesis, headers, quorum, decode };
}

const rate = (n, ms) => `${Math.round((n / ms) * 1000).toLocaleString('en-US')} headers/s`;

report(`${N} headers a chain; ${availableParallelism()} cores`);
for (const validators of [1, 4]) {
  const t0 = performance.now();
  const { engine, genesis, headers, quorum, decode } = makeChain(validators, N);
  report(
    `\n${validators} validator${validators > 1 ? 's' : ''} (${1 + quorum} seals a header), chain made in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );

  let parent = genesis;
  let t = performance.now();
  for (const bytes of headers) {
    const h = decode(bytes);
    engine.verifyHeader(h, parent, FAR_FUTURE);
    parent = h;
  }
  report(`  calling thread, seals recovered as checked: ${rate(N, performance.now() - t)}`);

  t = performance.now();
  const pool = new RecoverPool();
  try {
    // The threads' start (loading their modules), once a restore: timed apart.
    await pool.recoverAll(engine.sealSignatures(decode(headers[0])));
    const startMs = performance.now() - t;
    parent = genesis;
    t = performance.now();
    let inFlight;
    const settle = async () => {
      if (!inFlight) return;
      const { recover } = await inFlight.signers;
      for (const h of inFlight.window) {
        engine.verifyHeader(h, parent, { ...FAR_FUTURE, recover });
        parent = h;
      }
      inFlight = undefined;
    };
    for (let i = 0; i < headers.length; i += WINDOW) {
      const window = headers.slice(i, i + WINDOW).map(decode);
      const signers = pool.recoverAll(window.flatMap((h) => engine.sealSignatures(h)));
      await settle();
      inFlight = { window, signers };
    }
    await settle();
    report(
      `  restore's way, seals recovered in ${pool.threaded ? 'a worker thread ahead' : 'the calling thread (no workers)'}: ${rate(N, performance.now() - t)} (after the threads' start, ${Math.round(startMs)} ms)`,
    );
  } finally {
    await pool.close();
  }

  parent = genesis;
  t = performance.now();
  for (const bytes of headers) {
    const h = decode(bytes);
    if (!equalsBytes(h.parentHash, engine.blockHash(parent))) throw new Error(`header ${h.number}: broken link`);
    parent = h;
  }
  report(`  baseline, hash links only (below a trusted checkpoint), from decoded headers: ${rate(N, performance.now() - t)}`);

  // A restore's records: each block's RLP (the header, no transactions) and its hash.
  const records = headers.map((bytes) => {
    const h = decode(bytes);
    return { number: h.number, hash: engine.blockHash(h), blockRlp: RLP.encode([RLP.decode(bytes), [], []]) };
  });
  const common = genesis.common;
  let parentHash = engine.blockHash(genesis);
  t = performance.now();
  for (const r of records) {
    const { header } = decodeBlockHeaderRlp(r.blockRlp, r.number, r.hash, common, 'snapshot');
    if (!equalsBytes(header.parentHash, parentHash)) throw new Error(`header ${header.number}: broken link`);
    engine.committed(header);
    engine.recordOf(header);
    parentHash = r.hash;
  }
  report(`  hash links as a restore checks them below --trusted-block (hash from each record's bytes): ${rate(N, performance.now() - t)}`);

  // A fresh engine attached at the genesis, as a restore's is.
  const fresh = new IbftEngine(QuorumRule.OPTIMAL);
  await fresh.attach({ consensusRecords: async function* () {}, canonicalHeader: async () => genesis }, genesis);
  parent = genesis;
  let sealed = 0;
  let grandparent;
  t = performance.now();
  for (const r of records) {
    const { header } = decodeBlockHeaderRlp(r.blockRlp, r.number, r.hash, common, 'snapshot');
    if (fresh.signersChangeAfter(header, parent)) {
      fresh.verifyHeader(header, parent, FAR_FUTURE);
      sealed++;
    } else fresh.verifyHeader(header, parent, { ...FAR_FUTURE, seals: false });
    fresh.committed(header);
    fresh.recordOf(header);
    grandparent = parent;
    parent = header;
  }
  fresh.verifySeals(parent, grandparent);
  sealed++;
  report(
    `  --seals set-changes (backup restore's default): seals where the set changes and of the last header (${sealed} of ${N}), every other rule of each: ${rate(N, performance.now() - t)}`,
  );
}
