import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { event } from '../../../src/util/events.js';

const SRC = new URL('../../../src/', import.meta.url).pathname;
const sources = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));

describe('node events (src/util/events.ts)', () => {
  const declared = [...readFileSync(join(SRC, 'util/events.ts'), 'utf8').matchAll(/^ {2}'([a-z0-9.-]+)': /gm)].map((m) => m[1]!);
  const logged = new Set(sources(SRC).flatMap((f) => [...readFileSync(f, 'utf8').matchAll(/\bevent\('([a-z0-9.-]+)'/g)].map((m) => m[1]!)));

  it('every declared event is logged somewhere, so what operators alert on exists', () => {
    expect(declared.length).toBeGreaterThan(30);
    expect(declared.filter((d) => !logged.has(d))).toEqual([]);
  });

  it('names are domain.action in lower case, each declared once', () => {
    expect(declared.filter((d) => !/^[a-z0-9-]+\.[a-z0-9-]+$/.test(d))).toEqual([]);
    expect(new Set(declared).size).toBe(declared.length);
  });

  it('the record is the name beside the fields', () => {
    expect(event('peer.banned', { peer: 'p', reason: 'r' })).toEqual({ event: 'peer.banned', peer: 'p', reason: 'r' });
  });
});
