// TorchScript export of every model family and compression variant: the written file loads back through
// TorchScriptModel and runs in PyTorch itself (Debian's python3-torch, scripts/run-torchscript-in-pytorch.py) with
// petra's outputs (max |Δ| ≤ 1e-5: the same ATen and quantized kernels run on both sides).
import test, { type ExecutionContext } from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decompose } from '../../lib/compress/lowrank.js';
import { prune } from '../../lib/compress/prune.js';
import { quantize, type QuantizeOptions } from '../../lib/compress/quantize.js';
import type { TensorData } from '../../lib/data/types.js';
import { ConfigError } from '../../lib/core/errors.js';
import { saveTorchScript, torchScriptExportBlockers, torchScriptPlan } from '../../lib/interop/torchscript-export.js';
import { TorchScriptModel } from '../../lib/lab/benchmark.js';
import { loadFashionMnist } from '../../lib/data/idx.js';
import { Model } from '../../lib/runtime/model.js';
import { info, setThreads } from '../../lib/runtime/info.js';
import { smallCnn } from '../../lib/graph/builders.js';
import { train } from '../../lib/runtime/train.js';
import type { ModelSpec } from '../../lib/graph/types.js';
import { accuracy, argmaxRows, FAMILIES, maxAbsDiff, trainedModel, type Family } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'petra-torchscript-export-'));
const N = 64;

function calibration(f: Family): QuantizeOptions['calibration'] {
  return { data: f.data(256, 3), batches: 4, batchSize: 64 };
}

/** The quantized engine an int8 model's packed weights were made for (null for float models). */
function engineOf(spec: ModelSpec): string | null {
  const q = spec.nodes.find((n) => n.op.startsWith('q'));
  return q ? ((q.attrs as { engine?: string }).engine ?? 'onednn') : null;
}

const file = (f: Family, variant: string): string =>
  join(dir, `${f.name}-${variant}.pt`.replace(/[^A-Za-z0-9.-]/g, '_'));

/** Exports `m`, loads the file back and runs both on the same N samples; returns the file, its report and max |Δ|. */
async function roundTrip(
  t: ExecutionContext,
  m: Model,
  f: Family,
  variant: string,
): Promise<{ path: string; bytes: number; diff: number; int8: number; checked: number }> {
  // petra at one thread, as TorchScriptModel's synchronous forward runs: on oneDNN's AVX2 int8 kernels (CPUs without
  // VNNI) a ResNet's outputs shift by a rounding-boundary code with the thread count, which is not what this checks.
  const threads = info().threads.intraOp;
  setThreads(1);
  try {
    return await roundTripAtOneThread(t, m, f, variant);
  } finally {
    setThreads(threads);
  }
}

async function roundTripAtOneThread(
  t: ExecutionContext,
  m: Model,
  f: Family,
  variant: string,
): Promise<{ path: string; bytes: number; diff: number; int8: number; checked: number }> {
  const path = file(f, variant);
  const report = await saveTorchScript(m, path);
  const x = f.data(N, 7).inputs;
  const ref = await m.forward(x, { batchSize: N });
  using script = TorchScriptModel.load(path);
  const got = script.native.forward(x);
  t.deepEqual(got.shape, ref.shape, `${variant}: output shape`);
  return {
    path,
    bytes: statSync(path).size,
    diff: maxAbsDiff(ref.data, got.data),
    int8: report.int8.static.length + report.int8.dynamic.length + report.int8.gru.length,
    checked: report.check!.maxAbsDiff,
  };
}

for (const f of FAMILIES) {
  // Serial: the families share the two cores; QNNPACK work is one forward at a time anyway (compute_thread.h).
  test.serial(
    `${f.name}: float, pruned, low-rank and int8 TorchScript exports reproduce petra's outputs`,
    async (t) => {
      using model = await trainedModel(f);
      const float = await roundTrip(t, model, f, 'float');
      t.true(float.diff <= 1e-5 && float.checked <= 1e-5, `float: ${float.diff}`);
      t.is(float.int8, 0);

      const pruned = await prune(model, { criterion: 'l1', ratio: 0.5 });
      using prunedModel = pruned.model;
      const p = await roundTrip(t, prunedModel, f, 'pruned');
      t.true(p.diff <= 1e-5, `pruned: ${p.diff}`);
      t.true(p.bytes < float.bytes, `a pruned model exports smaller (${p.bytes} vs ${float.bytes} B)`);

      const lr = await decompose(model, { rule: 'explained_variance', threshold: 0.9, skipUnprofitable: false });
      using lowrank = lr.model;
      t.true(lowrank.spec.nodes.some((n) => n.op.startsWith('lowrank_')));
      const l = await roundTrip(t, lowrank, f, 'lowrank');
      t.true(l.diff <= 1e-5, `low-rank: ${l.diff}`);

      const variants: [string, Model, QuantizeOptions][] = [
        ['static-onednn', model, { mode: 'static', backend: 'onednn', calibration: calibration(f) }],
        [
          'static-qnnpack-per-tensor',
          model,
          { mode: 'static', backend: 'qnnpack', perChannel: false, calibration: calibration(f) },
        ],
        // The export's GRU recurrence calls linear_dynamic per step: compare with petra's same recurrence (its fused
        // loop agrees up to float rounding, which can flip a code at a rounding boundary: quantize-gru.test.ts).
        ['dynamic', model, { mode: 'dynamic', gruRecurrence: 'linear_dynamic' }],
        ['lowrank-static', lowrank, { mode: 'static', backend: 'qnnpack', calibration: calibration(f) }],
      ];
      for (const [name, source, options] of variants) {
        const q = await quantize(source, options);
        using qm = q.model;
        const o = await roundTrip(t, qm, f, name);
        t.true(o.diff <= 1e-5, `${name}: max |Δ| ${o.diff}`);
        t.true(o.int8 > 0, `${name}: int8 layers`);
      }
    },
  );
}

test.serial(
  "Fashion-MNIST (1 epoch): TorchScript float and int8 exports give petra's test predictions; int8 files are ≤ 0.35× float",
  async (t) => {
    const data = loadFashionMnist({ limitTrain: 3000, limitTest: 1000 });
    using model = Model.build(smallCnn({ inputShape: [1, 28, 28], classes: 10, widths: [16, 32], hidden: 64 }), {
      device: 'cpu',
      seed: 1,
    });
    await train(
      model,
      { train: data.train },
      { epochs: 1, optimizer: 'sgd', lr: 0.05, momentum: 0.9, batchSize: 64, seed: 1 },
    );
    const q = await quantize(model, {
      mode: 'static',
      backend: 'onednn',
      calibration: { data: data.train, batches: 8 },
    });
    using qm = q.model;
    const sizes: number[] = [];
    for (const [name, m] of [
      ['float', model],
      ['static int8', qm],
    ] as const) {
      const path = join(dir, `fashion-${name.replace(' ', '-')}.pt`);
      const report = await saveTorchScript(m, path);
      sizes.push(report.bytes);
      using script = TorchScriptModel.load(path);
      const petra = argmaxRows(await m.forward(data.test.inputs));
      const exported = argmaxRows(script.native.forward(data.test.inputs));
      const a = accuracy(petra, data.test.target);
      t.log(
        `${name}: petra ${(100 * a).toFixed(2)}%, TorchScript ${(100 * accuracy(exported, data.test.target)).toFixed(2)}%, ${(report.bytes / 1024).toFixed(1)} kB`,
      );
      t.deepEqual(exported, petra, `${name}: the same top-1 on every test image`);
      t.true(a > 0.6, `${name}: a trained model (${a})`);
    }
    t.true(sizes[1]! <= 0.35 * sizes[0]!, `int8 ${sizes[1]} B vs float ${sizes[0]} B`);
  },
);

test.serial("every family, float and int8, runs in PyTorch (torch.jit.load) with petra's outputs", async (t) => {
  const manifest: {
    file: string;
    engine: string | null;
    inputs: { dtype: string; shape: number[]; data: number[] }[];
  }[] = [];
  const expected: TensorData[] = [];
  for (const f of FAMILIES) {
    using model = await trainedModel(f);
    const x = f.data(16, 11).inputs;
    const variants: [string, () => Promise<Model>][] = [
      ['py-float', async () => model],
      [
        'py-static',
        async () => (await quantize(model, { mode: 'static', backend: 'qnnpack', calibration: calibration(f) })).model,
      ],
      ['py-dynamic', async () => (await quantize(model, { mode: 'dynamic' })).model],
    ];
    for (const [name, make] of variants) {
      const m = await make();
      try {
        const path = file(f, name);
        await saveTorchScript(m, path);
        expected.push(await m.forward(x));
        manifest.push({
          file: path,
          engine: engineOf(m.spec),
          inputs: f
            .spec()
            .inputs.map((inp, i) => ({ dtype: inp.dtype, shape: x[i]!.shape, data: Array.from(x[i]!.data) })),
        });
      } finally {
        if (m !== model) m.dispose();
      }
    }
  }
  const manifestFile = join(dir, 'manifest.json');
  writeFileSync(manifestFile, JSON.stringify(manifest));
  const run = spawnSync(
    '/usr/bin/python3',
    [join(import.meta.dirname, '..', '..', 'scripts', 'run-torchscript-in-pytorch.py'), manifestFile],
    {
      encoding: 'utf8',
      maxBuffer: 64 << 20,
      env: { ...process.env, OMP_NUM_THREADS: '1' },
    },
  );
  t.is(run.status, 0, `PyTorch (Debian's python3-torch; scripts/setup-debian.sh installs it) failed:\n${run.stderr}`);
  const outputs = JSON.parse(run.stdout) as { file: string; shape: number[]; data: number[]; torch: string }[];
  t.is(outputs.length, manifest.length);
  outputs.forEach((o, i) => {
    t.deepEqual(o.shape, expected[i]!.shape, o.file);
    const diff = maxAbsDiff(expected[i]!.data, o.data);
    t.true(diff <= 1e-5, `${o.file} in PyTorch ${o.torch}: max |Δ| ${diff}`);
  });
});

test.serial(
  'refused: int8 plans of engine intmm and fake-quantized layers, listed by node; nothing is written',
  async (t) => {
    const f = FAMILIES[0]!;
    using model = await trainedModel(f);
    const q = await quantize(model, { mode: 'dynamic', backend: 'intmm' });
    using qm = q.model;
    const path = join(dir, 'refused.pt');
    await t.throwsAsync(saveTorchScript(qm, path), {
      instanceOf: ConfigError,
      message: /cannot export to TorchScript: node '.+' \(qlinear\) is an int8 layer of engine 'intmm'/,
    });
    t.false(existsSync(path));
    const spec = structuredClone(model.spec);
    (spec.nodes.find((n) => n.op === 'linear')!.attrs as { fakeQuant?: boolean }).fakeQuant = true;
    t.deepEqual(
      torchScriptExportBlockers(spec).map((b) => b.op),
      ['linear'],
    );
  },
);

test('the generated forward reads like the graph: one statement per node, named after it, inputs as arguments', (t) => {
  const spec = FAMILIES[4]!.spec();
  const plan = torchScriptPlan(spec, new Set());
  const names = spec.inputs.map((i) => i.name);
  t.true(
    plan.source.startsWith(`def forward(self, ${names.map((n) => `${n}: Tensor`).join(', ')}) -> Tensor:`),
    plan.source.split('\n')[0],
  );
  for (const node of spec.nodes.filter((n) => n.op !== 'dropout'))
    t.regex(plan.source, new RegExp(`# ${node.op}$`, 'm'), node.name);
  // One submodule per layer with weights, holding PyTorch's tensor names.
  const gru = plan.modules.find((m) => m.name === 'gru')!;
  t.true(
    gru.tensors.some((x) => x.name === 'weight_ih_l0_reverse' && x.from === 'gru.weight_ih_l0_reverse' && x.parameter),
  );
});
