import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, expectOneLineError, processesKilledAfterEach, runCli, singleValidatorChain, tempDir } from '../helpers/cli.js';

const start = processesKilledAfterEach();
const hasOpenssl = spawnSync('openssl', ['version']).status === 0;
if (!hasOpenssl) console.warn('skipping gRPC TLS tests: no `openssl` on PATH to make test certificates');

/** A throwaway CA, a server certificate for 127.0.0.1 / localhost and a client certificate, all signed by it. */
function makeCertificates(dir: string) {
  const ssl = (...args: string[]) => {
    const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
  };
  const key = (name: string) => ssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${name}.key`);
  key('ca');
  ssl('req', '-x509', '-new', '-key', 'ca.key', '-subj', '/CN=basalt test CA', '-days', '2', '-out', 'ca.pem');
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  writeFileSync(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const name of ['server', 'client']) {
    key(name);
    ssl('req', '-new', '-key', `${name}.key`, '-subj', `/CN=basalt ${name}`, '-out', `${name}.csr`);
    ssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      `${name}.ext`,
      '-out',
      `${name}.pem`,
    );
  }
  const p = (f: string) => join(dir, f);
  return { ca: p('ca.pem'), serverCert: p('server.pem'), serverKey: p('server.key'), clientCert: p('client.pem'), clientKey: p('client.key') };
}

/**
 * The CLI in a child whose address space is capped at 4 GB and that is killed after 20 s: a regression
 * that reads /dev/zero whole aborts within seconds instead of taking the machine's memory, and one that
 * waits on a FIFO fails the test instead of hanging it (a null exit code).
 */
function runBounded(args: string[]): { code: number | null; stderr: string } {
  const r = spawnSync('sh', ['-c', 'ulimit -v 4000000 && exec "$@"', 'sh', process.execPath, CLI, ...args], {
    encoding: 'utf8',
    timeout: 20_000,
    env: { ...process.env, NO_COLOR: '1' },
  });
  return { code: r.status, stderr: r.stderr };
}

describe('operator API security', () => {
  it('a TLS file that is not a small regular file is one error line naming the flag: /dev/zero, a FIFO, a folder, 2 MiB', () => {
    const { dir, genesis } = singleValidatorChain();
    const fifo = join(dir, 'fifo.pem');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    mkdirSync(join(dir, 'folder.pem'));
    const big = join(dir, 'big.pem');
    writeFileSync(big, '-----BEGIN CERTIFICATE-----\n');
    truncateSync(big, 2 * 1024 * 1024);
    const pem = join(dir, 'small.pem'); // passes the PEM check: the file next to the refused one is read first
    writeFileSync(pem, '-----BEGIN CERTIFICATE-----\n');
    const dial = ['status', '--grpc-address', '127.0.0.1:1'];
    expectOneLineError(runBounded([...dial, '--grpc-tls-ca', '/dev/zero']), /^error: --grpc-tls-ca \/dev\/zero is not a regular file$/);
    expectOneLineError(runBounded([...dial, '--grpc-tls-ca', fifo]), /^error: --grpc-tls-ca .*fifo\.pem is not a regular file$/);
    expectOneLineError(
      runBounded([...dial, '--grpc-tls-cert', pem, '--grpc-tls-key', '/dev/zero']),
      /^error: --grpc-tls-key \/dev\/zero is not a regular file$/,
    );
    expectOneLineError(runBounded([...dial, '--grpc-tls-ca', join(dir, 'folder.pem')]), /^error: --grpc-tls-ca .*folder\.pem is a directory$/);
    expectOneLineError(runBounded([...dial, '--grpc-tls-ca', big]), /^error: --grpc-tls-ca .*big\.pem is larger than 1048576 bytes$/);
    const serve = ['server', '--data-dir', join(dir, 's'), '--chain', genesis, '--no-jsonrpc', '--no-ws', '--no-libp2p', '--grpc-address', '127.0.0.1:0'];
    // The server's WebAssembly reserves more address space than the cap allows: its files here are
    // the ones a regression would wait on or read whole, not /dev/zero (the same reader as the above).
    const server = (tls: string[]) => runCli([...serve, ...tls, '--log-level', 'silent'], { timeoutMs: 20_000 });
    expectOneLineError(server(['--grpc-tls-cert', fifo, '--grpc-tls-key', pem]), /^error: --grpc-tls-cert .*fifo\.pem is not a regular file$/);
    expectOneLineError(server(['--grpc-tls-cert', pem, '--grpc-tls-key', big]), /^error: --grpc-tls-key .*big\.pem is larger than 1048576 bytes$/);
    expectOneLineError(
      server(['--grpc-tls-cert', pem, '--grpc-tls-key', pem, '--grpc-tls-client-ca', join(dir, 'folder.pem')]),
      /^error: --grpc-tls-client-ca .*folder\.pem is a directory$/,
    );
  });

  it.skipIf(!hasOpenssl)(
    'serves TLS with client certificates: the right certificate gets in, no certificate and plain text get one error line each',
    { timeout: 60_000 },
    async () => {
      const { dir, node1, genesis } = singleValidatorChain();
      const c = makeCertificates(tempDir('basalt-certs-'));
      // Bound to every interface (allowed: TLS with client certificates); only ever dialled on 127.0.0.1.
      const node = start([
        'server',
        '--data-dir',
        node1,
        '--chain',
        genesis,
        '--log-format',
        'json',
        '--jsonrpc',
        '0.0.0.0:0',
        '--no-ws',
        '--grpc-address',
        '0.0.0.0:0',
        '--grpc-tls-cert',
        c.serverCert,
        '--grpc-tls-key',
        c.serverKey,
        '--grpc-tls-client-ca',
        c.ca,
      ]);
      const grpc = await node.grpcAddress();
      const listening = await node.waitForEvent('grpc.listening');
      expect(listening.tls).toBe('client certificates');
      const jsonRpcWarning = await node.waitForEvent('api.exposed', (e) => e.api === 'jsonrpc');
      expect(jsonRpcWarning.level).toBe(40);
      expect(jsonRpcWarning.msg).toMatch(/^JSON-RPC on a non-loopback address: it has no authentication.*reverse proxy/);
      expect(
        node.events('api.exposed').filter((e) => e.api === 'grpc'),
        'no gRPC warning with client certificates',
      ).toEqual([]);

      const ok = runCli(['status', '--grpc-address', grpc, '--grpc-tls-ca', c.ca, '--grpc-tls-cert', c.clientCert, '--grpc-tls-key', c.clientKey, '--json']);
      expect(ok.code, ok.stderr).toBe(0);
      expect(JSON.parse(ok.stdout)).toMatchObject({ chainId: 100, number: 0 });
      const exp = runCli([
        'export',
        join(dir, 'x.bsa'),
        '--grpc-address',
        grpc,
        '--grpc-tls-ca',
        c.ca,
        '--grpc-tls-cert',
        c.clientCert,
        '--grpc-tls-key',
        c.clientKey,
      ]);
      expectOneLineError(exp, /only its genesis block/); // dialled and answered: the node's own refusal

      expectOneLineError(runCli(['status', '--grpc-address', grpc, '--grpc-tls-ca', c.ca]), /^error: no node answers on 127\.0\.0\.1:\d+ over TLS/);
      expectOneLineError(runCli(['status', '--grpc-address', grpc]), /^error: no node answers on 127\.0\.0\.1:\d+.*--grpc-tls-ca/);
      expectOneLineError(
        runCli(['status', '--grpc-address', grpc, '--grpc-tls-ca', c.ca, '--grpc-tls-cert', c.clientCert]),
        /--grpc-tls-cert and --grpc-tls-key go together/,
      );
      expectOneLineError(
        runCli(['status', '--grpc-address', grpc, '--grpc-tls-ca', join(dir, 'missing.pem')]),
        /cannot read --grpc-tls-ca .*missing\.pem: ENOENT/,
      );
      expectOneLineError(
        runCli(['snapshot', join(dir, 'x.bsn'), '--grpc-address', grpc, '--grpc-tls-ca', genesis]),
        /--grpc-tls-ca .*genesis\.json is not a PEM file/,
      );

      // TLS without client certificates on every interface authenticates no caller: refused before the
      // data dir is made, unless --grpc-insecure (then bound, with a warning).
      const tlsOnly = ['--no-jsonrpc', '--no-ws', '--no-libp2p', '--grpc-address', '0.0.0.0:0', '--grpc-tls-cert', c.serverCert, '--grpc-tls-key', c.serverKey];
      expectOneLineError(
        runCli(['server', '--data-dir', join(dir, 'tls-only'), '--chain', genesis, ...tlsOnly]),
        /^error: --grpc-address 0\.0\.0\.0:0 is reachable from other machines and TLS without client certificates authenticates no caller .*: add --grpc-tls-client-ca or pass --grpc-insecure$/,
      );
      expect(existsSync(join(dir, 'tls-only'))).toBe(false);
      const insecure = start(['server', '--data-dir', join(dir, 'tls-only'), '--chain', genesis, ...tlsOnly, '--grpc-insecure', '--log-format', 'json']);
      expect((await insecure.waitForEvent('grpc.listening')).tls).toBe('server only');
      const warning = await insecure.waitForEvent('api.exposed', (e) => e.api === 'grpc');
      expect(warning.level).toBe(40);
      expect(warning.msg).toMatch(/without client certificates on a non-loopback address \(--grpc-insecure\)/);
    },
  );

  it('refuses a non-loopback gRPC address without TLS in one line, and binds it with --grpc-insecure (with a warning)', { timeout: 60_000 }, async () => {
    const { dir, genesis } = singleValidatorChain();
    const refused = runCli([
      'server',
      '--data-dir',
      join(dir, 'a'),
      '--chain',
      genesis,
      '--no-jsonrpc',
      '--no-ws',
      '--grpc-address',
      '0.0.0.0:0',
      '--log-format',
      'json',
      '--log-level',
      'error',
    ]);
    expectOneLineError(
      refused,
      /^error: --grpc-address 0\.0\.0\.0:0 is reachable from other machines .*--grpc-tls-cert, --grpc-tls-key, --grpc-tls-client-ca\) or pass --grpc-insecure$/,
    );
    // the ibft JSON-RPC namespace casts this validator's votes: loopback only, as the operator API without client certificates
    for (const at of [
      ['--jsonrpc', '0.0.0.0:0', '--no-ws'],
      ['--no-jsonrpc', '--ws', '[::]:0'],
    ]) {
      expectOneLineError(
        runCli(['server', '--data-dir', join(dir, 'a'), '--chain', genesis, ...at, '--jsonrpc-api', 'eth,ibft']),
        /^error: --jsonrpc-api ibft casts this validator's votes and JSON-RPC has no authentication: serve it on a loopback address, not --(jsonrpc 0\.0\.0\.0|ws ::):0 \(or vote with `basalt ibft propose` over gRPC with TLS client certificates, --grpc-tls-client-ca\)$/,
      );
    }
    expectOneLineError(runCli(['server', '--data-dir', genesis, '--chain', genesis]), /^error: cannot make the data dir .*: a file is in the way$/);
    const halfTls = runCli(['server', '--data-dir', join(dir, 'a'), '--chain', genesis, '--grpc-tls-cert', genesis]);
    expectOneLineError(halfTls, /--grpc-tls-cert and --grpc-tls-key go together/);

    const node = start([
      'server',
      '--data-dir',
      join(dir, 'b'),
      '--chain',
      genesis,
      '--no-jsonrpc',
      '--no-ws',
      '--grpc-address',
      '0.0.0.0:0',
      '--grpc-insecure',
      '--log-format',
      'json',
    ]);
    const l = await node.waitForEvent('grpc.listening');
    expect(l.tls).toBe('off');
    const warning = await node.waitForEvent('api.exposed', (e) => e.api === 'grpc');
    expect(warning.level).toBe(40);
    expect(warning.msg).toMatch(/plain text on a non-loopback address \(--grpc-insecure\)/);
  });
});
