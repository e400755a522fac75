#!/usr/bin/env node
// The CLI runs the compiled library (npm's `prepare` builds dist/); in a checkout without dist/, run tsc first.
import { existsSync } from 'node:fs';

const compiled = new URL('../dist/lib/cli.js', import.meta.url);
if (!existsSync(compiled)) {
  console.error('petra: dist/ is missing — run `npm run build` (or `npm ci`, which builds it) first.');
  process.exit(1);
}
const { main } = await import(compiled.href);
process.exitCode = await main(process.argv);
