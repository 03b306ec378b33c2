import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from '../../../src/util/duration.js';

describe('durations (Go style, as geth flags take them)', () => {
  it('parses units, fractions and sequences to milliseconds, and 0 alone', () => {
    expect(parseDuration('5s')).toBe(5000);
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('1.5s')).toBe(1500);
    expect(parseDuration('1m30s')).toBe(90_000);
    expect(parseDuration('1h')).toBe(3_600_000);
    expect(parseDuration('0')).toBe(0);
  });

  it('refuses what is not a duration', () => {
    for (const bad of ['', '5', 'soon', '-1s', '5 s', 's', '1.s', '5sec', '1e3ms']) expect(parseDuration(bad)).toBeUndefined();
  });

  it('prints as geth does in "execution aborted (timeout = 5s)"', () => {
    expect([0, 500, 5000, 1500, 90_000, 3_600_000].map(formatDuration)).toEqual(['0s', '500ms', '5s', '1.5s', '1m30s', '1h0m0s']);
  });
});
