import { describe, expect, it } from 'vitest';
import { parseCacheSize, parseCountArg, parseDurationArg, parseTimerSeconds, sealsNote } from '../../../src/cli/options.js';
import { MAX_TIMER_MS } from '../../../src/util/duration.js';

describe('--cache sizes', () => {
  it('takes a plain number as MiB, as geth does, and a size with a unit as written', () => {
    expect(parseCacheSize('512')).toBe(512 * 1024 * 1024);
    expect(parseCacheSize('0')).toBe(0);
    expect(parseCacheSize('1GiB')).toBe(1024 ** 3);
    expect(parseCacheSize('64MB')).toBe(64 * 1e6);
  });

  it('refuses what is not a size, and more than 1 TiB', () => {
    expect(() => parseCacheSize('lots')).toThrow(/is not a size/);
    expect(() => parseCacheSize('-5')).toThrow(/is not a size/);
    expect(() => parseCacheSize('2000000')).toThrow(/more than 1TiB/);
    expect(() => parseCacheSize('99999999999999999999999')).toThrow(/more than 1TiB/);
  });
});

describe('counts (--state-history, --state-prune-interval)', () => {
  const blocks = parseCountArg('blocks');
  it('takes a whole number of 1 or more', () => {
    expect(blocks('1')).toBe(1n);
    expect(blocks('1024')).toBe(1024n);
    expect(blocks('999999999999')).toBe(999_999_999_999n);
  });

  it('refuses zero, signs, fractions, exponents, words and numbers of 13 digits or more, in one line naming the value', () => {
    for (const bad of ['0', '-1', '+5', '1.5', '1e9', '0x10', 'ten', '', ' 5', '1000000000000', '9'.repeat(400)]) {
      expect(() => blocks(bad), bad).toThrow(`"${bad}" is not a number of blocks (1 or more)`);
    }
  });
});

describe("a restore's note on the seals it checked", () => {
  it('says nothing when every block was checked, and otherwise which, for each mode and checkpoint', () => {
    expect(sealsNote(100, 100n, { seals: 'every' })).toBe('');
    expect(sealsNote(1, 100n, { seals: 'set-changes' })).toBe(
      'Seals checked on 1 of 100 blocks (where the validator set changes, and the head); the other headers by their hash links to those (--seals every checks all)\n',
    );
    expect(sealsNote(2, 100n, { seals: 'set-changes', trustedBlock: { number: 40n } })).toBe(
      'Seals checked on 2 of 100 blocks (after your --trusted-block 40: where the validator set changes, and the head); the other headers by their hash links to those (--seals every checks all)\n',
    );
    expect(sealsNote(60, 100n, { seals: 'every', trustedBlock: { number: 40n } })).toBe(
      'Seals checked on 60 of 100 blocks (after your --trusted-block 40: every one); the others by their hash links to the trusted one\n',
    );
    for (const seals of ['every', 'set-changes'] as const)
      expect(sealsNote(0, 100n, { seals, trustedBlock: { number: 100n } })).toBe(
        'Seals checked on none of 100 blocks: each one by its hash link to your --trusted-block 100\n',
      );
  });
});

describe('timer flags (durations, --block-time, --ibft-base-timeout)', () => {
  it('take what a timer can wait: a duration up to 2^31-1 ms, seconds from 0.001 to a day', () => {
    expect(parseDurationArg('0')).toBe(0);
    expect(parseDurationArg('596h31m23.647s')).toBe(MAX_TIMER_MS);
    expect(parseTimerSeconds('0.001')).toBe(0.001);
    expect(parseTimerSeconds('86400')).toBe(86_400);
  });

  it('refuse longer ones (Node.js fires them after 1 ms) and seconds that round to 0 ms', () => {
    expect(() => parseDurationArg('596h31m23.648s')).toThrow(/longer than 596h31m23\.647s/);
    expect(() => parseDurationArg('720h')).toThrow(/longer than/);
    for (const bad of ['0', '0.0004', '-1', '', ' ', 'NaN', 'Infinity', '86401', '1e9']) expect(() => parseTimerSeconds(bad), bad).toThrow(/"/);
  });
});
