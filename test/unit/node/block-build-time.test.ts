import { expect, it } from 'vitest';
import { defaultBlockBuildMs } from '../../../src/node/consensus.js';

it('a proposal builds for half the block time with other validators to execute it again, three quarters alone, never under 500 ms', () => {
  expect(defaultBlockBuildMs(1000, 4)).toBe(500);
  expect(defaultBlockBuildMs(2000, 4)).toBe(1000);
  expect(defaultBlockBuildMs(1000, 1)).toBe(750);
  expect(defaultBlockBuildMs(2000, 1)).toBe(1500);
  expect(defaultBlockBuildMs(1, 4)).toBe(500);
  expect(defaultBlockBuildMs(1, 1)).toBe(500);
});
