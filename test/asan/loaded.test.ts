import test from 'ava';
import { readFileSync } from 'node:fs';
import { info } from '../../lib/runtime/info.js';

// Under scripts/asan.sh (PETRA_ASAN=1): proves that ava's worker processes got the sanitizer environment and
// loaded the sanitized addon. Without this, a sanitized addon that failed to load would be skipped silently:
// lib/runtime/loader.ts falls back to build/Release/petra.node. Outside scripts/asan.sh it has nothing to check.
test('under scripts/asan.sh, the workers run the sanitized addon with libasan loaded', (t) => {
  const expected = process.env.PETRA_NATIVE;
  if (process.env.PETRA_ASAN !== '1' || expected === undefined) return t.pass('only meaningful under scripts/asan.sh');
  t.is(info().addonPath, expected);
  const maps = readFileSync('/proc/self/maps', 'utf8');
  t.regex(maps, /libasan\.so/);
  t.regex(maps, /libubsan\.so/);
});
