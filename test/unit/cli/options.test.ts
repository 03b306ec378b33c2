import { describe, expect, it } from 'vitest';
import { parseCacheSize } from '../../../src/cli/options.js';

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
