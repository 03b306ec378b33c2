import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * One temporary root per `vitest run`: every data dir, key folder and archive the tests make (and the
 * nodes they spawn) lands under it through TMPDIR, which the worker processes inherit, and it is
 * removed when the run ends. Set BASALT_KEEP_TEST_TMP=1 to keep it for a post-mortem.
 */
export default function setup(): () => void {
  const root = mkdtempSync(join(tmpdir(), 'basalt-test-'));
  // Traversable as /tmp is: tests that run the CLI as another user (secrets-crash, as nobody) reach
  // their own folders through it. Each test's folder is still its own 0700 mkdtemp.
  chmodSync(root, 0o755);
  const previous = process.env.TMPDIR;
  process.env.TMPDIR = root;
  return () => {
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
    if (process.env.BASALT_KEEP_TEST_TMP === '1') {
      process.stderr.write(`test files kept in ${root}\n`);
      return;
    }
    rmSync(root, { recursive: true, force: true });
  };
}
