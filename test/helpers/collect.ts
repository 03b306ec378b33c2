import { concatBytes } from '@ethereumjs/util';

/** Every piece an async iterable yields, in one buffer (a SnapshotWriter's start(), say). */
export async function collect(pieces: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const all: Uint8Array[] = [];
  for await (const p of pieces) all.push(p);
  return concatBytes(...all);
}
