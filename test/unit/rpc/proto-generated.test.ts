import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, expect, it } from 'vitest';

const ROOT = new URL('../../../', import.meta.url).pathname;
const COMMITTED = join(ROOT, 'src/rpc/grpc/generated');
const out = mkdtempSync(join(tmpdir(), 'basalt-proto-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? files(join(dir, n)) : [join(dir, n)]));
}

it('the committed wire types are what `npm run proto` generates from the .proto', () => {
  const script = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts.proto as string;
  const args = script
    .split(' ')
    .slice(1)
    .map((a) => (a.startsWith('--outDir=') ? `--outDir=${out}` : a));
  execFileSync(join(ROOT, 'node_modules/.bin/proto-loader-gen-types'), args, { cwd: ROOT, stdio: 'pipe' });
  const generated = files(out)
    .map((f) => relative(out, f))
    .sort();
  expect(
    files(COMMITTED)
      .map((f) => relative(COMMITTED, f))
      .sort(),
  ).toEqual(generated);
  for (const f of generated) expect(readFileSync(join(COMMITTED, f), 'utf8'), f).toBe(readFileSync(join(out, f), 'utf8'));
});
