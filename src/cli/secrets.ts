import { Command } from 'commander';
import { initSecrets } from '../keys/keyfile.js';

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
  return secrets;
}
