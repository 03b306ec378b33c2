// Make the CLI entry executable so `npx basalt` runs the built JavaScript directly
// (no wrapper process between the shell and the node, so signals reach it).
import { chmodSync, existsSync } from 'node:fs';
const entry = new URL('../dist/cli/main.js', import.meta.url);
if (existsSync(entry)) chmodSync(entry, 0o755);
