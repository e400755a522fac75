// The `petra` command line as users run it (a real process): bad configurations fail cleanly without writing
// anything; a search killed with SIGKILL resumes to its full budget; report, export, bench and info work.
import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { StudyFile } from '../../lib/pipeline/study-file.js';
import { countedTrials } from '../../lib/run/budget.js';
import { runPetra as petra } from './helpers/procs.js';
import { tempDir, tinyFlags } from './helpers/tiny.js';

const tsx = import.meta.resolve('tsx');
const entry = fileURLToPath(new URL('./helpers/petra.ts', import.meta.url));

/** Every file under dir (relative paths). */
function files(dir: string): string[] {
  return existsSync(dir) ? (readdirSync(dir, { recursive: true }) as string[]).sort() : [];
}

const bad: Array<[string, string[], RegExp]> = [
  ['unknown task', ['--task', 'nope'], /unknown task 'nope'; known: fashion-mnist/],
  ['unknown objective', ['--objectives', 'metric,speedz'], /unknown objective 'speedz'/],
  ['contradictory constraints', ['--min-latency', '3ms', '--max-latency', '2ms'], /contradictory constraints/],
  ['contradictory metric bounds', ['--min-metric', '0.95', '--max-metric', '0.9'], /contradictory constraints/],
  ['missing data path', ['--data', '/nonexistent/petra-data'], /data path '\/nonexistent\/petra-data' does not exist/],
  ['missing data directory for a task', ['--task', 'gunpoint', '--data', '/nonexistent/ucr'], /does not exist/],
  ['bad budget', ['--budget', '10parsecs'], /unknown budget unit/],
  ['bad constraint unit', ['--max-latency', '2 lightyears'], /unknown time unit|not a number/],
  ['unknown model', ['--model', 'transformer-xl'], /unknown model 'transformer-xl'/],
];

for (const [what, args, message] of bad) {
  test(`bad configuration → clear message, exit ≠ 0, nothing written: ${what}`, async (t) => {
    const dir = tempDir('bad');
    const r = await petra(dir, ['search', ...tinyFlags(dir), ...args]);
    t.not(r.status, 0, r.stdout);
    t.regex(r.stderr, message);
    t.regex(r.stderr, /^petra: \w+Error: /m, 'one clean line, no stack trace');
    t.notRegex(r.stderr, /\n\s+at /);
    t.deepEqual(files(dir), [], 'no study file, report or cache entry');
  });
}

test('unknown study for resume, report and export → exit ≠ 0 with the path looked at', async (t) => {
  const dir = tempDir('nostudy');
  for (const args of [
    ['resume', 'ghost'],
    ['report', 'ghost'],
    ['export', 'ghost', '1'],
  ]) {
    const r = await petra(dir, [...args, '--study-dir', join(dir, 'studies')]);
    t.is(r.status, 1);
    t.regex(r.stderr, /no study 'ghost' \(looked for .*ghost\.sqlite\)/);
  }
  t.deepEqual(files(dir), []);
});

test('a search killed with SIGKILL resumes to its full budget; report, export, bench, info', async (t) => {
  const dir = tempDir('resume');
  const flags = [...tinyFlags(dir), '--name', 'r1', '--budget', '6evals'];
  // 1. Start, and kill -9 once two trials are told (the third is then in flight).
  const child = spawn(process.execPath, [`--import=${tsx}`, entry, 'search', ...flags, '--json'], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let told = 0;
  let buffered = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code, signal) => resolve(signal ? -1 : code)),
  );
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      buffered += d.toString();
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        const e = JSON.parse(line) as { event: string };
        if (e.event === 'trial' && ++told === 2) {
          child.kill('SIGKILL');
          resolve();
        }
      }
    });
    void exited.then((code) => {
      if (told < 2) reject(new Error(`search exited (${code}) before two trials: ${stderr}`));
    });
  });
  t.is(await exited, -1, 'killed');
  const file = join(dir, 'studies', 'r1.sqlite');
  t.true(existsSync(file));
  let sf = StudyFile.open(file);
  const before = sf.trials();
  sf.close();
  t.is(countedTrials(before), 2);

  // 2. Resume: the interrupted trial is marked and asked again; the budget is reached exactly.
  const r = await petra(dir, ['resume', 'r1', '--study-dir', join(dir, 'studies'), '--json']);
  t.is(r.status, 0, r.stderr);
  const done = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as {
    event: string;
    totalEvaluations: number;
    front: unknown[];
    report: string;
    status: string;
  };
  t.is(done.event, 'done');
  t.is(done.status, 'done');
  t.is(done.totalEvaluations, 6);
  t.true(done.front.length > 0);
  t.true(existsSync(done.report));
  sf = StudyFile.open(file);
  const after = sf.trials();
  t.is(sf.progress?.status, 'done');
  t.is(sf.progress?.runs, 2);
  sf.close();
  t.is(countedTrials(after), 6);
  t.is(after.filter((x) => x.state === 'running').length, 0);
  if (after.length > 6) t.true(after.some((x) => x.failReason === 'interrupted'));

  // 3. Resuming a finished study does nothing more; a bigger budget continues it.
  const again = await petra(dir, ['resume', 'r1', '--study-dir', join(dir, 'studies'), '--quiet', '--no-report']);
  t.is(again.status, 0, again.stderr);
  t.regex(again.stdout, /evaluation budget of 6 used/);

  // 4. The same name again is refused (resume it instead); nothing is overwritten.
  const dup = await petra(dir, ['search', ...flags]);
  t.is(dup.status, 1);
  t.regex(dup.stderr, /already exists.*petra resume r1/);

  // 5. report, export, bench on the exported model, info.
  const rep = await petra(dir, ['report', 'r1', '--study-dir', join(dir, 'studies')]);
  t.is(rep.status, 0, rep.stderr);
  t.regex(rep.stdout, /baseline/);
  t.regex(rep.stdout, /report: .*r1\.html/);
  const front = (done.front as Array<{ trial: number }>)[0]!.trial;
  const exp = await petra(dir, ['export', 'r1', String(front), '--study-dir', join(dir, 'studies'), '--json']);
  t.is(exp.status, 0, exp.stderr);
  const exported = JSON.parse(exp.stdout) as { model: string; lineage: string };
  t.true(existsSync(exported.model));
  t.is((JSON.parse(readFileSync(exported.lineage, 'utf8')) as { trial: number }).trial, front);
  const bench = await petra(dir, ['bench', exported.model, '--time-cap', '100', '--json']);
  t.is(bench.status, 0, bench.stderr);
  t.is((JSON.parse(bench.stdout) as { batches: unknown[] }).batches.length, 2);
  const info = await petra(dir, ['info', '--json']);
  t.is(info.status, 0);
  t.truthy((JSON.parse(info.stdout) as { libtorchVersion: string }).libtorchVersion);
});
