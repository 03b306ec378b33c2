import { describe, expect, it } from 'vitest';
import { unexpectedFailure } from '../../../src/util/errors.js';

describe('unexpectedFailure', () => {
  it('one line: the first line of the message, else the error code or name (an error with no message)', () => {
    expect(unexpectedFailure(new Error('the disk caught fire\nsecond line'), false)).toBe('error: unexpected failure: the disk caught fire\n');
    expect(unexpectedFailure(new AggregateError([]), false)).toBe('error: unexpected failure: AggregateError\n');
    expect(unexpectedFailure(Object.assign(new Error(''), { code: 'ECONNREFUSED' }), false)).toBe('error: unexpected failure: ECONNREFUSED\n');
  });
});
