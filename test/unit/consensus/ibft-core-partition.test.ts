import { describe, expect, it } from 'vitest';
import { QuorumRule } from '../../../src/consensus/ibft/validators.js';
import { IbftNet, hashHex } from '../../helpers/ibft-net.js';

/** Heights at which two nodes committed different blocks. */
function forks(net: IbftNet): number[] {
  const out: number[] = [];
  const longest = Math.max(...net.nodes.map((n) => net.committed(n.i).length));
  for (let h = 0; h < longest; h++) {
    const values = new Set(
      net.nodes
        .map((n) => net.committed(n.i)[h])
        .filter((b) => b !== undefined)
        .map(hashHex),
    );
    if (values.size > 1) out.push(h + 1);
  }
  return out;
}

/** A network of `n` split into groups `sides` (node indexes): messages cross no border. */
function partitioned(n: number, sides: number[][], quorum?: QuorumRule): IbftNet {
  const net = new IbftNet(n, { baseTimeoutMs: 1000, maxTimeoutMs: 8000, ...(quorum ? { quorum } : {}) });
  const sideOf = new Map<number, number>();
  sides.forEach((s, k) => s.forEach((i) => sideOf.set(i, k)));
  net.filter = (from, to) => sideOf.get(from) === sideOf.get(to);
  net.link = (from, to) => sideOf.get(from) === sideOf.get(to);
  return net;
}

/** Every way to split N into two non-empty sides, as (smaller side first) index lists. */
function splits(n: number): number[][][] {
  const out: number[][][] = [];
  for (let a = 1; a <= n / 2; a++) out.push([[...Array(a).keys()], [...Array(n - a).keys()].map((i) => i + a)]);
  return out;
}

describe('IBFT core under a network partition', () => {
  for (const n of [2, 3, 5, 6, 7]) {
    it(`N=${n}: no split commits two values at one height, and once joined the validators seal one chain`, async () => {
      for (const sides of splits(n)) {
        const net = partitioned(n, sides);
        net.start();
        await net.advance(20_000);
        expect(forks(net), `split ${JSON.stringify(sides)}`).toEqual([]);
        // At most one side can make progress: the one that still holds a quorum.
        const progressed = sides.filter((s) => s.some((i) => net.committed(i).length > 0));
        expect(progressed.length, `split ${JSON.stringify(sides)}`).toBeLessThanOrEqual(1);
        const q = Math.ceil((2 * n) / 3);
        for (const s of sides)
          if (s.length < q) for (const i of s) expect(net.committed(i), `node ${i} in a side of ${s.length} < quorum ${q}`).toHaveLength(0);
        if (progressed.length === 0) {
          // Joined again: one chain, every node on it.
          net.filter = () => true;
          net.link = () => true;
          await net.advance(30_000);
          expect(forks(net), `joined after ${JSON.stringify(sides)}`).toEqual([]);
          for (const node of net.nodes) expect(net.committed(node.i).length, `node ${node.i} after joining`).toBeGreaterThan(0);
        }
      }
    });
  }

  it('the legacy 2F+1 quorum forks a 6-validator network split 3/3 and a 3-validator network split 1/2 (the reason the rule changed)', async () => {
    for (const [n, sides] of [
      [
        6,
        [
          [0, 1, 2],
          [3, 4, 5],
        ],
      ],
      [3, [[0], [1, 2]]],
    ] as [number, number[][]][]) {
      const net = partitioned(n, sides, QuorumRule.LEGACY);
      net.start();
      await net.advance(20_000);
      expect(forks(net).length, `N=${n}`).toBeGreaterThan(0);
    }
  });
});
