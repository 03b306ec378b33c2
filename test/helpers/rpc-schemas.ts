import { z } from 'zod';

/**
 * Result shapes of the Ethereum execution APIs, checked against ethereum/execution-apis
 * (src/schemas/{base-types,block,transaction,receipt,filter,state,client,txpool,opcode-tracer}.yaml,
 * the methods in src/eth/*.yaml, src/debug/trace.yaml and src/txpool/pool.yaml).
 *
 * Objects the spec closes (`additionalProperties: false`) are strict here; the others let extra
 * fields through, as the spec does. Required fields and patterns are the spec's. Shapes of methods the
 * spec does not define (geth's txpool_inspect, callTracer, debug_traceCall, web3_*, net_listening …)
 * are marked as geth's.
 */

// base-types.yaml
export const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/, 'address');
export const byte = z.string().regex(/^0x[0-9a-f]{1,2}$/, 'byte');
export const bytes = z.string().regex(/^0x[0-9a-f]*$/, 'hex bytes');
export const bytesMax32 = z.string().regex(/^0x[0-9a-f]{0,64}$/, 'at most 32 hex bytes');
export const bytes8 = z.string().regex(/^0x[0-9a-f]{16}$/, '8 hex bytes');
export const bytes32 = z.string().regex(/^0x[0-9a-f]{64}$/, '32 hex bytes');
export const bytes256 = z.string().regex(/^0x[0-9a-f]{512}$/, '256 hex bytes');
/** A 32-byte hash (the spec's hash32: the same form as bytes32, named for what it holds). */
export const hash32 = z.string().regex(/^0x[0-9a-f]{64}$/, '32-byte hash');
export const uint = z.string().regex(/^0x(0|[1-9a-f][0-9a-f]*)$/, 'quantity (no leading zeros)');
export const uint64 = z.string().regex(/^0x(0|[1-9a-f][0-9a-f]{0,15})$/, '64-bit quantity');
export const uint256 = z.string().regex(/^0x(0|[1-9a-f][0-9a-f]{0,63})$/, '256-bit quantity');
export const uintDecimal = z.string().regex(/^(0|[1-9][0-9]*)$/, 'decimal integer');
export const ratio = z.number().min(0).max(1);
export const notFound = z.null();

// receipt.yaml
export const log = z.strictObject({
  removed: z.boolean().optional(),
  logIndex: uint.optional(),
  transactionIndex: uint.optional(),
  transactionHash: hash32,
  blockHash: hash32.optional(),
  blockNumber: uint.optional(),
  blockTimestamp: uint.optional(),
  address: address.optional(),
  data: bytes.optional(),
  topics: z.array(bytes32).optional(),
});
/** A log of a mined block with every field the spec names (Basalt, as geth, fills them all). */
export const minedLog = log.required();

export const receipt = z.strictObject({
  type: byte.optional(),
  transactionHash: hash32,
  transactionIndex: uint,
  blockHash: hash32,
  blockNumber: uint,
  from: address,
  to: address.nullable().optional(),
  cumulativeGasUsed: uint,
  gasUsed: uint,
  blobGasUsed: uint.optional(),
  contractAddress: address.nullable().optional(),
  logs: z.array(log),
  logsBloom: bytes256,
  root: hash32.optional(),
  status: uint.optional(),
  effectiveGasPrice: uint,
  blobGasPrice: uint.optional(),
});

// transaction.yaml
const accessList = z.array(z.strictObject({ address, storageKeys: z.array(hash32) }));
const authorizationList = z.array(z.object({ chainId: uint, nonce: uint, address, yParity: byte, r: uint256, s: uint256 }));
const toOrCreate = address.nullable().optional();
const base = { nonce: uint, gas: uint, value: uint, input: bytes };
const typedSignature = { yParity: byte, v: byte.optional(), r: uint, s: uint };

export const legacySigned = z.object({ type: z.literal('0x0'), ...base, to: toOrCreate, gasPrice: uint, chainId: uint.optional(), v: uint, r: uint, s: uint });
export const signed2930 = z.object({ type: z.literal('0x1'), ...base, to: toOrCreate, gasPrice: uint, chainId: uint, accessList, ...typedSignature });
const fees1559 = { maxFeePerGas: uint, maxPriorityFeePerGas: uint, chainId: uint, accessList };
export const signed1559 = z.object({ type: z.literal('0x2'), ...base, to: toOrCreate, gasPrice: uint, ...fees1559, ...typedSignature });
export const signed4844 = z.object({
  type: z.literal('0x3'),
  ...base,
  to: address,
  gasPrice: uint.optional(),
  ...fees1559,
  maxFeePerBlobGas: uint,
  blobVersionedHashes: z.array(hash32),
  ...typedSignature,
});
export const signed7702 = z.object({
  type: z.literal('0x4'),
  ...base,
  to: address,
  gasPrice: uint.optional(),
  ...fees1559,
  authorizationList,
  ...typedSignature,
});

/** TransactionInfo: a signed transaction of any type with where it was mined (all required, none null). */
const mined = { blockHash: hash32, blockNumber: uint, blockTimestamp: uint, from: address, hash: hash32, transactionIndex: uint };
export const legacyTx = legacySigned.extend(mined);
export const tx2930 = signed2930.extend(mined);
export const tx1559 = signed1559.extend(mined);
export const tx4844 = signed4844.extend(mined);
export const tx7702 = signed7702.extend(mined);
export const transaction = z.union([legacyTx, tx2930, tx1559, tx4844, tx7702]);

/**
 * txpool.yaml's PendingTransactionInfo: not yet in a block, so the block fields are null when present.
 * The spec's eth_getTransactionByHash names only TransactionInfo (non-null block fields), which a pooled
 * transaction cannot fill; Basalt, as geth, answers with this shape for one still in the pool.
 */
const inPool = {
  blockHash: z.null().optional(),
  blockNumber: z.null().optional(),
  blockTimestamp: z.null().optional(),
  from: address,
  hash: hash32,
  transactionIndex: z.null().optional(),
};
export const pendingTransaction = z.union([
  legacySigned.extend(inPool),
  signed2930.extend(inPool),
  signed1559.extend(inPool),
  signed4844.extend(inPool),
  signed7702.extend(inPool),
]);

// block.yaml
export const block = z.object({
  hash: hash32,
  parentHash: hash32,
  sha3Uncles: hash32,
  miner: address,
  stateRoot: hash32,
  transactionsRoot: hash32,
  receiptsRoot: hash32,
  logsBloom: bytes256,
  difficulty: uint.optional(),
  number: uint,
  gasLimit: uint,
  gasUsed: uint,
  timestamp: uint,
  extraData: bytes,
  mixHash: hash32,
  nonce: bytes8,
  baseFeePerGas: uint.optional(),
  withdrawalsRoot: hash32.optional(),
  blobGasUsed: uint.optional(),
  excessBlobGas: uint.optional(),
  parentBeaconBlockRoot: hash32.optional(),
  requestsHash: hash32.optional(),
  blockAccessListHash: hash32.optional(),
  size: uint,
  transactions: z.union([z.array(hash32), z.array(transaction)]),
  withdrawals: z.array(z.object({ index: uint64, validatorIndex: uint64, address, amount: uint256 })).optional(),
  uncles: z.array(hash32),
});

// eth/fee_market.yaml
export const feeHistory = z.strictObject({
  oldestBlock: uint,
  baseFeePerGas: z.array(uint),
  baseFeePerBlobGas: z.array(uint).optional(),
  gasUsedRatio: z.array(ratio),
  blobGasUsedRatio: z.array(ratio).optional(),
  reward: z.array(z.array(uint)).optional(),
});

// client.yaml
export const syncing = z.union([z.boolean(), z.strictObject({ startingBlock: uint.optional(), currentBlock: uint.optional(), highestBlock: uint.optional() })]);

// eth/execute.yaml (eth_createAccessList: no field is required)
export const accessListResult = z.strictObject({ accessList: accessList.optional(), error: z.string().optional(), gasUsed: uint.optional() });

// state.yaml
export const proof = z.strictObject({
  address,
  accountProof: z.array(bytes),
  balance: uint256,
  codeHash: hash32,
  nonce: uint64,
  storageHash: hash32,
  storageProof: z.array(z.strictObject({ key: bytesMax32, value: uint256, proof: z.array(bytes) })),
});

// txpool.yaml (keys are free in the spec; its examples, as geth, use addresses and decimal nonces)
const bySender = <T extends z.ZodType>(v: T) => z.record(address, z.record(uintDecimal, v));
export const txpoolStatus = z.object({ pending: uint, queued: uint });
export const txpoolContent = z.object({ pending: bySender(pendingTransaction), queued: bySender(pendingTransaction) });
/** geth's txpool_inspect (not in execution-apis). */
export const txpoolInspect = z.strictObject({ pending: bySender(z.string()), queued: bySender(z.string()) });

// opcode-tracer.yaml: the default (struct logger) trace
const count = z.number().int().min(0);
export const structLog = z.object({
  pc: count,
  op: z.string(),
  gas: count,
  gasCost: count,
  depth: z.number().int().min(1),
  error: z.string().min(1).optional(),
  refund: count.optional(),
  stack: z.array(uint256).optional(),
  memory: z.array(bytes32).optional(),
  returnData: bytes.optional(),
  // The spec's prose: keys are 0x-prefixed, zero-padded 32-byte slots.
  storage: z.record(bytes32, bytes32).optional(),
});
export const opcodeTrace = z.object({ gas: count, failed: z.boolean(), returnValue: bytes, structLogs: z.array(structLog) });
/** One entry of debug_traceBlockBy*: the opcode trace, or a named tracer's output (left free by the spec). */
export const blockTraceEntry = <T extends z.ZodType>(result: T) => z.object({ txHash: hash32, result });

/** geth's callTracer frame (named tracers are outside execution-apis). */
export interface CallFrame {
  type: string;
  from: string;
  to?: string;
  value?: string;
  gas: string;
  gasUsed: string;
  input: string;
  output?: string;
  error?: string;
  revertReason?: string;
  calls?: CallFrame[];
  logs?: { address: string; topics: string[]; data: string; position: string }[];
}
export const callFrame: z.ZodType<CallFrame> = z.lazy(() =>
  z.strictObject({
    type: z.enum(['CALL', 'CALLCODE', 'DELEGATECALL', 'STATICCALL', 'CREATE', 'CREATE2', 'SELFDESTRUCT']),
    from: address,
    to: address.optional(),
    value: uint.optional(),
    gas: uint,
    gasUsed: uint,
    input: bytes,
    output: bytes.optional(),
    error: z.string().optional(),
    revertReason: z.string().optional(),
    calls: z.array(callFrame).optional(),
    logs: z.array(z.strictObject({ address, topics: z.array(bytes32), data: bytes, position: uint })).optional(),
  }),
);
