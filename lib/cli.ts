/**
 * The `petra` command line. Each command is a thin shell over the public API and declares itself in
 * lib/commands/<name>.ts; `--json` prints machine-readable output for services, and errors exit non-zero with one
 * clean line.
 */
import { Command } from 'commander';
import { PetraError, serializeError } from './errors.js';
import { registerBench } from './commands/bench.js';
import { runDemoCommand } from './commands/demo.js';
import { registerExport } from './commands/export.js';
import { registerImport } from './commands/import.js';
import { registerInfo } from './commands/info.js';
import { registerReport } from './commands/report.js';
import { runResumeCommand } from './commands/resume.js';
import { runSearchCommand } from './commands/search.js';
import type { CliContext } from './commands/shared/command.js';
import { STUDY_DIR } from './commands/shared/flags.js';
import { registerTrain } from './commands/train.js';
import { registerWorker } from './commands/worker.js';
import { MODEL_BUILDERS } from './pipeline/problem.js';
import { TASKS } from './tasks/index.js';

/** Exit code of the last command that reports one (search, demo, resume: 130 when stopped by Ctrl-C). */
let exitCode = 0;
const context: CliContext = {
  withCode: (fn) => async (...args) => { exitCode = await fn(...args); },
};
const withCode = context.withCode;

export function buildProgram(): Command {
  exitCode = 0;
  const program = new Command('petra')
    .description('Evolutionary search for training pipelines that make neural networks smaller and faster')
    .showHelpAfterError()
    .exitOverride();

  registerInfo(program);
  registerTrain(program);
  registerBench(program);

  program.command('demo')
    .description('the main job: search Fashion-MNIST (small CNN) for smaller, faster pipelines in ≤ 10 min on 2 cores; prints the Pareto table, writes petra-out/demo.html')
    .option('--budget <budget>', 'time and/or evaluations, e.g. 6m,30evals', '6m,30evals')
    .option('--population <n>', 'population size', '6')
    .option('--device <device>', 'cpu or cuda:N', 'cpu')
    .option('--seed <n>', 'seed', '1')
    .option(...STUDY_DIR)
    .option('--cache-dir <dir>', 'baseline cache (default petra-out/cache)')
    .option('--report <file>', 'HTML report path', 'petra-out/demo.html')
    .option('--json', 'JSON lines on stdout (events, then the result)')
    .option('--quiet', 'no progress output')
    .action(withCode(runDemoCommand));

  program.command('search')
    .description('evolve compression pipelines for a task and model; ranks them on a Pareto front of measured objectives')
    .option('--task <task>', `built-in task: ${Object.keys(TASKS).join(' | ')} (default fashion-mnist; 'custom' with --data)`)
    .option('--model <model>', `a spec JSON file, a TorchScript .pt file or a builder: ${MODEL_BUILDERS.join(' | ')} (default: the task's)`)
    .option('--data <path>', "your data: an IDX directory, a UCR *_TRAIN.ts file or a CSV (or a built-in task's data directory)")
    .option('--data-format <format>', 'idx | ucr | csv (default: from the path)')
    .option('--target <column>', 'CSV: the target column')
    .option('--kind <kind>', 'CSV: classification | regression')
    .option('--metric <metric>', 'quality metric: accuracy | macroF1 (classification), rmse | mae (regression)')
    .option('--objectives <list>', 'any of metric, latency, throughput, size', 'metric,latency,size')
    .option('--max-latency <t>', 'constraint, e.g. 2ms, 500us or 70% (of the baseline)')
    .option('--min-latency <t>', 'constraint (rarely useful)')
    .option('--max-size <s>', 'constraint, e.g. 200kB, 1.5MB or 25%')
    .option('--min-size <s>', 'constraint')
    .option('--min-throughput <r>', 'constraint, samples/s or % of the baseline')
    .option('--max-throughput <r>', 'constraint')
    .option('--max-metric-drop <pts>', 'quality loss vs the baseline: points of accuracy/F1, % of RMSE/MAE')
    .option('--min-metric <v>', 'absolute lower bound on the metric')
    .option('--max-metric <v>', 'absolute upper bound on the metric')
    .option('--budget <budget>', 'e.g. 30m, 200evals, 10gen or 30m,200evals', '40evals')
    .option('--population <n>', 'population size', '8')
    .option('--seed <n>', 'seed', '1')
    .option('--device <device>', 'cpu or cuda:N', 'cpu')
    .option('--selector <name>', 'nsga2 | spea2', 'nsga2')
    .option('--schedule <schedule>', 'generational (same seed, same study) | steady-state (no generation barrier: for many --queue workers)')
    .option('--concurrency <n>', 'candidates evaluated at once (timing is always serialized)', '1')
    .option('--stall <n>', 'stop after n generations without hypervolume gain', '10')
    .option('--name <name>', 'study name (default <task>-<date>-<time>)')
    .option(...STUDY_DIR)
    .option('--cache-dir <dir>', 'baseline cache (default petra-out/cache)')
    .option('--stages <list>', 'stage types to use: train, prune, lowrank, quantize, regularize (default all)')
    .option('--no-seed-pipelines', 'start from random pipelines only')
    .option('--limit-train <n>', 'use n training rows (a seeded subset)')
    .option('--limit-val <n>', 'use n validation rows')
    .option('--limit-test <n>', 'measure on n test rows')
    .option('--finetune-samples <n>', 'training rows per fine-tune')
    .option('--finetune-val <n>', 'validation rows early stopping watches')
    .option('--max-epochs <n>', 'cap on any stage\'s fine-tune epochs', '3')
    .option('--baseline-epochs <n>', 'baseline epochs (default: the task\'s recipe)')
    .option('--time-cap <ms>', 'timing cap per batch size when measuring')
    .option('--queue <url>', 'evaluate candidates on `petra worker`s through BullMQ on this Redis (redis://host:6379, rediss:// for TLS)')
    .option('--cpu-memory-cap <MiB>', 'tensor memory this process may hold on the CPU; a candidate beyond it fails as out of memory')
    .option('--min-free <MiB>', 'free disk space the study, cache and report directories need before the search starts (default 64)')
    .option('--report <file>', 'HTML report path (default petra-out/<name>.html)')
    .option('--no-report', 'do not write the HTML report')
    .option('--json', 'JSON lines on stdout (events, then the result)')
    .option('--quiet', 'no progress output')
    .action(withCode(runSearchCommand));

  program.command('resume <study>')
    .description('continue a study (after a kill or Ctrl-C, or with a bigger --budget)')
    .option('--budget <budget>', 'a new total budget')
    .option(...STUDY_DIR)
    .option('--queue <url>', 'evaluate on `petra worker`s through this Redis (re-attaches to the jobs already queued)')
    .option('--cpu-memory-cap <MiB>', 'tensor memory this process may hold on the CPU')
    .option('--min-free <MiB>', 'free disk space needed before the search resumes (default 64)')
    .option('--report <file>', 'HTML report path (default petra-out/<name>.html)')
    .option('--no-report', 'do not write the HTML report')
    .option('--json', 'JSON lines on stdout')
    .option('--quiet', 'no progress output')
    .action(withCode(runResumeCommand));

  registerWorker(program, context);
  registerImport(program, context);
  registerReport(program, context);
  registerExport(program, context);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return exitCode;
  } catch (error) {
    if (error && typeof error === 'object' && 'code' in error && typeof error.code === 'string' && error.code.startsWith('commander.')) {
      return error.code === 'commander.helpDisplayed' || error.code === 'commander.version' ? 0 : 2;
    }
    const message = error instanceof PetraError ? `${error.name}: ${error.message}` : String(error instanceof Error ? error.stack : error);
    console.error(`petra: ${message}`);
    // With --json the error is also one JSON line on stdout, which reviveError turns back into its class.
    if (argv.includes('--json')) process.stdout.write(`${JSON.stringify({ event: 'error', error: serializeError(error) })}\n`);
    return 1;
  }
}
