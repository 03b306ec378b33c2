// Ports for child nodes that must be known before they start (a genesis file's bootnodes), for tests
// and benchmarks alike.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** Where the kernel hands out ports for listen(0) (Linux's default when it cannot be read). */
function ephemeralLow() {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 11_000 ? low : 32_768;
  } catch {
    return 32_768;
  }
}

const FIRST = 10_000;
const BLOCK = 500;
const blocks = Math.floor((ephemeralLow() - FIRST) / BLOCK);
// One block of ports per test worker (vitest's pool id) or process: two never share one.
const worker = Number(process.env.VITEST_POOL_ID ?? process.pid);
const base = FIRST + (worker % blocks) * BLOCK;
let next = 0;

function bindable(port) {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/**
 * A port on 127.0.0.1 for a child to listen on. Picking one by binding port 0 and closing it races:
 * the kernel may hand the same port to any other listen(0) (every other server of the suite binds port
 * 0) before the child binds it. These come from below the kernel's ephemeral range, which listen(0)
 * never hands out, from a block of this worker's own, each checked free by binding it.
 */
export async function reservedPort() {
  for (let tries = 0; tries < BLOCK; tries++) {
    const port = base + (next++ % BLOCK);
    if (await bindable(port)) return port;
  }
  throw new Error(`no free port in ${base}..${base + BLOCK - 1}`);
}
