/** JSON-RPC 2.0 error codes (and the ones Ethereum clients use). */
export const RpcErrorCode = {
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  Internal: -32603,
  /** geth/EIP-1474: a transaction or call was rejected. */
  InvalidInput: -32000,
  /** EIP-1474: the resource is not available (now: the node is restoring from a peer's snapshot). */
  ResourceUnavailable: -32002,
  /** EIP-1474 "limit exceeded" (geth's for a batch response over its size limit). */
  LimitExceeded: -32005,
  /** EIP-4444 (geth): a block's body or receipts not held here (a restored node back-filling its history). */
  PrunedHistory: 4444,
  /** EVM execution reverted (eth_call / eth_estimateGas). */
  ExecutionReverted: 3,
} as const;

/** An error to send to the client as-is, with a code and optional data. */
export class RpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
    this.name = 'RpcError';
  }
}

export function invalidParams(message: string): RpcError {
  return new RpcError(RpcErrorCode.InvalidParams, message);
}
