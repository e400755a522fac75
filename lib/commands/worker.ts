/**
 * `petra worker --queue redis://…`: serves the candidate queue until Ctrl-C / SIGTERM, which stops taking jobs and
 * lets the running ones finish (a second one quits at once; the job's lock then expires and another worker takes it).
 */
import { parseQueueUrl } from '../distributed/connection.js';
import { startQueueWorker, type WorkerEvent } from '../distributed/queue-worker.js';
import { ConfigError } from '../errors.js';

export interface WorkerCommandOptions {
  queue: string;
  device: string;
  concurrency: number;
  lockDuration: number;
  json?: boolean;
  quiet?: boolean;
}

function render(e: WorkerEvent, o: WorkerCommandOptions): void {
  if (o.json) { process.stdout.write(`${JSON.stringify({ event: e.type, ...e })}\n`); return; }
  const failed = (e.type === 'job' && e.phase === 'failed') || (e.type === 'redis' && e.state === 'down');
  if (o.quiet && !failed) return;
  const what = e.type === 'job' ? `job ${e.jobId} ${e.phase}: ${e.message}` : e.message;
  process.stderr.write(`petra worker: ${what}\n`);
}

export async function runWorkerCommand(o: WorkerCommandOptions): Promise<number> {
  parseQueueUrl(o.queue);
  if (!/^(cpu|cuda(:\d+)?)$/.test(o.device)) throw new ConfigError(`'${o.device}' is not a device (cpu, cuda, cuda:N)`, 'device');
  const handle = await startQueueWorker({
    url: o.queue, device: o.device, concurrency: o.concurrency, lockDurationMs: o.lockDuration, onEvent: (e) => render(e, o),
  });
  let signals = 0;
  const onSignal = (): void => {
    if (++signals > 1) process.exit(130);
    if (!o.json) process.stderr.write('petra worker: finishing the running jobs, then exiting (Ctrl-C again to quit now)\n');
    void handle.close();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    await handle.closed;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  return signals > 0 ? 130 : 0;
}
