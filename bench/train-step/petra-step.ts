// petra side of bench/train-step: one process, one measurement. Prints {"msPerStep": ...}.
// Usage: node --import=tsx bench/train-step/petra-step.ts <cnn|mlp> <sgd|adam> <steps> <warmup>
import { Model } from '../../lib/runtime/model.js';
import { DeviceData } from '../../lib/runtime/device-data.js';
import { train } from '../../lib/runtime/train.js';
import { info } from '../../lib/runtime/info.js';
import { mlp, smallCnn } from '../../lib/graph/builders.js';
import { floatTensor, intTensor } from '../../test/helpers/tiny.js';

const [modelName = 'cnn', optimizer = 'sgd', stepsArg = '200', warmupArg = '20'] = process.argv.slice(2);
const steps = Number(stepsArg);
const warmup = Number(warmupArg);
const batch = 64;
const spec =
  modelName === 'cnn'
    ? smallCnn({ inputShape: [1, 28, 28], classes: 10 })
    : mlp({ inputShape: [1, 28, 28], hidden: [128], classes: 10 });
using model = Model.build(spec, { seed: 1 });
const make = (count: number, seed: number) =>
  DeviceData.from({
    inputs: [floatTensor([count * batch, 1, 28, 28], seed)],
    target: intTensor([count * batch], 10, seed),
  });
using warm = make(warmup, 1);
using timed = make(steps, 2);
const opts = {
  epochs: 1,
  batchSize: batch,
  optimizer: optimizer as 'sgd' | 'adam',
  lr: optimizer === 'sgd' ? 0.01 : 1e-3,
  momentum: 0.9,
} as const;
await train(model, { train: warm }, opts);
// The native epoch's own clock: the same region the Python side times (shuffle + batches), no JS in between.
const cpuStart = process.cpuUsage();
const result = await train(model, { train: timed }, opts);
const cpu = process.cpuUsage(cpuStart);
// CPU time of the whole process (all threads): on a loaded machine it tracks the work done, where wall time does not.
console.log(
  JSON.stringify({
    msPerStep: (result.history[0]!.seconds * 1000) / steps,
    cpuMsPerStep: (cpu.user + cpu.system) / 1000 / steps,
    libtorch: info().libtorchVersion,
    threads: info().threads.intraOp,
  }),
);
