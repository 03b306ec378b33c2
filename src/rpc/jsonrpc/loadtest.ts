import { randomBytes } from 'node:crypto';
import { createCustomCommon, Mainnet, type Common } from '@ethereumjs/common';
import { createFeeMarket1559Tx } from '@ethereumjs/tx';
import { bigIntToHex, bytesToHex, createAddressFromPrivateKey, type Address } from '@ethereumjs/util';
import { UserError, errorMessage } from '../../util/errors.js';

/**
 * `basalt loadtest` (issue #24, as Polygon Edge's loadbot and `polycli loadtest`): transfers at a set
 * rate against any node's JSON-RPC, from accounts it generates and funds from one funded key, with what
 * an operator asks of a network: transactions sent and mined a second, inclusion latency (p50, p99),
 * failures. Everything goes through the public JSON-RPC API; nothing is read from a data dir.
 */

export interface LoadtestOptions {
  rpcUrl: string;
  /** The funded key the generated accounts are funded from (never printed). */
  funderKey: Uint8Array;
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
  phase: 'funding' | 'sending' | 'draining';
  elapsedMs: number;
  sent: number;
  mined: number;
  failed: number;
}

export interface LoadtestResult {
  accounts: number;
  durationSeconds: number;
  sent: number;
  mined: number;
  failed: number;
  /** Sent a second over the sending phase; mined a second from the first send to the last inclusion seen. */
  sentPerSecond: number;
  minedPerSecond: number;
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

/** Run the load and return its figures. Throws UserError when the node cannot be used (unreachable, funder without funds). */
export async function runLoadtest(opts: LoadtestOptions): Promise<LoadtestResult> {
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
  const perTx = TRANSFER_GAS * maxFee + 1n;
  const perAccount = perTx * BigInt(Math.ceil(total / accounts) + 2);

  // Fund the generated accounts from the funder, then wait for every funding transfer.
  const funder: Sender = { key: opts.funderKey, address: createAddressFromPrivateKey(opts.funderKey), nonce: 0n };
  funder.nonce = BigInt(await rpc.call<string>('eth_getTransactionCount', [funder.address.toString(), 'pending']));
  const needed = perAccount * BigInt(accounts) + perTx * BigInt(accounts);
  const balance = BigInt(await rpc.call<string>('eth_getBalance', [funder.address.toString(), 'latest']));
  if (balance < needed) {
    throw new UserError(
      `the funding account ${funder.address.toString()} holds ${balance} wei; ${accounts} accounts for ${total} transfers need ${needed} (at a max fee of ${maxFee} wei a gas)`,
      { code: 'FAILED_PRECONDITION' },
    );
  }
  const senders: Sender[] = Array.from({ length: accounts }, () => {
    const key = randomBytes(32);
    return { key, address: createAddressFromPrivateKey(key), nonce: 0n };
  });
  const funding: string[] = [];
  for (const s of senders) {
    funding.push(await send(rpc, common, funder, s.address, perAccount, maxFee));
    progress('funding', 0, 0, 0);
  }
  await waitForReceipts(rpc, funding, 120_000, () => progress('funding', 0, 0, 0));

  // Send at the rate, round robin over the senders, and watch the blocks for the transactions.
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  const errors = new Map<string, number>();
  let [sent, failed, inFlight, next] = [0, 0, 0, 0];
  let firstSend: number | undefined;
  let lastInclusion: number | undefined;
  let blocks = 0;
  let seenBlock = BigInt(await rpc.call<string>('eth_blockNumber'));
  const poll = async () => {
    const head = BigInt(await rpc.call<string>('eth_blockNumber'));
    for (let n = seenBlock + 1n; n <= head; n++) {
      const block = await rpc.call<{ transactions: string[] } | null>('eth_getBlockByNumber', [bigIntToHex(n), false]);
      const at = performance.now();
      blocks++;
      for (const h of block?.transactions ?? []) {
        const t = sentAt.get(h);
        if (t === undefined) continue;
        sentAt.delete(h);
        latencies.push(at - t);
        lastInclusion = at;
      }
    }
    seenBlock = head;
  };
  const sendOne = async () => {
    const s = senders[next++ % senders.length]!;
    inFlight++;
    const t = performance.now();
    firstSend ??= t;
    try {
      const hash = await send(rpc, common, s, s.address, 1n, maxFee);
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
    accounts,
    durationSeconds: sendSeconds,
    sent,
    mined: latencies.length,
    failed,
    sentPerSecond: sent / sendSeconds,
    minedPerSecond: minedSeconds > 0 ? latencies.length / minedSeconds : 0,
    latencyP50Ms: pct(50),
    latencyP99Ms: pct(99),
    errors: [...errors]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 3)
      .map(([message, count]) => ({ message, count })),
    blocks,
  };
}

/** Sign and send one EIP-1559 transfer from `from` (its nonce then moves on); the transaction hash. */
async function send(rpc: JsonRpcClient, common: Common, from: Sender, to: Address, value: bigint, maxFee: bigint): Promise<string> {
  const tx = createFeeMarket1559Tx(
    { nonce: from.nonce, to, value, gasLimit: TRANSFER_GAS, maxFeePerGas: maxFee, maxPriorityFeePerGas: TIP, chainId: common.chainId() },
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

async function waitForReceipts(rpc: JsonRpcClient, hashes: string[], timeoutMs: number, onPoll: () => void): Promise<void> {
  const left = new Set(hashes);
  const deadline = performance.now() + timeoutMs;
  while (left.size > 0) {
    if (performance.now() > deadline)
      throw new UserError(`${left.size} of the ${hashes.length} funding transfers were not mined within ${timeoutMs / 1000} s`, { code: 'UNAVAILABLE' });
    for (const h of [...left]) {
      const r = await rpc.call<{ status: string } | null>('eth_getTransactionReceipt', [h]);
      if (r === null) continue;
      if (r.status !== '0x1') throw new UserError(`funding transfer ${h} failed (status ${r.status})`);
      left.delete(h);
    }
    onPoll();
    if (left.size > 0) await sleep(POLL_MS);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
