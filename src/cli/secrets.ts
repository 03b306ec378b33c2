import { Command } from 'commander';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fstatSync, openSync, statSync, unlinkSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { openArchiveSink } from './archive-io.js';
import { decryptKeys, DEFAULT_KDF, encryptKeys, MAX_BACKUP_BYTES, readBackupHeader } from '../keys/backup.js';
import { exists as somethingAt, fsyncDir, linkNew, writeSyncedNew } from '../util/durable.js';
import { KEY_PATHS, recoverKeyPair, writeKeyPair } from '../keys/key-pair.js';
import { exposedKeys, loadNodeKeys, type NodeKeys } from '../keys/keyfile.js';
import { obtainPassphrase, PASSPHRASE_ENV } from '../keys/passphrase.js';
import { UserError } from '../util/errors.js';
import { LEGACY_SIGNED_FILE, SIGN_JOURNAL_FILE } from '../consensus/ibft/core/journal-files.js';
import { readUpTo } from '../util/bounded-read.js';

/** What a crash recovery repaired (file names only), on stderr: stdout may be JSON. */
function note(line: string): void {
  process.stderr.write(`note: ${line}\n`);
}

export function secretsCommand(): Command {
  const secrets = new Command('secrets').description("manage a node's keys");
  secrets
    .command('init')
    .description('create keystore/libp2p.key and consensus/validator.key (0600 files in 0700 folders)')
    .requiredOption('--data-dir <dir>', 'the data dir to create the keys in')
    .option('--json', 'print {"validatorAddress","nodeId"} as JSON', false)
    .action(async (opts: { dataDir: string; json: boolean }) => {
      // Loaded here, not with the command: the sign journal's module brings WebAssembly (keccak), whose
      // memory `secrets restore` must not need beside a large scrypt.
      const { initNodeSecrets } = await import('../node/new-keys.js');
      const created = initNodeSecrets(opts.dataDir, note);
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(created)}\n`);
        return;
      }
      process.stdout.write(
        `[SECRETS INIT]\nPublic key (address) = ${created.validatorAddress}\nNode ID              = ${created.nodeId}\n` +
          'Keep the .key files secret: never share or publish them.\n',
      );
    });
  secrets
    .command('backup')
    .description('write the keys of a data dir to one encrypted file (scrypt + AES-256-GCM); there is no plain-text export')
    .argument('<filename>', "backup file to create, never overwritten ('-' for stdout, when it is not a terminal)")
    .requiredOption('--data-dir <dir>', 'the data dir whose keys to back up')
    .option('--passphrase-file <file>', `file holding the passphrase, one trailing newline removed (else $${PASSPHRASE_ENV}, else a prompt)`)
    .option('--json', 'print the summary as JSON {"file","keys","validatorAddress","nodeId"}', false)
    .action(async (filename: string, opts: { dataDir: string; passphraseFile?: string; json: boolean }) => {
      const toStdout = filename === '-';
      if (toStdout && process.stdout.isTTY) throw new UserError('refusing to write a key backup to a terminal: redirect stdout or give a file name');
      const target = toStdout ? undefined : resolve(filename);
      if (target !== undefined) checkNewFile(target);
      const keys = fsErrors(() => loadNodeKeys(opts.dataDir), 'read the keys');
      for (const e of exposedKeys(opts.dataDir)) process.stderr.write(`warning: ${e.message}\n`);
      const passphrase = await obtainPassphrase({ file: opts.passphraseFile, confirm: true });
      const file = encryptKeys({ libp2p: keys.libp2pKey, validator: keys.validatorKey }, passphrase);
      if (target === undefined) await writeStdout(file);
      else writeNewFile(target, file);
      // The summary goes where the backup does not: stderr when the backup is on stdout.
      const out = toStdout ? process.stderr : process.stdout;
      if (opts.json) {
        out.write(`${JSON.stringify({ file: target ?? '-', keys: KEY_PATHS, validatorAddress: keys.validatorAddress, nodeId: keys.nodeId })}\n`);
        return;
      }
      out.write(
        '[SECRETS BACKUP]\n' +
          `Keys              = ${KEY_PATHS.join(', ')}\n` +
          `Validator address = ${keys.validatorAddress}\n` +
          `Node ID           = ${keys.nodeId}\n` +
          `Backup            = ${target ?? 'stdout'} (scrypt N=2^${DEFAULT_KDF.log2N} r=${DEFAULT_KDF.r} p=${DEFAULT_KDF.p}, AES-256-GCM)\n` +
          'Anyone with this file and its passphrase can act as this node: keep both safe, and apart.\n',
      );
    });
  secrets
    .command('restore')
    .description('write the keys of an encrypted backup into a data dir (never overwrites a key)')
    .argument('<filename>', "backup file ('-' for stdin)")
    .requiredOption('--data-dir <dir>', 'the data dir to restore the keys into (created if missing)')
    .option('--passphrase-file <file>', `file holding the passphrase, one trailing newline removed (else $${PASSPHRASE_ENV}, else a prompt)`)
    .option('--json', 'print the summary as JSON {"dataDir","keys","validatorAddress","nodeId"}', false)
    .action(async (filename: string, opts: { dataDir: string; passphraseFile?: string; json: boolean }) => {
      const dataDir = resolve(opts.dataDir);
      refuseExistingKeys(dataDir);
      const file = await readBackupFile(filename);
      readBackupHeader(file); // a foreign or truncated file is refused before asking for a passphrase
      const passphrase = await obtainPassphrase({ file: opts.passphraseFile, confirm: false });
      const keys = decryptKeys(file, passphrase);
      const restored = writeKeys(dataDir, keys.libp2p, keys.validator);
      if (opts.json) {
        process.stdout.write(`${JSON.stringify({ dataDir, keys: KEY_PATHS, validatorAddress: restored.validatorAddress, nodeId: restored.nodeId })}\n`);
        return;
      }
      process.stdout.write(
        '[SECRETS RESTORE]\n' +
          `Keys              = ${KEY_PATHS.map((rel) => join(dataDir, rel)).join(', ')}\n` +
          `Validator address = ${restored.validatorAddress}\n` +
          `Node ID           = ${restored.nodeId}\n`,
      );
      process.stderr.write(
        'note: stop the node this key was backed up from before starting this one: two nodes running one validator key sign two values at one height\n' +
          'note: what this key signed after the backup is not in this data dir; with --seal the validator signs nothing until the other\n' +
          'note: validators have committed a block proposed after its start; one that alone makes the quorum (a chain of one validator)\n' +
          'note: seals only once caught up with a peer, or with --seal-without-journal HEAD (see "Disaster recovery" in the README)\n',
      );
    });
  return secrets;
}

/** Something at `path`, even a dangling symlink. */
function exists(path: string): boolean {
  return fsErrors(() => somethingAt(path), `check ${path}`);
}

function fsError(err: unknown, what: string): Error {
  if (err instanceof UserError) return err;
  const e = err as NodeJS.ErrnoException;
  return new UserError(`cannot ${what}: ${e.code === 'ENOENT' ? 'not found' : (e.code ?? e.message)}${e.path !== undefined ? ` (${e.path})` : ''}`);
}

function fsErrors<T>(f: () => T, what: string): T {
  try {
    return f();
  } catch (err) {
    throw fsError(err, what);
  }
}

function checkNewFile(target: string): void {
  if (exists(target)) throw new UserError(`${target} already exists: refusing to overwrite it (choose another file name)`);
  const dir = dirname(target);
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    // reported below
  }
  if (!isDir) throw new UserError(`cannot create ${target}: folder ${dir} does not exist`);
}

/**
 * Write `data` to `target`, which must not exist: into a hidden 0600 temp file in the same folder,
 * fsynced, then hard-linked to its name (which fails, atomically, if something appeared there
 * meanwhile) and the temp name removed. On file systems without hard links: a rename after a last check.
 */
function writeNewFile(target: string, data: Uint8Array): void {
  const tmp = join(dirname(target), `.${basename(target)}.${process.pid}-${randomBytes(4).toString('hex')}.partial`);
  try {
    writeSyncedNew(tmp, data, 0o600);
    try {
      linkNew(tmp, target);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST')
        throw new UserError(`${target} already exists: refusing to overwrite it (choose another file name)`);
      throw err;
    }
    fsyncDir(dirname(target));
  } catch (err) {
    throw fsError(err, `write ${target}`);
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      // renamed, or never created
    }
  }
}

/** Through the archives' stdout sink: a reader that went away is a quiet exit 141, a file stdout is fsynced. */
async function writeStdout(data: Uint8Array): Promise<void> {
  const sink = openArchiveSink('-', false);
  await sink.write(data);
  await sink.commit();
}

/** The backup file, read whole but never more than MAX_BACKUP_BYTES + 1 bytes of it. */
async function readBackupFile(filename: string): Promise<Uint8Array> {
  if (filename === '-') {
    if (process.stdin.isTTY) throw new UserError('refusing to read a key backup from a terminal: redirect stdin or give a file name');
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      size += chunk.length;
      if (size > MAX_BACKUP_BYTES) break;
    }
    return Uint8Array.from(Buffer.concat(chunks));
  }
  let fd: number | undefined;
  try {
    fd = openSync(filename, 'r');
    if (fstatSync(fd).isDirectory()) throw new UserError(`cannot read ${filename}: it is a directory`);
    return Uint8Array.from(readUpTo(fd, MAX_BACKUP_BYTES));
  } catch (err) {
    throw fsError(err, `read ${filename}`);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** The sign journals a data dir may hold: this release's and an earlier one's. */
const SIGN_JOURNALS = [SIGN_JOURNAL_FILE, LEGACY_SIGNED_FILE];

/**
 * Recovers an interrupted key write (so a re-run after a crash proceeds), then refuses if any key is
 * there, or a sign journal: it belongs to the key that was here (one made here starts with "signed
 * nothing"), and beside a restored key it would vouch for what that key signed, so the validator would
 * not wait as a restored one must (the IBFT start guard).
 */
function refuseExistingKeys(dataDir: string): void {
  const state = recoverKeyPair(dataDir, note);
  if (state.kind !== 'none') {
    const path = state.kind === 'one' ? state.present : join(dataDir, KEY_PATHS[0]);
    throw new UserError(`${path} already exists: refusing to overwrite a key (restore into a data dir without keys)`);
  }
  for (const name of SIGN_JOURNALS) {
    const path = join(dataDir, 'consensus', name);
    if (existsSync(path))
      throw new UserError(
        `${path} is the sign journal of the key that was in this data dir, not of the one restored: move it away first (a restored key must start without one)`,
      );
  }
}

/** Both keys or neither (writeKeyPair), read back as the node will read them. */
function writeKeys(dataDir: string, libp2p: Uint8Array, validator: Uint8Array): NodeKeys {
  refuseExistingKeys(dataDir); // again: the passphrase prompt may have taken a while
  writeKeyPair(dataDir, { libp2pKey: libp2p, validatorKey: validator });
  return loadNodeKeys(dataDir);
}
