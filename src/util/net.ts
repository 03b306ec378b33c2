import { promises as dns } from 'node:dns';
import { isIP } from 'node:net';

/** `host:port` split (IPv6 as `[::1]:port`), or undefined when `value` is not one. */
export function splitHostPort(value: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : NaN;
  return m && port <= 65535 ? { host: (m[1] ?? m[2])!, port } : undefined;
}

/**
 * Whether a listen address (an IP literal) only accepts connections from this machine: 127.0.0.0/8,
 * ::1 and ::ffff:127.x.x.x. Everything else (0.0.0.0, ::, a LAN or public address) may be reachable
 * from elsewhere, and so may any name, `localhost` included, until resolved (listensOnLoopbackOnly).
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) !== 6) return false;
  // An IPv6 zone (fe80::1%eth0) names the interface, not the address; URL refuses it.
  let canonical: string;
  try {
    canonical = new URL(`http://[${h.replace(/%.*$/, '')}]/`).hostname; // [::1], [::ffff:7f00:1]...
  } catch {
    return false;
  }
  if (canonical === '[::1]') return true;
  const mapped = /^\[::ffff:([0-9a-f]{1,4}):[0-9a-f]{1,4}\]$/.exec(canonical);
  return mapped !== null && parseInt(mapped[1]!, 16) >> 8 === 127;
}

/** How long listensOnLoopbackOnly waits for a name's addresses. */
const LOOKUP_TIMEOUT_MS = 5_000;

/**
 * Whether listening on `host` accepts connections from this machine only, a name included: an IP
 * literal as isLoopbackHost says; a name (`localhost` too) only if every address it resolves to is
 * loopback. grpc-js binds each of them, and a hosts file or DNS can map `localhost` to 0.0.0.0 or a LAN
 * address; a name that does not resolve, or not within `timeoutMs` (a resolver that never answers would
 * hold the node's start), counts as reachable (refused where loopback is required).
 */
export async function listensOnLoopbackOnly(host: string, timeoutMs = LOOKUP_TIMEOUT_MS): Promise<boolean> {
  const h = host.replace(/^\[(.*)\]$/, '$1');
  if (isIP(h.replace(/%.*$/, '')) !== 0) return isLoopbackHost(h);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(resolve, timeoutMs, undefined);
  });
  let found: { address: string }[] | undefined;
  try {
    found = await Promise.race([dns.lookup(h, { all: true }), late]);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
  return found !== undefined && found.length > 0 && found.every((a) => isLoopbackHost(a.address));
}

/**
 * The key a client (or peer) is counted under: its IPv4 address (also when it comes IPv4-mapped,
 * ::ffff:a.b.c.d), or the /64 prefix of its IPv6 address: one IPv6 host is given a whole /64 and can
 * use any address in it.
 */
export function addressKey(remote: string | undefined): string {
  const a = (remote ?? '').replace(/%.*$/, '').toLowerCase();
  if (isIP(a) !== 6) return a;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  if (mapped) return mapped[1]!;
  let canonical: string;
  try {
    canonical = new URL(`http://[${a}]/`).hostname.slice(1, -1); // compressed, hex only
  } catch {
    return a;
  }
  const [head = '', tail] = canonical.split('::');
  const front = head === '' ? [] : head.split(':');
  const back = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? front : [...front, ...Array<string>(8 - front.length - back.length).fill('0'), ...back];
  return `${groups.slice(0, 4).join(':')}::/64`;
}
