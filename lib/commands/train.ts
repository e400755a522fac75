import { SingleBar, Presets } from 'cli-progress';
import type { Command } from 'commander';
import { Model } from '../runtime/model.js';
import { evaluate, train } from '../runtime/train.js';
import { getTask } from '../tasks/index.js';
import { DEVICE, positiveInt, PRINT_JSON, QUIET } from './shared/flags.js';

export interface TrainCommandOptions {
  task: string;
  epochs?: number;
  batchSize?: number;
  device: string;
  seed: number;
  save?: string;
  dataDir?: string;
  json?: boolean;
  quiet?: boolean;
}

export function registerTrain(program: Command): void {
  program
    .command('train')
    .description('train a model on a built-in task and print its test metrics')
    .option(
      '--task <task>',
      'fashion-mnist | gunpoint | basicmotions | tecator | covid3month | transactions',
      'fashion-mnist',
    )
    .option('--epochs <n>', "epochs (default: the task's recipe)", positiveInt)
    .option('--batch-size <n>', "batch size (default: the task's recipe)", positiveInt)
    .option(...DEVICE)
    .option('--seed <n>', 'seed', (v) => Number(v), 1)
    .option('--save <path>', 'write the trained model (spec + weights)')
    .option('--data-dir <dir>', "where the task's files are (defaults per task)")
    .option(...PRINT_JSON)
    .option(...QUIET)
    .action(runTrainCommand);
}

/** `petra train`: the baseline of a task — load real data, build the task's model, train, report test metrics. */
export async function runTrainCommand(opts: TrainCommandOptions): Promise<void> {
  const task = getTask(opts.task);
  const epochs = opts.epochs ?? task.training.epochs;
  const ds = task.load(opts.dataDir);
  using model = Model.build(task.model(ds), { device: opts.device, seed: opts.seed });
  const interactive = !opts.quiet && !opts.json && process.stderr.isTTY;
  const bar = interactive
    ? new SingleBar(
        { format: 'epoch {epoch}/{epochs} |{bar}| {percentage}% loss {loss} ETA {eta}s', stream: process.stderr },
        Presets.shades_classic,
      )
    : undefined;
  if (!opts.quiet && !opts.json)
    console.error(`petra: ${task.description}; ${model.parameterCount.toLocaleString()} parameters on ${model.device}`);
  const result = await train(
    model,
    { train: ds.train, ...(ds.val ? { val: ds.val } : {}) },
    {
      ...task.training,
      epochs,
      batchSize: opts.batchSize ?? task.training.batchSize,
      seed: opts.seed,
      progressIntervalMs: 250,
      onProgress: bar
        ? (p) => {
            if (p.batch <= 1 || !bar.isActive) bar.start(p.batches, 0, { epoch: p.epoch + 1, epochs, loss: '-' });
            bar.update(p.batch, { epoch: p.epoch + 1, epochs, loss: p.loss.toFixed(4) });
          }
        : undefined,
      onEpoch: (e) => {
        bar?.stop();
        if (!opts.quiet && !opts.json) {
          const val = e.val
            ? ` val ${e.val.accuracy !== undefined ? `accuracy ${(e.val.accuracy * 100).toFixed(2)}%` : `rmse ${e.val.rmse!.toFixed(4)}`}`
            : '';
          console.error(`epoch ${e.epoch + 1}: loss ${e.trainLoss.toFixed(4)}${val} (${e.seconds.toFixed(1)} s)`);
        }
      },
    },
  );
  const test = await evaluate(model, ds.test);
  if (opts.save) await model.save(opts.save);
  if (opts.json) {
    console.log(
      JSON.stringify(
        { task: task.name, parameters: model.parameterCount, device: model.device, history: result.history, test },
        null,
        2,
      ),
    );
    return;
  }
  const quality =
    test.accuracy !== undefined
      ? `test accuracy ${(test.accuracy * 100).toFixed(2)}%  macro-F1 ${test.macroF1!.toFixed(4)}`
      : `test RMSE ${test.rmse!.toFixed(4)}  MAE ${test.mae!.toFixed(4)}`;
  console.log(`${task.name}: ${quality}  (${test.samples} samples, ${result.seconds.toFixed(1)} s training)`);
  if (opts.save) console.log(`saved to ${opts.save}`);
}
