/**
 * Native side of the spec fuzz: every spec that passes validation (hostile layer chains, mutated built-in models)
 * either builds and runs a forward pass or throws a PetraError — LibTorch never aborts the process. Specs that
 * would allocate too much never get here: validateSpec rejects them (see spec.test.ts), and this file only builds
 * small ones.
 */
import test from 'ava';
import fc from 'fast-check';
import type { TensorData } from '../../lib/data/types.js';
import { ConfigError, PetraError, ShapeError } from '../../lib/core/errors.js';
import { Model } from '../../lib/runtime/model.js';
import { SPEC_FORMAT, type ModelSpec } from '../../lib/graph/types.js';
import { inferShapes, parameterCount, validateSpec } from '../../lib/graph/validate.js';
import { attempt, attemptAsync, check, fuzz, Tally } from './fuzz-helpers.js';
import { builtinSpecs, chainSpec, jsonMutation, mutateJson } from './spec-gen.js';

/** Kept small so the whole file runs in seconds. */
const MAX_BUILD_WEIGHTS = 200_000;
const MAX_SAMPLE_ELEMENTS = 50_000;

function small(spec: ModelSpec): boolean {
  if (parameterCount(spec) > MAX_BUILD_WEIGHTS) return false;
  for (const s of inferShapes(spec).values()) if (s.reduce((a, b) => a * b, 1) > MAX_SAMPLE_ELEMENTS) return false;
  return true;
}

/** Inputs for a batch of 2; int64 inputs get codes 0..11 (an embedding of 10 rows sees out-of-range codes). */
function inputsFor(spec: ModelSpec, seed: number): TensorData[] {
  let s = seed;
  const next = (): number => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s / 2 ** 31;
  };
  return spec.inputs.map((inp) => {
    const shape = [2, ...inp.shape];
    const n = shape.reduce((a, b) => a * b, 1);
    return inp.dtype === 'int64'
      ? { data: Int32Array.from({ length: n }, () => Math.floor(next() * 12)), shape }
      : { data: Float32Array.from({ length: n }, () => next() * 4 - 2), shape };
  });
}

/** Build, forward a batch of 2, dispose: each step returns or throws a PetraError. */
async function buildAndRun(spec: ModelSpec, seed: number, tally: Tally): Promise<void> {
  const built = tally.add(attempt(() => Model.build(spec, { seed: 1 })));
  if (!built.ok) return;
  const model = built.value;
  try {
    const out = tally.add(await attemptAsync(() => model.forward(inputsFor(spec, seed))));
    if (out.ok) {
      const want = spec.task.kind === 'classification' ? spec.task.classes : spec.task.targets;
      check(out.value.shape.join() === `2,${want}`, `output shape [${out.value.shape}]`);
    }
  } finally {
    model.dispose();
  }
}

test('validated hostile layer chains build and run, or throw a PetraError', async (t) => {
  const tally = new Tally();
  let built = 0;
  await fc.assert(
    fc.asyncProperty(chainSpec, fc.nat(), async ({ spec }, seed) => {
      const v = attempt(() => validateSpec(spec));
      if (!v.ok || !small(v.value)) return;
      built++;
      await buildAndRun(v.value, seed, tally);
    }),
    fuzz(700),
  );
  t.log(`${built} specs reached native/`);
  tally.assertBoth(t);
});

test('validated mutations of the built-in models build and run, or throw a PetraError', async (t) => {
  const tally = new Tally();
  const seeds = builtinSpecs().map((s) => JSON.parse(JSON.stringify(s)) as unknown);
  let built = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.nat(seeds.length - 1),
      fc.array(jsonMutation, { minLength: 1, maxLength: 2 }),
      fc.nat(),
      async (k, muts, seed) => {
        const mutated = JSON.parse(
          JSON.stringify(muts.reduce((s, m) => mutateJson(s, m), seeds[k])) ?? 'null',
        ) as unknown;
        const v = attempt(() => validateSpec(mutated));
        if (!v.ok || !small(v.value)) return;
        built++;
        await buildAndRun(v.value, seed, tally);
      },
    ),
    fuzz(400),
  );
  t.log(`${built} specs reached native/`);
  t.true(built > 0);
});

const conv1d = (attrs: Record<string, unknown>, op = 'qconv1d'): unknown => ({
  format: SPEC_FORMAT,
  inputs: [{ name: 'x', shape: [2, 8], dtype: 'float32' }],
  nodes: [
    { name: 'c', op, inputs: ['x'], attrs: { inChannels: 2, outChannels: 2, kernelSize: 3, ...attrs } },
    { name: 'p', op: 'adaptiveavgpool1d', inputs: ['c'], attrs: { outputSize: 1 } },
    { name: 'f', op: 'flatten', inputs: ['p'] },
  ],
  output: 'f',
  task: { kind: 'classification', classes: 2 },
});

/** Specs that pass validation but that native/ refuses: a PetraError, not an abort (see test/README.md). */
export const NATIVE_CASES: ReadonlyArray<{ id: string; spec: unknown; expect: RegExp }> = [
  {
    id: 'native-qconv-same-even-kernel',
    spec: conv1d({ padding: 'same', kernelSize: 2 }),
    expect: /'same' padding needs stride 1 and an odd kernel/,
  },
  { id: 'native-qconv-dynamic', spec: conv1d({ dynamic: true }), expect: /dynamic int8 exists for linear layers only/ },
  { id: 'native-qconv-intmm', spec: conv1d({ engine: 'intmm' }), expect: /engine intmm .* covers linear layers only/ },
];

test('explicit specs native/ refuses give a ConfigError, and bad forward inputs a ShapeError (test/README.md)', async (t) => {
  for (const c of NATIVE_CASES) {
    t.notThrows(() => validateSpec(c.spec), c.id);
    const err = t.throws(() => Model.build(c.spec), { instanceOf: ConfigError }, c.id);
    t.regex(err?.message ?? '', c.expect, c.id);
  }
  using model = Model.build(conv1d({}, 'conv1d'));
  // wrong per-sample shape, wrong rank, wrong dtype, wrong input count, NaN/Inf values
  await t.throwsAsync(model.forward({ data: new Float32Array(2 * 3 * 8), shape: [2, 3, 8] }), {
    instanceOf: ShapeError,
  });
  await t.throwsAsync(model.forward({ data: new Float32Array(16), shape: [16] }), { instanceOf: PetraError });
  await t.throwsAsync(model.forward({ data: new Int32Array(32), shape: [2, 2, 8] }), { instanceOf: PetraError });
  await t.throwsAsync(model.forward([]), { instanceOf: ShapeError });
  const out = await model.forward({ data: new Float32Array(32).fill(NaN).fill(Infinity, 0, 4), shape: [2, 2, 8] });
  t.deepEqual(out.shape, [2, 2]);
  // embedding: codes beyond numEmbeddings and negative codes are a PetraError
  const emb = {
    format: SPEC_FORMAT,
    inputs: [{ name: 'x', shape: [3], dtype: 'int64' }],
    nodes: [
      { name: 'e', op: 'embedding', inputs: ['x'], attrs: { numEmbeddings: 4, embeddingDim: 2 } },
      { name: 'f', op: 'flatten', inputs: ['e'] },
    ],
    output: 'f',
    task: { kind: 'regression', targets: 6 },
  };
  using m2 = Model.build(emb);
  await t.throwsAsync(m2.forward({ data: Int32Array.of(0, 1, 4, 0, 0, 0), shape: [2, 3] }), { instanceOf: PetraError });
  await t.throwsAsync(m2.forward({ data: Int32Array.of(0, 1, -1, 0, 0, 0), shape: [2, 3] }), {
    instanceOf: PetraError,
  });
  t.deepEqual((await m2.forward({ data: Int32Array.of(0, 1, 3, 0, 0, 0), shape: [2, 3] })).shape, [2, 6]);
});
