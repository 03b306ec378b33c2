import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { type Command, InvalidArgumentError, type Option } from 'commander';
import { parse, stringify, TomlError } from 'smol-toml';
import { UserError, errorMessage } from '../util/errors.js';
import { formatDuration } from '../util/duration.js';
import { collect, parseCacheSize, parseDurationArg, parsePositiveDuration } from './options.js';

/**
 * `basalt server --config basalt.toml` (as Besu's TOML config file, geth's and Edge's config files):
 * every server flag as a top-level key, named as the flag without its dashes (`data-dir`,
 * `block-time`, `bootnode`), its value as on the command line (a string, or a TOML number or boolean
 * where the flag takes one; an array for a flag that repeats; `false` for a `--no-…` flag). Flags on
 * the command line override the file. Each value goes through the flag's own parser, so the file is
 * held to the same rules and errors as the flags; an unknown key, a table or a wrong type is refused in
 * one line naming the key. `--dump-config` prints the effective values of the flags in the same form.
 */

/** Most bytes of a config file read. */
const MAX_CONFIG_BYTES = 1024 * 1024;
/** Options that are about the config file itself, never in it. */
const NOT_IN_FILE = new Set(['config', 'dump-config', 'help']);
/**
 * Flags that state a fact about one start, not a setting: refused in a file, where it would still hold
 * at a later start it is not true of (the next restore of the data dir), and left out of --dump-config.
 */
const COMMAND_LINE_ONLY = new Map([
  [
    'seal-without-journal',
    "it states that this data dir's key sealed nothing above its head, true of one start only (the next starts have the journal): give it on the command line",
  ],
]);

type TomlScalar = string | number | boolean;
type TomlValue = TomlScalar | TomlScalar[];

/** The options a config file may set, by key: the positive option (or a lone `--no-…` one), and the `--no-…` one if any. */
function fileOptions(cmd: Command): Map<string, { option: Option; negate?: Option }> {
  const out = new Map<string, { option: Option; negate?: Option }>();
  for (const o of cmd.options) {
    if (o.negate || !o.long) continue;
    const key = o.long.replace(/^--/, '');
    if (NOT_IN_FILE.has(key) || COMMAND_LINE_ONLY.has(key)) continue;
    out.set(key, { option: o });
  }
  for (const o of cmd.options) {
    if (!o.negate || !o.long) continue;
    const key = o.long.replace(/^--no-/, '');
    const entry = out.get(key);
    if (entry) entry.negate = o;
    // A `--no-…` flag without a positive one (--no-discovery): its key takes true or false
    // (`discovery = false`), as its value is named (attributeName 'discovery').
    else out.set(key, { option: o });
  }
  return out;
}

/** Read and parse the file: a flat TOML table, or a UserError in one line. */
function readConfig(file: string): Record<string, unknown> {
  let text: string;
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    throw new UserError(`cannot read --config ${file}: ${errorMessage(err)}`, { code: 'NOT_FOUND' });
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new UserError(`--config ${file} is not a file`);
    if (st.size > MAX_CONFIG_BYTES) throw new UserError(`--config ${file} is larger than ${MAX_CONFIG_BYTES} bytes`);
    const buf = Buffer.alloc(st.size);
    const n = st.size === 0 ? 0 : readSync(fd, buf, 0, st.size, 0);
    text = buf.subarray(0, n).toString('utf8');
  } finally {
    closeSync(fd);
  }
  try {
    return parse(text) as Record<string, unknown>;
  } catch (err) {
    if (err instanceof TomlError) {
      const first = (err.message.split('\n')[0] ?? '').replace(/^Invalid TOML document: /, '');
      throw new UserError(`${file}: not valid TOML at line ${err.line}, column ${err.column}: ${first}`);
    }
    throw new UserError(`${file}: not valid TOML: ${errorMessage(err)}`);
  }
}

/**
 * Set every option the file names and the command line did not (run before the command's action, after
 * its flags were parsed). Throws UserError on an unknown key or a value the flag's parser refuses.
 */
export function applyConfigFile(cmd: Command, file: string): void {
  const config = readConfig(file);
  const options = fileOptions(cmd);
  for (const [key, raw] of Object.entries(config)) {
    if (raw !== null && typeof raw === 'object' && !Array.isArray(raw) && !(raw instanceof Date)) {
      throw new UserError(`${file}: ${key.slice(0, 60)}: is a table; the config file is flat (one key per server flag, without its dashes)`);
    }
    const entry = options.get(key);
    const onlyOnCommandLine = COMMAND_LINE_ONLY.get(key);
    if (onlyOnCommandLine !== undefined) throw new UserError(`${file}: ${key}: not taken from a config file: ${onlyOnCommandLine}`);
    if (!entry) {
      const hint = key.startsWith('no-') && options.has(key.slice(3)) ? ` (write ${key.slice(3)} = false)` : '';
      throw new UserError(`${file}: unknown key "${key.slice(0, 60)}"${hint}: the keys are the server flags without their dashes (basalt server --help)`);
    }
    const { option, negate } = entry;
    const attr = option.attributeName();
    const source = cmd.getOptionValueSource(attr);
    if (source === 'cli' || source === 'env') continue; // the command line wins
    const fail = (why: string) => new UserError(`${file}: ${key}: ${why}`);
    const takesValue = option.required || option.optional;
    if (!takesValue) {
      if (typeof raw !== 'boolean') throw fail(`must be true or false, not ${describe(raw)}`);
      cmd.setOptionValueWithSource(attr, raw, 'config');
      continue;
    }
    if (raw === false && negate) {
      cmd.setOptionValueWithSource(attr, false, 'config');
      continue;
    }
    const repeats = option.parseArg === collect;
    const values = Array.isArray(raw) ? raw : [raw];
    if (Array.isArray(raw) && !repeats) throw fail(`takes one value, not a list`);
    let value: unknown = repeats ? [] : undefined;
    for (const v of values) {
      if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'bigint') {
        throw fail(`must be ${repeats ? 'a list of strings' : 'a string or a number'}${negate ? ' (or false)' : ''}, not ${describe(v)}`);
      }
      const text = String(v);
      try {
        value = option.parseArg ? option.parseArg(text, value) : text;
      } catch (err) {
        throw fail(err instanceof InvalidArgumentError ? err.message : errorMessage(err));
      }
    }
    cmd.setOptionValueWithSource(attr, value, 'config');
  }
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return 'a list';
  if (v instanceof Date) return 'a date';
  if (v === null) return 'nothing';
  return typeof v === 'string' ? `"${v.slice(0, 40)}"` : `${typeof v} ${String(v).slice(0, 40)}`;
}

/**
 * The effective value of every server flag that has one, as TOML that `--config` reads back into the
 * same values (defaults included; a flag without a value and without a default is left out).
 */
export function dumpConfig(cmd: Command): string {
  const doc: Record<string, TomlValue> = {};
  for (const [key, { option }] of fileOptions(cmd)) {
    const value = cmd.getOptionValue(option.attributeName()) as unknown;
    const toml = toToml(option, value);
    if (toml !== undefined) doc[key] = toml;
  }
  return `# basalt server --dump-config: the effective flags (basalt server --config FILE reads them back)\n${stringify(doc)}\n`;
}

function toToml(option: Option, value: unknown): TomlValue | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'boolean') return value;
  if (option.parseArg === parseDurationArg || option.parseArg === parsePositiveDuration) return formatDuration(value as number);
  if (option.parseArg === parseCacheSize) {
    // A plain number is MiB for --cache; anything else is written with its unit.
    const bytes = value as number;
    return bytes % (1024 * 1024) === 0 ? bytes / (1024 * 1024) : `${bytes}B`;
  }
  if (Array.isArray(value)) {
    const items = value.map((v) => String(v));
    return option.parseArg === collect ? items : items.join(',');
  }
  if (typeof value === 'bigint') return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
  if (typeof value === 'number') return value;
  if (typeof value === 'object' && value !== null && 'host' in value && 'port' in value) {
    const { host, port } = value as { host: string; port: number };
    return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  }
  return String(value);
}
