import { Command } from 'commander';
import { DEFAULT_GRPC_ADDRESS, fetchStatus } from '../rpc/grpc/client.js';
import { parseHostPortString } from './options.js';

export function statusCommand(): Command {
  return new Command('status')
    .description("show a running node's chain and head (over gRPC)")
    .option('--grpc-address <host:port>', 'gRPC operator API address', parseHostPortString, DEFAULT_GRPC_ADDRESS)
    .option('--json', 'print JSON', false)
    .action(async (opts: { grpcAddress: string; json: boolean }) => {
      const s = await fetchStatus(opts.grpcAddress);
      if (opts.json) {
        const out = {
          chainId: Number(s.chainId),
          genesisHash: s.genesisHash,
          number: Number(s.number),
          hash: s.hash,
          stateRoot: s.stateRoot,
          timestamp: Number(s.timestamp),
          validatorAddress: s.validatorAddress,
          nodeId: s.nodeId,
          sealing: s.sealing,
          clientVersion: s.clientVersion,
        };
        process.stdout.write(`${JSON.stringify(out)}\n`);
        return;
      }
      const rows: [string, string][] = [
        ['Chain ID', s.chainId],
        ['Genesis', s.genesisHash],
        ['Head', `#${s.number} ${s.hash}`],
        ['State root', s.stateRoot],
        ['Head time', new Date(Number(s.timestamp) * 1000).toISOString()],
        ['Validator', s.validatorAddress],
        ['Node ID', s.nodeId],
        ['Sealing', s.sealing ? 'yes' : 'no'],
        ['Client', s.clientVersion],
      ];
      process.stdout.write(rows.map(([k, v]) => `${k.padEnd(11)} ${v}`).join('\n') + '\n');
    });
}
