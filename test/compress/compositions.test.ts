// Compression operators composed in several orders, on five model families: every intermediate model runs, shrinks
// where the operator should shrink it, saves and loads with identical outputs, leaves its input model untouched,
// and the reports chain (each step starts where the previous one ended).
import test, { type ExecutionContext } from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decompose, truncateRanks } from '../../lib/compress/lowrank.js';
import { prune } from '../../lib/compress/prune.js';
import { isQuantized, quantize, type QuantizeReport } from '../../lib/compress/quantize.js';
import type { LowrankReport, PruneReport } from '../../lib/compress/report.js';
import type { TabularSplit } from '../../lib/data/types.js';
import { modelSize } from '../../lib/lab/size.js';
import { Model } from '../../lib/runtime/model.js';
import { gruSequenceClassifier, inceptionTime, mlp, resnetCifar, smallCnn } from '../../lib/graph/builders.js';
import type { ModelSpec } from '../../lib/graph/types.js';
import { parameterCount } from '../../lib/graph/validate.js';
import { train } from '../../lib/runtime/train.js';
import { floatTensor, intTensor } from '../helpers/tiny.js';

const dir = mkdtempSync(join(tmpdir(), 'petra-compose-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

type Report = PruneReport | LowrankReport | QuantizeReport;

interface Family {
  name: string;
  spec: ModelSpec;
  data: TabularSplit;
  gru?: boolean;
}

const N = 32;
const families: Family[] = [
  {
    name: 'MLP',
    spec: mlp({ inputShape: [12], hidden: [32, 16], classes: 3, batchnorm: true }),
    data: { inputs: [floatTensor([N, 12], 1)], target: intTensor([N], 3, 2) },
  },
  {
    name: 'smallCnn',
    spec: smallCnn({ inputShape: [1, 12, 12], classes: 4, widths: [8, 16], hidden: 24 }),
    data: { inputs: [floatTensor([N, 1, 12, 12], 3)], target: intTensor([N], 4, 4) },
  },
  {
    name: 'ResNet-8',
    spec: resnetCifar({ depth: 8, classes: 10, inputShape: [3, 12, 12] }),
    data: { inputs: [floatTensor([N, 3, 12, 12], 5)], target: intTensor([N], 10, 6) },
  },
  {
    name: 'InceptionTime',
    spec: inceptionTime({
      inputShape: [2, 32],
      depth: 3,
      filters: 8,
      kernelSizes: [9, 5, 3],
      bottleneck: 8,
      classes: 3,
    }),
    data: { inputs: [floatTensor([N, 2, 32], 7)], target: intTensor([N], 3, 8) },
  },
  {
    name: 'GRU classifier',
    gru: true,
    spec: gruSequenceClassifier({
      seqLen: 6,
      categorical: [{ name: 'mcc', cardinality: 20, embeddingDim: 8 }],
      numericFeatures: 3,
      hiddenSize: 16,
      headHidden: 16,
      classes: 3,
    }),
    data: { inputs: [intTensor([N, 6], 20, 9), floatTensor([N, 6, 3], 10)], target: intTensor([N], 3, 11) },
  },
];

/** A trained float model: two SGD steps (batch 16) so BatchNorm statistics and affine parameters are real. */
async function trained(f: Family): Promise<Model> {
  const model = Model.build(f.spec, { seed: 1 });
  await train(model, { train: f.data }, { epochs: 1, batchSize: 16, lr: 0.05, momentum: 0.9, seed: 1 });
  return model;
}

const outputs = async (m: Model, f: Family): Promise<number[]> => Array.from((await m.forward(f.data.inputs)).data);

/**
 * One composition step: runs `op` on `input`, checks that the input model's spec and outputs did not change, that the
 * new model runs, saves and loads with identical outputs, and records its report. Returns the new model.
 */
async function step(
  t: ExecutionContext,
  f: Family,
  input: Model,
  reports: Report[],
  label: string,
  op: (m: Model) => Promise<{ model: Model; report: Report }>,
): Promise<Model> {
  const spec = structuredClone(input.spec);
  const before = await outputs(input, f);
  const { model, report } = await op(input);
  t.deepEqual(input.spec, spec, `${f.name} ${label}: the input spec is untouched`);
  t.deepEqual(await outputs(input, f), before, `${f.name} ${label}: the input weights are untouched`);
  const out = await model.forward(f.data.inputs);
  t.deepEqual(
    out.shape,
    [N, f.spec.task.kind === 'classification' ? f.spec.task.classes : 0],
    `${f.name} ${label}: forward runs`,
  );
  t.true(Array.from(out.data).every(Number.isFinite), `${f.name} ${label}: finite outputs`);
  const path = join(dir, `${t.title.replace(/\W+/g, '_')}-${reports.length}-${label}.pt`);
  await model.save(path);
  const back = await Model.load(path);
  try {
    t.deepEqual(back.spec, model.spec, `${f.name} ${label}: the spec round-trips`);
    t.deepEqual(
      await outputs(back, f),
      Array.from(out.data),
      `${f.name} ${label}: save → load gives identical outputs`,
    );
  } finally {
    back.dispose();
  }
  reports.push(report);
  return model;
}

/** The reports chain: each float step starts at the parameter count the previous one ended at. */
function checkChain(t: ExecutionContext, f: Family, base: Model, reports: Report[]): void {
  let params = base.parameterCount;
  for (const r of reports) {
    t.is(r.parametersBefore, params, `${f.name}: ${r.operator} starts where the previous step ended`);
    if (r.operator !== 'quantize') params = r.parametersAfter;
  }
}

const prune30 = (m: Model) => prune(m, { criterion: 'l1', ratio: 0.3 });
const prune50 = (m: Model) => prune(m, { criterion: 'l1', ratio: 0.5 });

async function checkShrinks(
  t: ExecutionContext,
  f: Family,
  from: Model,
  to: Model,
  report: PruneReport | LowrankReport,
  strict = true,
): Promise<void> {
  t.is(report.parametersAfter, to.parameterCount, `${f.name} ${report.operator}: report matches the model`);
  t.is(to.parameterCount, parameterCount(to.spec));
  if (strict)
    t.true(
      to.parameterCount < from.parameterCount,
      `${f.name} ${report.operator}: ${from.parameterCount} → ${to.parameterCount} parameters`,
    );
  else
    t.true(
      to.parameterCount <= from.parameterCount,
      `${f.name} ${report.operator}: ${from.parameterCount} → ${to.parameterCount} parameters`,
    );
}

/** After int8: the report names every layer, some layers are int8 (embeddings stay float; a GRU is int8 only in dynamic mode), the file shrinks. */
async function checkQuantized(
  t: ExecutionContext,
  f: Family,
  from: Model,
  to: Model,
  report: QuantizeReport,
): Promise<void> {
  t.true(isQuantized(to.spec), `${f.name}: quantized spec`);
  const int8 = report.layers.filter((l) => l.kind === 'int8').map((l) => l.name);
  t.true(int8.length >= 1, `${f.name} ${report.mode}: int8 layers ${int8.join(', ')}`);
  if (f.gru) {
    t.like(
      report.layers.find((l) => l.name === 'mcc_embedding'),
      { kind: 'fp32' },
      `${f.name}: the embedding stays float`,
    );
    const dynamic = report.mode === 'dynamic';
    t.like(
      report.layers.find((l) => l.name === 'gru'),
      { kind: dynamic ? 'int8' : 'fp32' },
      `${f.name}: the GRU is int8 only in dynamic mode`,
    );
    t.is(to.spec.nodes.find((n) => n.name === 'gru')!.op, dynamic ? 'qgru' : 'gru');
  }
  const norms = (m: Model): string[] => m.spec.nodes.filter((n) => n.op.startsWith('batchnorm')).map((n) => n.name);
  t.deepEqual(
    [...report.foldedBatchNorms].sort(),
    norms(from)
      .filter((n) => !norms(to).includes(n))
      .sort(),
    `${f.name}: folded batch norms are gone`,
  );
  // Tensor bytes, not file bytes: in models this small the file's per-tensor overhead (~0.5 kB) outweighs the
  // int8 saving once a factorized layer becomes two quantized layers with scales and biases.
  const [a, b] = [await modelSize(from), await modelSize(to)];
  const bytes = (s: typeof a): number => s.parameterBytes + s.bufferBytes;
  t.log(
    `${f.name} ${report.mode}: ${int8.length}/${report.layers.length} layers int8; tensors ${bytes(a)} → ${bytes(b)} B, file ${a.fileBytes} → ${b.fileBytes} B`,
  );
  t.true(bytes(b) < bytes(a), `${f.name} ${report.mode}: tensor bytes ${bytes(a)} → ${bytes(b)}`);
  t.true((b.bytesByDtype.Char ?? 0) > 0, `${f.name} ${report.mode}: int8 tensors are stored`);
  if (report.mode !== 'qat') {
    // Post-training int8 approximates its float input (QAT trains, so it may move away).
    const [x, y] = [await outputs(from, f), await outputs(to, f)];
    const scale = x.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const diff = x.reduce((m, v, i) => Math.max(m, Math.abs(v - y[i]!)), 0);
    t.log(`${f.name} ${report.mode}: max |int8 − float| ${diff.toFixed(4)} (outputs up to ${scale.toFixed(3)})`);
    t.true(diff < 0.1 * scale + 0.02, `${f.name} ${report.mode}: int8 stays close to float`);
  }
}

for (const f of families) {
  test(`${f.name}: prune → lowrank → static int8`, async (t) => {
    using base = await trained(f);
    const reports: Report[] = [];
    using pruned = await step(t, f, base, reports, 'prune', prune50);
    await checkShrinks(t, f, base, pruned, reports[0] as PruneReport);
    using low = await step(t, f, pruned, reports, 'lowrank', (m) =>
      decompose(m, { rule: 'fixed_ratio', threshold: 0.25 }),
    );
    await checkShrinks(t, f, pruned, low, reports[1] as LowrankReport);
    t.true(
      low.spec.nodes.some((n) => n.op.startsWith('lowrank_')),
      `${f.name}: some layer was factorized`,
    );
    using q = await step(t, f, low, reports, 'static', (m) =>
      quantize(m, { mode: 'static', calibration: { data: f.data, batches: 2, batchSize: 16 } }),
    );
    const qr = reports[2] as QuantizeReport;
    t.deepEqual(
      [...qr.composedLowrank].sort(),
      low.spec.nodes
        .filter((n) => n.op.startsWith('lowrank_'))
        .map((n) => n.name)
        .sort(),
    );
    await checkQuantized(t, f, low, q, qr);
    checkChain(t, f, base, reports);
  });

  test(`${f.name}: lowrank → prune → QAT int8`, async (t) => {
    using base = await trained(f);
    const reports: Report[] = [];
    using low = await step(t, f, base, reports, 'lowrank', (m) =>
      decompose(m, { rule: 'fixed_ratio', threshold: 0.5 }),
    );
    await checkShrinks(t, f, base, low, reports[0] as LowrankReport);
    using pruned = await step(t, f, low, reports, 'prune', prune30);
    await checkShrinks(t, f, low, pruned, reports[1] as PruneReport);
    using q = await step(t, f, pruned, reports, 'qat', (m) =>
      quantize(m, { mode: 'qat', qat: { data: f.data, epochs: 1, batchSize: 16, lr: 1e-3 } }),
    );
    await checkQuantized(t, f, pruned, q, reports[2] as QuantizeReport);
    checkChain(t, f, base, reports);
  });

  test(`${f.name}: prune → dynamic int8`, async (t) => {
    using base = await trained(f);
    const reports: Report[] = [];
    using pruned = await step(t, f, base, reports, 'prune', prune30);
    await checkShrinks(t, f, base, pruned, reports[0] as PruneReport);
    using q = await step(t, f, pruned, reports, 'dynamic', (m) => quantize(m, { mode: 'dynamic' }));
    const qr = reports[1] as QuantizeReport;
    t.deepEqual(
      qr.layers
        .filter((l) => l.kind === 'int8')
        .map((l) => l.name)
        .sort(),
      pruned.spec.nodes
        .filter((n) => n.op === 'linear' || n.op === 'gru')
        .map((n) => n.name)
        .sort(),
      `${f.name}: dynamic int8 takes exactly the linear and GRU layers`,
    );
    await checkQuantized(t, f, pruned, q, qr);
    checkChain(t, f, base, reports);
  });

  test(`${f.name}: lowrank → regularized training → truncateRanks → static int8`, async (t) => {
    using base = await trained(f);
    const reports: Report[] = [];
    using low = await step(t, f, base, reports, 'lowrank', (m) =>
      decompose(m, { rule: 'fixed_ratio', threshold: 0.5 }),
    );
    await checkShrinks(t, f, base, low, reports[0] as LowrankReport);
    const result = await train(
      low,
      { train: f.data },
      {
        epochs: 2,
        batchSize: 16,
        optimizer: 'adam',
        lr: 1e-2,
        seed: 2,
        regularization: { hoyer: 0.5, orthogonality: 0.1 },
      },
    );
    t.true(result.history.every((e) => Number.isFinite(e.trainLoss)));
    using cut = await step(t, f, low, reports, 'truncate', (m) => truncateRanks(m, { rule: 'energy', threshold: 0.6 }));
    const tr = reports[1] as LowrankReport;
    await checkShrinks(t, f, low, cut, tr);
    t.deepEqual(
      tr.layers.map((l) => l.name).sort(),
      low.spec.nodes
        .filter((n) => n.op.startsWith('lowrank_'))
        .map((n) => n.name)
        .sort(),
    );
    t.true(tr.layers.every((l) => l.rank <= l.rankBefore && l.rank >= 1));
    using q = await step(t, f, cut, reports, 'static', (m) =>
      quantize(m, { mode: 'static', calibration: { data: f.data, batches: 2, batchSize: 16 } }),
    );
    await checkQuantized(t, f, cut, q, reports[2] as QuantizeReport);
    checkChain(t, f, base, reports);
  });
}
