/**
 * The worker_thread side of `search({ worker: true })` (the host side is thread.ts): runs the search and posts its
 * events, its outcome or its error (as plain data) to the host; an 'abort' message aborts it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { serializeError } from '../core/errors.js';
import type { SearchRequest } from './request.js';
import { runSearch } from './runner.js';

const port = parentPort;
if (!port) throw new Error('lib/run/thread-worker.ts runs inside a worker_thread');
const controller = new AbortController();
port.on('message', (m: { type?: string }) => {
  if (m?.type === 'abort') controller.abort(new Error('aborted by the host'));
});

const { request } = workerData as { request: SearchRequest };
try {
  const outcome = await runSearch(
    request,
    (event, payload) => port.postMessage({ type: 'event', event, payload }),
    controller.signal,
  );
  port.postMessage({ type: 'done', outcome });
} catch (error) {
  port.postMessage({ type: 'error', error: serializeError(error) });
} finally {
  port.close();
}
