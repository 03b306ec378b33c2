/**
 * A tiny EVM assembler for test contracts (no compiler on the machine): opcodes by name, PUSH of
 * numbers or byte strings, labels resolved to PUSH2 offsets, and raw data blobs.
 */
const OPS: Record<string, number> = {
  STOP: 0x00,
  ADD: 0x01,
  ISZERO: 0x15,
  CALLDATALOAD: 0x35,
  CALLDATASIZE: 0x36,
  CODECOPY: 0x39,
  MSTORE: 0x52,
  SLOAD: 0x54,
  SSTORE: 0x55,
  JUMP: 0x56,
  JUMPI: 0x57,
  GAS: 0x5a,
  JUMPDEST: 0x5b,
  DUP1: 0x80,
  LOG1: 0xa1,
  RETURN: 0xf3,
  REVERT: 0xfd,
  BALANCE: 0x31,
  COINBASE: 0x41,
  TIMESTAMP: 0x42,
  NUMBER: 0x43,
  BASEFEE: 0x48,
  CALLER: 0x33,
  CALL: 0xf1,
  POP: 0x50,
};

/** `label` marks a jump target (emits JUMPDEST); `mark` names a position without emitting anything. */
export type Item = string | { push: bigint | Uint8Array } | { label: string } | { mark: string } | { ref: string } | { data: Uint8Array };

export function assemble(items: Item[]): Uint8Array {
  const size = (it: Item): number => {
    if (typeof it === 'string') return 1;
    if ('label' in it) return 1; // emits JUMPDEST
    if ('mark' in it) return 0;
    if ('ref' in it) return 3; // PUSH2 offset
    if ('data' in it) return it.data.length;
    return 1 + pushBytes(it.push).length;
  };
  const labels = new Map<string, number>();
  let pc = 0;
  for (const it of items) {
    if (typeof it === 'object' && 'label' in it) labels.set(it.label, pc);
    if (typeof it === 'object' && 'mark' in it) labels.set(it.mark, pc);
    pc += size(it);
  }
  const out: number[] = [];
  for (const it of items) {
    if (typeof it === 'string') {
      const op = OPS[it];
      if (op === undefined) throw new Error(`unknown opcode ${it}`);
      out.push(op);
    } else if ('label' in it) out.push(OPS.JUMPDEST!);
    else if ('mark' in it) continue;
    else if ('ref' in it) {
      const at = labels.get(it.ref);
      if (at === undefined) throw new Error(`unknown label ${it.ref}`);
      out.push(0x61, at >> 8, at & 0xff);
    } else if ('data' in it) out.push(...it.data);
    else {
      const b = pushBytes(it.push);
      out.push(0x5f + b.length, ...b);
    }
  }
  return Uint8Array.from(out);
}

function pushBytes(v: bigint | Uint8Array): Uint8Array {
  if (v instanceof Uint8Array) return v;
  if (v === 0n) return Uint8Array.of(0);
  const hex = v.toString(16);
  return Uint8Array.from(Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex'));
}

/** Init code that deploys `runtime` as is. */
export function deployer(runtime: Uint8Array): Uint8Array {
  const head = (start: number) => assembleFixed(runtime.length, start);
  return Uint8Array.from([...head(head(0).length), ...runtime]);
}

function assembleFixed(len: number, start: number): Uint8Array {
  // PUSH2 len PUSH2 start PUSH1 0 CODECOPY PUSH2 len PUSH1 0 RETURN
  return Uint8Array.from([0x61, len >> 8, len & 0xff, 0x61, start >> 8, start & 0xff, 0x60, 0, 0x39, 0x61, len >> 8, len & 0xff, 0x60, 0, 0xf3]);
}
