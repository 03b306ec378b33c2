import * as fs from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { tempDir } from '../../helpers/cli.js';

/** fsync of a folder fails with EINVAL while `folderSyncFails` is set (a file system that cannot sync folders). */
let folderSyncFails: string | undefined;
/** Every path fsynced (Linux: the fd's /proc link). */
const synced: string[] = [];
vi.mock('node:fs', async (original) => {
  const real = await original<typeof import('node:fs')>();
  return {
    ...real,
    fsyncSync: (fd: number) => {
      if (folderSyncFails && real.fstatSync(fd).isDirectory()) throw Object.assign(new Error(`${folderSyncFails}: fsync`), { code: folderSyncFails });
      real.fsyncSync(fd);
      synced.push(real.readlinkSync(`/proc/self/fd/${fd}`));
    },
  };
});
vi.mock('node:fs/promises', async (original) => {
  const real = await original<typeof import('node:fs/promises')>();
  return {
    ...real,
    open: async (...args: Parameters<typeof real.open>) => {
      const h = await real.open(...args);
      const sync = h.sync.bind(h);
      h.sync = async () => {
        if (folderSyncFails && (await h.stat()).isDirectory()) throw Object.assign(new Error(`${folderSyncFails}: fsync`), { code: folderSyncFails });
        return sync();
      };
      return h;
    },
  };
});

const { fsyncDir, fsyncDirAsync, fsyncFolderFiles, renameDurably, replaceFile, replaceFileAsync, writeFileNew } = await import('../../../src/util/durable.js');

describe('durable file writes (util/durable.ts)', () => {
  it('replaceFile and replaceFileAsync put the whole new content in place, over a leftover temp file, with the mode asked', async () => {
    const dir = tempDir('basalt-durable-');
    const path = join(dir, 'record.json');
    fs.writeFileSync(`${path}.tmp`, 'left by a crash mid-write, longer than what follows');
    replaceFile(path, new TextEncoder().encode('one'), 0o600);
    expect(fs.readFileSync(path, 'utf8')).toBe('one');
    expect(fs.statSync(path).mode & 0o777).toBe(0o600);
    expect(fs.existsSync(`${path}.tmp`)).toBe(false);
    await replaceFileAsync(path, new TextEncoder().encode('two'), 0o600);
    expect(fs.readFileSync(path, 'utf8')).toBe('two');
    expect(fs.readdirSync(dir)).toEqual(['record.json']);
  });

  it('a file system that cannot fsync folders (EINVAL) is taken as it is; any other failure is thrown', async () => {
    const dir = tempDir('basalt-durable-');
    try {
      folderSyncFails = 'EINVAL';
      expect(() => fsyncDir(dir)).not.toThrow();
      await expect(fsyncDirAsync(dir)).resolves.toBeUndefined();
      fs.writeFileSync(join(dir, 'a'), 'a');
      renameDurably(join(dir, 'a'), join(dir, 'b'));
      replaceFile(join(dir, 'c'), new Uint8Array([1]), 0o600);
      await replaceFileAsync(join(dir, 'd'), new Uint8Array([2]), 0o600);
      expect(fs.readdirSync(dir).sort()).toEqual(['b', 'c', 'd']);
      folderSyncFails = 'EIO';
      expect(() => fsyncDir(dir)).toThrow(/EIO/);
      await expect(fsyncDirAsync(dir)).rejects.toThrow(/EIO/);
      expect(() => replaceFile(join(dir, 'e'), new Uint8Array([3]), 0o600)).toThrow(/EIO/);
    } finally {
      folderSyncFails = undefined;
    }
  });

  it('fsyncFolderFiles flushes every file of a closed LevelDB (tables, logs, manifest) and its folder', async () => {
    const dir = join(tempDir('basalt-durable-'), 'trie');
    const { ClassicLevel } = await import('classic-level');
    const db = new ClassicLevel<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view', writeBufferSize: 64 * 1024 });
    for (let i = 0; i < 200; i++) await db.put(Uint8Array.of(i), new Uint8Array(4096).fill(i)); // past a memtable: a log switched
    await db.close();
    synced.length = 0;
    const names = fsyncFolderFiles(dir);
    const files = fs.readdirSync(dir).filter((n) => fs.statSync(join(dir, n)).isFile());
    expect(names.sort()).toEqual(files.sort());
    expect(files.some((n) => n.endsWith('.log'))).toBe(true);
    expect(synced.sort()).toEqual([dir, ...files.map((n) => join(dir, n))].sort());
  });

  it('writeFileNew puts the whole file at its name, never over one, and leaves no temporary file', () => {
    const dir = tempDir('basalt-durable-');
    const path = join(dir, 'genesis.json');
    writeFileNew(path, new TextEncoder().encode('{}'), 0o644);
    expect(fs.readFileSync(path, 'utf8')).toBe('{}');
    expect(() => writeFileNew(path, new TextEncoder().encode('other'), 0o644)).toThrow(/EEXIST/);
    expect(fs.readFileSync(path, 'utf8')).toBe('{}');
    expect(fs.readdirSync(dir)).toEqual(['genesis.json']);
  });

  it('closeDurably (a restored data dir, before its rename) flushes every file of both databases and their folders', async () => {
    const { closeDurably, openNodeDatabases } = await import('../../../src/storage/node-databases.js');
    const { dataDirLayout } = await import('../../../src/storage/data-dir.js');
    const layout = dataDirLayout(join(tempDir('basalt-durable-'), 'data'));
    fs.mkdirSync(layout.root);
    const dbs = await openNodeDatabases(layout);
    for (let i = 0; i < 50; i++) await dbs.trie.put(Uint8Array.of(i), new Uint8Array(1024).fill(i));
    await dbs.blockchain.put(Uint8Array.of(1), Uint8Array.of(2));
    synced.length = 0;
    await closeDurably(dbs, layout);
    for (const dir of [layout.trie, layout.blockchain]) {
      expect(synced).toContain(dir);
      for (const f of fs.readdirSync(dir).filter((n) => fs.statSync(join(dir, n)).isFile())) expect(synced).toContain(join(dir, f));
    }
  });
});
