import { resolve } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { readGenesis } from '../chain/genesis-source.js';
import { removeStaleRestores, restoreSnapshot, type SealCheck } from '../backup/restore.js';
import { UserError } from '../util/errors.js';
import { noteStaleTemps, openArchiveSource } from './archive-io.js';
import { formatBytes, formatDuration, restoreProgress } from './progress.js';
import { parseTrustedBlock, sealsNote, sealsOption, TRUSTED_BLOCK_HELP } from './options.js';

interface RestoreOpts {
  dataDir: string;
  chain?: string;
  genesisHash?: string;
  trustSnapshotGenesis: boolean;
  trustedBlock?: { number: bigint; hash: Uint8Array };
  seals: SealCheck;
  quiet: boolean;
  json: boolean;
}

export function restoreCommand(): Command {
  return new Command('restore')
    .description('build a new data dir from a snapshot, verifying headers, seals, receipts and every state node against your genesis')
    .argument('<filename>', "snapshot file ('-' for stdin)")
    .requiredOption('--data-dir <dir>', 'the NEW data dir to create (must not exist or be empty)')
    .option('--chain <genesis>', 'genesis file of your chain: the snapshot must belong to it (the trust anchor)')
    .option('--genesis-hash <hash>', "your chain's genesis hash: the genesis inside the snapshot is used only if it has this hash", parseHash)
    .option('--trust-snapshot-genesis', 'trust the genesis inside the snapshot as it is (anyone who can write the file can forge the chain)', false)
    .option('--trusted-block <n:hash>', TRUSTED_BLOCK_HELP, parseTrustedBlock)
    .addOption(sealsOption('every'))
    .option('--quiet', 'no progress output', false)
    .option('--json', 'print the summary as JSON on stdout', false)
    .action(async (filename: string, opts: RestoreOpts) => {
      const anchors = [opts.chain !== undefined, opts.genesisHash !== undefined, opts.trustSnapshotGenesis].filter(Boolean).length;
      if (anchors === 0) {
        throw new UserError(
          "restore needs to know which chain to trust: pass --chain genesis.json (your genesis file), --genesis-hash 0x… (your chain's genesis hash) or, knowingly, --trust-snapshot-genesis",
        );
      }
      if (anchors > 1) throw new UserError('pass only one of --chain, --genesis-hash and --trust-snapshot-genesis');
      const genesis = opts.chain ? await readGenesis(opts.chain) : undefined;
      const source = openArchiveSource(filename);
      const target = resolve(opts.dataDir);
      noteStaleTemps(removeStaleRestores(target));
      if (opts.trustSnapshotGenesis) {
        process.stderr.write(
          'warning: --trust-snapshot-genesis: the snapshot vouches for itself; compare the chain ID and genesis hash below with a source you trust\n',
        );
      }
      const progress = restoreProgress('restore', opts.quiet, undefined, source.size);
      let s;
      try {
        s = await restoreSnapshot(source.open(), {
          dataDir: opts.dataDir,
          ...(genesis ? { genesis } : {}),
          ...(opts.genesisHash ? { genesisHash: opts.genesisHash } : {}),
          ...(opts.trustedBlock ? { trustedBlock: opts.trustedBlock } : {}),
          seals: opts.seals,
          onProgress: progress.onProgress,
        });
      } finally {
        progress.stop();
      }
      const anchor = opts.chain ? 'genesis file' : opts.genesisHash ? 'genesis hash' : 'snapshot (unverified)';
      if (opts.json) {
        const { historyGap, ...rest } = s;
        process.stdout.write(
          `${JSON.stringify({ ...rest, head: s.head.toString(), trustAnchor: anchor, ...(historyGap ? { backfill: { from: historyGap.from.toString(), to: historyGap.to.toString() } } : {}) })}\n`,
        );
        return;
      }
      process.stderr.write(
        `Restored block ${s.head} (${s.headHash}) with ${s.nodes} state nodes and ${s.codes} contract codes into ${s.dataDir}\n` +
          `chain ID ${s.chainId}, genesis ${s.genesisHash} (trusted from: ${anchor})\n` +
          `${formatBytes(s.bytes)} in ${formatDuration(s.durationMs)}; state root ${s.stateRoot}\n` +
          sealsNote(s.sealedBlocks, s.head, opts) +
          (s.historyGap
            ? `Blocks ${s.historyGap.from}-${s.historyGap.to}: headers verified; the node back-fills their bodies and receipts from its peers once it runs (\`basalt status\` shows it; \`server --history full\` waits for it)\n`
            : '') +
          `Start it with: basalt server --data-dir ${s.dataDir} --chain ${s.dataDir}/genesis.json\n` +
          'It has no keys yet: restore them with `basalt secrets restore`, or it creates new (non-validator) keys on start.\n',
      );
    });
}

function parseHash(value: string): string {
  if (!/^0x[0-9a-fA-F]{64}$/.test(value)) throw new InvalidArgumentError(`"${value.slice(0, 70)}" is not a 0x-prefixed 32-byte hash`);
  return value.toLowerCase();
}
