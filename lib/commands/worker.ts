/**
 * `petra worker --queue redis://…`: serves the candidate queue until Ctrl-C / SIGTERM, which stops taking jobs and
 * lets the running ones finish (a second one quits at once; the job's lock then expires and another worker takes it).
 */
import type { Command } from 'commander';
import { parseQueueUrl } from '../distributed/connection.js';
import { startQueueWorker, type WorkerEvent } from '../distributed/queue-worker.js';
import { ConfigError } from '../core/errors.js';
import type { CliContext } from './shared/command.js';
import { positiveInt } from './shared/flags.js';

export interface WorkerCommandOptions {
  queue: string;
  device: string;
  concurrency: number;
  lockDuration: number;
  json?: boolean;
  quiet?: boolean;
}

export function registerWorker(program: Command, ctx: CliContext): void {
  program
    .command('worker')
    .description(
      'evaluate candidates of searches started with --queue (one worker per GPU; --concurrency for CPU workers)',
    )
    .requiredOption(
      '--queue <url>',
      'the Redis the coordinator uses (redis://[user:password@]host:6379, rediss:// for TLS)',
    )
    .option('--device <device>', "cpu or cuda:N (a cuda worker takes CUDA studies' candidates)", 'cpu')
    .option('--concurrency <n>', 'candidates evaluated at once in this process (timing is serialized)', positiveInt, 1)
    .option(
      '--lock-duration <ms>',
      'a job whose worker has not renewed its lock for this long is handed to another worker',
      positiveInt,
      30_000,
    )
    .option('--json', 'JSON lines on stdout')
    .option('--quiet', 'print only errors')
    .action(ctx.withCode(runWorkerCommand));
}

function render(e: WorkerEvent, o: WorkerCommandOptions): void {
  if (o.json) {
    process.stdout.write(`${JSON.stringify({ event: e.type, ...e })}\n`);
    return;
  }
  const failed = (e.type === 'job' && e.phase === 'failed') || (e.type === 'redis' && e.state === 'down');
  if (o.quiet && !failed) return;
  const what = e.type === 'job' ? `job ${e.jobId} ${e.phase}: ${e.message}` : e.message;
  process.stderr.write(`petra worker: ${what}\n`);
}

export async function runWorkerCommand(o: WorkerCommandOptions): Promise<number> {
  parseQueueUrl(o.queue);
  if (!/^(cpu|cuda(:\d+)?)$/.test(o.device))
    throw new ConfigError(`'${o.device}' is not a device (cpu, cuda, cuda:N)`, 'device');
  const handle = await startQueueWorker({
    url: o.queue,
    device: o.device,
    concurrency: o.concurrency,
    lockDurationMs: o.lockDuration,
    onEvent: (e) => render(e, o),
  });
  let signals = 0;
  const onSignal = (): void => {
    if (++signals > 1) process.exit(130);
    if (!o.json)
      process.stderr.write('petra worker: finishing the running jobs, then exiting (Ctrl-C again to quit now)\n');
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
