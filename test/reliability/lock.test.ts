// The study lock: one holder at a time, within a process and across processes; who holds it is readable without
// disturbing the holder; the operating system frees it when its process dies, even by kill -9.
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../../lib/core/errors.js';
import { assertNotLocked, StudyLock } from '../../lib/pipeline/study-file.js';

const tsx = import.meta.resolve('tsx');
const studyFileModule = fileURLToPath(new URL('../../lib/pipeline/study-file.ts', import.meta.url));

test('one holder at a time in a process; holder() names it; release frees it', (t) => {
  const file = join(mkdtempSync(join(tmpdir(), 'petra-lock-')), 'sub', 'x.sqlite');
  t.is(StudyLock.holder(file), undefined);
  const a = StudyLock.acquire(file, 'x', 'search');
  const h = StudyLock.holder(file);
  t.is(h?.pid, process.pid);
  t.is(h?.host, hostname());
  t.is(h?.command, 'search');
  t.true(Date.now() - Date.parse(h!.startedAt) < 60_000);
  const e = t.throws(() => StudyLock.acquire(file, 'x', 'resume'), { instanceOf: ConfigError });
  t.regex(
    e!.message,
    new RegExp(
      `^study 'x' is locked by pid ${process.pid} on host ${hostname()} since \\d{4}-.*\\(petra search\\).*petra resume x`,
    ),
  );
  t.throws(() => assertNotLocked(file, 'x'), { message: /is locked by pid/ });
  a.release();
  a.release(); // idempotent
  t.is(StudyLock.holder(file), undefined);
  t.notThrows(() => assertNotLocked(file, 'x'));
  const b = StudyLock.acquire(file, 'x', 'resume');
  t.is(StudyLock.holder(file)?.command, 'resume');
  b.release();
});

test('across processes: a live holder locks others out; killed with SIGKILL, its lock is free at once', async (t) => {
  const file = join(mkdtempSync(join(tmpdir(), 'petra-lock-')), 'y.sqlite');
  const script = `import(${JSON.stringify(studyFileModule)}).then((m) => { m.StudyLock.acquire(${JSON.stringify(file)}, 'y', 'search'); console.log('held'); setInterval(() => {}, 1000); });`;
  const child = spawn(process.execPath, [`--import=${tsx}`, '--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        if (d.toString().includes('held')) resolve();
      });
      void exited.then(() => reject(new Error(`the holder exited: ${stderr}`)));
    });
    const e = t.throws(() => StudyLock.acquire(file, 'y', 'resume'), { instanceOf: ConfigError });
    t.regex(e!.message, new RegExp(`study 'y' is locked by pid ${child.pid} on host ${hostname()}`));
    t.is(StudyLock.holder(file)?.pid, child.pid);
  } finally {
    child.kill('SIGKILL');
    await exited;
  }
  // No stale lock to clean up or take over by guesswork: the kernel released it with the process.
  t.is(StudyLock.holder(file), undefined);
  const mine = StudyLock.acquire(file, 'y', 'resume');
  t.is(StudyLock.holder(file)?.pid, process.pid);
  mine.release();
});
