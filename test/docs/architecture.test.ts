// docs/architecture.md's picture is drawn from lib/'s imports by scripts/architecture.mjs; this fails when an import
// has changed the picture and the document was not regenerated (node scripts/architecture.mjs --write).
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

test("docs/architecture.md's diagram is the one lib/'s imports give", (t) => {
  const r = spawnSync(process.execPath, ['scripts/architecture.mjs', '--check'], { cwd: root, encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
});
