import { readFileSync } from 'node:fs';
import { UserError } from '../util/errors.js';

export const PASSPHRASE_ENV = 'BASALT_PASSPHRASE';

/**
 * The passphrase for a key backup, from (in order) --passphrase-file, $BASALT_PASSPHRASE, or a
 * prompt on the terminal without echo (asked twice when `confirm`).
 */
export async function obtainPassphrase(opts: { file?: string; confirm: boolean }): Promise<string> {
  if (opts.file !== undefined) {
    let text: string;
    try {
      text = readFileSync(opts.file, 'utf8');
    } catch (err) {
      throw new UserError(`cannot read passphrase file ${opts.file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    return text.replace(/\r?\n$/, '');
  }
  const env = process.env[PASSPHRASE_ENV];
  if (env !== undefined) return env;
  if (!process.stdin.isTTY || !process.stderr.isTTY) {
    throw new UserError(`no passphrase: pass --passphrase-file FILE, set ${PASSPHRASE_ENV}, or run in a terminal to be asked`);
  }
  const first = await promptHidden('Passphrase: ');
  if (opts.confirm && (await promptHidden('Repeat passphrase: ')) !== first) throw new UserError('the passphrases do not match');
  return first;
}

function promptHidden(question: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin;
    process.stderr.write(question);
    stdin.setRawMode(true);
    stdin.resume();
    stdin.setEncoding('utf8');
    let value = '';
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') {
          done();
          process.stderr.write('\n');
          resolve(value);
          return;
        }
        if (ch === '\u0003') {
          done();
          process.stderr.write('\n');
          reject(new UserError('cancelled'));
          return;
        }
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else value += ch;
      }
    };
    const done = () => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
    };
    stdin.on('data', onData);
  });
}
