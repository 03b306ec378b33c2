import { z } from 'zod';

/**
 * Result shapes of the Ethereum execution APIs (ethereum/execution-apis, src/schemas and src/eth),
 * written down here for tests: the patterns of quantities, data and hashes, and the objects built
 * of them. Strict where the spec is (no leading zeros in quantities, lower-case hex).
 */
export const uint = z.string().regex(/^0x(0|[1-9a-f][0-9a-f]*)$/, 'quantity (no leading zeros)');
export const bytes = z.string().regex(/^0x([0-9a-f][0-9a-f])*$/, 'hex bytes');
export const hash32 = z.string().regex(/^0x[0-9a-f]{64}$/, '32-byte hash');
export const address = z.string().regex(/^0x[0-9a-f]{40}$/, 'address');
export const bytes8 = z.string().regex(/^0x[0-9a-f]{16}$/);
export const bytes256 = z.string().regex(/^0x[0-9a-f]{512}$/);

export const log = z.strictObject({
  removed: z.boolean(),
  logIndex: uint,
  transactionIndex: uint,
  transactionHash: hash32,
  blockHash: hash32,
  blockNumber: uint,
  blockTimestamp: uint.optional(),
  address,
  data: bytes,
  topics: z.array(hash32),
});

const accessList = z.array(z.strictObject({ address, storageKeys: z.array(hash32) }));

const txCommon = {
  type: uint,
  nonce: uint,
  to: address.nullable(),
  gas: uint,
  value: uint,
  input: bytes,
  r: uint,
  s: uint,
  hash: hash32,
  from: address,
  blockHash: hash32.nullable(),
  blockNumber: uint.nullable(),
  blockTimestamp: uint.nullable().optional(),
  transactionIndex: uint.nullable(),
};

export const legacyTx = z.strictObject({ ...txCommon, type: z.literal('0x0'), gasPrice: uint, v: uint, chainId: uint.optional() });
export const tx2930 = z.strictObject({ ...txCommon, type: z.literal('0x1'), gasPrice: uint, v: uint.optional(), yParity: uint, chainId: uint, accessList });
export const tx1559 = z.strictObject({
  ...txCommon,
  type: z.literal('0x2'),
  gasPrice: uint,
  maxFeePerGas: uint,
  maxPriorityFeePerGas: uint,
  v: uint.optional(),
  yParity: uint,
  chainId: uint,
  accessList,
});
export const transaction = z.union([legacyTx, tx2930, tx1559]);

export const block = z.strictObject({
  hash: hash32,
  parentHash: hash32,
  sha3Uncles: hash32,
  miner: address,
  stateRoot: hash32,
  transactionsRoot: hash32,
  receiptsRoot: hash32,
  logsBloom: bytes256,
  difficulty: uint,
  totalDifficulty: uint.optional(),
  number: uint,
  gasLimit: uint,
  gasUsed: uint,
  timestamp: uint,
  extraData: bytes,
  mixHash: hash32,
  nonce: bytes8,
  size: uint,
  baseFeePerGas: uint.optional(),
  transactions: z.union([z.array(hash32), z.array(transaction)]),
  uncles: z.array(hash32),
});

export const header = block.omit({ size: true, totalDifficulty: true, transactions: true, uncles: true });

export const receipt = z.strictObject({
  type: uint,
  transactionHash: hash32,
  transactionIndex: uint,
  blockHash: hash32,
  blockNumber: uint,
  from: address,
  to: address.nullable(),
  cumulativeGasUsed: uint,
  gasUsed: uint,
  contractAddress: address.nullable(),
  logs: z.array(log),
  logsBloom: bytes256,
  root: hash32.optional(),
  status: z.enum(['0x0', '0x1']),
  effectiveGasPrice: uint,
});

export const feeHistory = z.strictObject({
  oldestBlock: uint,
  baseFeePerGas: z.array(uint),
  gasUsedRatio: z.array(z.number()),
  reward: z.array(z.array(uint)).optional(),
  baseFeePerBlobGas: z.array(uint).optional(),
  blobGasUsedRatio: z.array(z.number()).optional(),
});

export const syncing = z.union([z.literal(false), z.strictObject({ startingBlock: uint, currentBlock: uint, highestBlock: uint })]);

export const accessListResult = z.strictObject({ accessList, gasUsed: uint, error: z.string().optional() });

export const proof = z.strictObject({
  address,
  accountProof: z.array(bytes),
  balance: uint,
  codeHash: hash32,
  nonce: uint,
  storageHash: hash32,
  storageProof: z.array(z.strictObject({ key: hash32, value: uint, proof: z.array(bytes) })),
});

/** geth's txpool namespace (not in execution-apis). */
const bySender = <T extends z.ZodType>(v: T) => z.record(z.string().regex(/^0x[0-9a-fA-F]{40}$/), z.record(z.string().regex(/^(0|[1-9][0-9]*)$/), v));
export const txpoolContent = z.strictObject({ pending: bySender(transaction), queued: bySender(transaction) });
export const txpoolInspect = z.strictObject({ pending: bySender(z.string()), queued: bySender(z.string()) });
export const txpoolStatus = z.strictObject({ pending: uint, queued: uint });
