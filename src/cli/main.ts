#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { VERSION } from '../node/version.js';
import { UserError } from '../util/errors.js';
import { archiveCommand } from './archive.js';
import { exportCommand } from './export.js';
import { genesisCommand } from './genesis.js';
import { importCommand } from './import.js';
import { restoreCommand } from './restore.js';
import { snapshotCommand } from './snapshot.js';
import { secretsCommand } from './secrets.js';
import { serverCommand } from './server.js';
import { statusCommand } from './status.js';

const program = new Command('basalt')
  .description('Basalt: an EVM chain node with IBFT consensus, backed up and restored while it runs')
  .version(VERSION)
  .showSuggestionAfterError()
  .exitOverride();

for (const cmd of [serverCommand(), secretsCommand(), genesisCommand(), statusCommand(), exportCommand(), importCommand(), archiveCommand(), snapshotCommand(), restoreCommand()]) {
  program.addCommand(cmd.exitOverride());
}

try {
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
  process.stderr.write(`error: unexpected failure: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
}
