import { Command } from 'commander';
import { RemotePeersService } from '../rpc/grpc/peers-client.js';
import { addGrpcDialOptions, grpcClientTls, type GrpcDialOpts } from './grpc-dial.js';

/** `basalt peers list|add|remove`: a running node's peers, over its gRPC operator API. */
export function peersCommand(): Command {
  const grpcOption = (c: Command) => addGrpcDialOptions(c, 'gRPC operator API address');
  const peers = new Command('peers').description("list a running node's peers or connect it to one (over gRPC)");
  grpcOption(peers.command('list').description('the peers connected now'))
    .option('--json', 'print JSON', false)
    .action(async (opts: GrpcDialOpts & { json: boolean }) => {
      const list = await new RemotePeersService(opts.grpcAddress, { tls: grpcClientTls(opts) }).list();
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(list.map((p) => ({ ...p, head: Number(p.head) })))}\n`);
        return;
      }
      if (list.length === 0) {
        process.stdout.write('no peers\n');
        return;
      }
      process.stdout.write(`${list.map((p) => `${p.id}  ${p.direction.padEnd(8)}  head #${p.head}  ${p.address}`).join('\n')}\n`);
    });
  grpcOption(peers.command('add').description('connect to a peer and keep redialling it'))
    .requiredOption('--addr <multiaddr>', 'the peer: /ip4/…/tcp/…/p2p/<node ID>')
    .action(async (opts: GrpcDialOpts & { addr: string }) => {
      await new RemotePeersService(opts.grpcAddress, { tls: grpcClientTls(opts) }).add(opts.addr);
      process.stdout.write(`connected to ${opts.addr}\n`);
    });
  grpcOption(peers.command('remove').description('disconnect a peer and stop redialling it (a bootnode is forgotten until the node restarts)'))
    .requiredOption('--id <peer>', 'the peer: its node ID (16Uiu2HA…) or /ip4/…/tcp/…/p2p/<node ID>')
    .action(async (opts: GrpcDialOpts & { id: string }) => {
      const r = await new RemotePeersService(opts.grpcAddress, { tls: grpcClientTls(opts) }).remove(opts.id);
      process.stdout.write(`${r.wasConnected ? 'disconnected from' : 'no longer redialling'} ${opts.id}\n`);
    });
  return peers;
}
