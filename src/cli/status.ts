import { Command } from 'commander';
import type { ClockStatus, ConsensusStatus, HistoryStatus } from '../backup/types.js';
import { CLOCK_MIN_SAMPLES, CLOCK_TOLERANCE_MS, formatOffset } from '../chain/peer-clock.js';
import { RemoteBackupService } from '../rpc/grpc/backup-client.js';
import { addGrpcDialOptions, grpcClientTls, type GrpcDialOpts } from './grpc-dial.js';

export function statusCommand(): Command {
  return addGrpcDialOptions(
    new Command('status').description("show a running node's chain, head, peers and sync state (over gRPC)"),
    'gRPC operator API address',
  )
    .option('--json', 'print JSON', false)
    .action(async (opts: GrpcDialOpts & { json: boolean }) => {
      const s = await new RemoteBackupService(opts.grpcAddress, { tls: grpcClientTls(opts) }).status();
      const node = s.node ?? { validatorAddress: '', nodeId: '', sealing: false, clientVersion: '', writable: true };
      if (opts.json) {
        const out = {
          chainId: Number(s.chainId),
          genesisHash: s.genesisHash,
          number: Number(s.head.number),
          hash: s.head.hash,
          stateRoot: s.head.stateRoot,
          timestamp: Number(s.head.timestamp),
          validatorAddress: node.validatorAddress,
          nodeId: node.nodeId,
          sealing: node.sealing,
          clientVersion: node.clientVersion,
          writable: node.writable,
          ...(s.consensus
            ? { validators: s.consensus.validators, quorum: s.consensus.quorum, faultTolerance: s.consensus.faultTolerance, quorumSafe: s.consensus.safe }
            : {}),
          networking: node.network !== undefined,
          ...(node.network
            ? {
                peers: node.network.peers,
                syncing: node.network.syncing,
                highestBlock: Number(node.network.highestBlock),
                listenAddresses: node.network.listenAddresses,
                clockOffsetMs: node.network.clock?.offsetMs ?? null,
                clockSkewed: node.network.clock?.skewed ?? false,
              }
            : {}),
          ...(node.notWritableReason ? { notWritableReason: node.notWritableReason } : {}),
          ...(node.history
            ? {
                history: {
                  backfillFrom: Number(node.history.backfillFrom),
                  backfillTo: Number(node.history.backfillTo),
                  backfillStart: Number(node.history.backfillStart),
                  source: node.history.source,
                  ...(node.history.error ? { error: node.history.error } : {}),
                },
              }
            : {}),
        };
        process.stdout.write(`${JSON.stringify(out)}\n`);
        return;
      }
      const rows: [string, string][] = [
        ['Chain ID', s.chainId.toString()],
        ['Genesis', s.genesisHash],
        ['Head', `#${s.head.number} ${s.head.hash}`],
        ['State root', s.head.stateRoot],
        ['Head time', new Date(Number(s.head.timestamp) * 1000).toISOString()],
        ['Validator', node.validatorAddress],
        ['Node ID', node.nodeId],
        ['Sealing', node.sealing ? 'yes' : 'no'],
        ...(s.consensus ? ([['Validators', consensusLine(s.consensus)]] as [string, string][]) : []),
        ['Peers', node.network ? String(node.network.peers) : 'networking off'],
        ...(node.network
          ? ([
              ['Sync', node.network.syncing ? `syncing: #${s.head.number} of #${node.network.highestBlock}` : 'in sync'],
              ['Clock', clockLine(node.network.clock)],
              ['Listening', node.network.listenAddresses.join(' ')],
            ] as [string, string][])
          : []),
        ['History', node.history ? historyLine(node.history) : 'complete'],
        ['Storage', node.writable ? 'writable' : `NOT WRITABLE: ${node.notWritableReason ?? 'unknown reason'}`],
        ['Client', node.clientVersion],
      ];
      process.stdout.write(`${rows.map(([k, v]) => `${k.padEnd(11)} ${v}`).join('\n')}\n`);
    });
}

/** "back-filling blocks 1-99,999: 42 % (from repo (backup))", and its last failure. */
function historyLine(h: HistoryStatus): string {
  const total = h.backfillTo - h.backfillStart + 1n;
  const done = h.backfillFrom - h.backfillStart;
  const pct = total > 0n ? Number((done * 1000n) / total) / 10 : 0;
  const base = `back-filling blocks ${h.backfillFrom}-${h.backfillTo} (${pct} % done) from ${h.source}; until then they answer "pruned history unavailable"`;
  return h.error ? `${base}; LAST TRY FAILED: ${h.error}` : base;
}

/** "+0.2 s from peers (within 15 s)", or how far off and what to do. */
function clockLine(c: ClockStatus | undefined): string {
  const tolerance = `${CLOCK_TOLERANCE_MS / 1000} s`;
  if (c?.offsetMs === undefined) return `not measured yet (needs ${CLOCK_MIN_SAMPLES} new blocks by other validators)`;
  const off = `${c.offsetMs < 0 ? '-' : '+'}${formatOffset(c.offsetMs)}`;
  if (!c.skewed) return `${off} from peers' block timestamps (within ${tolerance})`;
  return `${off}: ${c.offsetMs > 0 ? 'AHEAD OF' : 'BEHIND'} peers' block timestamps by more than ${tolerance}; fix this machine's clock (NTP). Until then block timestamps here follow the peers' time`;
}

/** "4, quorum 3, tolerates 1 faulty" (and a warning for an unsafe legacy quorum). */
function consensusLine(c: ConsensusStatus): string {
  const base = `${c.validators}, quorum ${c.quorum}, tolerates ${c.faultTolerance} faulty, keeps sealing with ${c.validators - c.quorum} down`;
  return c.safe ? base : `${base}; UNSAFE: the legacy 2F+1 quorum lets a network split fork the chain (set params.engine.ibft.quorumSwitchBlock)`;
}
