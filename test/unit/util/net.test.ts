import { describe, expect, it, vi } from 'vitest';

// A resolver that never answers (a DNS server that drops queries): getaddrinfo would hold for its own timeouts.
vi.mock('node:dns', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:dns')>();
  const lookup = (host: string, opts: unknown) =>
    host === 'hangs.invalid' ? new Promise(() => undefined) : (real.promises.lookup as (h: string, o: unknown) => Promise<unknown>)(host, opts);
  return { ...real, promises: { ...real.promises, lookup } };
});

const { listensOnLoopbackOnly } = await import('../../../src/util/net.js');

describe('listensOnLoopbackOnly', () => {
  it('counts a name whose lookup does not answer in time as reachable, after the timeout and not later', async () => {
    const started = Date.now();
    await expect(listensOnLoopbackOnly('hangs.invalid', 200)).resolves.toBe(false);
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(190);
    expect(took).toBeLessThan(5_000);
  });

  it('answers for IP literals without a lookup, and resolves localhost', async () => {
    await expect(listensOnLoopbackOnly('127.0.0.1', 1)).resolves.toBe(true);
    await expect(listensOnLoopbackOnly('[::1]', 1)).resolves.toBe(true);
    await expect(listensOnLoopbackOnly('0.0.0.0', 1)).resolves.toBe(false);
    await expect(listensOnLoopbackOnly('localhost')).resolves.toBe(true);
  });
});
