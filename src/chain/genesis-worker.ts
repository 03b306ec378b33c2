import { parentPort, workerData } from 'node:worker_threads';
import { UserError, errorMessage } from '../util/errors.js';
import { buildState, checkedBytes, genesisAt, type StateSink, type WorkerMessage } from './genesis-source.js';

/**
 * The worker thread of Genesis.stateRoot (see stateRootInWorker): builds the state of the genesis
 * file at `workerData.path` and posts its nodes and codes in packs of ~4 MiB, waiting for the parent's
 * answer whenever two packs are unanswered, then the root. The answer is the pack's buffer, written and
 * sent back to be filled again.
 */
const PACK_BYTES = 4 * 1024 * 1024;
const { path, name, fileHash, scratchDir, write } = workerData as { path: string; name: string; fileHash: string; scratchDir?: string; write: boolean };
const port = parentPort!;
const post = (m: WorkerMessage, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);

let pack = new Uint8Array(PACK_BYTES);
let fill = 0;
let unanswered = 0;
let wake: (() => void) | undefined;
/** Pack buffers the parent has written and sent back (its 'ack'), reused for the next packs. */
const spare: ArrayBuffer[] = [];
port.on('message', (m: unknown) => {
  if (m instanceof ArrayBuffer && m.byteLength === PACK_BYTES) spare.push(m);
  unanswered--;
  wake?.();
});

async function send(): Promise<void> {
  if (fill === 0) return;
  post({ kind: 'pack', pack: pack.buffer as ArrayBuffer, length: fill }, [pack.buffer as ArrayBuffer]);
  // `pack` is detached now; the build awaits this send before it adds the next item.
  fill = 0;
  unanswered++;
  while (unanswered >= 2) await new Promise<void>((r) => (wake = r));
  const reuse = spare.pop();
  pack = reuse === undefined ? new Uint8Array(PACK_BYTES) : new Uint8Array(reuse);
}

function add(kind: number, hash: Uint8Array, data: Uint8Array): Promise<void> | undefined {
  const need = 37 + data.length;
  if (need > pack.length - fill && fill > 0) {
    // The pack is full: send it (and wait if two are unanswered), then add this item to the next.
    return send().then(() => void add(kind, hash, data));
  }
  if (need > pack.length) pack = new Uint8Array(need);
  pack[fill] = kind;
  pack.set(hash, fill + 1);
  new DataView(pack.buffer).setUint32(fill + 33, data.length);
  pack.set(data, fill + 37);
  fill += need;
  return undefined;
}

const sink: StateSink = { node: (hash, data) => add(1, hash, data), code: (hash, data) => add(2, hash, data) };

try {
  const root = await buildState(checkedBytes({ ...genesisAt(path), name }, fileHash), write ? sink : undefined, scratchDir);
  await send();
  post({ kind: 'root', root });
} catch (err) {
  post({ kind: 'error', message: errorMessage(err), user: err instanceof UserError });
}
