import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';

export type LogFormat = 'pretty' | 'json';
export type { Logger };

export interface LogOptions {
  level?: string;
  /** `pretty` is human-readable; the default is pretty on a TTY and JSON otherwise. */
  format?: LogFormat;
}

/**
 * Logs go to stderr so that stdout stays free for command output (`--json`, `export -`).
 * Both formats write synchronously in this thread, so the last lines before exit are never lost.
 */
export function createLogger(opts: LogOptions = {}): Logger {
  const level = opts.level ?? 'info';
  const format = opts.format ?? (process.stderr.isTTY ? 'pretty' : 'json');
  if (format === 'pretty') {
    const stream = pretty({
      destination: 2,
      sync: true,
      colorize: Boolean(process.stderr.isTTY),
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: 'pid,hostname,event', // the event name is for tools (util/events.ts); people read the message
    });
    return pino({ level }, stream);
  }
  return pino({ level, base: undefined }, pino.destination({ dest: 2, sync: true }));
}

/** A logger that drops everything: for library use and tests. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
