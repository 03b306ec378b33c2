import * as fs from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { readKeyFile } from '../../../src/keys/keyfile.js';
import { UserError, fileError } from '../../../src/util/errors.js';
import { tempDir } from '../../helpers/cli.js';

/**
 * `chmod 000` on a key gives EACCES, which root (these tests' usual user) never gets: readFileSync is
 * made to fail the way it does for an unprivileged user, for files named "denied.key".
 */
vi.mock('node:fs', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs')>();
  return {
    ...real,
    readFileSync: ((path: fs.PathOrFileDescriptor, ...rest: unknown[]) => {
      if (String(path).endsWith('denied.key')) {
        throw Object.assign(new Error(`EACCES: permission denied, open '${String(path)}'`), {
          code: 'EACCES',
          errno: -13,
          syscall: 'open',
          path: String(path),
        });
      }
      return (real.readFileSync as (...a: unknown[]) => unknown)(path, ...rest);
    }) as typeof fs.readFileSync,
  };
});

describe('key file errors are one line naming the file', () => {
  it('an unreadable key (EACCES)', () => {
    const path = join(tempDir(), 'denied.key');
    fs.writeFileSync(path, '11'.repeat(32));
    expect(() => readKeyFile(path)).toThrow(UserError);
    expect(() => readKeyFile(path)).toThrow(`cannot read key file ${path}: permission denied`);
  });

  it('a key that is a directory, or under a file', () => {
    const dir = tempDir();
    fs.mkdirSync(join(dir, 'validator.key'));
    expect(() => readKeyFile(join(dir, 'validator.key'))).toThrow(`key file ${join(dir, 'validator.key')} is not a file`);
    fs.writeFileSync(join(dir, 'consensus'), '');
    expect(() => readKeyFile(join(dir, 'consensus', 'validator.key'))).toThrow(
      `cannot read key file ${join(dir, 'consensus', 'validator.key')}: a folder on its path is not a directory`,
    );
  });

  it('an empty key', () => {
    const path = join(tempDir(), 'validator.key');
    fs.writeFileSync(path, '');
    expect(() => readKeyFile(path)).toThrow(/validator\.key is empty \(0 bytes\)/);
  });

  it('fileError maps the codes and names the file that failed when it is not the one named', () => {
    const err = (code: string, path?: string) => Object.assign(new Error(code), { code, ...(path ? { path } : {}) });
    expect(fileError(err('EPERM'), 'read key file', '/d/k').message).toBe('cannot read key file /d/k: permission denied');
    expect(fileError(err('EISDIR', '/d/k'), 'read key file', '/d/k').message).toBe('cannot read key file /d/k: it is a directory');
    expect(fileError(err('ENOSPC', '/d/consensus/.validator.key.1.tmp'), 'write the keys into', '/d').message).toBe(
      'cannot write the keys into /d: ENOSPC (/d/consensus/.validator.key.1.tmp)',
    );
    const user = new UserError('x');
    expect(fileError(user, 'read', '/d')).toBe(user);
  });
});
