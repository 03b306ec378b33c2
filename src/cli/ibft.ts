import { Command, Option } from 'commander';
import { RemoteIbftService } from '../rpc/grpc/ibft-client.js';
import { addGrpcDialOptions, grpcClientTls, type GrpcDialOpts } from './grpc-dial.js';
import { parseBigIntArg } from './options.js';

const out = (s: string): void => {
  process.stdout.write(`${s}\n`);
};
const json = (v: unknown) => out(JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? Number(x) : x)));

/**
 * `basalt ibft propose|discard|candidates|snapshot|status`: a running node's validator set and this
 * validator's votes (Polygon Edge's `ibft` commands), over the gRPC operator API.
 */
export function ibftCommand(): Command {
  const dial = (c: Command) => addGrpcDialOptions(c, 'gRPC operator API address');
  const service = (o: GrpcDialOpts) => new RemoteIbftService(o.grpcAddress, { tls: grpcClientTls(o) });
  const ibft = new Command('ibft').description("a running node's IBFT validator set: vote a validator in or out, see the set and the votes (over gRPC)");

  dial(ibft.command('propose').description('vote to add (auth) or remove (drop) a validator: this validator puts the vote into the blocks it proposes'))
    .requiredOption('--addr <address>', 'the candidate: 0x and 40 hex digits')
    .addOption(new Option('--vote <vote>', 'auth: add it to the set; drop: remove it').choices(['auth', 'drop']).makeOptionMandatory())
    .action(async (o: GrpcDialOpts & { addr: string; vote: 'auth' | 'drop' }) => {
      await service(o).propose(o.addr, o.vote);
      out(`proposed: ${o.vote} ${o.addr.toLowerCase()} (it passes once more than half of the validators have voted so)`);
    });

  dial(ibft.command('discard').description('forget a vote this validator proposed'))
    .requiredOption('--addr <address>', 'the candidate: 0x and 40 hex digits')
    .action(async (o: GrpcDialOpts & { addr: string }) => {
      const had = await service(o).discard(o.addr);
      out(had ? `discarded the vote about ${o.addr.toLowerCase()}` : `no vote about ${o.addr.toLowerCase()} was proposed`);
    });

  dial(ibft.command('candidates').description('the votes this validator proposed that the set does not reflect yet'))
    .option('--json', 'print JSON', false)
    .action(async (o: GrpcDialOpts & { json: boolean }) => {
      const list = await service(o).candidates();
      if (o.json) return json(list);
      out(list.length === 0 ? 'no votes proposed' : list.map((c) => `${c.vote.padEnd(4)}  ${c.candidate}`).join('\n'));
    });

  dial(ibft.command('snapshot').description('the validator set after a block (it decides the next one) and the votes pending then'))
    .option('--number <n>', 'the block (default: the head)', parseBigIntArg)
    .option('--json', 'print JSON', false)
    .action(async (o: GrpcDialOpts & { number?: bigint; json: boolean }) => {
      const s = await service(o).snapshot(o.number);
      if (o.json) return json(s);
      out(`after block ${s.number} (${s.hash}), epoch size ${s.epochSize}`);
      out(`validators (${s.validators.length}):`);
      for (const v of s.validators) out(`  ${v}`);
      out(s.votes.length === 0 ? 'no votes pending' : `votes pending (${s.votes.length}):`);
      for (const v of s.votes) out(`  ${v.voter} votes ${v.vote} ${v.candidate}`);
    });

  dial(ibft.command('status').description('this node as a validator: its address, whether the set holds it, what it last proposed and signed'))
    .option('--json', 'print JSON', false)
    .action(async (o: GrpcDialOpts & { json: boolean }) => {
      const s = await service(o).status();
      if (o.json) return json(s);
      out(
        `validator ${s.address}: ${s.inSet ? 'in the set' : 'NOT in the set'} of ${s.validators} deciding block ${s.head + 1n}; ${s.sealing ? 'sealing' : 'not sealing'}`,
      );
      out(`last proposed: ${s.lastProposed === undefined ? 'none in the last 1024 blocks' : `block ${s.lastProposed}`}`);
      out(`last signed: ${s.lastSigned === undefined ? 'nothing' : `block ${s.lastSigned}`}`);
      if (s.votesUnknown) out(`votes pending at the head: not known here (${s.votesUnknown})`);
    });
  return ibft;
}
