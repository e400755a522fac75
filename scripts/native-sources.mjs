#!/usr/bin/env node
// Prints the addon's sources listed in native/sources.txt, space-separated, for binding.gyp's `<!@(...)` expansion
// (CMakeLists.txt reads the same file itself).
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export function nativeSources(root = new URL('..', import.meta.url)) {
  return readFileSync(new URL('native/sources.txt', root), 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url))
  console.log(nativeSources().join(' '));
