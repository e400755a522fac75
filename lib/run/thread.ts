/**
 * The host side of `search({ worker: true })`: the whole search (data loading and bookkeeping included) runs in a
 * worker_thread (thread-worker.ts) and only its events, outcome or error cross over, so the host's event loop never
 * waits on it.
 */
import { Worker } from 'node:worker_threads';
import { PetraError, reviveError, type SerializedError } from '../core/errors.js';
import type { Emit, SearchEventName } from './events.js';
import type { SearchOutcome } from './outcome.js';
import type { SearchRequest } from './request.js';

function workerEntry(): { url: URL; bootstrap?: string } {
  const here = import.meta.url;
  if (here.endsWith('.ts')) {
    // Running from source under tsx: a worker does not inherit the loader, so register it first.
    const entry = new URL('./thread-worker.ts', here);
    const tsx = import.meta.resolve('tsx/esm/api');
    return {
      url: entry,
      bootstrap: `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); });`,
    };
  }
  return { url: new URL('./thread-worker.js', here) };
}

/** runSearch in a worker_thread: its events relayed to `emit`, an abort of `signal` passed on. */
export function runSearchInThread(request: SearchRequest, emit: Emit, signal: AbortSignal): Promise<SearchOutcome> {
  return new Promise((resolve, reject) => {
    const entry = workerEntry();
    const worker = entry.bootstrap
      ? new Worker(entry.bootstrap, { eval: true, workerData: { request } })
      : new Worker(entry.url, { workerData: { request } });
    let settled = false;
    const onAbort = (): void => worker.postMessage({ type: 'abort' });
    signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted) onAbort();
    const finish = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      fn();
    };
    worker.on(
      'message',
      (
        m:
          | { type: 'event'; event: SearchEventName; payload: never }
          | { type: 'done'; outcome: SearchOutcome }
          | { type: 'error'; error: SerializedError },
      ) => {
        if (m.type === 'event') emit(m.event, m.payload);
        else if (m.type === 'done') finish(() => resolve(m.outcome));
        else finish(() => reject(reviveError(m.error)));
      },
    );
    worker.on('error', (error) => finish(() => reject(error)));
    worker.on('exit', (code) =>
      finish(() => reject(new PetraError(`the search worker exited with code ${code} before finishing`))),
    );
  });
}
