import solc from 'solc';

export interface Compiled {
  abi: unknown[];
  /** Creation bytecode, 0x-prefixed. */
  bytecode: `0x${string}`;
}

/** Compile one Solidity source (optimizer on, Shanghai EVM: PUSH0 but no Cancun opcodes); throws on errors. */
export function compileSolidity(source: string): Record<string, Compiled> {
  const input = {
    language: 'Solidity',
    sources: { 'main.sol': { content: source } },
    settings: { optimizer: { enabled: true, runs: 200 }, evmVersion: 'shanghai', outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } } },
  };
  const out = JSON.parse(solc.compile(JSON.stringify(input))) as {
    errors?: { severity: string; formattedMessage: string }[];
    contracts: Record<string, Record<string, { abi: unknown[]; evm: { bytecode: { object: string } } }>>;
  };
  const errors = (out.errors ?? []).filter((e) => e.severity === 'error');
  if (errors.length > 0) throw new Error(errors.map((e) => e.formattedMessage).join('\n'));
  const result: Record<string, Compiled> = {};
  for (const [name, c] of Object.entries(out.contracts['main.sol']!)) result[name] = { abi: c.abi, bytecode: `0x${c.evm.bytecode.object}` };
  return result;
}
