import { readFileSync } from 'node:fs';
import { createAddressFromString } from '@ethereumjs/util';
import { AbiCoder, Interface } from 'ethers';
import { describe, expect, it } from 'vitest';
import { generate, OUTPUT } from '../../../scripts/compile-contracts.mjs';
import { LoadPair, LoadToken } from '../../../src/rpc/jsonrpc/loadtest-contracts.js';
import { encodeCall, word } from '../../../src/rpc/jsonrpc/loadtest.js';

const hex = (b: Uint8Array) => `0x${Buffer.from(b).toString('hex')}`;
const A = '0x00000000000000000000000000000000000000aa';
const B = '0x1234567890abcdef1234567890abcdef12345678';

describe('the load tool contracts', () => {
  it('the committed bytecode is what contracts/Loadtest.sol compiles to (npm run contracts)', () => {
    expect(readFileSync(OUTPUT, 'utf8')).toBe(generate());
  }, 60_000);

  it('calls are encoded as the ABI encodes them, dynamic arrays and the limits of a word included', () => {
    const token = new Interface(['function transfer(address,uint256)', 'function transferEach(address[],uint256)', 'function approve(address,uint256)']);
    const pair = new Interface(['function swap(bool,uint256,uint256)', 'function addLiquidity(uint256,uint256)']);
    const max = (1n << 256n) - 1n;
    expect(hex(encodeCall(LoadToken.selectors['transfer(address,uint256)'], [word(createAddressFromString(B)), word(1n)]))).toBe(
      token.encodeFunctionData('transfer', [B, 1n]),
    );
    expect(hex(encodeCall(LoadToken.selectors['approve(address,uint256)'], [word(createAddressFromString(A)), word(max)]))).toBe(
      token.encodeFunctionData('approve', [A, max]),
    );
    const batch = [A, B].map((a) => createAddressFromString(a));
    expect(hex(encodeCall(LoadToken.selectors['transferEach(address[],uint256)'], [word(0x40n), word(7n), word(2n), ...batch.map(word)]))).toBe(
      token.encodeFunctionData('transferEach', [[A, B], 7n]),
    );
    expect(hex(encodeCall(LoadPair.selectors['swap(bool,uint256,uint256)'], [word(1n), word(10n ** 18n), word(1n)]))).toBe(
      pair.encodeFunctionData('swap', [true, 10n ** 18n, 1n]),
    );
    expect(hex(word(0n))).toBe(AbiCoder.defaultAbiCoder().encode(['uint256'], [0n]));
    expect(() => word(1n << 256n)).toThrow(RangeError);
    expect(() => word(-1n)).toThrow(RangeError);
  });
});
