import { bytesToHex, privateToAddress } from '@ethereumjs/util';
import { describe, expect, it } from 'vitest';
import { signRecallAnswer, signRecallRequest } from '../../../src/consensus/ibft/core/recall.js';
import { RECALL_ANSWER, RECALL_RELAY_INTERVAL_MS, RECALL_REQUEST, RecallRelay, recallGossip } from '../../../src/p2p/ibft-recall.js';
import { MessageError } from '../../../src/p2p/messages.js';
import { testKey } from '../../helpers/chain-fixture.js';

const validators = new Set([0, 1, 2, 3].map((i) => bytesToHex(privateToAddress(testKey(i)))));
const nonce = new Uint8Array(32).fill(1);

function relay() {
  let now = 0;
  return { r: new RecallRelay({ head: () => 10n, isValidator: (a) => validators.has(bytesToHex(a)) }, () => now), tick: (ms: number) => (now += ms) };
}

describe('IBFT recall over gossip: what a node relays', () => {
  it('relays a validator’s request and a validator’s answer for the next heights, once per interval each', () => {
    const { r, tick } = relay();
    const req = recallGossip(RECALL_REQUEST, signRecallRequest(11n, nonce, testKey(0)));
    const got = r.check(req);
    expect(got.verdict).toBe('accept');
    expect(bytesToHex(got.request!.request.requester)).toBe(bytesToHex(privateToAddress(testKey(0))));
    expect(r.check(req).verdict).toBe('ignore'); // a flood of requests is not relayed
    tick(RECALL_RELAY_INTERVAL_MS);
    expect(r.check(req).verdict).toBe('accept');
    const answer = recallGossip(RECALL_ANSWER, signRecallAnswer(got.request!.request, [], testKey(2)));
    expect(r.check(answer).verdict).toBe('accept');
    expect(r.check(answer).verdict).toBe('ignore');
  });

  it('rejects requests and answers signed outside the set, ignores other heights, and throws (ban) for malformed ones', () => {
    const { r } = relay();
    expect(r.check(recallGossip(RECALL_REQUEST, signRecallRequest(11n, nonce, testKey(9)))).verdict).toBe('reject');
    expect(r.check(recallGossip(RECALL_REQUEST, signRecallRequest(10n, nonce, testKey(0)))).verdict).toBe('ignore');
    expect(r.check(recallGossip(RECALL_REQUEST, signRecallRequest(13n, nonce, testKey(0)))).verdict).toBe('ignore');
    const req = { height: 11n, requester: privateToAddress(testKey(0)), nonce };
    expect(r.check(recallGossip(RECALL_ANSWER, signRecallAnswer(req, [], testKey(9)))).verdict).toBe('reject');
    expect(() => r.check(new Uint8Array([7, 1, 2]))).toThrow(MessageError);
    expect(() => r.check(new Uint8Array([RECALL_REQUEST, 0xc3, 1, 2, 3]))).toThrow(MessageError);
  });

  it('reads the height before anything is hashed or recovered: one for another height costs no signature recovery, whatever its size', () => {
    const { r } = relay();
    const far = recallGossip(RECALL_REQUEST, signRecallRequest(1_000_000n, nonce, testKey(0)));
    expect(r.check(far)).toEqual({ verdict: 'ignore', outside: 1_000_000n });
    expect(r.check(recallGossip(RECALL_REQUEST, signRecallRequest(10n, nonce, testKey(0))))).toEqual({ verdict: 'ignore', outside: 10n });
    // An answer of 32 messages of 128 KiB (4 MiB to hash and a recovery, were it for a height in the window).
    const request = { height: 5n, requester: privateToAddress(testKey(1)), nonce };
    const messages = Array.from({ length: 32 }, (_, i) => new Uint8Array(128 * 1024).fill(i));
    expect(r.check(recallGossip(RECALL_ANSWER, signRecallAnswer(request, messages, testKey(2))))).toEqual({ verdict: 'ignore', outside: 5n });
    expect(r.recoveries).toBe(0);
    // Malformed is still malformed, whatever its height.
    expect(() => r.check(new Uint8Array([RECALL_REQUEST, 0xc3, 1, 2, 3]))).toThrow(MessageError);
    expect(r.check(recallGossip(RECALL_REQUEST, signRecallRequest(12n, nonce, testKey(0)))).verdict).toBe('accept');
    expect(r.recoveries).toBe(1);
  });
});
