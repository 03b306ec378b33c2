import { createBlockHeader } from '@ethereumjs/block';
import { RLP } from '@ethereumjs/rlp';
import { bytesToHex, privateToAddress } from '@ethereumjs/util';
import { describe, expect, it } from 'vitest';
import { decodeBlockHeaderRlp } from '../../../src/backup/block-records.js';
import { headerOpts } from '../../../src/chain/block-util.js';
import { createChainRules } from '../../../src/chain/chain-config.js';
import { encodeIbftExtra, headerExtra, type IbftExtra } from '../../../src/consensus/ibft/extra.js';
import { blockHash, blockHashFromRlp } from '../../../src/consensus/ibft/hash.js';
import { BackupFileError } from '../../../src/container/errors.js';
import { testGenesis, testKey } from '../../helpers/chain-fixture.js';

const common = createChainRules(testGenesis(1).genesis).commonAt(1n);
const seal = (i: number) => new Uint8Array(65).fill(i);
const extraOf = (validators: number, seals: number, vote?: IbftExtra['vote']): IbftExtra => ({
  vanity: new Uint8Array(32).fill(9),
  validators: Array.from({ length: validators }, (_, i) => privateToAddress(testKey(i))),
  proposerSeal: seal(200),
  committedSeals: Array.from({ length: seals }, (_, i) => seal(i + 1)),
  ...(vote ? { vote } : {}),
});
const headerWith = (extra: IbftExtra, number = 7n) =>
  createBlockHeader({ number, gasLimit: 30_000_000n, timestamp: 1_700_000_000n, extraData: encodeIbftExtra(extra) }, headerOpts(common));
/** A block's RLP with this header and no transactions, as a backup record holds it. */
const blockRlpOf = (headerRlp: Uint8Array) => RLP.encode([RLP.decode(headerRlp) as Uint8Array[], [], []]);

describe("a block's hash from its header's bytes", () => {
  it('is the hash computed from the decoded header, for every shape of extraData', () => {
    const shapes: [string, IbftExtra][] = [
      ['1 validator, no committed seals', extraOf(1, 0)],
      ['4 validators, 3 seals', extraOf(4, 3)],
      ['30 validators, 20 seals (lists longer than 55 bytes)', extraOf(30, 20)],
      ['a vote to add', extraOf(4, 3, { candidate: privateToAddress(testKey(40)), authorize: true })],
      ['a vote to drop, no seals', extraOf(4, 0, { candidate: privateToAddress(testKey(41)), authorize: false })],
    ];
    for (const [what, extra] of shapes) {
      const header = headerWith(extra);
      const fresh = headerWith(extra); // no hash cached on it
      expect(bytesToHex(blockHashFromRlp(fresh, header.serialize())), what).toBe(bytesToHex(blockHash(header)));
      // Kept as the header's hash.
      expect(bytesToHex(blockHash(fresh)), what).toBe(bytesToHex(blockHash(header)));
    }
    // The committed seals are out of it; the proposer seal and the vote are in.
    expect(blockHashFromRlp(headerWith(extraOf(4, 0)), headerWith(extraOf(4, 3)).serialize())).toEqual(blockHash(headerWith(extraOf(4, 0))));
    expect(blockHash(headerWith({ ...extraOf(4, 3), proposerSeal: seal(201) }))).not.toEqual(blockHash(headerWith(extraOf(4, 3))));
  });

  it('a restore writes the bytes of the record it checked, and refuses one whose bytes are not what the hash covers', () => {
    const header = headerWith(extraOf(4, 3));
    const hash = blockHash(header);
    const { header: decoded, headerRlp } = decodeBlockHeaderRlp(blockRlpOf(header.serialize()), 7n, hash, common, 'snapshot');
    expect(headerRlp).toEqual(header.serialize());
    expect(decoded.number).toBe(7n);
    // Read as views of the record, but the header keeps copies: the record's bytes can be let go of
    // (or reused) once it is decoded.
    const record = blockRlpOf(header.serialize());
    const kept = decodeBlockHeaderRlp(record, 7n, hash, common, 'snapshot').header;
    record.fill(0);
    expect(kept.serialize()).toEqual(header.serialize());
    expect(headerExtra(kept).validators).toEqual(headerExtra(header).validators);

    // The same header with its gas limit encoded with a leading zero: not the bytes the hash is of.
    const fields = RLP.decode(header.serialize()) as Uint8Array[];
    fields[9] = Uint8Array.from([0, ...fields[9]!]);
    const padded = RLP.encode(fields);
    expect(() => decodeBlockHeaderRlp(blockRlpOf(padded), 7n, hash, common, 'snapshot')).toThrow(BackupFileError);
    // A record whose extraData is not IBFT's: one line, no crash.
    const raw = RLP.decode(header.serialize()) as Uint8Array[];
    raw[12] = new Uint8Array(40);
    expect(() => decodeBlockHeaderRlp(blockRlpOf(RLP.encode(raw)), 7n, hash, common, 'snapshot')).toThrow(/block 7 in the snapshot cannot be decoded/);
  });

  it("decodes a header's extraData once, and shares it frozen", () => {
    const header = headerWith(extraOf(4, 3));
    const extra = headerExtra(header);
    expect(headerExtra(header)).toBe(extra);
    expect(extra.validators).toHaveLength(4);
    expect(() => (extra.validators as Uint8Array[]).push(new Uint8Array(20))).toThrow(TypeError);
    expect(() => {
      (extra as { proposerSeal: Uint8Array }).proposerSeal = new Uint8Array(0);
    }).toThrow(TypeError);
  });
});
