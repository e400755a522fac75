// Every measured figure in README has a source: the paragraph or table that states it (or the paragraph that
// introduces the table) names a result file under bench/results/, the bench that writes it, or the test that asserts
// it — and every file it names exists. Commands in ```sh / ```ts blocks are not claims.
import test from 'ava';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const readme = readFileSync(`${root}README.md`, 'utf8');

/** A number with a unit that is measured rather than chosen: times, ratios, percentages, sizes, accuracy points. */
const FIGURE = /(?<![\w.\-/])\d+(?:[.,]\d+)?\s?(?:ms|×|%|MB|kB|pt|s(?![\w-])|min(?![\w-]))/;
const SOURCE = /(bench\/results\/[\w.<>*-]+|bench\/[\w/-]+\.ts|test\/[\w/.-]+\.test\.ts|docs\/[\w.-]+\.md)/g;

interface Block {
  text: string;
  line: number;
}

/** Paragraphs, tables and output blocks; fenced sh/ts/js blocks (commands, code) dropped. */
function blocks(md: string): Block[] {
  const out: Block[] = [];
  const lines = md.split('\n');
  let current: string[] = [];
  let start = 0;
  let fence: string | undefined;
  const flush = (): void => {
    if (current.length) out.push({ text: current.join('\n'), line: start + 1 });
    current = [];
  };
  lines.forEach((l, i) => {
    const open = /^\s*```(\w*)/.exec(l);
    if (fence !== undefined) {
      if (open) {
        if (!['sh', 'ts', 'js', 'json', 'bash'].includes(fence)) current.push(l);
        flush();
        fence = undefined;
        return;
      }
      if (!['sh', 'ts', 'js', 'json', 'bash'].includes(fence)) current.push(l);
      return;
    }
    if (open) {
      flush();
      fence = open[1] ?? '';
      start = i;
      return;
    }
    if (l.trim() === '' || /^#{1,4} /.test(l)) {
      flush();
      start = i + 1;
      return;
    }
    if (!current.length) start = i;
    current.push(l);
  });
  flush();
  return out;
}

/** Inline code (`30m`, `--budget 6m`) is syntax, not a measurement. */
const hasFigure = (text: string): boolean => FIGURE.test(text.replace(/`[^`\n]*`/g, ''));

function sourcesOf(text: string): string[] {
  return [...text.matchAll(SOURCE)].map((m) => m[1]!.replace(/[.,;:)]+$/, ''));
}

function exists(path: string): boolean {
  if (!path.includes('<') && !path.includes('*')) return existsSync(`${root}${path}`);
  // bench/results/reproduce-<task>.md: at least one file matches the pattern
  const dir = path.slice(0, path.lastIndexOf('/'));
  const pattern = new RegExp(
    `^${path
      .slice(dir.length + 1)
      .replace(/[.]/g, '\\.')
      .replace(/<[^>]+>|\*/g, '.+')}$`,
  );
  return existsSync(`${root}${dir}`) && readdirSync(`${root}${dir}`).some((f) => pattern.test(f));
}

test('every README block with a measured figure names its source, and every named source exists', (t) => {
  const all = blocks(readme);
  const unsourced: string[] = [];
  all.forEach((b, i) => {
    if (!hasFigure(b.text)) return;
    const own = sourcesOf(b.text);
    const before = i > 0 ? sourcesOf(all[i - 1]!.text) : [];
    if (own.length === 0 && before.length === 0)
      unsourced.push(`README.md:${b.line}: ${b.text.slice(0, 120).replace(/\n/g, ' ')}…`);
  });
  t.deepEqual(unsourced, [], `figures without a source:\n${unsourced.join('\n')}`);
  const missing = [...new Set(sourcesOf(readme))].filter((p) => !exists(p));
  t.deepEqual(missing, [], `README names files that do not exist: ${missing.join(', ')}`);
});

test('the checker sees figures, sources and commands as it should', (t) => {
  const b = blocks(
    'a 12.5 ms result\n\nsee bench/results/x.json: 3×\n\n```sh\nnpx petra demo --budget 6m\n```\n\n```\nbaseline 0.8986 0.472 ms\n```',
  );
  t.deepEqual(
    b.map((x) => hasFigure(x.text)),
    [true, true, true],
  );
  t.false(hasFigure('Budgets: `30m`, `90s`, `200evals`'));
  t.deepEqual(sourcesOf(b[1]!.text), ['bench/results/x.json']);
  t.false(b.some((x) => x.text.includes('npx petra demo')));
  t.false(FIGURE.test('resnet20, opset 13–17, 2 cores'));
});
