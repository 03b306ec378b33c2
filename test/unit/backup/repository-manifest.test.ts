import { describe, expect, it } from 'vitest';
import { BackupFileError } from '../../../src/container/errors.js';
import { decodeManifest } from '../../../src/backup/repository/format.js';

const H = (c: string) => `0x${c.repeat(64)}`;
const manifest = (timestamp: string) =>
  new TextEncoder().encode(
    JSON.stringify({
      format: 'basalt-backup',
      version: 1,
      chainId: '100',
      genesisHash: H('1'),
      head: { number: '4', hash: H('2'), stateRoot: H('3'), timestamp },
      genesis: `genesis-${'4'.repeat(64)}`,
      createdAt: '2026-11-25T06:00:00.000Z',
      segments: [`segment-1-4-${'5'.repeat(64)}`],
      packs: [],
      added: { objects: 2, bytes: 100 },
    }),
  );

describe('backup repository manifest', () => {
  it('a head time no date reaches (after the year 9999) makes the manifest damaged, not a crash of retention or `backup list`', () => {
    expect(decodeManifest(manifest('253402300799')).head.timestamp).toBe('253402300799');
    for (const t of ['253402300800', '99999999999999', '99999999999999999999']) {
      expect(() => decodeManifest(manifest(t)), t).toThrow(BackupFileError);
      expect(() => decodeManifest(manifest(t)), t).toThrow(`backup manifest: head.timestamp ${t} is after the year 9999`);
    }
  });
});
