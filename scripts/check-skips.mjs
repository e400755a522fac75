#!/usr/bin/env node
// Fails when an ava run's output (a file, or stdin) reports skipped or todo tests that are not on the allow-list:
// a test that cannot run here must not look like a pass. .ci/run pipes `npm test` and the int8 matrix through it.
// The allow-list holds tests that need hardware CI has not (CUDA); it is empty while no such test is skipped in CI.
import { readFileSync } from 'node:fs';

/** Regular expressions over ava's "- <title>" skip lines and "◌ <title>" todo lines; each entry says why. */
const ALLOWED = [
  // e.g. /cuda/i — CUDA-only tests, skipped on machines without a GPU (none are registered as skips today)
];

const text = readFileSync(process.argv[2] ?? 0, 'utf8');
const counts = [...text.matchAll(/^\s*(\d+) (?:tests? )?(skipped|todo)\b/gm)].map((m) => ({
  n: Number(m[1]),
  kind: m[2],
}));
const listed = [...text.matchAll(/^\s*[-◌] (.+?)\s*$/gm)].map((m) => m[1]).filter((title) => !/^-+$/.test(title));
const unexplained = listed.filter((title) => !ALLOWED.some((re) => re.test(title)));
const total = counts.reduce((a, c) => a + c.n, 0);
if (total > 0 && (unexplained.length > 0 || listed.length === 0)) {
  console.error(`check-skips: ${counts.map((c) => `${c.n} ${c.kind}`).join(', ')} — not allowed:`);
  for (const title of unexplained.length ? unexplained : ['(titles not listed in the output)'])
    console.error(`  ${title}`);
  process.exit(1);
}
console.log(
  `check-skips: ${total === 0 ? 'no skipped or todo tests' : `${total} skipped/todo, all on the allow-list`}`,
);
