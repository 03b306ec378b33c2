import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileSignedStore, NOTHING_SIGNED } from '../../../src/consensus/ibft/core/sign-journal.js';
import { initNodeSecrets } from '../../../src/node/new-keys.js';
import { tempDir } from '../../helpers/cli.js';

/*
 * A key made here gets a sign journal from its first day ("signed nothing"), so that an absent journal
 * marks a data dir restored or copied without consensus/ (whose validator waits before it signs).
 */
describe('new keys and their sign journal', () => {
  it('new keys come with a journal that says the key signed nothing', () => {
    const dir = tempDir('basalt-new-keys-');
    initNodeSecrets(dir);
    expect(new FileSignedStore(join(dir, 'consensus')).load()).toEqual(NOTHING_SIGNED);
  });

  it('a journal already there is never replaced, and keys that exist (a restored data dir) get none', async () => {
    const kept = tempDir('basalt-new-keys-');
    const signed = { height: 7n, round: 1, hash: new Uint8Array(32).fill(3), kind: 'commit' as const };
    await new FileSignedStore(join(kept, 'consensus')).save(signed);
    initNodeSecrets(kept);
    expect(new FileSignedStore(join(kept, 'consensus')).load()).toEqual(signed);

    const restored = tempDir('basalt-new-keys-');
    initNodeSecrets(restored);
    const store = new FileSignedStore(join(restored, 'consensus'));
    // As after `restore` + `secrets restore`: the keys, and no journal.
    rmSync(store.path);
    expect(() => initNodeSecrets(restored)).toThrow(/already exists: refusing to overwrite a key/);
    expect(store.load()).toBeUndefined();
  });
});
