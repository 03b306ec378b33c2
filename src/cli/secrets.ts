import { Command } from 'commander';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { checkPassphrase, decryptKeys, encryptKeys } from '../keys/backup.js';
import { initSecrets, LIBP2P_KEY_PATH, loadNodeKeys, VALIDATOR_KEY_PATH, writeKeyFile } from '../keys/keyfile.js';
import { obtainPassphrase, PASSPHRASE_ENV } from '../keys/passphrase.js';
import { UserError } from '../util/errors.js';

export function secretsCommand(): Command {
  const secrets = new Command('secrets').description("manage a node's keys");
  secrets
    .command('init')
    .description('create keystore/libp2p.key and consensus/validator.key (0600 files in 0700 folders)')
    .requiredOption('--data-dir <dir>', 'the data dir to create the keys in')
    .option('--json', 'print {"validatorAddress","nodeId"} as JSON', false)
    .action((opts: { dataDir: string; json: boolean }) => {
      const created = initSecrets(opts.dataDir);
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
    .description('write the keys of a data dir to one encrypted file (scrypt + AES-256-GCM)')
    .argument('<filename>', "backup file to create ('-' for stdout)")
    .requiredOption('--data-dir <dir>', 'the data dir whose keys to back up')
    .option('--passphrase-file <file>', `file holding the passphrase (else $${PASSPHRASE_ENV}, else a prompt)`)
    .action(async (filename: string, opts: { dataDir: string; passphraseFile?: string }) => {
      const keys = loadNodeKeys(opts.dataDir);
      const target = filename === '-' ? undefined : resolve(filename);
      if (target === undefined && process.stdout.isTTY) throw new UserError('refusing to write a key backup to a terminal: redirect stdout or give a file name');
      if (target !== undefined && existsSync(target)) throw new UserError(`${target} already exists: choose another file name`);
      const passphrase = await obtainPassphrase({ ...(opts.passphraseFile ? { file: opts.passphraseFile } : {}), confirm: true });
      checkPassphrase(passphrase);
      const file = encryptKeys({ libp2p: keys.libp2pKey, validator: keys.validatorKey }, passphrase);
      if (target === undefined) process.stdout.write(file);
      else {
        const tmp = join(dirname(target), `.${basename(target)}.partial-${process.pid}`);
        writeFileSync(tmp, file, { flag: 'wx', mode: 0o600 });
        renameSync(tmp, target);
      }
      process.stderr.write(
        `Backed up keystore/libp2p.key and consensus/validator.key, encrypted, to ${target ?? 'stdout'}\n` +
          `Validator address ${keys.validatorAddress}\nNode ID           ${keys.nodeId}\n` +
          'Anyone with this file and its passphrase can act as this node: keep both safe, and apart.\n',
      );
    });
  secrets
    .command('restore')
    .description('restore the keys of an encrypted backup into a data dir (never overwrites keys)')
    .argument('<filename>', "backup file ('-' for stdin)")
    .requiredOption('--data-dir <dir>', 'the data dir to restore the keys into')
    .option('--passphrase-file <file>', `file holding the passphrase (else $${PASSPHRASE_ENV}, else a prompt)`)
    .action(async (filename: string, opts: { dataDir: string; passphraseFile?: string }) => {
      for (const rel of [LIBP2P_KEY_PATH, VALIDATOR_KEY_PATH]) {
        const path = join(opts.dataDir, rel);
        if (existsSync(path)) throw new UserError(`${path} already exists: refusing to overwrite a key (restore into a data dir without keys)`);
      }
      let file: Buffer;
      try {
        file = filename === '-' ? readFileSync(0) : readFileSync(filename);
      } catch (err) {
        throw new UserError(`cannot read ${filename}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : (err as Error).message}`);
      }
      const passphrase = await obtainPassphrase({ ...(opts.passphraseFile ? { file: opts.passphraseFile } : {}), confirm: false });
      const keys = decryptKeys(file, passphrase);
      writeKeyFile(join(opts.dataDir, LIBP2P_KEY_PATH), keys.libp2p);
      writeKeyFile(join(opts.dataDir, VALIDATOR_KEY_PATH), keys.validator);
      const loaded = loadNodeKeys(opts.dataDir);
      process.stderr.write(`Restored keys into ${resolve(opts.dataDir)}\nValidator address ${loaded.validatorAddress}\nNode ID           ${loaded.nodeId}\n`);
    });
  return secrets;
}
