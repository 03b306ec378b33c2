import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import type { PeersService } from '../../../src/p2p/peers-service.js';
import { peersHandlers } from '../../../src/rpc/grpc/peers-handlers.js';
import { UserError } from '../../../src/util/errors.js';

type Cb = (err: (Error & { code?: number; details?: string }) | null, res?: unknown) => void;
const call = (h: unknown, request: unknown) =>
  new Promise<{ err: (Error & { code?: number }) | null; res?: unknown }>((resolve) =>
    (h as (c: unknown, cb: Cb) => void)({ request }, (err, res) => resolve({ err, res })),
  );

describe('PeersList / PeersAdd / PeersRemove handlers', () => {
  it('fail with FAILED_PRECONDITION on a node without networking', async () => {
    const h = peersHandlers(undefined);
    const r = await call(h.PeersList, {});
    expect(r.err?.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(r.err?.message).toMatch(/without networking/);
    expect((await call(h.PeersAdd, { address: '/ip4/127.0.0.1/tcp/1/p2p/x' })).err?.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect((await call(h.PeersRemove, { id: '16Uiu2HAx' })).err?.code).toBe(grpc.status.FAILED_PRECONDITION);
  });

  it('list peers; refuse an empty or oversized address before the service sees it; pass errors through', async () => {
    const added: string[] = [];
    const svc: PeersService = {
      list: async () => [{ id: '16Uiu2HAx', address: '/ip4/1.2.3.4/tcp/1478/p2p/16Uiu2HAx', direction: 'outbound', head: 12n }],
      add: async (a) => {
        if (a.includes('bad')) throw new UserError('cannot connect', { code: 'UNAVAILABLE' });
        added.push(a);
      },
      remove: async (p) => {
        if (p === 'gone') throw new UserError('this node neither keeps nor is connected to peer gone', { code: 'NOT_FOUND' });
        return { wasConnected: p === 'on' };
      },
    };
    const h = peersHandlers(svc);
    expect((await call(h.PeersList, {})).res).toEqual({
      peers: [{ id: '16Uiu2HAx', address: '/ip4/1.2.3.4/tcp/1478/p2p/16Uiu2HAx', direction: 'outbound', head: '12' }],
    });
    expect((await call(h.PeersAdd, { address: '' })).err?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect((await call(h.PeersAdd, { address: 'x'.repeat(2000) })).err?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect((await call(h.PeersAdd, { address: '/bad' })).err?.code).toBe(grpc.status.UNAVAILABLE);
    expect((await call(h.PeersAdd, { address: '/ip4/1.2.3.4/tcp/1/p2p/y' })).err).toBeNull();
    expect(added).toEqual(['/ip4/1.2.3.4/tcp/1/p2p/y']);
    expect((await call(h.PeersRemove, { id: '' })).err?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect((await call(h.PeersRemove, { id: 'x'.repeat(2000) })).err?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect((await call(h.PeersRemove, { id: 'gone' })).err?.code).toBe(grpc.status.NOT_FOUND);
    expect((await call(h.PeersRemove, { id: 'on' })).res).toEqual({ wasConnected: true });
    expect((await call(h.PeersRemove, { id: 'off' })).res).toEqual({ wasConnected: false });
  });
});
