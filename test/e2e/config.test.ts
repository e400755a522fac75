// Search configuration: objectives, constraints, budgets and the pipeline space, checked before anything runs.
import test from 'ava';
import { ConfigError } from '../../lib/core/errors.js';
import { normalizeConfig, parseBudget } from '../../lib/pipeline/config.js';
import {
  checkConstraints,
  constraintDefs,
  objectiveDefs,
  parseLatency,
  parseObjectives,
  parseSize,
  parseThroughput,
} from '../../lib/pipeline/objectives.js';
import { buildSpace, quantizeLast, seedPipelines } from '../../lib/pipeline/study-space.js';
import { Rng } from '../../lib/search/index.js';

const base = { metric: 0.9, latencyMs: 0.4, throughput: 5000, sizeBytes: 1_700_000 };

test('objectives: names and aliases, directions, unknown and repeated ones rejected', (t) => {
  t.deepEqual(parseObjectives('metric,latency,size'), ['metric', 'latency', 'size']);
  t.deepEqual(parseObjectives('accuracy, throughput'), ['metric', 'throughput']);
  t.deepEqual(
    objectiveDefs(['metric', 'latency', 'throughput', 'size'], 'rmse').map((o) => `${o.name}:${o.direction}`),
    ['rmse:min', 'latencyMs:min', 'throughput:max', 'sizeBytes:min'],
  );
  t.deepEqual(objectiveDefs(['metric'], 'accuracy'), [{ name: 'accuracy', direction: 'max' }]);
  t.throws(() => parseObjectives('metric,speedz'), {
    instanceOf: ConfigError,
    message: /unknown objective 'speedz'.*metric, latency, throughput, size/,
  });
  t.throws(() => parseObjectives('latency,latency'), { instanceOf: ConfigError, message: /twice/ });
  t.throws(() => parseObjectives(''), { instanceOf: ConfigError });
});

test('units: latency, size and throughput, absolute or relative to the baseline', (t) => {
  t.deepEqual(parseLatency('2ms'), { absolute: 2 });
  t.deepEqual(parseLatency('500us'), { absolute: 0.5 });
  t.deepEqual(parseLatency('0.002s'), { absolute: 2 });
  t.deepEqual(parseLatency('70%'), { relative: 0.7 });
  t.deepEqual(parseSize('200kB'), { absolute: 200_000 });
  t.deepEqual(parseSize('1MiB'), { absolute: 1024 ** 2 });
  t.deepEqual(parseSize('25%'), { relative: 0.25 });
  t.deepEqual(parseThroughput('5000/s'), { absolute: 5000 });
  t.throws(() => parseLatency('2 parsecs'), { instanceOf: ConfigError, message: /unit/ });
  t.throws(() => parseLatency('-1ms'), { instanceOf: ConfigError, message: /positive/ });
  t.throws(() => parseSize('lots'), { instanceOf: ConfigError });
});

test('budgets: time, evaluations, generations and combinations', (t) => {
  t.deepEqual(parseBudget('30m'), { timeMs: 1_800_000 });
  t.deepEqual(parseBudget('200evals'), { evaluations: 200 });
  t.deepEqual(parseBudget('200'), { evaluations: 200 });
  t.deepEqual(parseBudget('90s,12evals,3gen'), { timeMs: 90_000, evaluations: 12, generations: 3 });
  t.deepEqual(parseBudget('1.5h'), { timeMs: 5_400_000 });
  t.throws(() => parseBudget('10parsecs'), { instanceOf: ConfigError, message: /unknown budget unit/ });
  t.throws(() => parseBudget('2.5evals'), { instanceOf: ConfigError });
});

test('constraints: resolved against the baseline; contradictions rejected before and after it is known', (t) => {
  const defs = constraintDefs(
    { maxLatency: { absolute: 2 }, maxSize: { relative: 0.25 }, minThroughput: { relative: 1.13 }, maxMetricDrop: 1 },
    'accuracy',
    base,
  );
  t.deepEqual(
    defs.map((d) => d.name),
    ['latencyMs', 'sizeBytes', 'throughput', 'accuracy'],
  );
  t.is(defs[0]!.upper, 2);
  t.is(defs[1]!.upper, 425_000);
  t.true(Math.abs(defs[2]!.lower! - 5650) < 1e-6);
  t.true(Math.abs(defs[3]!.lower! - 0.89) < 1e-9);
  // RMSE: the drop is a percentage of the baseline's error.
  const rmse = constraintDefs({ maxMetricDrop: 10 }, 'rmse', { ...base, metric: 2 });
  t.is(rmse[0]!.name, 'rmse');
  t.true(Math.abs(rmse[0]!.upper! - 2.2) < 1e-9);
  t.throws(() => checkConstraints({ minLatency: { absolute: 3 }, maxLatency: { absolute: 2 } }, 'accuracy'), {
    instanceOf: ConfigError,
    message: /contradictory/,
  });
  t.throws(() => checkConstraints({ minMetric: 0.95, maxMetric: 0.9 }, 'accuracy'), {
    instanceOf: ConfigError,
    message: /contradictory/,
  });
  t.throws(() => checkConstraints({ minMetric: 1.2 }, 'accuracy'), { instanceOf: ConfigError, message: /never reach/ });
  // Mixed absolute/relative bounds are compared once the baseline is known.
  t.notThrows(() => checkConstraints({ minSize: { absolute: 1e6 }, maxSize: { relative: 0.5 } }, 'accuracy'));
  t.throws(() => constraintDefs({ minSize: { absolute: 1e6 }, maxSize: { relative: 0.5 } }, 'accuracy', base), {
    instanceOf: ConfigError,
    message: /contradictory/,
  });
  t.throws(() => constraintDefs({ minMetric: 0.95, maxMetricDrop: 0 }, 'rmse', { ...base, metric: 0.9 }), {
    instanceOf: ConfigError,
    message: /contradictory/,
  });
});

test('normalizeConfig: unknown task, objective, selector, device and bad numbers are ConfigErrors naming the field', (t) => {
  t.throws(() => normalizeConfig({ task: 'nope' }), {
    instanceOf: ConfigError,
    message: /task: unknown task 'nope'; known: fashion-mnist/,
  });
  t.throws(() => normalizeConfig({ objectives: 'metric,sped' }), {
    instanceOf: ConfigError,
    message: /unknown objective 'sped'/,
  });
  t.throws(() => normalizeConfig({ device: 'tpu' }), { instanceOf: ConfigError, message: /device/ });
  t.throws(() => normalizeConfig({ population: 1 }), { instanceOf: ConfigError, message: /population/ });
  t.throws(() => normalizeConfig({ name: '../x' }), { instanceOf: ConfigError, message: /study name/ });
  t.throws(() => normalizeConfig({ stages: ['prune', 'distill'] }), {
    instanceOf: ConfigError,
    message: /unknown stage type 'distill'/,
  });
  t.throws(() => normalizeConfig({ task: 'custom' }), { instanceOf: ConfigError, message: /needs data/ });
  const c = normalizeConfig({ budget: '10m' });
  t.is(c.task, 'fashion-mnist');
  t.deepEqual(c.objectives, ['metric', 'latency', 'size']);
  t.deepEqual(c.budget, { timeMs: 600_000 });
});

test('the pipeline space: quantize is last, epochs capped, seed pipelines valid; sampled genomes obey the rules', (t) => {
  const config = normalizeConfig({ finetune: { maxEpochs: 2 } });
  const settings = { backends: ['onednn'] };
  const space = buildSpace(config, settings);
  const rng = new Rng(3);
  for (let i = 0; i < 300; i++) {
    const g = space.mutate(space.sample(rng), rng);
    t.deepEqual(quantizeLast.check(g.stages), []);
    for (const s of g.stages) {
      for (const k of ['epochs', 'finetuneEpochs', 'qatEpochs'])
        if (k in s.params) t.true((s.params[k] as number) <= 2);
      if (s.type === 'quantize') t.is(s.params['backend'], 'onednn');
    }
  }
  const seeds = seedPipelines(space, settings);
  t.true(seeds.length >= 3);
  for (const g of seeds) t.true(space.validate(g).valid);
  t.deepEqual(
    quantizeLast
      .repair([
        { type: 'quantize', params: {} },
        { type: 'prune', params: {} },
      ])
      .map((s) => s.type),
    ['prune', 'quantize'],
  );
  // A restricted space keeps only the allowed stage types.
  const pq = buildSpace(normalizeConfig({ stages: ['prune', 'quantize'] }), settings);
  t.deepEqual(Object.keys(pq.config.stages).sort(), ['prune', 'quantize']);
});
