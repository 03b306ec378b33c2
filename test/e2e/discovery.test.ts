import { describe, expect, it } from 'vitest';
import { CliProcess, processesKilledAfterAll, rpc, serverArgs, singleValidatorChain } from '../helpers/cli.js';

const running = processesKilledAfterAll();

describe('peer discovery (Kademlia DHT)', () => {
  it("two nodes that know only a bootnode find each other through it; with --no-discovery they don't", async () => {
    const c = singleValidatorChain();
    const boot = new CliProcess(serverArgs(c.node1, c.genesis, ['--seal', '--block-time', '1']));
    running.push(boot);
    const bootAddr = await boot.p2pAddress();
    const node = (name: string, extra: string[] = []) => {
      const p = new CliProcess(serverArgs(`${c.dir}/${name}`, c.genesis, ['--bootnode', bootAddr, ...extra]));
      running.push(p);
      return p;
    };
    const b = node('b');
    const d = node('d', ['--no-discovery']);
    const cNode = node('c');
    const urls = await Promise.all([b.rpcUrl(), cNode.rpcUrl(), d.rpcUrl()]);
    const peers = async (url: string) => Number(await rpc<string>(url, 'net_peerCount'));
    // b and c: the bootnode and each other.
    const deadline = Date.now() + 45_000;
    const bId = (await b.waitForEvent('p2p.listening')).peerId;
    const cId = (await cNode.waitForEvent('p2p.listening')).peerId;
    while (!(b.events('peer.connected').some((e) => e.peer === cId) && cNode.events('peer.connected').some((e) => e.peer === bId))) {
      if (Date.now() > deadline) throw new Error(`b and c did not find each other: b has ${await peers(urls[0]!)} peers, c ${await peers(urls[1]!)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(await peers(urls[0]!)).toBeGreaterThanOrEqual(2);
    expect(await peers(urls[1]!)).toBeGreaterThanOrEqual(2);
    // d runs no DHT: it looks for nobody and nobody finds it through the bootnode's table.
    expect(await peers(urls[2]!)).toBe(1);
  }, 90_000);
});
