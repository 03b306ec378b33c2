import solc from 'solc';
import { hexToBytes } from '@ethereumjs/util';

export interface Compiled {
  abi: unknown[];
  /** Creation bytecode. */
  bytecode: Uint8Array;
  /** The same, 0x-hex. */
  bytecodeHex: `0x${string}`;
}

/**
 * Compile one Solidity source; throws on any compile error. Returns every contract in it by name.
 * Defaults are solc's (its newest EVM version, no optimizer); traces pin `evmVersion` and `optimize`
 * so that their expected op sequences do not move with the compiler.
 */
export function compileSolidity(source: string, opts: { evmVersion?: string; optimize?: boolean } = {}): Record<string, Compiled> {
  const input = {
    language: 'Solidity',
    sources: { 'C.sol': { content: source } },
    settings: {
      ...(opts.evmVersion ? { evmVersion: opts.evmVersion } : {}),
      ...(opts.optimize ? { optimizer: { enabled: true, runs: 200 } } : {}),
      outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } },
    },
  };
  const out = JSON.parse(solc.compile(JSON.stringify(input))) as {
    errors?: { severity: string; formattedMessage: string }[];
    contracts: Record<string, Record<string, { abi: unknown[]; evm: { bytecode: { object: string } } }>>;
  };
  const errors = (out.errors ?? []).filter((e) => e.severity === 'error');
  if (errors.length > 0) throw new Error(errors.map((e) => e.formattedMessage).join('\n'));
  const result: Record<string, Compiled> = {};
  for (const [name, c] of Object.entries(out.contracts['C.sol']!)) {
    const hex = `0x${c.evm.bytecode.object}` as const;
    result[name] = { abi: c.abi, bytecode: hexToBytes(hex), bytecodeHex: hex };
  }
  return result;
}

/** Contracts the fork and RPC tests share. */
export const CANCUN_SOURCE = `// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;
contract Transient {
  uint256 public stored;
  /// TSTORE/TLOAD (EIP-1153), then MCOPY (EIP-5656) via a memory-to-memory bytes copy.
  function run(uint256 x) external returns (uint256) {
    assembly { tstore(7, x) }
    uint256 y;
    assembly { y := tload(7) }
    bytes memory a = abi.encode(y, y + 1);
    bytes memory b = new bytes(a.length);
    assembly { mcopy(add(b, 32), add(a, 32), mload(a)) }
    (uint256 first, ) = abi.decode(b, (uint256, uint256));
    stored = first;
    return first;
  }
  function blobBaseFee() external view returns (uint256) {
    return block.blobbasefee;
  }
}
/// Costs more when the block number or timestamp moved on since the last call: an estimate made
/// against the head block's own header takes the cheap path, the mined transaction the dear one.
contract Clock {
  uint256 public lastNumber;
  uint256 public lastTime;
  uint256[] public log;
  function tick() external {
    if (block.number > lastNumber) {
      lastNumber = block.number;
      for (uint256 i = 0; i < 5; i++) log.push(i + 1);
    }
    if (block.timestamp > lastTime) {
      lastTime = block.timestamp;
      for (uint256 i = 0; i < 5; i++) log.push(i + 1);
    }
  }
}
`;
