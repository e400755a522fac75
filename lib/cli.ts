/**
 * The `petra` command line. Each command is a thin shell over the public API; `--json` prints machine-readable
 * output for services, and errors exit non-zero with one clean line.
 */
import { Command, InvalidArgumentError } from 'commander';
import { info } from './info.js';
import { PetraError, serializeError } from './errors.js';
import { runTrainCommand } from './commands/train.js';
import { runBenchCommand } from './commands/bench.js';
import { runDemoCommand } from './commands/demo.js';
import { runExportCommand } from './commands/export.js';
import { runReportCommand } from './commands/report.js';
import { runResumeCommand } from './commands/resume.js';
import { runSearchCommand } from './commands/search.js';
import { runWorkerCommand } from './commands/worker.js';
import { runImportCommand } from './commands/import.js';
import { MODEL_BUILDERS } from './pipeline/problem.js';
import { TASKS } from './tasks/index.js';

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

/** Exit code of the last command that reports one (search, demo, resume: 130 when stopped by Ctrl-C). */
let exitCode = 0;
const withCode = <A extends unknown[]>(fn: (...args: A) => Promise<number>) => async (...args: A): Promise<void> => { exitCode = await fn(...args); };

const STUDY_DIR = ['--study-dir <dir>', 'where study files live', 'studies'] as const;

export function buildProgram(): Command {
  exitCode = 0;
  const program = new Command('petra')
    .description('Evolutionary search for training pipelines that make neural networks smaller and faster')
    .showHelpAfterError()
    .exitOverride();

  program.command('info')
    .description('LibTorch version, CUDA devices, quantized engines, the int8 scheme for this CPU, threads and BLAS')
    .option('--json', 'print JSON')
    .action((opts: { json?: boolean }) => {
      const i = info();
      if (opts.json) { console.log(JSON.stringify(i, null, 2)); return; }
      console.log(`LibTorch        ${i.libtorchVersion}`);
      console.log(`addon           ${i.addonPath}`);
      console.log(`threads         ${i.threads.intraOp} intra-op, ${i.threads.interOp} inter-op, ${i.threads.hardware} hardware`);
      console.log(`BLAS            ${i.blas} (OPENBLAS_NUM_THREADS=${i.openblasThreads ?? 'unset'})`);
      console.log(`C heap          ${i.cHeap.mode}${i.cHeap.mmapThreshold ? ` (mmap threshold ${i.cHeap.mmapThreshold >> 20} MiB, trim threshold ${i.cHeap.trimThreshold >> 20} MiB)` : ''}`);
      console.log(`quantized       ${i.quantizedEngines.join(', ')} (active: ${i.quantizedEngine})`);
      console.log(`CPU             ${i.int8.cpu} (${i.int8.cpuFlags.join(', ') || 'no SIMD int8 features'})`);
      console.log(`int8 weights    ${i.int8.weightBits}-bit: ${i.int8.reason}`);
      console.log(`oneDNN          ${i.int8.oneDnnIsa || 'ISA not reported'}; 8-bit probe: ${i.int8.oneDnnProbe}`);
      console.log(`int8 kernels    ${i.int8.kernelIsa} (${i.int8.kernelIsaReason}; this CPU runs ${i.int8.kernelIsas.join(', ')})`);
      console.log(`CUDA            ${i.cuda.available ? `available, ${i.cuda.devices.length} device(s)` : (i.cuda.compiled ? 'compiled in, no device' : 'not in this LibTorch build')}`);
      for (const d of i.cuda.devices) console.log(`  cuda:${d.index}        ${d.name}, ${(d.totalMemory / 2 ** 30).toFixed(1)} GiB, sm ${d.computeCapability}`);
    });

  program.command('train')
    .description('train a model on a built-in task and print its test metrics')
    .option('--task <task>', 'fashion-mnist | gunpoint | basicmotions | tecator | covid3month | transactions', 'fashion-mnist')
    .option('--epochs <n>', 'epochs (default: the task\'s recipe)', positiveInt)
    .option('--batch-size <n>', 'batch size (default: the task\'s recipe)', positiveInt)
    .option('--device <device>', 'cpu or cuda:N', 'cpu')
    .option('--seed <n>', 'seed', (v) => Number(v), 1)
    .option('--save <path>', 'write the trained model (spec + weights)')
    .option('--data-dir <dir>', 'where the task\'s files are (defaults per task)')
    .option('--json', 'print JSON')
    .option('--quiet', 'no progress output')
    .action(runTrainCommand);

  program.command('bench <models...>')
    .description('measure latency and throughput of petra model files, TorchScript .pt and ONNX files (onnxruntime-node); with several models, compare each with the first on this host (interleaved A/B)')
    .option('--input <shape...>', 'input shape, batch first (e.g. 1x3x224x224); once per input (TorchScript; ONNX inputs with symbolic dimensions)')
    .option('--batch <sizes>', 'batch sizes, comma-separated (overrides the batch of --input; default 1,64 with several models)')
    .option('--device <device>', 'cpu or cuda:N', 'cpu')
    .option('--time-cap <ms>', 'time cap per batch size', '3000')
    .option('--cuda-graph', 'CUDA: capture the forward once and time CUDA-graph replays (no CPU launch overhead)')
    .option('--json', 'print JSON')
    .action(runBenchCommand);

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

  program.command('worker')
    .description('evaluate candidates of searches started with --queue (one worker per GPU; --concurrency for CPU workers)')
    .requiredOption('--queue <url>', 'the Redis the coordinator uses (redis://[user:password@]host:6379, rediss:// for TLS)')
    .option('--device <device>', 'cpu or cuda:N (a cuda worker takes CUDA studies\' candidates)', 'cpu')
    .option('--concurrency <n>', 'candidates evaluated at once in this process (timing is serialized)', positiveInt, 1)
    .option('--lock-duration <ms>', 'a job whose worker has not renewed its lock for this long is handed to another worker', positiveInt, 30_000)
    .option('--json', 'JSON lines on stdout')
    .option('--quiet', 'print only errors')
    .action(withCode(runWorkerCommand));

  program.command('import <model>')
    .description('turn a TorchScript module (traced or scripted) into a petra spec + model, checked against TorchScript')
    .option('--input-shape <shape...>', 'per-sample input shape, no batch dim (e.g. 3x32x32); once per input')
    .option('--input-dtype <dtype...>', 'float32 | int64 per input (default: int64 for inputs that feed an embedding)')
    .option('--task <kind>', 'classification | regression (default: classification, classes = output width)')
    .option('--classes <n>', 'classes (classification) or targets (regression)')
    .option('--tolerance <x>', 'largest |petra − TorchScript| allowed on the check input', '1e-5')
    .option('--device <device>', 'cpu or cuda:N', 'cpu')
    .option('--out <dir>', 'directory for spec.json, model.pt, import.json (default petra-out/<name>-import)')
    .option('--json', 'print JSON')
    .action(withCode(runImportCommand));

  program.command('report <study>')
    .description('write a study\'s self-contained HTML report (Pareto fronts, candidates, hypervolume) and print its Pareto table')
    .option('--out <file>', 'HTML file (default petra-out/<name>.html)')
    .option(...STUDY_DIR)
    .option('--json', 'print JSON')
    .option('--quiet', 'print only the report path')
    .action(withCode(runReportCommand));

  program.command('export <study> <trial>')
    .description("write a candidate's model (model.pt), spec and lineage to a directory; <trial>: a number, or best | fastest | smallest (of the Pareto front); --format onnx adds model.onnx (QDQ int8), --format torchscript model.torchscript.pt (torch.jit.load)")
    .option('--out <dir>', 'directory (default petra-out/<study>-trial-<n>)')
    .option('--format <format>', 'petra | onnx | torchscript (model.pt is always written)', 'petra')
    .option('--opset <n>', 'ONNX opset, 13–17 (default 17)')
    .option(...STUDY_DIR)
    .option('--json', 'print JSON')
    .action(withCode(runExportCommand));

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
