#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { VERSION } from '../util/version.js';
import { UserError, unexpectedFailure } from '../util/errors.js';

/**
 * Commands load on demand: `basalt status` should not pay for the EVM and `basalt server` not for the
 * archive tools. `--version` loads none; help and unknown names load them all (for listings and suggestions).
 */
const COMMANDS: Record<string, () => Promise<Command>> = {
  server: async () => (await import('./server.js')).serverCommand(),
  secrets: async () => (await import('./secrets.js')).secretsCommand(),
  genesis: async () => (await import('./genesis.js')).genesisCommand(),
  status: async () => (await import('./status.js')).statusCommand(),
  peers: async () => (await import('./peers.js')).peersCommand(),
  ibft: async () => (await import('./ibft.js')).ibftCommand(),
  loadtest: async () => (await import('./loadtest.js')).loadtestCommand(),
  devnet: async () => (await import('./devnet.js')).devnetCommand(),
  export: async () => (await import('./export.js')).exportCommand(),
  import: async () => (await import('./import.js')).importCommand(),
  archive: async () => (await import('./archive.js')).archiveCommand(),
  snapshot: async () => (await import('./snapshot.js')).snapshotCommand(),
  restore: async () => (await import('./restore.js')).restoreCommand(),
  db: async () => (await import('./db.js')).dbCommand(),
  prune: async () => (await import('./prune.js')).pruneCommand(),
  backup: async () => (await import('./backup.js')).backupCommand(),
};

const program = new Command('basalt')
  .description('Basalt: an EVM chain node with IBFT consensus, backed up and restored while it runs')
  .version(VERSION)
  .showSuggestionAfterError()
  .exitOverride();

try {
  const asked = process.argv[2];
  const version = asked === '--version' || asked === '-V';
  const names = version ? [] : asked !== undefined && asked in COMMANDS ? [asked] : Object.keys(COMMANDS);
  for (const name of names) program.addCommand((await COMMANDS[name]!()).exitOverride());
  boundEchoes(program);
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // Commander has already printed its one-line message (or the help/version text).
    process.exit(err.exitCode);
  }
  if (err instanceof UserError) {
    process.stderr.write(`error: ${err.message}\n`);
    process.exit(err.exitCode);
  }
  process.stderr.write(unexpectedFailure(err, process.env.BASALT_DEBUG !== undefined && process.env.BASALT_DEBUG !== ''));
  process.exit(1);
}

/**
 * Commander's own errors quote the argument they refuse ("argument '…' is invalid. Allowed choices
 * are …"), whole: a flag of 5,000 characters made a line of 5,000. Each quoted part is cut to its
 * first 40 characters, in every command and subcommand.
 */
function boundEchoes(cmd: Command): void {
  cmd.configureOutput({ outputError: (str, write) => write(str.replace(/'([^'\n]{40})[^'\n]+'/g, "'$1…'")) });
  for (const sub of cmd.commands) boundEchoes(sub);
}
