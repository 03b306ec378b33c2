import { InvalidArgumentError, Option } from 'commander';
import type { SealCheck } from '../backup/restore.js';
import type { HostPort } from '../node/node.js';
import { MAX_TIMER_MS, formatDuration, parseDuration } from '../util/duration.js';
import { splitHostPort } from '../util/net.js';

/** Parse `host:port` (IPv6 as `[::1]:port`). */
export function parseHostPort(value: string): HostPort {
  const hp = splitHostPort(value);
  if (!hp) throw new InvalidArgumentError(`"${value}" is not host:port (e.g. 127.0.0.1:8545)`);
  return hp;
}

export function parseHostPortString(value: string): string {
  const hp = parseHostPort(value);
  return hp.host.includes(':') ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
}

/** The longest `--block-time` or `--ibft-base-timeout`: the timers made of them (2x, plus a round) stay under MAX_TIMER_MS. */
export const MAX_TIMER_SECONDS = 86_400;

/**
 * Seconds a timer waits (`--block-time`, `--ibft-base-timeout`): at least a millisecond (0 would make
 * a timer that never waits) and at most a day (a timer longer than MAX_TIMER_MS fires at once).
 */
export function parseTimerSeconds(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`"${value}" is not a positive number`);
  if (Math.round(n * 1000) < 1) throw new InvalidArgumentError(`"${value}" is less than a millisecond (0.001)`);
  if (n > MAX_TIMER_SECONDS) throw new InvalidArgumentError(`"${value}" is more than ${MAX_TIMER_SECONDS} seconds (a day)`);
  return n;
}

export function parsePositiveInteger(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError(`"${value}" is not a positive integer`);
  return n;
}

export function parseBigIntArg(value: string): bigint {
  if (!/^(0x[0-9a-fA-F]+|\d+)$/.test(value)) throw new InvalidArgumentError(`"${value}" is not a non-negative integer`);
  return BigInt(value);
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

export function parseLogLevel(value: string): string {
  if (!LOG_LEVELS.includes(value)) throw new InvalidArgumentError(`"${value}" is not one of ${LOG_LEVELS.join(', ')}`);
  return value;
}

export function parseLogFormat(value: string): 'pretty' | 'json' {
  if (value !== 'pretty' && value !== 'json') throw new InvalidArgumentError(`"${value}" is not pretty or json`);
  return value;
}

/**
 * A Go-style duration such as 5s, 500ms or 1m30s (0: none), in milliseconds: at most what a timer can
 * wait (MAX_TIMER_MS, 596h31m23.647s), as every such flag sets one.
 */
export function parseDurationArg(value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined) throw new InvalidArgumentError(`"${value}" is not a duration like 5s, 500ms or 1m30s (0 for none)`);
  if (ms > MAX_TIMER_MS) throw new InvalidArgumentError(`"${value}" is longer than ${formatDuration(MAX_TIMER_MS)}, the longest a timer can wait`);
  return ms;
}

const SIZE_UNITS: Record<string, number> = { '': 1, B: 1, KB: 1e3, MB: 1e6, GB: 1e9, KIB: 1024, MIB: 1024 ** 2, GIB: 1024 ** 3 };

/** A byte size such as 0, 512MB, 1GiB or 1048576 (plain numbers are bytes). */
export function parseByteSize(value: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(value.trim());
  const unit = m ? SIZE_UNITS[m[2]!.toUpperCase()] : undefined;
  if (!m || unit === undefined) throw new InvalidArgumentError(`"${value}" is not a size like 256MB, 1GiB or 0`);
  return Math.round(Number(m[1]) * unit);
}

/**
 * The `--cache` size: a plain number is MiB, as geth's `--cache` (512 is 512 MiB, not bytes); a size
 * with a unit (256MB, 1GiB) is taken as written. 0 keeps nothing; at most 1 TiB.
 */
export function parseCacheSize(value: string): number {
  const n = /^\d+$/.test(value.trim()) ? Number(value.trim()) * 1024 * 1024 : parseByteSize(value);
  if (!Number.isSafeInteger(n) || n > 2 ** 40) throw new InvalidArgumentError(`"${value}" is more than 1TiB`);
  return n;
}

/** A byte size above zero. */
export function parsePositiveByteSize(value: string): number {
  const n = parseByteSize(value);
  if (n <= 0) throw new InvalidArgumentError(`"${value}" must be more than 0`);
  return n;
}

/** A duration above zero, in ms. */
export function parsePositiveDuration(value: string): number {
  const ms = parseDurationArg(value);
  if (ms <= 0) throw new InvalidArgumentError(`"${value}" must be more than 0`);
  return ms;
}

/** A whole number 0..1,000,000. */
export function parseCount(value: string): number {
  if (!/^\d{1,7}$/.test(value) || Number(value) > 1_000_000) throw new InvalidArgumentError(`"${value}" is not a whole number from 0 to 1000000`);
  return Number(value);
}

export function parsePositiveCount(value: string): number {
  const n = parseCount(value);
  if (n < 1) throw new InvalidArgumentError(`"${value}" must be at least 1`);
  return n;
}

export const TRUSTED_BLOCK_HELP =
  "a checkpoint you trust, block N of your chain and its hash: the headers up to it are checked by their hash links from the genesis instead of their seals (faster), the later ones' seals as always";

/** `--seals every|set-changes` (restore, backup restore): RestoreOptions.seals. */
export function sealsOption(defaultMode: SealCheck): Option {
  return new Option(
    '--seals <mode>',
    "whose seals to recover: 'every' block's, or 'set-changes': those of the blocks after which the validator set changes and of the head, whose quorums vouch for the other headers by their hash links (several times faster; the others' committed seals are then kept unchecked, so use it for backups you made)",
  )
    .choices(['every', 'set-changes'])
    .default(defaultMode);
}

/** A restore's summary line on the seals it checked: empty when every block's were. */
export function sealsNote(sealedBlocks: number, head: bigint, opts: { seals: SealCheck; trustedBlock?: { number: bigint } }): string {
  if (BigInt(sealedBlocks) >= head) return '';
  const t = opts.trustedBlock?.number;
  if (t !== undefined && t >= head) return `Seals checked on none of ${head} blocks: each one by its hash link to your --trusted-block ${t}\n`;
  const after = t !== undefined ? `after your --trusted-block ${t}: ` : '';
  if (opts.seals === 'every')
    return `Seals checked on ${sealedBlocks} of ${head} blocks (${after}every one); the others by their hash links to the trusted one\n`;
  return `Seals checked on ${sealedBlocks} of ${head} blocks (${after}where the validator set changes, and the head); the other headers by their hash links to those (--seals every checks all)\n`;
}

/** `--trusted-block N:0xHASH`: an operator's checkpoint (block N of the chain has this hash). */
export function parseTrustedBlock(value: string): { number: bigint; hash: Uint8Array } {
  const m = /^(\d{1,20}):(0x[0-9a-fA-F]{64})$/.exec(value.trim());
  if (!m)
    throw new InvalidArgumentError(`"${value}" is not N:0xHASH (a block number and its 32-byte hash, as \`eth_getBlockByNumber\` of a node you trust gives)`);
  const number = BigInt(m[1]!);
  if (number === 0n) throw new InvalidArgumentError('the trusted block must be after the genesis (the genesis is checked against your --chain file)');
  return { number, hash: Uint8Array.from(Buffer.from(m[2]!.slice(2), 'hex')) };
}

/** A block number (`--seal-without-journal BLOCK`): 0 or more, at most 19 digits. */
export function parseBlockNumber(value: string): bigint {
  if (!/^\d{1,19}$/.test(value)) throw new InvalidArgumentError(`"${value.slice(0, 40)}" is not a block number`);
  return BigInt(value);
}

/** A count of at least 1 (`--state-history`, `--state-prune-interval`), as a bigint. */
export function parseCountArg(what: string): (value: string) => bigint {
  return (value) => {
    if (!/^\d{1,12}$/.test(value) || BigInt(value) < 1n) throw new InvalidArgumentError(`"${value}" is not a number of ${what} (1 or more)`);
    return BigInt(value);
  };
}
