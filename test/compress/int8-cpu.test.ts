// int8 is exact on this CPU, whatever it is: the scheme info() reports, static/dynamic int8 against exact references
// on worst-case codes, every clone of petra's own int8 kernels against exact references, and a model quantized for
// another CPU refused where oneDNN would saturate (a child process with oneDNN capped to AVX2, on any machine).
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Model } from '../../lib/runtime/model.js';
import { quantize } from '../../lib/compress/quantize.js';
import { deriveModel } from '../../lib/compress/derive.js';
import { info, setInt8KernelIsa } from '../../lib/runtime/info.js';
import { ConfigError } from '../../lib/core/errors.js';
import type { TabularSplit, TensorData } from '../../lib/data/types.js';
import type { ModelSpec } from '../../lib/graph/types.js';
import { createRng } from '../../lib/data/split.js';
import { floatTensor } from '../helpers/tiny.js';
import {
  dynamicLinear,
  int8GruFinalState,
  maxAbsDiff,
  quantizeCodes,
  staticConv2dCodes,
  staticLinearCodes,
} from '../helpers/int8-reference.js';

const dir = mkdtempSync(join(tmpdir(), 'petra-int8-cpu-'));

/** Uniform values in [lo, hi): activations near the top of their calibrated range give codes near 255. */
function uniform(shape: number[], lo: number, hi: number, seed: number): TensorData {
  const rng = createRng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return { data: Float32Array.from({ length: n }, () => lo + (hi - lo) * rng.next()), shape };
}
const split = (x: TensorData): TabularSplit => ({
  inputs: [x],
  target: { data: new Int32Array(x.shape[0]!), shape: [x.shape[0]!] },
});

/**
 * Weights where oneDNN's int16 pair sums would clip: row 0 all +1 (every code 127 at 8 bits, so every pair of
 * products 2·255·127 > 32,767), the other rows a ±1 pattern with long same-sign runs.
 */
function worstCaseWeights(out: number, inner: number): Float32Array {
  return Float32Array.from({ length: out * inner }, (_, k) => {
    const j = Math.floor(k / inner),
      i = k % inner;
    return j === 0 ? 1 : ((i >> 2) + j) % 3 === 0 ? -1 : 1 - ((i * 7 + j) % 5) / 10;
  });
}

test('info().int8 names the CPU, its exact weight bits and why, consistent with its flags and the oneDNN probe', (t) => {
  const i = info().int8;
  t.log(
    `${i.cpu} [${i.cpuFlags.join(' ')}]: ${i.weightBits}-bit weights — ${i.reason}; oneDNN ${i.oneDnnIsa || '?'}, probe ${i.oneDnnProbe}; kernels ${i.kernelIsa} of ${i.kernelIsas.join(', ')}`,
  );
  t.true(i.weightBits === 7 || i.weightBits === 8);
  t.true(i.cpu.length > 0 && i.reason.length > 0);
  t.true(i.kernelIsas.includes('baseline') && i.kernelIsas.includes(i.kernelIsa));
  if (process.arch === 'x64' && !i.vnni)
    t.is(i.weightBits, 7, 'no VNNI: oneDNN and onnxruntime sum u8×s8 pairs in int16');
  if (i.oneDnnProbe.startsWith('saturates')) t.is(i.weightBits, 7);
  if (i.weightBits === 8) t.true(i.oneDnnProbe === 'exact' || i.oneDnnProbe.startsWith('not run'), i.oneDnnProbe);
  const cap = process.env.ONEDNN_MAX_CPU_ISA?.toUpperCase();
  if (cap === 'AVX2' || cap === 'AVX512_CORE' || cap === 'SSE41') {
    t.is(i.weightBits, 7, `oneDNN capped to ${cap} has no VNNI`);
    if (i.oneDnnIsa) t.is(i.oneDnnIsa, cap.toLowerCase());
  }
  if (process.env.PETRA_CPU_ISA && process.env.PETRA_CPU_ISA !== 'auto')
    t.is(i.kernelIsa, process.env.PETRA_CPU_ISA as typeof i.kernelIsa);
});

test('static int8 linear and dynamic int8 linear are exact here on worst-case codes (exact integer reference)', async (t) => {
  const [inF, outF, rows] = [256, 16, 32];
  const spec: ModelSpec = {
    format: 'petra.graph/1',
    inputs: [{ name: 'x', shape: [inF], dtype: 'float32' }],
    nodes: [{ name: 'fc', op: 'linear', inputs: ['x'], attrs: { inFeatures: inF, outFeatures: outF } }],
    output: 'fc',
    task: { kind: 'regression', targets: outF },
  };
  using seed = Model.build(spec, { seed: 1 });
  using model = deriveModel(seed, spec, {
    'fc.weight': { data: { data: worstCaseWeights(outF, inF), shape: [outF, inF] } },
  });
  const calibration = split(uniform([64, inF], 0, 1, 2));
  const x = uniform([rows, inF], 0.9, 1, 3); // codes 230–255
  for (const backend of ['onednn', 'qnnpack'] as const) {
    if (
      !info()
        .quantizedEngines.map((e) => e.toLowerCase())
        .includes(backend)
    )
      continue;
    const { model: q, report } = await quantize(model, { mode: 'static', backend, calibration: { data: calibration } });
    using _q = q;
    t.is(report.weightBits, info().int8.weightBits);
    t.is(report.quantizedOn, info().int8.cpu);
    const a = q.spec.nodes[0]!.attrs as {
      inScale: number;
      inZeroPoint: number;
      outScale: number;
      outZeroPoint: number;
      relu?: boolean;
      weightBits: number;
    };
    t.is(a.weightBits, report.weightBits);
    const w = q.native.tensors();
    const codeMax = report.weightBits === 8 ? 127 : 63;
    t.is(Math.max(...Array.from(w['fc.qweight']!.data, Math.abs)), codeMax);
    const expected = staticLinearCodes(
      quantizeCodes(x.data, a.inScale, a.inZeroPoint),
      rows,
      inF,
      { ...a, relu: a.relu ?? false },
      w['fc.qweight']!.data,
      w['fc.wscale']!.data,
      w['fc.bias']!.data,
    );
    const actual = Array.from((await q.forward(x)).data, (v) => v / a.outScale + a.outZeroPoint);
    const steps = maxAbsDiff(actual, expected);
    t.log(
      `static ${backend}, ${report.weightBits}-bit weights: max ${steps.toFixed(3)} output steps from the exact value`,
    );
    t.true(steps <= 1, `static ${backend}: ${steps} steps off (a saturating int16 pair sum is ~10+)`);
  }
  const { model: dq, report } = await quantize(model, { mode: 'dynamic' });
  using _dq = dq;
  const w = dq.native.tensors();
  const expected = dynamicLinear(x.data, rows, inF, w['fc.qweight']!.data, w['fc.wscale']!.data, w['fc.bias']!.data);
  const actual = (await dq.forward(x)).data;
  const scale = Math.max(...Array.from(expected, Math.abs));
  t.log(
    `dynamic ${report.engine}: max |petra − exact| ${maxAbsDiff(actual, expected).toExponential(2)} (outputs up to ${scale.toFixed(1)})`,
  );
  t.true(maxAbsDiff(actual, expected) < 1e-5 * scale);
});

/** A one-conv2d model (weights `weights`), statically quantized here, against the exact integer reference on `x`. */
async function convOutputSteps(
  c: { C: number; K: number; S: number; kernel: number; stride: number; weights: Float32Array },
  x: TensorData,
): Promise<number> {
  const { C, K, S, kernel, stride } = c;
  const O = Math.floor((S - kernel) / stride) + 1;
  const spec: ModelSpec = {
    format: 'petra.graph/1',
    inputs: [{ name: 'x', shape: [C, S, S], dtype: 'float32' }],
    nodes: [
      {
        name: 'conv',
        op: 'conv2d',
        inputs: ['x'],
        attrs: { inChannels: C, outChannels: K, kernelSize: kernel, stride, padding: 0 },
      },
      { name: 'flat', op: 'flatten', inputs: ['conv'], attrs: {} },
    ],
    output: 'flat',
    task: { kind: 'regression', targets: K * O * O },
  };
  using seed = Model.build(spec, { seed: 1 });
  using model = deriveModel(seed, spec, {
    'conv.weight': { data: { data: c.weights, shape: [K, C, kernel, kernel] } },
  });
  const { model: q } = await quantize(model, {
    mode: 'static',
    calibration: { data: split(uniform([32, C, S, S], 0, 1, 6)) },
  });
  using _q = q;
  const a = q.spec.nodes[0]!.attrs as { inScale: number; inZeroPoint: number; outScale: number; outZeroPoint: number };
  const w = q.native.tensors();
  const codes = quantizeCodes(x.data, a.inScale, a.inZeroPoint);
  const expected = staticConv2dCodes(
    codes,
    x.shape,
    a,
    w['conv.qweight']!.data,
    [K, kernel, kernel],
    [stride, stride],
    w['conv.wscale']!.data,
    w['conv.bias']!.data,
  );
  const actual = Array.from((await q.forward(x)).data, (v) => v / a.outScale + a.outZeroPoint);
  return maxAbsDiff(actual, expected.codes);
}

test('static int8 conv2d is exact here on worst-case codes (exact integer reference)', async (t) => {
  const [C, K, S] = [16, 8, 6];
  const steps = await convOutputSteps(
    { C, K, S, kernel: 3, stride: 1, weights: worstCaseWeights(K, C * 9) },
    uniform([4, C, S, S], 0.9, 1, 5),
  );
  t.log(
    `static conv2d (${info().int8.weightBits}-bit weights): max ${steps.toFixed(3)} output steps from the exact value`,
  );
  t.true(steps <= 1);
});

// oneDNN's AVX2 int8 kernel for a strided 1×1 convolution reads wrong pixels where the batch splits between threads
// (a ResNet shortcut: one pixel per boundary up to 28 steps off, 2 threads); petra runs it as a stride-1 convolution of
// the subsampled input. A batch of 64 at this machine's thread count, on every oneDNN ISA the int8 matrix caps to.
test('static int8 strided convolutions (1×1 and 3×3, stride 2) are exact on a threaded batch', async (t) => {
  const [C, K, S] = [8, 16, 16];
  const rng = createRng(3);
  for (const kernel of [1, 3]) {
    const weights = Float32Array.from({ length: K * C * kernel * kernel }, () => rng.next() * 2 - 1);
    const steps = await convOutputSteps(
      { C, K, S, kernel, stride: 2, weights },
      uniform([64, C, S, S], 0, 1, 7 + kernel),
    );
    t.log(`${kernel}×${kernel} stride 2: max ${steps.toFixed(3)} output steps from the exact value`);
    t.true(steps <= 1, `${kernel}×${kernel} stride 2: ${steps} steps off`);
  }
});

/** Runs `body` with each kernel clone this CPU has, then restores the one that was active. */
async function eachClone<T>(body: (isa: string) => Promise<T>): Promise<Map<string, T>> {
  const before = info().int8.kernelIsa;
  const results = new Map<string, T>();
  try {
    for (const isa of info().int8.kernelIsas) {
      setInt8KernelIsa(isa);
      results.set(isa, await body(isa));
    }
  } finally {
    setInt8KernelIsa(before);
  }
  return results;
}

test('every kernel clone runs the fused int8 GRU as the exact reference does, and all clones agree bit for bit', async (t) => {
  const [B, T, I, H] = [5, 6, 7, 24];
  const spec: ModelSpec = {
    format: 'petra.graph/1',
    inputs: [{ name: 'x', shape: [T, I], dtype: 'float32' }],
    nodes: [{ name: 'gru', op: 'gru', inputs: ['x'], attrs: { inputSize: I, hiddenSize: H, output: 'last' } }],
    output: 'gru',
    task: { kind: 'regression', targets: H },
  };
  using model = Model.build(spec, { seed: 3 });
  const x = floatTensor([B, T, I], 4, 2);
  const runs = await eachClone(async (isa) => {
    // Per clone, both recurrences: the fused loop (every kernel) and linear_dynamic per step (the gate kernel).
    const out: Record<string, Float32Array> = {};
    for (const gruRecurrence of ['fused', 'linear_dynamic'] as const) {
      const { model: q } = await quantize(model, { mode: 'dynamic', gruRecurrence });
      using _q = q;
      const expected = int8GruFinalState(q.native.tensors(), 'gru', x.data, B, T, I, H);
      const actual = (await q.forward(x)).data as Float32Array;
      t.log(`${isa} ${gruRecurrence}: max |petra − exact| ${maxAbsDiff(actual, expected).toExponential(2)}`);
      t.true(maxAbsDiff(actual, expected) < 1e-4, `${isa} ${gruRecurrence}`);
      out[gruRecurrence] = actual;
    }
    return out;
  });
  const baseline = runs.get('baseline')!;
  for (const [isa, out] of runs)
    t.deepEqual(Array.from(out.fused!), Array.from(baseline.fused!), `${isa} fused = baseline fused, bit for bit`);
  for (const [isa, out] of runs)
    t.deepEqual(Array.from(out.linear_dynamic!), Array.from(baseline.linear_dynamic!), `${isa} gates = baseline gates`);
});

test('every kernel clone max-pools int8 codes exactly (the max of the conv output it pools)', async (t) => {
  const [C, L, N] = [8, 37, 6];
  for (const [kernel, padding] of [
    [3, 1],
    [5, 2],
    [2, 0],
    [4, 2],
  ] as const) {
    const spec: ModelSpec = {
      format: 'petra.graph/1',
      inputs: [{ name: 'x', shape: [C, L], dtype: 'float32' }],
      nodes: [
        {
          name: 'conv',
          op: 'conv1d',
          inputs: ['x'],
          attrs: { inChannels: C, outChannels: 16, kernelSize: 3, padding: 1 },
        },
        { name: 'pool', op: 'maxpool1d', inputs: ['conv'], attrs: { kernelSize: kernel, stride: 1, padding } },
        { name: 'flat', op: 'flatten', inputs: ['pool'], attrs: {} },
      ],
      output: 'flat',
      task: { kind: 'regression', targets: 16 * (L + 2 * padding - kernel + 1) },
    };
    using model = Model.build(spec, { seed: kernel });
    const { model: q } = await quantize(model, {
      mode: 'static',
      calibration: { data: split(floatTensor([32, C, L], 7)) },
    });
    using _q = q;
    // The same int8 conv without the pool: its dequantized output, max-pooled here, is the exact reference.
    const convOnly = structuredClone(q.spec);
    convOnly.nodes = convOnly.nodes.filter((n) => n.name !== 'pool');
    convOnly.nodes.find((n) => n.name === 'flat')!.inputs = ['conv'];
    convOnly.task = { kind: 'regression', targets: 16 * L };
    using conv = deriveModel(q, convOnly, {});
    const x = floatTensor([N, C, L], 8);
    const y = (await conv.forward(x)).data;
    const outLen = L + 2 * padding - kernel + 1;
    const expected = new Float32Array(N * 16 * outLen);
    for (let r = 0; r < N * 16; r++)
      for (let i = 0; i < outLen; i++) {
        let m = -Infinity;
        for (let j = i - padding; j < i - padding + kernel; j++) if (j >= 0 && j < L) m = Math.max(m, y[r * L + j]!);
        expected[r * outLen + i] = m;
      }
    const runs = await eachClone(async () => Array.from((await q.forward(x)).data));
    for (const [isa, out] of runs)
      t.deepEqual(out, Array.from(expected), `kernel ${kernel} padding ${padding}, ${isa} clone`);
  }
});

test('setInt8KernelIsa refuses an unknown or missing clone', (t) => {
  t.throws(() => setInt8KernelIsa('avx9000' as never), {
    instanceOf: ConfigError,
    message: /avx512, avx2 or baseline/,
  });
  if (!info().int8.kernelIsas.includes('avx512'))
    t.throws(() => setInt8KernelIsa('avx512'), { instanceOf: ConfigError, message: /beyond this CPU/ });
});

test('a model with 8-bit weights is refused where oneDNN would saturate, naming both CPUs; 7-bit weights run exactly there', async (t) => {
  const spec: ModelSpec = {
    format: 'petra.graph/1',
    inputs: [{ name: 'x', shape: [64], dtype: 'float32' }],
    nodes: [{ name: 'fc', op: 'linear', inputs: ['x'], attrs: { inFeatures: 64, outFeatures: 8 } }],
    output: 'fc',
    task: { kind: 'regression', targets: 8 },
  };
  using model = Model.build(spec, { seed: 2 });
  // QNNPACK runs 8-bit weights exactly on every CPU; the child claims them for oneDNN and a VNNI CPU.
  const { model: q8 } = await quantize(model, { mode: 'dynamic', backend: 'qnnpack', weightBits: 8 });
  using _q8 = q8;
  const path = join(dir, 'int8-8bit.pt');
  await q8.save(path);
  // A child with oneDNN capped to AVX2 (no VNNI) stands in for an AVX2 server, on any machine.
  const child = join(import.meta.dirname, '..', 'helpers', 'int8-capped-child.ts');
  const out = execFileSync(process.execPath, ['--import=tsx', child, path], {
    // PETRA_INT8_PROBE=always: the worst-case oneDNN probe runs too (elsewhere only where oneDNN does not say its ISA).
    env: { ...process.env, ONEDNN_MAX_CPU_ISA: 'AVX2', ATEN_CPU_CAPABILITY: 'avx2', PETRA_INT8_PROBE: 'always' },
    encoding: 'utf8',
  });
  const report = JSON.parse(out.trim().split('\n').pop()!) as {
    weightBits: number;
    probe: string;
    refused: string;
    exactSteps: number;
    quantizedBits: number;
  };
  t.log(report);
  t.is(report.weightBits, 7);
  t.regex(report.probe, /^saturates \(quantized::/, 'oneDNN at AVX2 on 8-bit worst-case codes');
  t.regex(
    report.refused,
    /ConfigError: layer 'fc' has 8-bit int8 weights .*quantized on Example Xeon with AVX512-VNNI.*weightBits: 7/,
  );
  t.true(report.refused.includes(info().int8.cpu), 'names this CPU too');
  t.is(report.quantizedBits, 7);
  t.true(report.exactSteps <= 1, `7-bit static int8 under the cap: ${report.exactSteps} steps off`);
});
