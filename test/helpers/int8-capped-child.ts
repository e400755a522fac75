// Run by test/compress/int8-cpu.test.ts with ONEDNN_MAX_CPU_ISA=AVX2: loads a QNNPACK model with 8-bit weights
// (argv[2]), expects its oneDNN twin to be refused, then checks that this process's own (7-bit) static int8 is exact. Prints JSON.
import { Model } from '../../lib/runtime/model.js';
import { quantize } from '../../lib/compress/quantize.js';
import { deriveModel } from '../../lib/compress/derive.js';
import { info } from '../../lib/runtime/info.js';
import { createRng } from '../../lib/data/split.js';
import { maxAbsDiff, quantizeCodes, staticLinearCodes } from './int8-reference.js';

const i = info().int8;
let refused = '';
{
  // The same weights claimed for oneDNN by a VNNI CPU: building that model here must fail, naming both CPUs.
  using qnnpack = await Model.load(process.argv[2]!);
  const elsewhere = structuredClone(qnnpack.spec);
  Object.assign(elsewhere.nodes[0]!.attrs, { engine: 'onednn', quantizedOn: 'Example Xeon with AVX512-VNNI' });
  try {
    deriveModel(qnnpack, elsewhere, {}).dispose();
  } catch (e) {
    refused = `${(e as Error).name}: ${(e as Error).message}`;
  }
}
const rng = createRng(9);
const [inF, outF, rows] = [128, 8, 16];
const x = { data: Float32Array.from({ length: rows * inF }, () => 0.9 + 0.1 * rng.next()), shape: [rows, inF] };
using model = Model.build(
  {
    format: 'petra.graph/1',
    inputs: [{ name: 'x', shape: [inF], dtype: 'float32' }],
    nodes: [{ name: 'fc', op: 'linear', inputs: ['x'], attrs: { inFeatures: inF, outFeatures: outF } }],
    output: 'fc',
    task: { kind: 'regression', targets: outF },
  },
  { seed: 4 },
);
const calibration = {
  inputs: [{ data: Float32Array.from({ length: 32 * inF }, () => rng.next()), shape: [32, inF] }],
  target: { data: new Float32Array(32 * outF), shape: [32, outF] },
};
const { model: q, report } = await quantize(model, { mode: 'static', calibration: { data: calibration } });
const a = q.spec.nodes[0]!.attrs as {
  inScale: number;
  inZeroPoint: number;
  outScale: number;
  outZeroPoint: number;
  relu?: boolean;
};
const w = q.native.tensors();
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
q.dispose();
console.log(
  JSON.stringify({
    weightBits: i.weightBits,
    probe: i.oneDnnProbe,
    refused,
    quantizedBits: report.weightBits,
    exactSteps: maxAbsDiff(actual, expected),
  }),
);
