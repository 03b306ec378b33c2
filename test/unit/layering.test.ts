import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The layout shows the data flow (docs/architecture.md): each folder of src/ may import only from the
 * folders below it, and no module imports itself through a cycle.
 */
const SRC = new URL('../../src/', import.meta.url).pathname;

const MAY_IMPORT: Record<string, string[]> = {
  util: [],
  storage: ['util'],
  container: ['util'],
  keys: ['util'],
  archive: ['container', 'util'],
  snapshot: ['archive', 'container', 'util'],
  consensus: ['storage', 'keys', 'util', 'chain'], // IBFT fills the chain's ConsensusEngine and drives it through ChainBackend
  chain: ['storage', 'util'], // knows no consensus: the header format and rules come through ConsensusEngine
  txpool: ['chain', 'storage', 'util'],
  backup: ['archive', 'snapshot', 'container', 'chain', 'consensus', 'storage', 'util'],
  p2p: ['chain', 'consensus', 'txpool', 'storage', 'keys', 'util'],
  sync: ['p2p', 'backup', 'chain', 'consensus', 'container', 'storage', 'keys', 'util'], // snapshot sync streams a peer's snapshot through backup's restore
  rpc: ['p2p', 'sync', 'backup', 'txpool', 'chain', 'consensus', 'container', 'storage', 'keys', 'util'],
  node: ['p2p', 'sync', 'rpc', 'backup', 'txpool', 'chain', 'consensus', 'container', 'storage', 'keys', 'util'],
  cli: ['node', 'p2p', 'sync', 'rpc', 'backup', 'txpool', 'chain', 'consensus', 'archive', 'snapshot', 'container', 'storage', 'keys', 'util'],
};

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

const files = sources(SRC).filter((f) => !f.includes('/generated/'));
const imports = new Map<string, string[]>(
  files.map((f) => [
    f,
    [...readFileSync(f, 'utf8').matchAll(/(?:from|import\()\s*'(\.[^']+)'/g)].map((m) => normalize(join(dirname(f), m[1]!)).replace(/\.js$/, '.ts')),
  ]),
);
const folder = (f: string) => relative(SRC, f).split('/')[0]!;

describe('module layering', () => {
  it('every folder of src/ has a place in the layering', () => {
    const folders = new Set(files.map(folder).filter((f) => !f.endsWith('.ts')));
    expect([...folders].filter((f) => !(f in MAY_IMPORT))).toEqual([]);
  });

  it('no import runs upward', () => {
    const upward: string[] = [];
    for (const [f, deps] of imports) {
      for (const d of deps) {
        const [a, b] = [folder(f), folder(d)];
        if (a !== b && !MAY_IMPORT[a]?.includes(b)) upward.push(`${relative(SRC, f)} -> ${relative(SRC, d)}`);
      }
    }
    expect(upward).toEqual([]);
  });

  it('no circular imports', () => {
    const state = new Map<string, 'open' | 'done'>();
    const cycles: string[] = [];
    const visit = (f: string, path: string[]) => {
      state.set(f, 'open');
      for (const d of imports.get(f) ?? []) {
        if (state.get(d) === 'open') cycles.push([...path.slice(path.indexOf(d)), d].map((p) => relative(SRC, p)).join(' -> '));
        else if (!state.has(d) && imports.has(d)) visit(d, [...path, d]);
      }
      state.set(f, 'done');
    };
    for (const f of imports.keys()) if (!state.has(f)) visit(f, [f]);
    expect(cycles).toEqual([]);
  });
});
