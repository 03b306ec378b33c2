import { FileRefused, readBoundedFile } from '../util/bounded-read.js';
import { UserError, errorMessage, fileError } from '../util/errors.js';
import { checkPassphrase } from './backup.js';

export const PASSPHRASE_ENV = 'BASALT_PASSPHRASE';

/** A passphrase file larger than this is the wrong file. */
const MAX_PASSPHRASE_FILE_BYTES = 64 * 1024;

export interface PassphraseOptions {
  /** --passphrase-file: its content, with one trailing newline ("\n" or "\r\n") removed. */
  file?: string | undefined;
  /** Ask twice on a terminal and require both to match (when creating a backup). */
  confirm: boolean;
  /** Where to read and prompt; process.stdin / process.stderr by default (for tests). */
  input?: NodeJS.ReadStream;
  output?: NodeJS.WriteStream;
  env?: NodeJS.ProcessEnv;
}

/**
 * The passphrase for a key backup, from (in order) --passphrase-file, $BASALT_PASSPHRASE, or a prompt
 * on the terminal without echo. Empty and short (< 8 characters) passphrases are refused here, with a
 * one-line error naming where the passphrase came from.
 */
export async function obtainPassphrase(opts: PassphraseOptions): Promise<string> {
  const env = opts.env ?? process.env;
  if (opts.file !== undefined) {
    const passphrase = readPassphraseFile(opts.file);
    checkFrom(passphrase, `in ${opts.file}`);
    return passphrase;
  }
  const fromEnv = env[PASSPHRASE_ENV];
  if (fromEnv !== undefined) {
    checkFrom(fromEnv, `in $${PASSPHRASE_ENV}`);
    return fromEnv;
  }
  const input = opts.input ?? process.stdin;
  const output = opts.output ?? process.stderr;
  if (!input.isTTY || !output.isTTY) {
    throw new UserError(`no passphrase: pass --passphrase-file FILE, set ${PASSPHRASE_ENV}, or run in a terminal to be asked`);
  }
  const first = await promptHidden(input, output, 'Passphrase: ');
  checkPassphrase(first);
  if (opts.confirm && (await promptHidden(input, output, 'Repeat passphrase: ')) !== first) {
    throw new UserError('the passphrases do not match');
  }
  return first;
}

/**
 * The file read once and bounded: a pipe or a device (a FIFO, `<(…)`, /dev/zero) has no size to check
 * first, so it is read up to one byte past the limit and refused there, never until its end.
 */
function readPassphraseFile(path: string): string {
  let bytes: Buffer;
  try {
    bytes = readBoundedFile(path, MAX_PASSPHRASE_FILE_BYTES, { regularOnly: false });
  } catch (err) {
    if (err instanceof FileRefused) {
      throw new UserError(`passphrase file ${path} ${err.tooLarge ? 'is too large to be a passphrase file' : err.message}`);
    }
    throw fileError(err, 'read passphrase file', path);
  }
  return bytes.toString('utf8').replace(/\r?\n$/, '');
}

function checkFrom(passphrase: string, where: string): void {
  try {
    checkPassphrase(passphrase);
  } catch (err) {
    throw new UserError(`${errorMessage(err)} (${where})`);
  }
}

/** Read one line in raw mode, echoing nothing. CTRL-C or CTRL-D on an empty line cancel. */
function promptHidden(input: NodeJS.ReadStream, output: NodeJS.WriteStream, question: string): Promise<string> {
  return new Promise((resolve, reject) => {
    // Raw mode (no echo) before the question: an answer typed or pasted at once is never echoed.
    const wasRaw = input.isRaw;
    input.setRawMode(true);
    input.setEncoding('utf8');
    input.resume();
    output.write(question);
    let value = '';
    const restore = () => {
      input.off('data', onData);
      input.off('end', onEnd);
      process.off('exit', onExit);
      input.setRawMode(wasRaw);
      input.pause();
      output.write('\n');
    };
    const onExit = () => input.setRawMode(wasRaw);
    const cancel = () => {
      restore();
      reject(new UserError('cancelled', { code: 'CANCELLED' }));
    };
    const onEnd = () => cancel();
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') {
          restore();
          resolve(value);
          return;
        }
        if (ch === '\u0003' || (ch === '\u0004' && value === '')) {
          cancel();
          return;
        }
        if (ch === '\u0004') {
          restore();
          resolve(value);
          return;
        }
        if (ch === '\u007f' || ch === '\b') value = Array.from(value).slice(0, -1).join('');
        else if (ch === '\u0015')
          value = ''; // CTRL-U
        else if (ch >= ' ') value += ch;
      }
    };
    process.once('exit', onExit);
    input.on('data', onData);
    input.once('end', onEnd);
  });
}
