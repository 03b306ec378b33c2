import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

export const VERSION = pkg.version;
/** As web3_clientVersion reports it: name/version/platform/runtime. */
export const CLIENT_VERSION = `basalt/v${VERSION}/${process.platform}-${process.arch}/node${process.versions.node}`;
