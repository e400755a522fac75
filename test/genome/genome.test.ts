import test from 'ava';
import { ConfigError } from '../../lib/core/errors.js';
import {
  canonicalJson,
  defaultPipelineSpaceConfig,
  genomeHash,
  narrowSpace,
  PipelineSpace,
  withStage,
  type PipelineGenome,
  type Stage,
} from '../../lib/genome/index.js';
import { defaultParam, Rng } from '../../lib/search/index.js';

const space = new PipelineSpace();
/** A stage of `type` with default parameters, some overridden. */
const stage = (type: string, params: Record<string, unknown> = {}): Record<string, unknown> => {
  const defaults = Object.fromEntries(
    Object.entries(space.config.stages[type]!.params).map(([k, spec]) => [k, defaultParam(spec)]),
  );
  return { type, params: { ...defaults, ...params } };
};
const genome = (...stages: Array<Record<string, unknown>>): PipelineGenome => ({
  stages: stages.map(({ type, params }) => ({ type, params })) as Stage[],
});

test('10,000 random mutations and crossovers all give valid genomes', (t) => {
  const rng = new Rng('variation');
  let population = Array.from({ length: 30 }, () => space.sample(rng));
  let checked = 0;
  for (let i = 0; i < 5000; i++) {
    const a = rng.pick(population);
    const b = rng.pick(population);
    const m = space.mutate(a, rng);
    const [c, d] = space.crossover(a, b, rng);
    for (const g of [m, c, d]) {
      const result = space.validate(g);
      if (!result.valid) t.fail(`${JSON.stringify(g)}: ${JSON.stringify(result.violations)}`);
      checked++;
    }
    population[rng.int(0, population.length - 1)] = rng.pick([m, c, d]);
  }
  t.true(checked >= 10_000);
  population = [];
});

test('validate explains rule violations with paths', (t) => {
  const bad = genome(
    stage('quantize', { mode: 'static' }),
    stage('prune'),
    stage('lowrank'),
    stage('quantize', { mode: 'static' }),
    stage('regularize'),
  );
  const { valid, violations } = space.validate(bad);
  t.false(valid);
  const rules = new Set(violations.map((v) => v.rule));
  for (const r of [
    'oneQuantizePerMode',
    'onlyQatAfterStaticQuantize',
    'lowrankBeforeQuantize',
    'regularizeBeforeTraining',
  ])
    t.true(rules.has(r), r);
  t.true(violations.some((v) => v.path === 'stages[1]'));
});

test('repair fixes order, duplicates and ranges, keeping what it can', (t) => {
  const bad = {
    stages: [
      { type: 'quantize', params: { ...(stage('quantize').params as object), mode: 'static' } },
      { type: 'lowrank', params: { ...(stage('lowrank').params as object), threshold: 7 } },
      { type: 'prune', params: { ...(stage('prune').params as object), ratio: 2, roundTo: 6, bogus: 1 } },
      { type: 'quantize', params: { ...(stage('quantize').params as object), mode: 'qat' } },
      { type: 'teleport', params: {} },
    ],
  };
  const fixed = space.repair(bad);
  t.true(space.validate(fixed).valid);
  t.deepEqual(
    fixed.stages.map((s) => (s.type === 'quantize' ? `quantize:${String(s.params['mode'])}` : s.type)),
    ['lowrank', 'prune', 'quantize:static', 'quantize:qat'],
  );
  const prune = fixed.stages[1]!;
  t.is(prune.params['ratio'], 0.95);
  t.true(prune.params['roundTo'] === 4 || prune.params['roundTo'] === 8);
  t.false('bogus' in prune.params);
  t.is(fixed.stages[0]!.params['threshold'], 0.99);
});

test('bad genomes → ConfigError naming the place', (t) => {
  const unknown = t.throws(() => space.parse({ stages: [{ type: 'teleport', params: {} }] }), {
    instanceOf: ConfigError,
  });
  t.is(unknown?.path, 'stages[0].type');
  const range = t.throws(() => space.parse(genome(stage('prune', { ratio: 1.5 }))), { instanceOf: ConfigError });
  t.is(range?.path, 'stages[0].params.ratio');
  t.throws(() => space.parse(genome(stage('train', { optimizer: 'lbfgs' }))), { instanceOf: ConfigError });
  t.throws(() => space.parse({ stages: [] }), { instanceOf: ConfigError });
  t.throws(() => space.parse('nope'), { instanceOf: ConfigError });
  t.throws(() => space.decode(genome(stage('train', { epochs: 2.5 }))), { instanceOf: ConfigError });
});

test('canonical JSON and hash ignore key order and are stable', (t) => {
  const a = { stages: [{ type: 'prune', params: { ratio: 0.5, criterion: 'l1' } }] };
  const b = { stages: [{ params: { criterion: 'l1', ratio: 0.5 }, type: 'prune' }] };
  t.is(canonicalJson(a), canonicalJson(b));
  t.is(genomeHash(a as unknown as PipelineGenome), genomeHash(b as unknown as PipelineGenome));
  t.is(canonicalJson({ x: -0, y: [1, 'a'] }), '{"x":0,"y":[1,"a"]}');
  t.regex(genomeHash(a as unknown as PipelineGenome), /^[0-9a-f]{16}$/);
  const g = space.sample(new Rng(1));
  t.deepEqual(space.decode(space.encode(g)), g);
  t.is(space.key(space.decode(JSON.parse(JSON.stringify(space.encode(g))))), space.key(g));
});

test('the space is user-extendable: narrowed ranges and a new stage type, without touching the core', (t) => {
  const narrowed = narrowSpace(defaultPipelineSpaceConfig(), {
    prune: { ratio: { kind: 'float', min: 0.3, max: 0.4 } },
  });
  const config = withStage(
    narrowed,
    'distill',
    {
      params: {
        temperature: { kind: 'float', min: 1, max: 8 },
        teacher: { kind: 'categorical', choices: ['self', 'ensemble'] },
      },
      maxCount: 1,
    },
    [
      {
        name: 'distillFirst',
        description: 'distillation comes first',
        check: (stages) =>
          stages.some((s, i) => s.type === 'distill' && i > 0)
            ? [{ rule: 'distillFirst', path: 'stages', message: 'distill not first' }]
            : [],
        repair: (stages) => [
          ...stages.filter((s) => s.type === 'distill'),
          ...stages.filter((s) => s.type !== 'distill'),
        ],
      },
    ],
  );
  const custom = new PipelineSpace(config);
  const rng = new Rng(3);
  let sawDistill = false;
  let g = custom.sample(rng);
  for (let i = 0; i < 2000; i++) {
    g = custom.mutate(g, rng);
    t.true(custom.validate(g).valid);
    for (const [k, s] of g.stages.entries()) {
      if (s.type === 'prune') t.true((s.params['ratio'] as number) >= 0.3 && (s.params['ratio'] as number) <= 0.4);
      if (s.type === 'distill') {
        sawDistill = true;
        t.is(k, 0);
      }
    }
  }
  t.true(sawDistill);
  t.throws(() => narrowSpace(defaultPipelineSpaceConfig(), { prune: { speed: { kind: 'int', min: 1, max: 2 } } }), {
    instanceOf: ConfigError,
  });
  t.throws(() => new PipelineSpace({ ...defaultPipelineSpaceConfig(), maxStages: 0 }), { instanceOf: ConfigError });
});

test('exported params name the stage type so each name keeps one distribution', (t) => {
  const g = space.repair(genome(stage('lowrank'), stage('prune', { ratio: 0.5 })));
  const params = space.exportParams(g);
  t.is(params['s1.prune.ratio']?.value, 0.5);
  t.deepEqual(params['s1.prune.ratio']?.distribution, { kind: 'float', low: 0.05, high: 0.95, log: false });
  t.is(params['s0.type']?.value, 'lowrank');
});
