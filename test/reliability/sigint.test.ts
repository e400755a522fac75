// The CLI as a service operator meets it: Ctrl-C (SIGINT) in the middle of a candidate stops `petra search` within
// seconds with exit code 130 and a consistent journal, and `petra resume` finishes the budget; while a search runs, a
// second `petra resume` or `petra search` of the same study is refused with who holds it, and `petra report` still
// works; an output directory that cannot be written fails before the search starts.
import test from 'ava';
import { existsSync, readdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { countedTrials } from '../../lib/run/budget.js';
import { StudyFile } from '../../lib/pipeline/study-file.js';
import { PetraProcess, runPetra } from '../e2e/helpers/procs.js';
import { tempDir, tinyFlags } from '../e2e/helpers/tiny.js';
import { mlpSpecFile } from './helpers/harness.js';

const petra = (cwd: string, args: string[]) => runPetra(cwd, args, { env: { PETRA_THREADS: '1' } });

test('SIGINT mid-candidate: exit 130 within seconds, a consistent journal, resume finishes the budget; meanwhile the study is locked to others', async (t) => {
  const dir = tempDir('sigint');
  const studyDir = join(dir, 'studies');
  const flags = [...tinyFlags(dir), '--model', mlpSpecFile(dir), '--name', 's1', '--budget', '12evals'];
  const a = new PetraProcess(dir, ['search', ...flags, '--json']);
  let debug = '';
  let inFlight = -1;
  try {
    await a.waitFor((e) => e.event === 'trial', 120_000);

    // 1. While it runs: another process cannot resume it or start a study of the same name; a report reads it.
    const [resume, same, report] = await Promise.all([
      petra(dir, ['resume', 's1', '--study-dir', studyDir, '--no-report']),
      petra(dir, ['search', ...flags, '--no-report']),
      petra(dir, ['report', 's1', '--study-dir', studyDir, '--out', join(dir, 'while-running.html')]),
    ]);
    const locked = new RegExp(
      `^petra: ConfigError: study 's1' is locked by pid ${a.child.pid} on host ${hostname().replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} since \\d{4}-\\S+ \\(petra search\\)`,
      'm',
    );
    t.is(resume.status, 1, resume.stderr);
    t.regex(resume.stderr, locked);
    t.is(same.status, 1, same.stderr);
    t.regex(same.stderr, locked);
    t.is(report.status, 0, report.stderr);
    t.true(existsSync(join(dir, 'while-running.html')));
    t.is(a.child.exitCode, null, 'still running (raise the budget if this machine is very fast)');

    // 2. Ctrl-C once a candidate is in flight.
    // A candidate that starts from now on (not one announced earlier, which may be about to finish on a busy machine).
    const seen = a.events.length;
    inFlight = (await a.waitFor((e) => e.event === 'trialStart' && a.events.indexOf(e) >= seen, 60_000))[
      'trial'
    ] as number;
    await new Promise((r) => setTimeout(r, 50));
    const sent = performance.now();
    a.child.kill('SIGINT');
    const code = await a.exited;
    const seconds = (performance.now() - sent) / 1000;
    t.log(`SIGINT → exit in ${seconds.toFixed(2)} s`);
    t.is(code, 130, a.stderr.slice(-2000));
    t.true(seconds < 5, `exited ${seconds.toFixed(2)} s after SIGINT`);
    debug = a.events.map((e) => JSON.stringify(e).slice(0, 160)).join('\n');
    const done = a.events.find((e) => e.event === 'done');
    t.is(done?.['status'], 'stopped');
  } finally {
    await a.stop();
  }

  // 3. The journal: nothing left running; the cut-off candidate is a failed trial saying it was aborted.
  const file = join(studyDir, 's1.sqlite');
  let sf = StudyFile.open(file);
  const stopped = sf.trials();
  t.is(sf.progress?.status, 'stopped');
  sf.close();
  t.is(stopped.filter((x) => x.state === 'running').length, 0);
  // Cut off wherever it was (between two training batches, two stages or two timing runs), not finished first.
  const cut = stopped.find((x) => x.number === inFlight);
  t.is(cut?.state, 'failed', debug);
  t.regex(cut?.failReason ?? '', /^aborted: /);
  t.is(stopped.filter((x) => /^aborted/.test(x.failReason ?? '')).length, 1);
  const before = countedTrials(stopped);
  t.true(before < 12);

  // 4. petra resume continues to the full budget.
  const resumed = await petra(dir, ['resume', 's1', '--study-dir', studyDir, '--json', '--no-report']);
  t.is(resumed.status, 0, resumed.stderr);
  const last = JSON.parse(resumed.stdout.trim().split('\n').at(-1)!) as {
    event: string;
    status: string;
    totalEvaluations: number;
  };
  t.is(last.status, 'done');
  t.is(last.totalEvaluations, 12);
  sf = StudyFile.open(file);
  const after = sf.trials();
  t.is(sf.progress?.status, 'done');
  t.is(sf.progress?.runs, 2);
  sf.close();
  t.is(countedTrials(after), 12);
  t.is(after.filter((x) => x.state === 'running').length, 0);
});

test('a report directory that cannot be written fails `petra search` before it starts, writing nothing', async (t) => {
  const dir = tempDir('rodir');
  const r = await petra(dir, ['search', ...tinyFlags(dir), '--name', 'ro', '--report', '/proc/petra-reports/ro.html']);
  t.is(r.status, 1);
  t.regex(
    r.stderr,
    /^petra: ConfigError: cannot create the output directory \/proc\/petra-reports: (the file system does not allow creating it|permission denied)/m,
  );
  t.deepEqual(readdirSync(dir), [], 'no study, cache or probe left behind');
});
