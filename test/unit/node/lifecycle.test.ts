import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { Lifecycle } from '../../../src/node/lifecycle.js';

function logged() {
  const lines: { level: number; msg: string; part?: string }[] = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  return { lines, logger };
}

describe('Lifecycle: the parts of a node', () => {
  it('stops the parts in reverse order of their start, each once, saying so', async () => {
    const { lines, logger } = logged();
    const l = new Lifecycle(logger);
    const events: string[] = [];
    for (const name of ['databases', 'chain', 'network', 'JSON-RPC']) {
      const got = await l.start(
        name,
        () => {
          events.push(`start ${name}`);
          return name.toUpperCase();
        },
        async (part) => {
          events.push(`stop ${part}`);
        },
        `stopping ${name}`,
      );
      expect(got).toBe(name.toUpperCase());
    }
    expect(l.names).toEqual(['databases', 'chain', 'network', 'JSON-RPC']);
    await Promise.all([l.stopAll(), l.stopAll()]);
    await l.stopAll();
    expect(events).toEqual([
      'start databases',
      'start chain',
      'start network',
      'start JSON-RPC',
      'stop JSON-RPC',
      'stop NETWORK',
      'stop CHAIN',
      'stop DATABASES',
    ]);
    expect(lines.map((x) => x.msg)).toEqual(['stopping JSON-RPC', 'stopping network', 'stopping chain', 'stopping databases']);
    await expect(
      l.start(
        'late',
        () => 1,
        () => undefined,
      ),
    ).rejects.toThrow(/cannot start late: the node is stopping/);
  });

  it('a part that fails to start is not kept; one that fails to stop does not keep the others up, and its error comes out last', async () => {
    const { lines, logger } = logged();
    const l = new Lifecycle(logger);
    const stopped: string[] = [];
    await l.start(
      'a',
      () => 'a',
      () => void stopped.push('a'),
    );
    await l.start(
      'b',
      () => 'b',
      () => {
        throw new Error('b would not stop');
      },
    );
    await expect(
      l.start(
        'c',
        async () => {
          throw new Error('c did not start');
        },
        () => void stopped.push('c'),
      ),
    ).rejects.toThrow('c did not start');
    expect(l.names).toEqual(['a', 'b']);
    await expect(l.stopAll({ quiet: true })).rejects.toThrow('b would not stop');
    expect(stopped).toEqual(['a']);
    expect(lines).toEqual([expect.objectContaining({ level: 50, part: 'b', msg: 'a part of the node failed to stop' })]);
  });
});
