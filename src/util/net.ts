import { isIP } from 'node:net';

/**
 * Whether a listen address only accepts connections from this machine: `localhost`, 127.0.0.0/8, ::1
 * and ::ffff:127.x.x.x. Everything else (0.0.0.0, ::, a LAN or public address, any other name) may be
 * reachable from elsewhere.
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (h === 'localhost') return true;
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
