// One source list for both native builds, checked without building: native/sources.txt names every native/*.cc,
// CMakeLists.txt (cmake-js) reads it, and binding.gyp (node-gyp, prebuildify) gets it from scripts/native-sources.mjs.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const read = (file: string): string => readFileSync(`${root}${file}`, 'utf8');
const listed = read('native/sources.txt')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l !== '' && !l.startsWith('#'));

test('native/sources.txt lists every .cc file in native/, once', (t) => {
  const files = readdirSync(`${root}native`)
    .filter((f) => f.endsWith('.cc'))
    .map((f) => `native/${f}`);
  t.deepEqual(
    [...listed].sort(),
    files.sort(),
    'add a new native/*.cc to native/sources.txt (and remove a deleted one)',
  );
  t.is(new Set(listed).size, listed.length, 'a source is listed twice');
});

test('binding.gyp takes its sources from the list, as scripts/native-sources.mjs prints it', (t) => {
  const gyp = JSON.parse(read('binding.gyp')) as { targets: Array<{ target_name: string; sources: string[] }> };
  const target = gyp.targets.find((x) => x.target_name === 'petra');
  t.deepEqual(target?.sources, ['<!@(node scripts/native-sources.mjs)']);
  // gyp runs the expansion in binding.gyp's folder and splits its output on whitespace.
  const printed = execFileSync(process.execPath, ['scripts/native-sources.mjs'], { cwd: root, encoding: 'utf8' });
  t.deepEqual(printed.trim().split(/\s+/), listed);
});

test('CMakeLists.txt reads the list and globs no sources of its own', (t) => {
  const cmake = read('CMakeLists.txt');
  t.regex(cmake, /file\(STRINGS "\$\{PETRA_SOURCE_LIST\}" PETRA_SOURCE_LINES\)/);
  t.regex(cmake, /set\(PETRA_SOURCE_LIST "\$\{CMAKE_CURRENT_SOURCE_DIR\}\/native\/sources\.txt"\)/);
  t.notRegex(cmake, /file\(GLOB[^)]*native/);
});
