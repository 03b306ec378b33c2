import { describe, expect, it } from 'vitest';
import { decodeSnapshotHeader } from '../../../src/snapshot/format.js';

const hash = `0x${'ab'.repeat(32)}`;
const header = (extra: Record<string, unknown>) => ({
  format: 'basalt-snapshot',
  version: 2,
  chainId: '100',
  genesisHash: hash,
  genesisBytes: '10',
  head: { number: '5', hash, stateRoot: hash },
  compression: 'zstd',
  ...extra,
});

describe("a snapshot header's stateOrder", () => {
  it("reads 'tree', and its absence as an earlier version's file (each node once)", () => {
    expect(decodeSnapshotHeader(header({ stateOrder: 'tree' }), 2).header.stateOrder).toBe('tree');
    expect(decodeSnapshotHeader(header({}), 2).header.stateOrder).toBeUndefined();
  });

  it('refuses any other value in one line, whatever its type or size', () => {
    for (const bad of ['unique', 'TREE', '', 7, null, { a: 1 }, 'x'.repeat(100_000)])
      expect(() => decodeSnapshotHeader(header({ stateOrder: bad }), 2)).toThrow(
        /^snapshot header has an unknown stateOrder .{1,90} \(a newer Basalt's file\?\)$/,
      );
  });
});
