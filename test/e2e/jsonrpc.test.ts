import { join } from 'node:path';
import { JsonRpcProvider, Wallet, getAddress, hexlify, randomBytes } from 'ethers';
import { createPublicClient, createWalletClient, http, parseGwei } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bytesToHex } from '@ethereumjs/util';
import { CliProcess, rpc, runCli, serverArgs, tempDir } from '../helpers/cli.js';
import { SET_TOPIC, STORAGE_INITCODE, STORAGE_RUNTIME, word } from '../helpers/contracts.js';
import { DEV_ADDRESS, DEV_KEY } from '../helpers/load.js';

const SECOND_KEY = '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d'; // Hardhat #1
const SECOND = new Wallet(SECOND_KEY).address;

let node: CliProcess;
let url: string;
let provider: JsonRpcProvider;
let wallet: Wallet;

beforeAll(async () => {
  const dir = tempDir();
  const dataDir = join(dir, 'node');
  const init = runCli(['secrets', 'init', '--data-dir', dataDir, '--json']);
  const validator = (JSON.parse(init.stdout) as { validatorAddress: string }).validatorAddress;
  const genesis = join(dir, 'genesis.json');
  runCli(['genesis', '--dir', genesis, '--ibft-validator', validator, '--premine', `${DEV_ADDRESS}:${10n ** 24n}`, '--premine', `${SECOND}:${10n ** 20n}`]);
  node = new CliProcess(serverArgs(dataDir, genesis, ['--seal', '--block-time', '0.25']));
  url = await node.rpcUrl();
  // cacheTimeout -1: ethers otherwise answers an identical request from the last 250 ms from its cache, so a
  // wallet sending again right after a fast (0.25 s) block reuses the pending nonce it read before that block.
  provider = new JsonRpcProvider(url, undefined, { staticNetwork: true, pollingInterval: 100, cacheTimeout: -1 });
  wallet = new Wallet(DEV_KEY, provider);
}, 60_000);

afterAll(async () => {
  provider?.destroy();
  await node?.stop();
});

async function rpcError(method: string, params: unknown[]): Promise<{ code: number; message: string; data?: string }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  });
  const body = (await res.json()) as { error?: { code: number; message: string; data?: string } };
  if (!body.error) throw new Error(`${method} succeeded, expected an error`);
  return body.error;
}

describe('ethers v6 against Basalt', () => {
  let contract: string;
  let writeBlock: number;

  it('deploys a contract and reads its code', async () => {
    const tx = await wallet.sendTransaction({ data: hexlify(STORAGE_INITCODE) });
    const receipt = await tx.wait();
    expect(receipt?.status).toBe(1);
    contract = receipt!.contractAddress!;
    expect(contract).toBe(getAddress(contract));
    expect(await provider.getCode(contract)).toBe(bytesToHex(STORAGE_RUNTIME));
    expect(await provider.getCode(SECOND)).toBe('0x');
  });

  it('writes to it, reads it back with eth_call (now and at an older block) and finds its log', async () => {
    const before = Number(await rpc<string>(url, 'eth_blockNumber')); // not ethers' cached block number
    const tx = await wallet.sendTransaction({ to: contract, data: word(42n) });
    const receipt = await tx.wait();
    expect(receipt?.status).toBe(1);
    writeBlock = receipt!.blockNumber;
    expect(receipt!.logs).toHaveLength(1);
    expect(receipt!.logs[0]!.topics[0]).toBe(bytesToHex(SET_TOPIC));
    expect(BigInt(receipt!.logs[0]!.data)).toBe(42n);
    expect(BigInt(await provider.call({ to: contract }))).toBe(42n);
    expect(BigInt(await provider.call({ to: contract, blockTag: before }))).toBe(0n);
    expect(BigInt(await provider.getStorage(contract, 0))).toBe(42n);

    const logs = await provider.getLogs({ address: contract, topics: [bytesToHex(SET_TOPIC)], fromBlock: 0, toBlock: 'latest' });
    expect(logs).toHaveLength(1);
    expect(logs[0]!.blockNumber).toBe(writeBlock);
    expect(logs[0]!.transactionHash).toBe(tx.hash);
    expect(await provider.getLogs({ address: contract, topics: [word(1n)], fromBlock: 0 })).toHaveLength(0);
    expect(await provider.getLogs({ address: SECOND, fromBlock: 0 })).toHaveLength(0);
  });

  it('accepts legacy and EIP-2930 transactions; state at the previous block is unchanged', async () => {
    const to = Wallet.createRandom().address;
    const { gasPrice } = await provider.getFeeData();
    const legacy = await wallet.sendTransaction({ type: 0, to, value: 10n, gasPrice: gasPrice! });
    const r0 = (await legacy.wait())!;
    const accessList = [{ address: contract, storageKeys: [word(0n)] }];
    const withList = await wallet.sendTransaction({ type: 1, to: contract, data: word(9n), accessList, gasPrice: gasPrice! });
    const r1 = (await withList.wait())!;
    expect([r0.status, r0.type, r1.status, r1.type]).toEqual([1, 0, 1, 1]);
    expect(r0.gasPrice).toBe(gasPrice);
    const fetched = (await provider.getTransaction(withList.hash))!;
    expect(fetched.type).toBe(1);
    expect(fetched.accessList).toEqual(accessList);
    expect(fetched.chainId).toBe(100n);
    expect((await provider.getTransaction(legacy.hash))!.type).toBe(0);
    expect(await provider.getBalance(to, r0.blockNumber)).toBe(10n);
    expect(await provider.getBalance(to, r0.blockNumber - 1)).toBe(0n);
    expect(BigInt(await provider.getStorage(contract, 0, r1.blockNumber))).toBe(9n);
    expect(BigInt(await provider.getStorage(contract, 0, r1.blockNumber - 1))).toBe(42n);
    // An unknown block is an error, not a zero balance.
    expect((await rpcError('eth_getBalance', [to, '0xffffff'])).message).toMatch(/header not found/);
  });

  it('estimates gas, and reports a revert with its reason and data', async () => {
    const gas = await provider.estimateGas({ from: DEV_ADDRESS, to: contract, data: word(7n) });
    expect(gas).toBeGreaterThan(21_000n);
    const tx = await wallet.sendTransaction({ to: contract, data: word(7n), gasLimit: gas });
    expect((await tx.wait())?.status).toBe(1);
    await expect(provider.call({ to: contract, data: word(0n) })).rejects.toMatchObject({ code: 'CALL_EXCEPTION', reason: 'zero' });
    const err = await rpcError('eth_estimateGas', [{ from: DEV_ADDRESS, to: contract, data: word(0n) }]);
    expect(err.code).toBe(3);
    expect(err.message).toBe('execution reverted: zero');
    expect(err.data?.slice(0, 10)).toBe('0x08c379a0');
  });

  it('sends transfers; balances, nonces and receipts agree', async () => {
    const to = Wallet.createRandom().address;
    const nonce = await provider.getTransactionCount(DEV_ADDRESS);
    const txs = [];
    for (let i = 0; i < 3; i++) txs.push(await wallet.sendTransaction({ to, value: 1000n + BigInt(i), nonce: nonce + i }));
    expect(await provider.getTransactionCount(DEV_ADDRESS, 'pending')).toBe(nonce + 3);
    const receipts = await Promise.all(txs.map((t) => t.wait()));
    expect(receipts.every((r) => r?.status === 1)).toBe(true);
    expect(await provider.getBalance(to)).toBe(3003n);
    expect(await provider.getTransactionCount(DEV_ADDRESS)).toBe(nonce + 3);
    const r = receipts[0]!;
    expect(r.gasUsed).toBe(21_000n);
    const fetched = await provider.getTransaction(txs[0]!.hash);
    expect(fetched?.blockNumber).toBe(r.blockNumber);
    expect(fetched?.from).toBe(DEV_ADDRESS);
    const block = await provider.getBlock(r.blockNumber, true);
    expect(block?.prefetchedTransactions.map((t) => t.hash)).toContain(txs[0]!.hash);
    const byHash = await provider.getBlock(r.blockHash);
    expect(byHash?.number).toBe(r.blockNumber);
  });

  it("ethers' pending-transaction subscription sees transactions as they enter the pool", async () => {
    const seen = new Set<string>();
    await provider.on('pending', (hash: string) => seen.add(hash));
    try {
      // ethers installs its eth_newPendingTransactionFilter in the background: keep sending until one is
      // reported (a transaction sent before the filter exists is rightly not), then every later one must be.
      const sent: string[] = [];
      for (let i = 0; i < 20 && ![...seen].some((h) => sent.includes(h)); i++) {
        const tx = await wallet.sendTransaction({ to: SECOND, value: 1n });
        sent.push(tx.hash);
        await tx.wait();
        await new Promise((r) => setTimeout(r, 300));
      }
      const later = await wallet.sendTransaction({ to: SECOND, value: 2n });
      await later.wait();
      for (let i = 0; i < 50 && !seen.has(later.hash); i++) await new Promise((r) => setTimeout(r, 100));
      expect(seen.has(later.hash)).toBe(true);
      expect([...seen].every((h) => /^0x[0-9a-f]{64}$/.test(h))).toBe(true);
    } finally {
      await provider.off('pending');
    }
  });

  it('answers fee questions', async () => {
    const fees = await provider.getFeeData();
    const head = await provider.getBlock('latest');
    expect(fees.gasPrice!).toBeGreaterThan(head!.baseFeePerGas!);
    expect(fees.maxPriorityFeePerGas).toBe(1_000_000_000n);
    const hist = await rpc<{ baseFeePerGas: string[]; gasUsedRatio: number[]; reward: string[][] }>(url, 'eth_feeHistory', ['0x4', 'latest', [50]]);
    expect(hist.baseFeePerGas).toHaveLength(5);
    expect(hist.gasUsedRatio).toHaveLength(4);
    expect(hist.reward).toHaveLength(4);
  });
});

describe('viem against Basalt', () => {
  it('sends a transaction with a local account and reads receipt, balance and block', async () => {
    const account = privateKeyToAccount(SECOND_KEY);
    const client = createPublicClient({ transport: http(url) });
    const walletClient = createWalletClient({ account, transport: http(url) });
    const chainId = await client.getChainId();
    const to = '0x00000000000000000000000000000000000000aa';
    const hash = await walletClient.sendTransaction({
      to,
      value: 5n,
      chain: { id: chainId, name: 'basalt', nativeCurrency: { name: 'ETH', symbol: 'ETH', decimals: 18 }, rpcUrls: { default: { http: [url] } } },
      maxPriorityFeePerGas: parseGwei('1'),
    });
    const receipt = await client.waitForTransactionReceipt({ hash, pollingInterval: 100 });
    expect(receipt.status).toBe('success');
    expect(await client.getBalance({ address: to })).toBe(5n);
    expect(await client.getTransactionCount({ address: account.address })).toBe(1);
    const block = await client.getBlock({ blockNumber: receipt.blockNumber });
    expect(block.transactions).toContain(hash);
    expect((await client.getTransaction({ hash })).from.toLowerCase()).toBe(account.address.toLowerCase());
  });
});

describe('viem, legacy transactions', () => {
  it('sends a legacy transaction and reads it back', async () => {
    const account = privateKeyToAccount(SECOND_KEY);
    const chain = { id: 100, name: 'basalt', nativeCurrency: { name: 'ETH', symbol: 'ETH', decimals: 18 }, rpcUrls: { default: { http: [url] } } };
    const client = createPublicClient({ chain, transport: http(url) });
    const walletClient = createWalletClient({ account, chain, transport: http(url) });
    const to = '0x00000000000000000000000000000000000000bb';
    const hash = await walletClient.sendTransaction({ type: 'legacy', to, value: 7n, gasPrice: await client.getGasPrice() });
    const receipt = await client.waitForTransactionReceipt({ hash, pollingInterval: 100 });
    expect(receipt.type).toBe('legacy');
    expect(receipt.status).toBe('success');
    expect((await client.getTransaction({ hash })).type).toBe('legacy');
    expect(await client.getBalance({ address: to })).toBe(7n);
  });
});

describe('transaction pool rules, each with a clear error', () => {
  const fee = { maxFeePerGas: 10n ** 11n, maxPriorityFeePerGas: 10n ** 9n };
  const sign = (w: Pick<Wallet, 'signTransaction'>, tx: Record<string, unknown>) =>
    w.signTransaction({ type: 2, chainId: 100, gasLimit: 21_000, to: SECOND, value: 1n, ...fee, ...tx });

  it('refuses bad transactions', async () => {
    const nonce = await provider.getTransactionCount(DEV_ADDRESS, 'pending');
    const poor = Wallet.createRandom();
    const cases: [Promise<string>, RegExp][] = [
      [sign(wallet, { nonce: 0 }), /nonce too low/],
      [sign(poor, { nonce: 0 }), /insufficient funds for gas \* price \+ value/],
      [sign(wallet, { nonce, gasLimit: 20_000 }), /intrinsic gas too low/],
      [sign(wallet, { nonce, gasLimit: 100_000_000 }), /exceeds block gas limit/],
      [sign(wallet, { nonce, maxFeePerGas: 1n, maxPriorityFeePerGas: 1n }), /underpriced/],
      [sign(wallet, { nonce, maxPriorityFeePerGas: 0n }), /underpriced: tip 0/],
      [sign(wallet, { nonce: nonce + 1000 }), /nonce too high/],
      [sign(wallet, { nonce, chainId: 999 }), /invalid chain id/],
      // chain ID 0: ethers signs the pre-EIP-155 way (v = 27/28), replayable on any chain
      [
        sign(wallet, { type: 0, nonce, chainId: 0, gasPrice: 10n ** 11n, maxFeePerGas: undefined, maxPriorityFeePerGas: undefined }),
        /only replay-protected \(EIP-155\)/,
      ],
    ];
    for (const [raw, pattern] of cases) {
      const err = await rpcError('eth_sendRawTransaction', [await raw]);
      expect(err.code).toBe(-32000);
      expect(err.message).toMatch(pattern);
    }
    const garbage = await rpcError('eth_sendRawTransaction', [hexlify(randomBytes(40))]);
    expect(garbage.message).toMatch(/cannot decode/);
  });

  it('holds a nonce gap back until it is filled, and replaces only with a fee bump', async () => {
    const w = new Wallet(SECOND_KEY, provider);
    const nonce = await provider.getTransactionCount(w.address, 'pending');
    const later = await sign(w, { nonce: nonce + 1 });
    const laterHash = await rpc<string>(url, 'eth_sendRawTransaction', [later]);
    const head = await provider.getBlockNumber();
    await node.waitForBlock(head + 3);
    expect(await provider.getTransactionReceipt(laterHash)).toBeNull();
    expect(await provider.getTransactionCount(w.address, 'pending')).toBe(nonce);

    // same nonce, same fees: refused; +20%: replaces
    const same = await sign(w, { nonce: nonce + 1, value: 2n });
    expect((await rpcError('eth_sendRawTransaction', [same])).message).toMatch(/replacement transaction underpriced/);
    const bumped = await sign(w, {
      nonce: nonce + 1,
      value: 3n,
      maxFeePerGas: (fee.maxFeePerGas * 12n) / 10n,
      maxPriorityFeePerGas: (fee.maxPriorityFeePerGas * 12n) / 10n,
    });
    const bumpedHash = await rpc<string>(url, 'eth_sendRawTransaction', [bumped]);

    const filler = await rpc<string>(url, 'eth_sendRawTransaction', [await sign(w, { nonce })]);
    const r = await provider.waitForTransaction(bumpedHash, 1, 20_000);
    expect(r?.status).toBe(1);
    expect((await provider.getTransactionReceipt(filler))?.status).toBe(1);
    expect(await provider.getTransactionReceipt(laterHash)).toBeNull(); // the replaced one never lands
  });

  it('serves block and log filters to pollers', async () => {
    const blockFilter = await rpc<string>(url, 'eth_newBlockFilter');
    const logFilter = await rpc<string>(url, 'eth_newFilter', [{ topics: [bytesToHex(SET_TOPIC)] }]);
    const contract = (await (await wallet.sendTransaction({ data: hexlify(STORAGE_INITCODE) })).wait())!.contractAddress!;
    const write = await wallet.sendTransaction({ to: contract, data: word(99n) });
    await write.wait();
    const hashes = await rpc<string[]>(url, 'eth_getFilterChanges', [blockFilter]);
    expect(hashes.length).toBeGreaterThan(0);
    expect(hashes.every((h) => /^0x[0-9a-f]{64}$/.test(h))).toBe(true);
    const logs = await rpc<{ address: string; data: string }[]>(url, 'eth_getFilterChanges', [logFilter]);
    expect(logs.map((l) => l.address.toLowerCase())).toContain(contract.toLowerCase());
    expect(await rpc(url, 'eth_getFilterChanges', [logFilter])).toEqual([]);
    expect(await rpc(url, 'eth_uninstallFilter', [logFilter])).toBe(true);
    expect((await rpcError('eth_getFilterChanges', [logFilter])).message).toMatch(/filter not found/);
  });

  it('limits eth_getLogs ranges', async () => {
    const err = await rpcError('eth_getLogs', [{ fromBlock: '0x0', toBlock: '0x30000' }]);
    expect(err.message).toMatch(/block range too large/);
  });
});
