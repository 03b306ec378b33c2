import { randomBytes } from 'node:crypto';
import { createCustomCommon, Mainnet, type Common } from '@ethereumjs/common';
import { createFeeMarket1559Tx } from '@ethereumjs/tx';
import { bigIntToHex, bytesToHex, concatBytes, createAddressFromPrivateKey, createAddressFromString, hexToBytes, type Address } from '@ethereumjs/util';
import { UserError, errorMessage } from '../../util/errors.js';
import { LoadPair, LoadToken } from './loadtest-contracts.js';

/**
 * `basalt loadtest` (issue #24, as Polygon Edge's loadbot and `polycli loadtest`): transactions at a set
 * rate against any node's JSON-RPC, from accounts it generates and funds from one funded key, with what
 * an operator asks of a network: transactions sent and mined a second, gas (Mgas/s), inclusion latency
 * (p50, p99), failures and reverts. Three workloads: plain transfers, ERC-20 transfers and swaps on a
 * constant-product pool (contracts/Loadtest.sol, deployed by the run itself). Everything goes through
 * the public JSON-RPC API; nothing is read from a data dir.
 */

export const LOADTEST_MODES = ['transfer', 'erc20', 'swap'] as const;
export type LoadtestMode = (typeof LOADTEST_MODES)[number];

export interface LoadtestOptions {
  rpcUrl: string;
  /** The funded key the generated accounts are funded from (never printed). */
  funderKey: Uint8Array;
  /** What to send (default transfer). */
  mode?: LoadtestMode;
  /** Transactions a second to send. */
  tps: number;
  durationMs: number;
  /** Generated sender accounts (default: enough that none has more than ~16 transactions in flight). */
  accounts?: number;
  /** How long to wait for the last transactions after sending stops (default 60 s). */
  drainMs?: number;
  onProgress?: (p: LoadtestProgress) => void;
}

export interface LoadtestProgress {
  phase: 'funding' | 'deploying' | 'sending' | 'draining';
  elapsedMs: number;
  sent: number;
  mined: number;
  failed: number;
}

export interface LoadtestResult {
  mode: LoadtestMode;
  accounts: number;
  /** The contracts the run deployed (erc20: the token; swap: both tokens and the pool). */
  contracts: Record<string, string>;
  durationSeconds: number;
  sent: number;
  mined: number;
  failed: number;
  /** Mined with a failed status (a revert): counted in mined too. */
  reverted: number;
  /** Sent a second over the sending phase; mined a second from the first send to the last inclusion seen. */
  sentPerSecond: number;
  minedPerSecond: number;
  /** Gas the mined transactions used, and that gas a second over the same span as minedPerSecond. */
  gasUsed: number;
  mgasPerSecond: number;
  /** Send to the first poll that saw the block holding it (polled every POLL_MS), in ms. */
  latencyP50Ms: number | undefined;
  latencyP99Ms: number | undefined;
  /** The most frequent send errors, with their counts. */
  errors: { message: string; count: number }[];
  blocks: number;
}

/** Limits on what one run asks: rate, time, accounts. */
export const LOADTEST_MAX_TPS = 100_000;
export const LOADTEST_MAX_ACCOUNTS = 10_000;
/** Requests in flight at once: beyond, sends wait (the sent rate then shows what the node takes). */
const MAX_IN_FLIGHT = 256;
const POLL_MS = 250;
const TICK_MS = 20;
const RPC_TIMEOUT_MS = 30_000;
/** Most bytes of one JSON-RPC answer read (a block of hashes is far smaller). */
const MAX_ANSWER_BYTES = 16 * 1024 * 1024;
const TRANSFER_GAS = 21_000n;
const TIP = 1_000_000_000n;
/** The gas limit of one transaction of each mode: what the senders are funded for. */
const MAX_GAS: Record<LoadtestMode, bigint> = { transfer: TRANSFER_GAS, erc20: 100_000n, swap: 300_000n };
/** Accounts one transferEach call funds with tokens (~25,000 gas each). */
const TOKEN_BATCH = 100;
/** Gas the deployments and the pool's liquidity take at most, for the funder's budget. */
const SETUP_GAS = 4_000_000n;
/** Token units (of 10^18) each sender gets, the pool's liquidity per side, and a swap's input. */
const TOKEN_UNIT = 10n ** 18n;
const TOKENS_PER_SENDER = 1_000_000n * TOKEN_UNIT;
const POOL_LIQUIDITY = 1_000_000_000n * TOKEN_UNIT;
const SWAP_IN = TOKEN_UNIT;

/** A small JSON-RPC client: one POST a call, bounded in time and answer size, errors in one line. */
export class JsonRpcClient {
  private id = 0;
  constructor(private readonly url: string) {}

  async call<T>(method: string, params: unknown[] = []): Promise<T> {
    let res: Response;
    try {
      res = await fetch(this.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: ++this.id, method, params }),
        signal: AbortSignal.timeout(RPC_TIMEOUT_MS),
      });
    } catch (err) {
      throw new UserError(`${this.url}: ${method} failed: ${errorMessage(err)}`, { code: 'UNAVAILABLE' });
    }
    const text = await res.text();
    if (text.length > MAX_ANSWER_BYTES) throw new UserError(`${this.url}: the answer to ${method} is larger than ${MAX_ANSWER_BYTES} bytes`);
    let body: { result?: T; error?: { message?: string } };
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      throw new UserError(`${this.url}: ${method} answered HTTP ${res.status} without JSON-RPC`, { code: 'UNAVAILABLE' });
    }
    if (body.error) throw new RpcCallError(String(body.error.message ?? 'error').slice(0, 200));
    return body.result as T;
  }
}

/** A JSON-RPC error answer (the node refused the call). */
export class RpcCallError extends Error {}

interface Sender {
  key: Uint8Array;
  address: Address;
  nonce: bigint;
}

/** One transaction to send, apart from its sender, nonce and fees. */
interface Call {
  to: Address | undefined;
  data: Uint8Array;
  value: bigint;
  gasLimit: bigint;
}

/** Run the load and return its figures. Throws UserError when the node cannot be used (unreachable, funder without funds). */
export async function runLoadtest(opts: LoadtestOptions): Promise<LoadtestResult> {
  const mode = opts.mode ?? 'transfer';
  if (!LOADTEST_MODES.includes(mode)) throw new UserError(`--mode must be one of ${LOADTEST_MODES.join(', ')}`);
  if (!(opts.tps > 0 && opts.tps <= LOADTEST_MAX_TPS)) throw new UserError(`--tps must be above 0 and at most ${LOADTEST_MAX_TPS}`);
  if (!(opts.durationMs > 0)) throw new UserError('--duration must be above 0');
  const total = Math.ceil((opts.tps * opts.durationMs) / 1000);
  const accounts = opts.accounts ?? Math.min(LOADTEST_MAX_ACCOUNTS, Math.max(1, Math.ceil(total / 16)));
  if (!(accounts >= 1 && accounts <= LOADTEST_MAX_ACCOUNTS)) throw new UserError(`--accounts must be 1 to ${LOADTEST_MAX_ACCOUNTS}`);
  const rpc = new JsonRpcClient(opts.rpcUrl);
  const began = performance.now();
  const progress = (phase: LoadtestProgress['phase'], sent: number, mined: number, failed: number) =>
    opts.onProgress?.({ phase, elapsedMs: performance.now() - began, sent, mined, failed });

  const chainId = BigInt(await rpc.call<string>('eth_chainId'));
  if (chainId > BigInt(Number.MAX_SAFE_INTEGER)) throw new UserError(`chain ID ${chainId} is larger than this tool handles`);
  const common = createCustomCommon({ chainId: Number(chainId) }, Mainnet, { hardfork: 'prague' });
  const latest = await rpc.call<{ baseFeePerGas?: string; number: string }>('eth_getBlockByNumber', ['latest', false]);
  const baseFee = BigInt(latest.baseFeePerGas ?? '0x0');
  // Room for the base fee to double a few times while the run fills blocks.
  const maxFee = baseFee * 4n + TIP;
  // Each sender pays for its share of the load, and in swap mode for its two approvals first.
  const setupPerSender = mode === 'swap' ? 2n : 0n;
  const perTx = MAX_GAS[mode] * maxFee + 1n;
  const perAccount = perTx * (BigInt(Math.ceil(total / accounts) + 2) + setupPerSender);

  // Fund the generated accounts from the funder, then wait for every funding transfer.
  const funder: Sender = { key: opts.funderKey, address: createAddressFromPrivateKey(opts.funderKey), nonce: 0n };
  funder.nonce = BigInt(await rpc.call<string>('eth_getTransactionCount', [funder.address.toString(), 'pending']));
  const tokenBatches = BigInt(Math.ceil(accounts / TOKEN_BATCH)) * (mode === 'swap' ? 2n : mode === 'erc20' ? 1n : 0n);
  const setupGas = mode === 'transfer' ? 0n : SETUP_GAS + tokenBatches * BigInt(TOKEN_BATCH) * 40_000n;
  const needed = perAccount * BigInt(accounts) + TRANSFER_GAS * maxFee * BigInt(accounts) + setupGas * maxFee;
  const balance = BigInt(await rpc.call<string>('eth_getBalance', [funder.address.toString(), 'latest']));
  if (balance < needed) {
    throw new UserError(
      `the funding account ${funder.address.toString()} holds ${balance} wei; ${accounts} accounts for ${total} ${mode} transactions need ${needed} (at a max fee of ${maxFee} wei a gas)`,
      { code: 'FAILED_PRECONDITION' },
    );
  }
  const senders: Sender[] = Array.from({ length: accounts }, () => {
    const key = randomBytes(32);
    return { key, address: createAddressFromPrivateKey(key), nonce: 0n };
  });
  const funding: string[] = [];
  for (const s of senders) {
    funding.push(await send(rpc, common, funder, { to: s.address, data: new Uint8Array(), value: perAccount, gasLimit: TRANSFER_GAS }, maxFee));
    progress('funding', 0, 0, 0);
  }
  await waitForReceipts(rpc, funding, 120_000, 'funding transfer', () => progress('funding', 0, 0, 0));

  // The contracts of the mode, and what each sender sends.
  const setup = await deployWorkload(mode, { rpc, common, funder, senders, maxFee, onPoll: () => progress('deploying', 0, 0, 0) });

  // Send at the rate, round robin over the senders, and watch the blocks' receipts for the transactions.
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  const errors = new Map<string, number>();
  let [sent, failed, reverted, gasUsed, inFlight, next] = [0, 0, 0, 0, 0, 0];
  let firstSend: number | undefined;
  let lastInclusion: number | undefined;
  let blocks = 0;
  let seenBlock = BigInt(await rpc.call<string>('eth_blockNumber'));
  const poll = async () => {
    const head = BigInt(await rpc.call<string>('eth_blockNumber'));
    for (let n = seenBlock + 1n; n <= head; n++) {
      const receipts = await rpc.call<{ transactionHash: string; gasUsed: string; status: string }[] | null>('eth_getBlockReceipts', [bigIntToHex(n)]);
      const at = performance.now();
      blocks++;
      seenBlock = n;
      for (const r of receipts ?? []) {
        const t = sentAt.get(r.transactionHash);
        if (t === undefined) continue;
        sentAt.delete(r.transactionHash);
        latencies.push(at - t);
        gasUsed += Number(BigInt(r.gasUsed));
        if (r.status !== '0x1') reverted++;
        lastInclusion = at;
      }
    }
  };
  const sendOne = async () => {
    const s = senders[next++ % senders.length]!;
    inFlight++;
    const t = performance.now();
    firstSend ??= t;
    try {
      const hash = await send(rpc, common, s, setup.call(s, next), maxFee);
      sentAt.set(hash, t);
      sent++;
    } catch (err) {
      failed++;
      const m = err instanceof RpcCallError ? err.message : errorMessage(err);
      errors.set(m, (errors.get(m) ?? 0) + 1);
      // The nonce was not taken: ask the node for this sender's next one before it sends again.
      s.nonce = BigInt(await rpc.call<string>('eth_getTransactionCount', [s.address.toString(), 'pending']).catch(() => bigIntToHex(s.nonce)));
    } finally {
      inFlight--;
    }
  };

  const sendStart = performance.now();
  const sendEnd = sendStart + opts.durationMs;
  let lastPoll = 0;
  let issued = 0;
  const pending = new Set<Promise<void>>();
  while (performance.now() < sendEnd) {
    const due = Math.min(total, Math.floor(((performance.now() - sendStart) / 1000) * opts.tps));
    while (issued < due && inFlight < MAX_IN_FLIGHT) {
      issued++;
      const p = sendOne().finally(() => pending.delete(p));
      pending.add(p);
    }
    if (performance.now() - lastPoll >= POLL_MS) {
      lastPoll = performance.now();
      await poll().catch(() => undefined);
      progress('sending', sent, latencies.length, failed);
    }
    await sleep(TICK_MS);
  }
  const sendSeconds = (performance.now() - sendStart) / 1000;
  await Promise.all(pending);
  const drainEnd = performance.now() + (opts.drainMs ?? 60_000);
  while (sentAt.size > 0 && performance.now() < drainEnd) {
    await sleep(POLL_MS);
    await poll().catch(() => undefined);
    progress('draining', sent, latencies.length, failed);
  }
  const sorted = [...latencies].sort((a, b) => a - b);
  const pct = (p: number) => (sorted.length === 0 ? undefined : Math.round(sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!));
  const minedSeconds = firstSend !== undefined && lastInclusion !== undefined ? (lastInclusion - firstSend) / 1000 : 0;
  return {
    mode,
    accounts,
    contracts: setup.contracts,
    durationSeconds: sendSeconds,
    sent,
    mined: latencies.length,
    failed,
    reverted,
    sentPerSecond: sent / sendSeconds,
    minedPerSecond: minedSeconds > 0 ? latencies.length / minedSeconds : 0,
    gasUsed,
    mgasPerSecond: minedSeconds > 0 ? gasUsed / minedSeconds / 1e6 : 0,
    latencyP50Ms: pct(50),
    latencyP99Ms: pct(99),
    errors: [...errors]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 3)
      .map(([message, count]) => ({ message, count })),
    blocks,
  };
}

interface SetupContext {
  rpc: JsonRpcClient;
  common: Common;
  funder: Sender;
  senders: Sender[];
  maxFee: bigint;
  onPoll: () => void;
}

interface Workload {
  contracts: Record<string, string>;
  /** The next transaction of sender `s` (`i` counts every transaction of the run). */
  call: (s: Sender, i: number) => Call;
}

/**
 * Deploy what the mode needs and hand each sender its share: erc20, a token and tokens for every sender;
 * swap, two tokens, a pool with liquidity, tokens for every sender and each sender's approvals of the
 * pool. Every setup transaction must succeed; the gas limits of the load come from the node's estimate.
 */
async function deployWorkload(mode: LoadtestMode, ctx: SetupContext): Promise<Workload> {
  const { senders } = ctx;
  const self = (s: Sender): Call => ({ to: s.address, data: new Uint8Array(), value: 1n, gasLimit: TRANSFER_GAS });
  if (mode === 'transfer') return { contracts: {}, call: self };
  const supply = TOKENS_PER_SENDER * BigInt(senders.length) + POOL_LIQUIDITY;
  const tokenA = await deploy(ctx, LoadToken.bytecode, [word(supply)]);
  const tokenB = mode === 'swap' ? await deploy(ctx, LoadToken.bytecode, [word(supply)]) : undefined;
  const pair = tokenB ? await deploy(ctx, LoadPair.bytecode, [word(tokenA), word(tokenB)]) : undefined;
  const hashes: string[] = [];
  const fromFunder = async (to: Address, data: Uint8Array) =>
    hashes.push(await send(ctx.rpc, ctx.common, ctx.funder, { to, data, value: 0n, gasLimit: await estimate(ctx, ctx.funder, to, data) }, ctx.maxFee));
  for (const token of tokenB ? [tokenA, tokenB] : [tokenA]) {
    for (let i = 0; i < senders.length; i += TOKEN_BATCH) {
      const batch = senders.slice(i, i + TOKEN_BATCH).map((s) => s.address);
      await fromFunder(
        token,
        encodeCall(LoadToken.selectors['transferEach(address[],uint256)'], [
          word(0x40n),
          word(TOKENS_PER_SENDER),
          word(BigInt(batch.length)),
          ...batch.map(word),
        ]),
      );
    }
  }
  if (pair && tokenB) {
    const approveMax = encodeCall(LoadToken.selectors['approve(address,uint256)'], [word(pair), word((1n << 256n) - 1n)]);
    await fromFunder(tokenA, approveMax);
    await fromFunder(tokenB, approveMax);
    // The approvals must be mined before the liquidity's estimate can succeed.
    await waitForReceipts(ctx.rpc, hashes.splice(0), 120_000, 'setup transaction', ctx.onPoll);
    await fromFunder(pair, encodeCall(LoadPair.selectors['addLiquidity(uint256,uint256)'], [word(POOL_LIQUIDITY), word(POOL_LIQUIDITY)]));
    for (const s of senders) {
      for (const token of [tokenA, tokenB]) {
        hashes.push(await send(ctx.rpc, ctx.common, s, { to: token, data: approveMax, value: 0n, gasLimit: MAX_GAS.swap }, ctx.maxFee));
      }
    }
  }
  await waitForReceipts(ctx.rpc, hashes, 120_000, 'setup transaction', ctx.onPoll);

  if (!pair) {
    const first = senders[0]!;
    const transferTo = (to: Address) => encodeCall(LoadToken.selectors['transfer(address,uint256)'], [word(to), word(1n)]);
    const gasLimit = loadGasLimit(await estimate(ctx, first, tokenA, transferTo(senders[senders.length > 1 ? 1 : 0]!.address)), MAX_GAS.erc20);
    // One token unit to the next sender: a transfer between two holders, as most are.
    return {
      contracts: { token: tokenA.toString() },
      call: (_s, i) => ({ to: tokenA, data: transferTo(senders[i % senders.length]!.address), value: 0n, gasLimit }),
    };
  }
  // Each sender alternates the direction, so its balances of both tokens stay about where they began.
  const swapCall = (zeroForOne: boolean) => encodeCall(LoadPair.selectors['swap(bool,uint256,uint256)'], [word(zeroForOne ? 1n : 0n), word(SWAP_IN), word(1n)]);
  const gasLimit = loadGasLimit(await estimate(ctx, senders[0]!, pair, swapCall(true)), MAX_GAS.swap);
  return {
    contracts: { tokenA: tokenA.toString(), tokenB: tokenB!.toString(), pool: pair.toString() },
    call: (s) => ({ to: pair, data: swapCall(s.nonce % 2n === 0n), value: 0n, gasLimit }),
  };
}

/** Deploy `bytecode` with constructor `args` from the funder; its address once mined. */
async function deploy(ctx: SetupContext, bytecode: string, args: Uint8Array[]): Promise<Address> {
  const data = concatBytes(hexToBytes(bytecode as `0x${string}`), ...args);
  const gasLimit = await estimate(ctx, ctx.funder, undefined, data);
  const hash = await send(ctx.rpc, ctx.common, ctx.funder, { to: undefined, data, value: 0n, gasLimit }, ctx.maxFee);
  const [receipt] = await waitForReceipts(ctx.rpc, [hash], 120_000, 'contract deployment', ctx.onPoll);
  if (!receipt?.contractAddress) throw new UserError(`the contract deployment ${hash} has no contract address in its receipt`);
  return createAddressFromString(receipt.contractAddress);
}

/** The node's gas estimate of a call, with a quarter more for what moves between the estimate and inclusion. */
async function estimate(ctx: SetupContext, from: Sender, to: Address | undefined, data: Uint8Array): Promise<bigint> {
  const gas = BigInt(
    await ctx.rpc.call<string>('eth_estimateGas', [{ from: from.address.toString(), ...(to ? { to: to.toString() } : {}), data: bytesToHex(data) }]),
  );
  return gas + gas / 4n;
}

/**
 * The gas limit of the load's transactions: the most the mode allows, once the node's estimate of a
 * first one shows it fits in half of it. The gas a swap takes moves with the pool's state (the first
 * swap of a block updates the price accumulators, the first ever from zero), so the estimate of one
 * moment is no limit for the next.
 */
function loadGasLimit(estimated: bigint, max: bigint): bigint {
  if (estimated * 2n > max) throw new UserError(`the node estimates ${estimated} gas for one load transaction; this mode allows at most ${max / 2n}`);
  return max;
}

/** ABI: a static argument as one 32-byte word (a uint or an address). */
export function word(v: bigint | Address): Uint8Array {
  const out = new Uint8Array(32);
  if (typeof v === 'bigint') {
    if (v < 0n || v >= 1n << 256n) throw new RangeError('an ABI word holds 0 to 2^256-1');
    let x = v;
    for (let i = 31; i >= 0 && x > 0n; i--, x >>= 8n) out[i] = Number(x & 0xffn);
  } else out.set(v.bytes, 12);
  return out;
}

/** ABI: a call's data, its selector and its head words (and any tail) in order. */
export function encodeCall(selector: string, words: Uint8Array[]): Uint8Array {
  return concatBytes(hexToBytes(selector as `0x${string}`), ...words);
}

/** Sign and send one EIP-1559 transaction from `from` (its nonce then moves on); the transaction hash. */
async function send(rpc: JsonRpcClient, common: Common, from: Sender, call: Call, maxFee: bigint): Promise<string> {
  const tx = createFeeMarket1559Tx(
    {
      nonce: from.nonce,
      to: call.to,
      value: call.value,
      data: call.data,
      gasLimit: call.gasLimit,
      maxFeePerGas: maxFee,
      maxPriorityFeePerGas: TIP,
      chainId: common.chainId(),
    },
    { common },
  ).sign(from.key);
  from.nonce++;
  try {
    return await rpc.call<string>('eth_sendRawTransaction', [bytesToHex(tx.serialize())]);
  } catch (err) {
    from.nonce--;
    throw err;
  }
}

interface Receipt {
  status: string;
  contractAddress?: string | null;
}

/** Wait until every one of `hashes` is mined with success; their receipts in order. */
async function waitForReceipts(rpc: JsonRpcClient, hashes: string[], timeoutMs: number, what: string, onPoll: () => void): Promise<Receipt[]> {
  const found = new Map<string, Receipt>();
  const deadline = performance.now() + timeoutMs;
  while (found.size < hashes.length) {
    if (performance.now() > deadline)
      throw new UserError(`${hashes.length - found.size} of the ${hashes.length} ${what}s were not mined within ${timeoutMs / 1000} s`, {
        code: 'UNAVAILABLE',
      });
    for (const h of hashes) {
      if (found.has(h)) continue;
      const r = await rpc.call<Receipt | null>('eth_getTransactionReceipt', [h]);
      if (r === null) continue;
      if (r.status !== '0x1') throw new UserError(`${what} ${h} failed (status ${r.status})`);
      found.set(h, r);
    }
    onPoll();
    if (found.size < hashes.length) await sleep(POLL_MS);
  }
  return hashes.map((h) => found.get(h)!);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
