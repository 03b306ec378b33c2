import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { WritesPausedError } from '../../../src/chain/errors.js';
import { createTestChain, openTestChain, sealNext } from '../../helpers/chain-fixture.js';
import { nodesStoppedAfterEach, until } from './net-fixture.js';

/**
 * Below --min-free-disk the node imports no block (the disk guard pauses the chain's writes): a
 * follower's sync and the history back-fill would otherwise fill the disk until LevelDB fails every write.
 */

const { cleanup, node } = nodesStoppedAfterEach();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const idOf = (addr: string) => addr.split('/p2p/')[1]!;
const LOW = 'disk almost full: 10 MiB free, below --min-free-disk 256 MiB';

describe('writes paused (the disk almost full)', () => {
  it('a block is refused with WritesPausedError before anything is written; taken once writes resume', async () => {
    const src = await createTestChain(4);
    cleanup.push(() => src.close());
    const block = await sealNext(src);
    const dst = await openTestChain(src.genesis);
    cleanup.push(() => dst.close());
    dst.chain.pauseWrites(LOW);
    await expect(dst.chain.importBlock(block)).rejects.toThrow(WritesPausedError);
    await expect(dst.chain.importBlock(block)).rejects.toThrow(/blocks are not imported now: disk almost full/);
    expect(await dst.chain.canonicalHash(1n)).toBeUndefined();
    dst.chain.pauseWrites(undefined);
    expect(await dst.chain.importBlock(block)).toBe('imported');
  });

  it('block sync waits without blaming the peer, and catches up once writes resume', async () => {
    const src = await createTestChain(4);
    cleanup.push(() => src.close());
    await sealNext(src);
    await sealNext(src);
    const dst = await openTestChain(src.genesis);
    cleanup.push(() => dst.close());
    dst.chain.pauseWrites(LOW);
    const errors: string[] = [];
    const logger = pino({ level: 'error' }, { write: (line: string) => void errors.push(line) });
    const a = await node(src.chain);
    const b = await node(dst.chain, { bootnodes: [a.addr], logger });
    await until(() => b.net.peerCount() === 1, 'connected');
    await sleep(2500); // tried, held, tried again
    expect(dst.chain.head.number).toBe(0n);
    expect(b.net.peerManager.banned(idOf(a.addr))).toBeUndefined();
    expect(b.net.peerCount()).toBe(1);
    expect(errors).toEqual([]); // not an error of the sync (nor of the peer): the node said why once
    dst.chain.pauseWrites(undefined);
    await until(() => dst.chain.head.number === 2n, 'caught up once writes resume', 5_000);
  }, 30_000);
});
