import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PipelineSpace, type PipelineGenome } from '../../lib/genome/index.js';
import { exportOptunaJournal, InMemoryStorage, SqliteStorage, Study, zdt1 } from '../../lib/search/index.js';

const objectives = [
  { name: 'f1', direction: 'min' as const },
  { name: 'f2', direction: 'min' as const },
];
const problem = zdt1(6);

/** better-sqlite3's native binding may be missing (e.g. installed with --ignore-scripts); then these tests skip. */
function sqliteAvailable(): boolean {
  try {
    new SqliteStorage(':memory:').close();
    return true;
  } catch {
    return false;
  }
}
const sqliteTest = sqliteAvailable() ? test.serial : test.skip;

sqliteTest(
  'journal: killing the process with SIGKILL mid-study loses no told trial; resuming re-asks the interrupted ones and continues the same run',
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'petra-journal-'));
    const file = join(dir, 'study.db');
    const child = spawn(
      process.execPath,
      ['--import=tsx', fileURLToPath(new URL('./fixtures/journal-child.ts', import.meta.url)), file, 'killed'],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const toldBeforeKill = new Set<number>();
    await new Promise<void>((resolve) => {
      let buffer = '';
      child.stdout.on('data', (chunk: Buffer) => {
        buffer += chunk.toString();
        for (const line of buffer.split('\n').slice(0, -1)) {
          const m = /^told (\d+)$/.exec(line);
          if (m) toldBeforeKill.add(Number(m[1]));
        }
        buffer = buffer.slice(buffer.lastIndexOf('\n') + 1);
        if (toldBeforeKill.size >= 30 && !child.killed) child.kill('SIGKILL');
      });
      child.on('exit', () => resolve());
    });
    t.true(toldBeforeKill.size >= 30);

    const storage = new SqliteStorage(file);
    const stored = storage.trials(storage.loadStudy('killed')!.id);
    for (const n of toldBeforeKill) t.is(stored[n]?.state, 'complete', `trial ${n}`);
    const resumed = Study.open({
      name: 'killed',
      space: problem.space,
      objectives,
      populationSize: 8,
      seed: 11,
      storage,
    });
    const interrupted = storage.trials(resumed.studyId).filter((tr) => tr.failReason === 'interrupted');
    await resumed.optimize(async (x) => ({ objectives: problem.evaluate(x) }), { generations: 2 });

    // The same seed without interruption gives the same genomes and results per (generation, slot).
    const reference = Study.open({ space: problem.space, objectives, populationSize: 8, seed: 11 });
    await reference.optimize(async (x) => ({ objectives: problem.evaluate(x) }), { generations: resumed.generation });
    const bySlot = (s: Study<number[]>): string[] =>
      s.storage
        .trials(s.studyId)
        .filter((tr) => tr.state === 'complete')
        .map((tr) => `${tr.generation}/${tr.slot}:${tr.values?.join(',')}`)
        .sort();
    t.deepEqual(bySlot(resumed), bySlot(reference));
    t.log(`${toldBeforeKill.size} told before the kill, ${interrupted.length} interrupted and re-asked`);
    storage.close();
    rmSync(dir, { recursive: true, force: true });
  },
);

sqliteTest('journal: WAL mode, and a study reopens by name from the file', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'petra-journal-'));
  const file = join(dir, 'j.db');
  const a = new SqliteStorage(file);
  const study = Study.open({ name: 's', space: problem.space, objectives, populationSize: 4, seed: 1, storage: a });
  for (let i = 0; i < 6; i++) {
    const tr = study.ask()!;
    study.tell(tr.number, { objectives: problem.evaluate(tr.genome), userAttrs: { i } });
  }
  t.true(existsSync(`${file}-wal`), 'WAL journal file');
  a.close();
  const b = new SqliteStorage(file);
  t.is(b.listStudies().length, 1);
  const again = Study.open({ name: 's', space: problem.space, objectives, populationSize: 4, seed: 1, storage: b });
  t.is(again.generation, 1);
  t.is(again.evaluationCount, 6);
  t.deepEqual(b.trials(again.studyId)[5]?.userAttrs, { i: 5 });
  b.close();
  rmSync(dir, { recursive: true, force: true });
});

test('Optuna journal export: op codes, directions, params with distributions, states and values', async (t) => {
  const space = new PipelineSpace();
  const storage = new InMemoryStorage();
  const study = Study.open<PipelineGenome>({
    name: 'optuna',
    space,
    storage,
    seed: 2,
    populationSize: 4,
    objectives: [
      { name: 'accuracy', direction: 'max' },
      { name: 'latencyMs', direction: 'min' },
    ],
  });
  let n = 0;
  await study.optimize(
    async (g, ctx) => {
      ctx.report({ step: 1, value: 0.5 });
      if (++n === 3) return { status: 'failed', reason: 'boom' };
      return { objectives: [0.9 - 0.01 * g.stages.length, 2 + g.stages.length] };
    },
    { evaluations: 8 },
  );
  const ops = exportOptunaJournal(storage, 'optuna', space)
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  t.deepEqual(ops[0], { op_code: 0, worker_id: ops[0]!['worker_id'], study_name: 'optuna', directions: [2, 1] });
  t.is(ops.filter((o) => o['op_code'] === 4).length, 8);
  const states = ops.filter((o) => o['op_code'] === 6);
  t.is(states.length, 8);
  t.is(states.filter((o) => o['state'] === 3).length, 1);
  t.regex(String(states[0]!['datetime_complete']), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/);
  const param = ops.find((o) => o['op_code'] === 5 && o['param_name'] === 's0.type')!;
  t.is(JSON.parse(String(param['distribution'])).name, 'CategoricalDistribution');
  t.true(ops.some((o) => o['op_code'] === 7 && o['intermediate_value'] === 0.5));
  t.true(ops.some((o) => o['op_code'] === 8 && 'petra:genome' in (o['user_attr'] as object)));
});
