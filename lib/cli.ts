/**
 * The `petra` command line. Each command is a thin shell over the public API; `--json` prints machine-readable
 * output for services, and errors exit non-zero with one clean line.
 */
import { Command, InvalidArgumentError } from 'commander';
import { info } from './info.js';
import { PetraError } from './errors.js';
import { runTrainCommand } from './commands/train.js';
import { runBenchCommand } from './commands/bench.js';

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

export function buildProgram(): Command {
  const program = new Command('petra')
    .description('Evolutionary search for training pipelines that make neural networks smaller and faster')
    .showHelpAfterError()
    .exitOverride();

  program.command('info')
    .description('LibTorch version, CUDA devices, quantized engines, threads and BLAS')
    .option('--json', 'print JSON')
    .action((opts: { json?: boolean }) => {
      const i = info();
      if (opts.json) { console.log(JSON.stringify(i, null, 2)); return; }
      console.log(`LibTorch        ${i.libtorchVersion}`);
      console.log(`addon           ${i.addonPath}`);
      console.log(`threads         ${i.threads.intraOp} intra-op, ${i.threads.interOp} inter-op, ${i.threads.hardware} hardware`);
      console.log(`BLAS            ${i.blas} (OPENBLAS_NUM_THREADS=${i.openblasThreads ?? 'unset'})`);
      console.log(`quantized       ${i.quantizedEngines.join(', ')} (active: ${i.quantizedEngine})`);
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

  program.command('bench <model>')
    .description('measure latency and throughput of a TorchScript .pt or a petra model file')
    .option('--input <shape...>', 'input shape, batch first (e.g. 1x3x224x224); once per input (TorchScript)')
    .option('--batch <sizes>', 'batch sizes, comma-separated (overrides the batch of --input)')
    .option('--device <device>', 'cpu or cuda:N', 'cpu')
    .option('--time-cap <ms>', 'time cap per batch size', '3000')
    .option('--json', 'print JSON')
    .action(runBenchCommand);

  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (error) {
    if (error && typeof error === 'object' && 'code' in error && typeof error.code === 'string' && error.code.startsWith('commander.')) {
      return error.code === 'commander.helpDisplayed' || error.code === 'commander.version' ? 0 : 2;
    }
    const message = error instanceof PetraError ? `${error.name}: ${error.message}` : String(error instanceof Error ? error.stack : error);
    console.error(`petra: ${message}`);
    return 1;
  }
}
