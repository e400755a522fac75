// TorchScript import: the fixtures of scripts/make-torchscript-fixtures.py (a traced torchvision-style ResNet, a
// scripted InceptionTime, a scripted embedding + GRU classifier, a traced MLP, traced variants of the 2-d ops and a
// traced bidirectional GRU) become petra models that reproduce
// PyTorch's own saved outputs and TorchScript's forward; unsupported ops are listed with their source locations;
// `--model x.pt` runs a search from the imported model.
import test from 'ava';
import { evaluate } from '../../lib/runtime/train.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TensorData } from '../../lib/data/types.js';
import { ConfigError, DataError } from '../../lib/core/errors.js';
import {
  buildWithWeights,
  compareWithTorchScript,
  importTorchScript,
  maxAbsDiff,
  TorchScriptImportError,
  torchScriptToSpec,
} from '../../lib/interop/torchscript-import.js';
import { normalizeConfig } from '../../lib/pipeline/config.js';
import { resolveProblem } from '../../lib/pipeline/problem.js';
import { search } from '../../lib/search-api.js';
import type { InputDtype } from '../../lib/graph/types.js';
import { UCR_DIR } from '../helpers/tiny.js';
import { tempDir } from '../e2e/helpers/tiny.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'torchscript');

interface Meta {
  how: string;
  input: { shape: number[]; dtype: InputDtype; vocab?: number };
  output: { shape: number[]; data: number[] };
}
const meta = (name: string): Meta => JSON.parse(readFileSync(join(FIXTURES, `${name}.json`), 'utf8')) as Meta;

/** The fixture input, element i of the flat tensor as the generator script computes it. */
function fixtureInput(m: Meta): TensorData {
  const n = m.input.shape.reduce((a, b) => a * b, 1);
  if (m.input.dtype === 'int64')
    return { data: Int32Array.from({ length: n }, (_, i) => (i * 7) % m.input.vocab!), shape: m.input.shape };
  return {
    data: Float32Array.from({ length: n }, (_, i) => (((i * 7919) % 2001) - 1000) / 1000),
    shape: m.input.shape,
  };
}

const CASES: { name: string; ops: string[] }[] = [
  {
    name: 'resnet-block',
    ops: ['conv2d', 'batchnorm2d', 'relu', 'maxpool2d', 'add', 'adaptiveavgpool2d', 'flatten', 'linear'],
  },
  {
    name: 'inception-time',
    ops: ['conv1d', 'maxpool1d', 'concat', 'batchnorm1d', 'relu', 'add', 'adaptiveavgpool1d', 'flatten', 'linear'],
  },
  { name: 'gru-classifier', ops: ['embedding', 'gru', 'linear'] },
  { name: 'mlp', ops: ['flatten', 'linear', 'layernorm', 'gelu', 'dropout', 'tanh', 'sigmoid'] },
  {
    name: 'ops-2d',
    ops: [
      'conv2d',
      'relu',
      'dropout',
      'avgpool2d',
      'sigmoid',
      'adaptivemaxpool2d',
      'flatten',
      'linear',
      'batchnorm1d',
      'tanh',
    ],
  },
  { name: 'bigru', ops: ['gru', 'add', 'linear'] },
];

for (const c of CASES) {
  test(`${c.name}: imports, matches PyTorch's saved output and TorchScript's forward (≤ 1e-5)`, async (t) => {
    const m = meta(c.name);
    const file = join(FIXTURES, `${c.name}.pt`);
    const imported = await importTorchScript(file, { inputShape: m.input.shape.slice(1), inputDtype: m.input.dtype });
    using model = imported.model;
    t.true(imported.maxAbsDiff <= 1e-5, `random input: ${imported.maxAbsDiff}`);
    t.deepEqual(imported.report.check?.tolerance, 1e-5);
    const ops = new Set(imported.spec.nodes.map((n) => n.op));
    for (const op of c.ops) t.true(ops.has(op as never), `${c.name} has a ${op} node`);
    const input = fixtureInput(m);
    const out = await model.forward(input);
    const diffPyTorch = maxAbsDiff(out, { data: Float32Array.from(m.output.data), shape: m.output.shape });
    t.true(diffPyTorch <= 1e-5, `PyTorch's saved output: ${diffPyTorch}`);
    const diffScript = await compareWithTorchScript(file, model, [input]);
    t.true(diffScript <= 1e-5, `TorchScript forward on the fixture input: ${diffScript}`);
    t.log(
      `${c.name} (${m.how}): ${imported.spec.nodes.length} nodes, ${imported.report.parameters} parameters, max abs diff ` +
        `random ${imported.maxAbsDiff.toExponential(2)}, vs PyTorch ${diffPyTorch.toExponential(2)}, vs TorchScript ${diffScript.toExponential(2)}`,
    );
  });
}

test('node names follow the module attributes; weights are complete; the spec name carries the file hash', (t) => {
  const { spec, weights, report } = torchScriptToSpec(join(FIXTURES, 'resnet-block.pt'), { inputShape: [3, 32, 32] });
  const names = spec.nodes.map((n) => n.name);
  for (const name of ['conv1', 'bn1', 'layer1_conv1', 'layer2_downsample_0', 'layer2_downsample_1', 'fc'])
    t.true(names.includes(name), name);
  t.deepEqual(weights['layer2_downsample_1.running_var']?.shape, [32]);
  t.deepEqual(weights['fc.weight']?.shape, [10, 32]);
  t.regex(spec.name ?? '', /^torchscript resnet-block\.pt sha256:[0-9a-f]{12}$/);
  t.deepEqual(spec.task, { kind: 'classification', classes: 10 });
  t.is(
    spec.nodes.find((n) => n.name === 'bn1')?.attrs &&
      (spec.nodes.find((n) => n.name === 'bn1')!.attrs as { eps?: number }).eps,
    0.001,
  );
  t.true(
    report.nodes.every((n) => /\.py:\d+:\d+$/.test(n.location)),
    'every node has a Python source location',
  );
  // The inception fixture's input feeds no embedding: float32; the GRU fixture's feeds one: int64 without being told.
  t.is(torchScriptToSpec(join(FIXTURES, 'gru-classifier.pt'), { inputShape: [12] }).spec.inputs[0]!.dtype, 'int64');
});

test('unsupported ops: one ConfigError listing each op with its source location', (t) => {
  const error = t.throws(() => torchScriptToSpec(join(FIXTURES, 'unsupported.pt'), { inputShape: [2, 10] }), {
    instanceOf: TorchScriptImportError,
  });
  t.true(error instanceof ConfigError);
  const ops = error!.unsupported.map((u) => u.op);
  t.deepEqual(ops, ['aten::sort', 'aten::einsum']);
  for (const u of error!.unsupported) t.regex(u.location, /make-torchscript-fixtures\.py:\d+:\d+$/);
  t.regex(error!.message, /aten::sort at .*make-torchscript-fixtures\.py:\d+/);
  t.regex(error!.message, /aten::einsum at .*make-torchscript-fixtures\.py:\d+/);
});

test('bad inputs: a missing file, a wrong input shape, the wrong number of shapes', (t) => {
  t.throws(() => torchScriptToSpec('/nonexistent/model.pt', { inputShape: [3] }), {
    instanceOf: DataError,
    message: /no such file/,
  });
  const shape = t.throws(() => torchScriptToSpec(join(FIXTURES, 'resnet-block.pt'), { inputShape: [1, 32, 32] }), {
    instanceOf: ConfigError,
  });
  t.regex(shape!.message, /3 channels|channels/);
  t.throws(
    () =>
      torchScriptToSpec(join(FIXTURES, 'mlp.pt'), {
        inputShape: [
          [4, 8],
          [4, 8],
        ],
      }),
    { instanceOf: ConfigError, message: /1 input\(s\), 2 input shape/ },
  );
});

test('search --model inception-time.pt on GunPoint: the imported model is the problem (with its weights), 2 evaluations', async (t) => {
  const dir = tempDir('torchscript');
  const model = join(FIXTURES, 'inception-time.pt');
  const data = { format: 'ucr' as const, path: join(UCR_DIR, 'GunPoint_TRAIN.ts') };
  const problem = resolveProblem(normalizeConfig({ data, model }));
  t.regex(problem.modelSource, /TorchScript .*inception-time\.pt/);
  t.truthy(problem.pretrained);
  // The pretrained weights reproduce TorchScript on the task's own rows.
  using imported = buildWithWeights(problem.spec, problem.pretrained!.weights);
  const rows = {
    data: (problem.dataset.test.inputs[0]!.data as Float32Array).subarray(0, 8 * 150),
    shape: [8, 1, 150],
  };
  t.true((await compareWithTorchScript(model, imported, [rows])) <= 1e-5);

  // With no --baseline-epochs the imported model is the baseline as it is: its test metrics are the imported model's.
  const outcome = await search({
    data,
    model,
    studyDir: join(dir, 'studies'),
    cacheDir: join(dir, 'cache'),
    population: 2,
    budget: '2evals',
    seed: 3,
    finetune: { maxEpochs: 1 },
    measure: { timeCapMs: 100, repeats: 1 },
    stages: ['prune', 'quantize'],
  }).done;
  t.is(outcome.totalEvaluations, 2);
  t.true(outcome.front.length > 0);
  const direct = await evaluate(imported, problem.dataset.test);
  t.is(outcome.baselineTest.accuracy, direct.accuracy);
  t.is(outcome.baselineTest.loss, direct.loss);
});
