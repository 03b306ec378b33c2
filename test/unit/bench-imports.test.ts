import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The benchmarks run outside CI and load the built code by path (`await dist('chain/chain.js')`):
 * nothing type-checks them. Every name they take from a module must still be exported by it (a
 * renamed function once left three benchmarks failing at their first line).
 */
const ROOT = new URL('../../', import.meta.url).pathname;
const files = ['bench', 'bench/lib'].flatMap((d) =>
  readdirSync(join(ROOT, d))
    .filter((f) => f.endsWith('.mjs'))
    .map((f) => join(d, f)),
);

describe('benchmarks', () => {
  it('take from dist/ only names the source still exports', async () => {
    const missing: string[] = [];
    let checked = 0;
    for (const f of files) {
      const text = readFileSync(join(ROOT, f), 'utf8');
      for (const m of text.matchAll(/const \{([^}]+)\} = await dist\('([^']+)\.js'\)/g)) {
        const mod = (await import(join(ROOT, 'src', `${m[2]}.ts`))) as Record<string, unknown>;
        for (const name of m[1]!.split(',').map((n) => n.trim().split(':')[0]!.trim())) {
          checked++;
          if (!(name in mod)) missing.push(`${f}: ${name} from ${m[2]}`);
        }
      }
    }
    expect(missing).toEqual([]);
    expect(checked).toBeGreaterThan(10);
  });
});
