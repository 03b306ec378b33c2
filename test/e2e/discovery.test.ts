import { describe, expect, it } from 'vitest';
import { CliProcess, processesKilledAfterAll, reservedPort, rpc, runCli, serverArgs, singleValidatorChain } from '../helpers/cli.js';

const running = processesKilledAfterAll();

describe('peer discovery (Kademlia DHT), peer limits, peers remove', () => {
  const c = singleValidatorChain();
  it("two nodes that know only a bootnode find each other through it; with --no-discovery they don't", async () => {
    const boot = new CliProcess(serverArgs(c.node1, c.genesis, ['--seal', '--block-time', '1']));
    running.push(boot);
    const bootAddr = await boot.p2pAddress();
    const node = (name: string, extra: string[] = []) => {
      const p = new CliProcess(serverArgs(`${c.dir}/${name}`, c.genesis, ['--bootnode', bootAddr, ...extra]));
      running.push(p);
      return p;
    };
    const b = node('b');
    const bAddr = await b.p2pAddress();
    const d = node('d', ['--no-discovery', '--bootnode', bAddr]);
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
    // d runs no DHT: it looks for nobody (its two bootnodes only) and nobody finds it through a table.
    await d.waitForEvent('peer.connected', (e) => e.peer === bId);
    expect(await peers(urls[2]!)).toBe(2);

    // peers remove: d lets its bootnode b go (a full node), and does not dial it again; the validator
    // is refused (it is redialled for consensus: a vote removes it).
    const grpc = await d.grpcAddress();
    const removed = runCli(['peers', 'remove', '--grpc-address', grpc, '--id', bId]);
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stdout.trim()).toBe(`disconnected from ${bId}`);
    const gone = Date.now() + 10_000;
    while ((await peers(urls[2]!)) !== 1) {
      if (Date.now() > gone) throw new Error('d is still connected to b');
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 6_000)); // past a redial tick (every 5 s)
    expect(await peers(urls[2]!)).toBe(1);
    const again = runCli(['peers', 'remove', '--grpc-address', grpc, '--id', bAddr]);
    expect(again.code).toBe(1);
    expect(again.stderr.trim()).toBe(`error: this node neither keeps nor is connected to peer ${bId}`);
    const bootId = bootAddr.split('/p2p/')[1]!;
    const validator = runCli(['peers', 'remove', '--grpc-address', grpc, '--id', bootId]);
    expect(validator.stderr.trim()).toMatch(/^error: peer \S+ is a validator of the current set: it is redialled to keep consensus; vote it out/);
    const bad = runCli(['peers', 'remove', '--grpc-address', grpc, '--id', 'not-a-peer']);
    expect(bad.stderr.trim()).toBe('error: "not-a-peer" is not a node ID (16Uiu2HA…) or /ip4/…/tcp/…/p2p/<node ID>');
  }, 90_000);

  it('--max-inbound-peers keeps one of two dialling nodes; --nat-address is what the node announces; bad values are one line', async () => {
    const port = await reservedPort();
    const hub = new CliProcess(
      serverArgs(`${c.dir}/hub`, c.genesis, ['--libp2p', `127.0.0.1:${port}`, '--max-inbound-peers', '1', '--nat-address', '10.1.2.3']),
    );
    running.push(hub);
    const hubUrl = await hub.rpcUrl();
    const hubPeerId = (await hub.waitForEvent('p2p.listening')).peerId;
    // What it tells peers (and status) is the NAT address, with its own port.
    const st = JSON.parse(runCli(['status', '--grpc-address', await hub.grpcAddress(), '--json']).stdout) as { listenAddresses: string[] };
    expect(st.listenAddresses).toEqual([`/ip4/10.1.2.3/tcp/${port}/p2p/${hubPeerId}`]);
    const local = `/ip4/127.0.0.1/tcp/${port}/p2p/${hubPeerId}`;
    for (const name of ['x', 'y']) running.push(new CliProcess(serverArgs(`${c.dir}/${name}`, c.genesis, ['--bootnode', local, '--no-discovery'])));
    await hub.waitForEvent('peer.connected');
    await new Promise((r) => setTimeout(r, 4_000)); // both have dialled by now (and redialled)
    expect(Number(await rpc<string>(hubUrl, 'net_peerCount'))).toBe(1);
    const bad = runCli(['server', '--data-dir', `${c.dir}/z`, '--chain', c.genesis, '--nat-address', 'example.com']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr.trim()).toMatch(/--nat-address.*"example\.com" is not an IP address/);
    const zero = runCli(['server', '--data-dir', `${c.dir}/z`, '--chain', c.genesis, '--max-inbound-peers', '0']);
    expect(zero.stderr.trim()).toMatch(/--max-inbound-peers.*positive integer/);
    const anyPort = runCli(['server', '--data-dir', `${c.dir}/z`, '--chain', c.genesis, '--libp2p', '127.0.0.1:0', '--nat-address', '10.0.0.1']);
    expect(anyPort.stderr.trim()).toBe('error: --nat-address needs a fixed --libp2p port (the port announced with it), not 0');
  }, 60_000);
});
