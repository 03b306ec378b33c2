import { join } from 'node:path';
import { type Contract, ContractFactory, JsonRpcProvider, Wallet, hexlify } from 'ethers';
import { createPublicClient, createWalletClient, encodeFunctionData, http, type Abi, type Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliProcess, rpc, runCli, serverArgs, tempDir } from '../helpers/cli.js';
import { DEV_ADDRESS, DEV_KEY } from '../helpers/load.js';
import { CANCUN_SOURCE, compileSolidity } from '../helpers/solc.js';

/**
 * Today's toolchains against a new chain (`basalt genesis` defaults: Cancun and Prague at block 0):
 * contracts compiled with solc's default EVM version, estimates in the next block, eth_call state
 * overrides and an EIP-7702 authorization, through ethers v6 and viem.
 */
const THIRD_KEY = '0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a'; // Hardhat #2
const third = privateKeyToAccount(THIRD_KEY);
const { Transient, Clock } = compileSolidity(CANCUN_SOURCE);
const { Probe, Delegate } = compileSolidity(`// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;
contract Probe {
  function balanceOf(address a) external view returns (uint256) { return a.balance; }
  function answer() external pure returns (uint256) { return 42; }
}
contract Delegate {
  event Hello(address self, uint256 n);
  function hello(uint256 n) external returns (address) { emit Hello(address(this), n); return address(this); }
}`);

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
  runCli([
    'genesis',
    '--dir',
    genesis,
    '--ibft-validator',
    validator,
    '--premine',
    `${DEV_ADDRESS}:${10n ** 24n}`,
    '--premine',
    `${third.address}:${10n ** 20n}`,
  ]);
  // 1 s blocks: the next block's timestamp is then always later than the head's.
  node = new CliProcess(serverArgs(dataDir, genesis, ['--seal', '--block-time', '1']));
  url = await node.rpcUrl();
  provider = new JsonRpcProvider(url, undefined, { staticNetwork: true, pollingInterval: 100, cacheTimeout: -1 });
  wallet = new Wallet(DEV_KEY, provider);
}, 60_000);

afterAll(async () => {
  provider?.destroy();
  await node?.stop();
});

async function deploy(c: { abi: unknown[]; bytecode: Uint8Array }): Promise<Contract> {
  const factory = new ContractFactory(c.abi as never, hexlify(c.bytecode), wallet);
  const contract = await factory.deploy();
  await contract.waitForDeployment();
  return contract as Contract;
}

describe('solc default EVM version (ethers v6)', () => {
  it('deploys and runs a contract that uses transient storage and MCOPY; BLOBBASEFEE is 1 wei', async () => {
    const t = await deploy(Transient!);
    const receipt = await (await t.getFunction('run')(5n)).wait();
    expect(receipt?.status).toBe(1);
    expect(await t.getFunction('stored')()).toBe(5n);
    expect(await t.getFunction('blobBaseFee')()).toBe(1n);
  });

  it('a transaction whose gas depends on block.number and block.timestamp succeeds with the default estimate', async () => {
    const clock = await deploy(Clock!);
    expect((await (await clock.getFunction('tick')()).wait())?.status).toBe(1);
    // Right after that block, the head's own number and time take the cheap path; the next block the dear one.
    for (let i = 0; i < 2; i++) {
      const tx = await clock.getFunction('tick')();
      const receipt = await tx.wait();
      expect(receipt?.status).toBe(1);
      expect(receipt!.gasUsed).toBeGreaterThan(150_000n);
    }
  });
});

describe('eth_call state and block overrides', () => {
  it('runs overridden code and sees an overridden balance (viem and raw JSON-RPC)', async () => {
    const client = createPublicClient({ transport: http(url) });
    const at = '0x00000000000000000000000000000000000b0b0b' as const;
    const rich = '0x00000000000000000000000000000000000ca5e5' as const;
    const code = (await rpc<Hex>(url, 'eth_call', [{ data: hexlify(Probe!.bytecode) }])) as Hex; // the runtime code, as the constructor returns it
    const data = encodeFunctionData({ abi: Probe!.abi as Abi, functionName: 'balanceOf', args: [rich] });
    const { data: out } = await client.call({
      to: at,
      data,
      stateOverride: [
        { address: at, code },
        { address: rich, balance: 12345n },
      ],
    });
    expect(BigInt(out!)).toBe(12345n);
    // Without overrides the address has no code and the account no balance.
    expect(await client.call({ to: at, data })).toEqual({ data: undefined });
    // stateDiff patches one slot of a deployed contract's storage; block overrides change what NUMBER sees.
    const answer = encodeFunctionData({ abi: Probe!.abi as Abi, functionName: 'answer' });
    expect(BigInt(await rpc<string>(url, 'eth_call', [{ to: at, data: answer }, 'latest', { [at]: { code } }]))).toBe(42n);
    const both = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_call', params: [{ to: at, data: answer }, 'latest', { [at]: { state: {}, stateDiff: {} } }] }),
    });
    expect(((await both.json()) as { error: { message: string } }).error.message).toBe(`account ${at} has both 'state' and 'stateDiff'`);
  });

  it('estimates with a code override too (eth_estimateGas third parameter)', async () => {
    const at = '0x00000000000000000000000000000000000b0b0c';
    const code = await rpc<string>(url, 'eth_call', [{ data: hexlify(Probe!.bytecode) }]);
    const answer = encodeFunctionData({ abi: Probe!.abi as Abi, functionName: 'answer' });
    const plain = BigInt(await rpc<string>(url, 'eth_estimateGas', [{ to: at, data: answer }]));
    const withCode = BigInt(await rpc<string>(url, 'eth_estimateGas', [{ to: at, data: answer }, 'latest', { [at]: { code } }]));
    expect(withCode).toBeGreaterThan(plain);
  });
});

describe('EIP-7702 set-code transactions (viem)', () => {
  it('applies an authorization: the EOA runs the delegate code', async () => {
    const delegate = await deploy(Delegate!);
    const delegateAddress = (await delegate.getAddress()) as Hex;
    const walletClient = createWalletClient({
      account: third,
      transport: http(url),
      chain: { id: 100, name: 'basalt', nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 }, rpcUrls: { default: { http: [url] } } },
    });
    const publicClient = createPublicClient({ transport: http(url) });
    const authorization = await walletClient.signAuthorization({ contractAddress: delegateAddress, executor: 'self' });
    const hash = await walletClient.sendTransaction({
      authorizationList: [authorization],
      to: third.address,
      data: encodeFunctionData({ abi: Delegate!.abi as Abi, functionName: 'hello', args: [7n] }),
    });
    const receipt = await publicClient.waitForTransactionReceipt({ hash, pollingInterval: 100 });
    expect(receipt.status).toBe('success');
    expect(receipt.type).toBe('eip7702');
    expect(await publicClient.getCode({ address: third.address })).toBe(`0xef0100${delegateAddress.slice(2).toLowerCase()}`);
    // The delegate's event was emitted by the EOA itself, with address(this) = the EOA.
    expect(receipt.logs).toHaveLength(1);
    expect(receipt.logs[0]!.address.toLowerCase()).toBe(third.address.toLowerCase());
  });
});
