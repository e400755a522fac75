#!/usr/bin/env node
// CUDA checks and GPU benchmarks, run by scripts/device-check.sh on the GPU machine over the compiled dist/
// (no ava/tsx there). Each check prints PASS/FAIL; results go to OUT/device-results.json. Exit 1 if any check fails.
// Also runs on a CPU-only machine (the CUDA checks then report SKIP) so the script itself can be exercised in CI-less
// sessions: node scripts/device-tests.mjs /tmp/out
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const out = process.argv[2] ?? '/tmp/petra-device-out';
mkdirSync(out, { recursive: true });
const lib = (m) => import(new URL(`../dist/lib/${m}.js`, import.meta.url).href);
const { Model } = await lib('runtime/model');
const { train, evaluate } = await lib('runtime/train');
const { info } = await lib('runtime/info');
const { mlp, smallCnn } = await lib('graph/builders');
const { loadSyntheticImages } = await lib('data/synthetic');
const { benchmark, compare, TorchScriptModel } = await lib('lab/index');
const { createRng } = await lib('data/split');
const { quantize } = await lib('compress/quantize');

const results = { date: new Date().toISOString(), checks: [], benches: {} };
let failed = 0;
async function check(name, fn) {
  const started = performance.now();
  try {
    const detail = await fn();
    const skipped = detail === 'skip';
    results.checks.push({
      name,
      status: skipped ? 'skip' : 'pass',
      detail: skipped ? undefined : detail,
      seconds: (performance.now() - started) / 1000,
    });
    console.log(`${skipped ? 'SKIP' : 'PASS'} ${name}${detail && !skipped ? ` — ${JSON.stringify(detail)}` : ''}`);
  } catch (error) {
    failed++;
    results.checks.push({ name, status: 'fail', error: String(error?.stack ?? error) });
    console.log(`FAIL ${name}: ${error?.stack ?? error}`);
  }
}
function blobs(n, f, seed) {
  const rng = createRng(seed);
  const x = new Float32Array(n * f);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = i % 2;
    for (let j = 0; j < f; j++) x[i * f + j] = rng.normal() + (y[i] ? 1.5 : -1.5);
  }
  return { inputs: [{ data: x, shape: [n, f] }], target: { data: y, shape: [n] } };
}
const median = (v) => {
  const s = [...v].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};

const i = info();
results.info = i;
const cuda = i.cuda.available;
const device = cuda ? 'cuda:0' : 'cpu';
console.log(`LibTorch ${i.libtorchVersion}, CUDA ${cuda ? i.cuda.devices.map((d) => d.name).join(', ') : 'none'}`);

await check('info lists the CUDA device', () => {
  if (!cuda) return 'skip';
  if (!i.cuda.compiled || i.cuda.devices.length === 0 || !i.cuda.devices[0].name)
    throw new Error(JSON.stringify(i.cuda));
  return { device: i.cuda.devices[0].name, driver: i.cuda.driverVersion, runtime: i.cuda.runtimeVersion };
});

await check(`an MLP learns on ${device}`, async () => {
  const data = blobs(4096, 32, 1);
  const model = Model.build(mlp({ inputShape: [32], hidden: [64], classes: 2 }), { device, seed: 1 });
  await train(model, { train: data }, { epochs: 2, batchSize: 64 });
  const m = await evaluate(model, data);
  if (!(m.accuracy > 0.95)) throw new Error(`accuracy ${m.accuracy}`);
  model.dispose();
  return { accuracy: m.accuracy };
});

await check(`the small CNN learns synthetic colour images on ${device}`, async () => {
  const ds = loadSyntheticImages({ trainSize: 4000, testSize: 1000, seed: 1 });
  const model = Model.build(smallCnn({ inputShape: [3, 32, 32], classes: ds.task.classes }), { device, seed: 1 });
  const r = await train(model, { train: ds.train }, { epochs: 4, batchSize: 64, optimizer: 'adam', lr: 2e-3 });
  const m = await evaluate(model, ds.test);
  if (!(m.accuracy > 2 / ds.task.classes)) throw new Error(`accuracy ${m.accuracy}`);
  const path = join(out, 'cnn-cuda.pt');
  await model.save(path);
  const back = await Model.load(path, { device });
  const a = await model.forward(ds.test.inputs[0]);
  const b = await back.forward(ds.test.inputs[0]);
  if (a.data.some((v, k) => v !== b.data[k])) throw new Error('save/load changed the outputs');
  model.dispose();
  back.dispose();
  return { accuracy: m.accuracy, epochSeconds: r.history.map((h) => h.seconds) };
});

await check(`benchmark on ${device} (CUDA events, peak memory)`, async () => {
  const model = Model.build(smallCnn({ inputShape: [1, 28, 28], classes: 10 }), { device, seed: 1 });
  const r = await benchmark(model, { batchSizes: [1, 64], timeCapMs: 1500 });
  if (cuda && r.batches[0].peakKind !== 'cuda-max-allocated') throw new Error(r.batches[0].peakKind);
  const self = await compare(model, model, { batchSize: 64, rounds: 8 });
  if (self.verdict !== 'same') throw new Error(`self-comparison verdict ${self.verdict}`);
  model.dispose();
  results.benches.smallCnnLatency = r;
  return {
    medianMs: r.batches.map((b) => b.medianMs),
    peakBytes: r.batches.map((b) => b.peakBytes),
    selfRatio: self.ratio,
    selfVerdict: self.verdict,
  };
});

await check('CUDA-graph mode: replays of the captured forward, faster than eager launches at batch 1', async () => {
  if (!cuda) return 'skip';
  const model = Model.build(smallCnn({ inputShape: [3, 32, 32], classes: 10 }), { device, seed: 1 });
  const eager = await benchmark(model, { batchSizes: [1, 64], timeCapMs: 1500 });
  const graph = await benchmark(model, { batchSizes: [1, 64], timeCapMs: 1500, cudaGraph: true });
  model.dispose();
  if (!graph.cudaGraph) throw new Error('report does not say cudaGraph');
  const rows = eager.batches.map((b, k) => ({
    batch: b.batchSize,
    eagerMs: b.medianMs,
    graphMs: graph.batches[k].medianMs,
    ratio: graph.batches[k].medianMs / b.medianMs,
  }));
  results.benches.cudaGraph = rows;
  if (!(rows[0].ratio < 1)) throw new Error(`graph replay not faster at batch 1: ${JSON.stringify(rows[0])}`);
  return rows;
});

await check('TorchScript on the GPU: petra median vs torch.utils.benchmark (target ≤ 1.05×)', async () => {
  if (!cuda) return 'skip';
  const ref = JSON.parse(
    execFileSync('python3', ['bench/gpu/torchscript_ref.py', out, device]).toString().trim().split('\n').pop(),
  );
  const script = TorchScriptModel.load(ref.model, { device });
  const r = await script.benchmark([[3, 32, 32]], { batchSizes: [1, 64], targetRelativeCi: 0.01, timeCapMs: 4000 });
  script.dispose();
  const rows = r.batches.map((b) => ({
    batch: b.batchSize,
    petraMs: b.medianMs,
    torchMs: ref.medianMs[String(b.batchSize)],
    ratio: b.medianMs / ref.medianMs[String(b.batchSize)],
  }));
  results.benches.torchscript = { torch: ref.torch, rows, host: r.host };
  return rows;
});

await check(`train-step on ${device}: petra vs PyTorch, same model and batch`, async () => {
  if (!cuda) return 'skip';
  const rows = [];
  for (const [name, optimizer, steps] of [
    ['cnn', 'sgd', 300],
    ['mlp', 'sgd', 1000],
    ['cnn', 'adam', 300],
  ]) {
    const p = [],
      t = [];
    for (let k = 0; k < 5; k++) {
      const spec =
        name === 'cnn'
          ? smallCnn({ inputShape: [1, 28, 28], classes: 10 })
          : mlp({ inputShape: [1, 28, 28], hidden: [128], classes: 10 });
      const model = Model.build(spec, { device, seed: 1 });
      const rng = createRng(k);
      const make = (n) => {
        const x = new Float32Array(n * 784);
        for (let j = 0; j < x.length; j++) x[j] = rng.normal();
        const y = new Int32Array(n);
        for (let j = 0; j < n; j++) y[j] = rng.int(10);
        return { inputs: [{ data: x, shape: [n, 1, 28, 28] }], target: { data: y, shape: [n] } };
      };
      const opts = { epochs: 1, batchSize: 64, optimizer, lr: optimizer === 'sgd' ? 0.01 : 1e-3, momentum: 0.9 };
      await train(model, { train: make(20 * 64) }, opts);
      const r = await train(model, { train: make(steps * 64) }, opts);
      p.push((r.history[0].seconds * 1000) / steps);
      model.dispose();
      const py = JSON.parse(
        execFileSync('python3', ['bench/train-step/torch_step.py', name, optimizer, String(steps), '20', '4', device])
          .toString()
          .trim()
          .split('\n')
          .pop(),
      );
      t.push(py.msPerStep);
    }
    rows.push({
      model: name,
      optimizer,
      petraMs: median(p),
      torchMs: median(t),
      ratio: median(p) / median(t),
      petra: p,
      torch: t,
    });
  }
  results.benches.trainStep = rows;
  return rows.map((r) => ({ model: r.model, optimizer: r.optimizer, ratio: Number(r.ratio.toFixed(3)) }));
});

await check(
  `int8 GEMM on ${device} (quantize backend ${cuda ? 'cuda: torch._int_mm' : 'intmm: CPU reference'})`,
  async () => {
    const spec = mlp({ inputShape: [1024], hidden: [1024, 1024], classes: 16 });
    const model = Model.build(spec, { device, seed: 1 });
    const { model: q, report } = await quantize(model, { mode: 'dynamic', ...(cuda ? {} : { backend: 'intmm' }) });
    if (report.engine !== 'intmm' || !report.layers.every((l) => l.kind === 'int8'))
      throw new Error(JSON.stringify(report.layers));
    if (cuda && !/_int_mm/.test(report.kernel)) throw new Error(report.kernel);
    const rng = createRng(3);
    for (const batch of [4, 64]) {
      // 4: below torch._int_mm's 17-row minimum (padded)
      const x = { data: Float32Array.from({ length: batch * 1024 }, () => rng.normal()), shape: [batch, 1024] };
      const [a, b] = [await model.forward(x), await q.forward(x)];
      let diff = 0,
        scale = 0;
      for (let k = 0; k < a.data.length; k++) {
        diff = Math.max(diff, Math.abs(a.data[k] - b.data[k]));
        scale = Math.max(scale, Math.abs(a.data[k]));
      }
      if (!(diff < 0.05 * scale + 1e-3))
        throw new Error(`batch ${batch}: max |int8 − fp32| ${diff} (outputs up to ${scale})`);
    }
    const row = { kernel: report.kernel };
    if (cuda) {
      // Large enough for int8 tensor cores to matter: Linear(4096×4096) at batch 1024.
      const big = Model.build(mlp({ inputShape: [4096], hidden: [4096], classes: 16 }), { device, seed: 1 });
      const { model: bq } = await quantize(big, { mode: 'dynamic' });
      const c = await compare(big, bq, { batchSize: 1024, rounds: 10 });
      const lat = await benchmark(bq, { batchSizes: [1, 64, 1024] });
      const base = await benchmark(big, { batchSizes: [1, 64, 1024] });
      results.benches.int8Gemm = { model: 'mlp 4096→4096→16', compare: c, int8: lat, fp32: base };
      Object.assign(row, {
        ratioB1024: c.ratio,
        ci: c.ci,
        verdict: c.verdict,
        int8Ms: lat.batches.map((b) => b.medianMs),
        fp32Ms: base.batches.map((b) => b.medianMs),
      });
      big.dispose();
      bq.dispose();
    }
    model.dispose();
    q.dispose();
    return row;
  },
);

await check(
  `quantize backend cuda on the small CNN: convs fp16 with the reason, linear int8, accuracy kept`,
  async () => {
    if (!cuda) return 'skip';
    const ds = loadSyntheticImages({ trainSize: 4000, testSize: 1000, seed: 2 });
    const model = Model.build(smallCnn({ inputShape: [3, 32, 32], classes: ds.task.classes }), { device, seed: 1 });
    await train(model, { train: ds.train }, { epochs: 3, batchSize: 64, optimizer: 'adam', lr: 2e-3 });
    const { model: q, report } = await quantize(model, { mode: 'static' });
    const kinds = Object.fromEntries(report.layers.map((l) => [l.name, l.kind]));
    if (kinds.block1_conv !== 'fp16' || kinds.fc1 !== 'int8') throw new Error(JSON.stringify(report.layers));
    const [fa, qa] = [(await evaluate(model, ds.test)).accuracy, (await evaluate(q, ds.test)).accuracy];
    if (fa - qa > 0.02) throw new Error(`accuracy ${fa} → ${qa}`);
    const c = await compare(model, q, { batchSize: 256, rounds: 8 });
    model.dispose();
    q.dispose();
    return { accuracy: [fa, qa], layers: report.layers, ratioB256: c.ratio, verdict: c.verdict };
  },
);

writeFileSync(join(out, 'device-results.json'), JSON.stringify(results, null, 2));
console.log(`\n${results.checks.filter((c) => c.status === 'pass').length} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
