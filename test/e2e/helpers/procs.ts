// Real `petra` processes for the distributed tests: spawned from source, their JSON-line output collected, waited
// on for a matching event, killed with SIGKILL when a test says so.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const tsx = import.meta.resolve('tsx');
const entry = fileURLToPath(new URL('./petra.ts', import.meta.url));

export type JsonEvent = Record<string, unknown> & { event: string };

export interface PetraRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `petra <args>` from source to completion; `status` is null when it was killed (after `timeoutMs`). */
export function runPetra(
  cwd: string,
  args: string[],
  o: { timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<PetraRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [`--import=${tsx}`, entry, ...args],
      {
        cwd,
        encoding: 'utf8',
        timeout: o.timeoutMs ?? 120_000,
        maxBuffer: 64 << 20,
        env: { ...process.env, ...o.env },
      },
      (error, stdout, stderr) =>
        resolve({ status: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr }),
    );
  });
}

export class PetraProcess {
  readonly child: ChildProcess;
  readonly events: JsonEvent[] = [];
  stderr = '';
  readonly exited: Promise<number | null>;
  private readonly waiters: Array<{ match: (e: JsonEvent) => boolean; resolve: (e: JsonEvent) => void }> = [];

  constructor(cwd: string, args: string[], env: Record<string, string> = {}) {
    this.child = spawn(process.execPath, [`--import=${tsx}`, entry, ...args], {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PETRA_THREADS: '1', ...env },
    });
    let buffered = '';
    this.child.stdout!.on('data', (d: Buffer) => {
      buffered += d.toString();
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        let e: JsonEvent;
        try {
          e = JSON.parse(line) as JsonEvent;
        } catch {
          continue;
        }
        this.events.push(e);
        for (const w of [...this.waiters])
          if (w.match(e)) {
            this.waiters.splice(this.waiters.indexOf(w), 1);
            w.resolve(e);
          }
      }
    });
    this.child.stderr!.on('data', (d: Buffer) => {
      this.stderr += d.toString();
    });
    this.exited = new Promise((resolve) => this.child.on('exit', (code, signal) => resolve(signal ? -1 : code)));
  }

  /** The first event (already seen or still to come) that matches; rejects if the process exits first or on timeout. */
  waitFor(match: (e: JsonEvent) => boolean, timeoutMs = 120_000): Promise<JsonEvent> {
    const seen = this.events.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`timed out waiting for an event; stderr: ${this.stderr.slice(-2000)}`)),
        timeoutMs,
      );
      this.waiters.push({
        match,
        resolve: (e) => {
          clearTimeout(timer);
          resolve(e);
        },
      });
      void this.exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`exited (${code}) before the event; stderr: ${this.stderr.slice(-2000)}`));
      });
    });
  }

  kill9(): Promise<number | null> {
    this.child.kill('SIGKILL');
    return this.exited;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }
}

/** `petra worker` on the queue, JSON events; resolves once it is taking jobs. */
export async function startWorker(
  cwd: string,
  url: string,
  extra: string[] = [],
  env: Record<string, string> = {},
): Promise<PetraProcess> {
  const w = new PetraProcess(cwd, ['worker', '--queue', url, '--json', ...extra], env);
  await w.waitFor((e) => e.event === 'ready', 60_000);
  return w;
}
