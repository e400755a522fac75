/**
 * Fuzzing what the command line feeds in: `normalizeConfig` (where `petra search` flags end up), the flag parsers
 * (budget, objectives, constraint bounds) and `petra bench --input` shapes. Every input gives a checked value or a
 * ConfigError naming the flag/field.
 *
 * The regression cases at the end are bugs the fuzzing found in lookups on Object.prototype names and unchecked
 * shapes (lib/pipeline/config.ts, objectives.ts, lib/lab/benchmark.ts, lib/tasks/index.ts), now fixed.
 */
import test from 'ava';
import fc from 'fast-check';
import { ConfigError } from '../../lib/core/errors.js';
import { parseInputShape } from '../../lib/lab/benchmark.js';
import { normalizeConfig, parseBudget, STAGE_TYPES, type SearchConfigInput } from '../../lib/pipeline/config.js';
import {
  OBJECTIVE_KEYS,
  parseLatency,
  parseMetricBound,
  parseMetricDrop,
  parseObjectives,
  parseSize,
  parseThroughput,
  QUALITY_METRICS,
  type Bound,
} from '../../lib/pipeline/objectives.js';
import { getTask, TASKS } from '../../lib/tasks/index.js';
import { attempt, check, checkConfigPath, fuzz, runCases, Tally, type Case } from './fuzz-helpers.js';

/** Object.prototype names: inputs that hit the lookup bugs (see the regression cases at the end). */
const PROTO_NAMES = new Set([
  'constructor',
  'toString',
  'valueOf',
  'hasOwnProperty',
  '__proto__',
  'isPrototypeOf',
  'propertyIsEnumerable',
  'toLocaleString',
  '__defineGetter__',
  '__defineSetter__',
  '__lookupGetter__',
  '__lookupSetter__',
]);
const flagText = fc
  .oneof(
    { weight: 3, arbitrary: fc.string({ maxLength: 12 }) },
    { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 8 }) },
  )
  .filter((s) => !PROTO_NAMES.has(s.toLowerCase()) && !PROTO_NAMES.has(s));
/** Mostly a valid value, sometimes a known-bad one, rarely any text: so some inputs pass and every check is reached. */
const pick = <T>(valid: readonly T[], bad: readonly string[] = []): fc.Arbitrary<T | string> =>
  fc.oneof(
    { weight: 24, arbitrary: fc.constantFrom(...valid) },
    ...(bad.length ? [{ weight: 1, arbitrary: fc.constantFrom(...bad) }] : []),
    { weight: 1, arbitrary: flagText },
  );
/** What the CLI's int() passes on: an integer (any size), since anything else is rejected before normalizeConfig. */
const flagInt = fc.oneof(
  { weight: 24, arbitrary: fc.integer({ min: 2, max: 64 }) },
  { weight: 1, arbitrary: fc.constantFrom(-3, 0, 1, 2 ** 53, -(2 ** 31)) },
);
const bound: fc.Arbitrary<Bound> = fc.oneof(
  fc.double({ min: 1e-6, max: 1e6, noNaN: true }).map((absolute) => ({ absolute })),
  fc.double({ min: 0.01, max: 5, noNaN: true }).map((relative) => ({ relative })),
);

/** Inputs shaped like what `petra search` builds from its flags (searchOptionsFrom in lib/commands/search.ts). */
const cliInput: fc.Arbitrary<SearchConfigInput> = fc.record(
  {
    task: pick(Object.keys(TASKS), ['custom', 'imagenet', 'GUNPOINT']),
    metric: pick(QUALITY_METRICS),
    objectives: pick(
      ['metric,latency,size', 'metric,latency', 'accuracy,speed', 'size'],
      ['metric,metric', '', ' , ', 'beauty'],
    ),
    budget: pick(['30m', '200evals', '5gen', '10m,50evals', '90s', '1.5h'], ['0', '-5m', '1.5evals', '5parsecs', '']),
    population: flagInt,
    seed: flagInt,
    device: pick(['cpu', 'cuda', 'cuda:1'], ['gpu', 'cuda:x', 'CPU']),
    selector: pick(['nsga2', 'spea2'], ['random']),
    concurrency: flagInt,
    stallGenerations: flagInt,
    limits: fc.record({ train: flagInt, val: flagInt, test: flagInt }, { requiredKeys: [] }),
    finetune: fc.record({ samples: flagInt, valSamples: flagInt, maxEpochs: flagInt }, { requiredKeys: [] }),
    measure: fc.record({
      timeCapMs: fc.oneof(
        { weight: 24, arbitrary: fc.double({ min: 0.5, max: 1e5, noNaN: true }) },
        { weight: 1, arbitrary: fc.constantFrom(0, -1, NaN) },
      ),
    }),
    constraints: fc.record(
      {
        maxLatency: bound,
        minLatency: bound,
        maxSize: bound,
        minSize: bound,
        minMetric: fc.double({ min: -1, max: 2, noNaN: true }),
        maxMetric: fc.double({ min: -1, max: 2, noNaN: true }),
        maxMetricDrop: fc.double({ min: 0, max: 50, noNaN: true }),
      },
      { requiredKeys: [] },
    ),
    stages: fc.array(pick(STAGE_TYPES, ['distill']), { maxLength: 4 }),
    baselineEpochs: flagInt,
    name: pick(['run-1', 'a.b_c'], ['../etc', 'x'.repeat(101), 'ü']),
    model: pick(['small-cnn', 'mlp', 'spec.json']),
  },
  { requiredKeys: [] },
) as fc.Arbitrary<SearchConfigInput>;

const CONFIG_FIELDS =
  /^(config|task|data(\.\w+)?|objectives|metric|budget(\.\w+)?|constraints|population|seed|device|selector|concurrency|stallGenerations|limits\.\w+|finetune\.\w+|measure\.\w+|stages|baselineEpochs|name)$/;

test('normalizeConfig on CLI-shaped input: a checked configuration or a ConfigError naming the field', (t) => {
  const tally = new Tally();
  fc.assert(
    fc.property(cliInput, (input) => {
      const out = tally.add(attempt(() => normalizeConfig(input)));
      if (!out.ok) {
        check(out.error instanceof ConfigError, `${out.error.name}: ${out.error.message}`);
        checkConfigPath(out.error);
        check(CONFIG_FIELDS.test((out.error as ConfigError).path!), `path ${(out.error as ConfigError).path}`);
        return;
      }
      const c = out.value;
      check(c.task === 'custom' || Object.hasOwn(TASKS, c.task), `task ${c.task}`);
      check(c.objectives.length > 0 && c.objectives.every((o) => OBJECTIVE_KEYS.includes(o)), 'objectives');
      check(new Set(c.objectives).size === c.objectives.length, 'duplicate objectives');
      check(
        [c.budget.evaluations, c.budget.generations, c.budget.timeMs].some((v) => v !== undefined),
        'budget',
      );
      check(
        [c.budget.evaluations, c.budget.generations, c.budget.timeMs].every((v) => v === undefined || v > 0),
        'budget > 0',
      );
      check(Number.isInteger(c.population) && c.population >= 2 && Number.isInteger(c.seed), 'population/seed');
      check(/^(cpu|cuda(:\d+)?)$/.test(c.device) && /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(c.name), 'device/name');
      check(c.measure.timeCapMs > 0 && c.finetune.maxEpochs >= 1, 'measure/finetune');
      check(!c.stages || c.stages.every((s) => (STAGE_TYPES as readonly string[]).includes(s)), 'stages');
    }),
    fuzz(600),
  );
  tally.assertBoth(t);
});

test('flag parsers (budget, objectives, latency/size/throughput/metric bounds, bench --input) on any text', (t) => {
  const tally = new Tally();
  const text = fc.oneof(
    fc.string({ maxLength: 16 }),
    fc
      .tuple(
        fc.constantFrom('', '-', '+', '.'),
        fc.stringMatching(/^\d{1,15}(\.\d{0,4})?(e[+-]?\d{1,3})?$/),
        fc.constantFrom(
          '',
          ' ',
          'ms',
          'us',
          'µs',
          's',
          'm',
          'h',
          'evals',
          'gen',
          'kB',
          'MiB',
          'GB',
          '%',
          '/s',
          'pt',
          'x3',
          'x3x4',
          '×2',
          ',3,3',
          'constructor',
          'min,5evals',
        ),
      )
      .map((p) => p.join('')),
    fc
      .array(fc.oneof(fc.integer({ min: -2, max: 300 }), fc.constantFrom(1e300, 0.5, NaN)), {
        minLength: 1,
        maxLength: 5,
      })
      .map((d) => d.join(fc.sample(fc.constantFrom('x', '×', ','), { numRuns: 1, seed: d.length })[0])),
  );
  const positiveFinite = (v: number): boolean => Number.isFinite(v) && v > 0;
  fc.assert(
    fc.property(text, (s) => {
      const budget = tally.add(attempt(() => parseBudget(s)));
      if (budget.ok) {
        const vals = [budget.value.evaluations, budget.value.generations, budget.value.timeMs].filter(
          (v) => v !== undefined,
        );
        check(vals.length > 0 && vals.every((v) => v! > 0), `budget ${JSON.stringify(budget.value)}`);
      } else check((budget.error as ConfigError).path === 'budget', budget.error.message);
      for (const [parse, path] of [
        [parseLatency, 'max-latency'],
        [parseSize, 'max-size'],
        [parseThroughput, 'min-throughput'],
      ] as const) {
        const b = tally.add(attempt(() => parse(s, path)));
        if (b.ok)
          check(
            'absolute' in b.value ? positiveFinite(b.value.absolute) : positiveFinite(b.value.relative),
            `${path} ${JSON.stringify(b.value)}`,
          );
        else check(b.error instanceof ConfigError && b.error.path === path, b.error.message);
      }
      const m = tally.add(attempt(() => parseMetricBound(s, 'min-metric')));
      if (m.ok) check(Number.isFinite(m.value), 'metric bound');
      const d = tally.add(attempt(() => parseMetricDrop(s)));
      if (d.ok) check(Number.isFinite(d.value) && d.value >= 0, 'metric drop');
      if (!PROTO_NAMES.has(s.trim().toLowerCase())) {
        const o = tally.add(attempt(() => parseObjectives(s)));
        if (o.ok)
          check(
            o.value.length > 0 && o.value.every((k) => OBJECTIVE_KEYS.includes(k)),
            `objectives ${String(o.value)}`,
          );
        else check((o.error as ConfigError).path === 'objectives', o.error.message);
      }
      const shape = tally.add(attempt(() => parseInputShape(s)));
      if (shape.ok) {
        check(
          [shape.value.batch, ...shape.value.shape].every((v) => Number.isInteger(v) && v >= 1) &&
            shape.value.shape.length >= 1,
          'input shape',
        );
      } else check((shape.error as ConfigError).path === 'input', shape.error.message);
    }),
    fuzz(1000),
  );
  tally.assertBoth(t);
});

const cfg = (id: string, input: unknown, expect: RegExp | 'ok'): Case<unknown> => ({
  id,
  input,
  expect,
  error: ConfigError,
});
export const CLI_CASES: readonly Case<unknown>[] = [
  cfg('cli-unknown-task', { task: 'imagenet' }, /^task: unknown task 'imagenet'/),
  cfg('cli-custom-without-data', { task: 'custom' }, /^data: task 'custom' needs data/),
  cfg(
    'cli-data-bad-format',
    { data: { format: 'parquet', path: 'x' } },
    /^data\.format: data\.format must be idx, ucr or csv/,
  ),
  cfg(
    'cli-csv-without-target',
    { data: { format: 'csv', path: 'x.csv', kind: 'classification' } },
    /^data\.target: CSV data needs the target column/,
  ),
  cfg('cli-objective-twice', { objectives: 'metric,accuracy' }, /^objectives: objective 'metric' is given twice/),
  cfg('cli-objective-unknown', { objectives: 'metric,beauty' }, /^objectives: unknown objective 'beauty'/),
  cfg('cli-objective-constructor', { objectives: 'constructor' }, /^objectives: unknown objective/),
  cfg('cli-budget-zero', { budget: '0' }, /^budget: '0': a budget must be positive/),
  cfg('cli-budget-negative', { budget: '-5m' }, /^budget: '-5m' is not a budget/),
  cfg('cli-budget-fraction-evals', { budget: '1.5evals' }, /^budget: '1\.5evals': evaluations must be a whole number/),
  cfg('cli-budget-unknown-unit', { budget: '5parsecs' }, /^budget: '5parsecs': unknown budget unit 'parsecs'/),
  cfg('cli-budget-empty', { budget: ' , ' }, /^budget: ' , ' is not a budget/),
  cfg('cli-device-gpu', { device: 'gpu' }, /^device: 'gpu' is not a device/),
  cfg('cli-population-one', { population: 1 }, /^population: must be an integer ≥ 2, got 1/),
  cfg('cli-seed-fraction', { seed: 1.5 }, /^seed: must be an integer, got 1\.5/),
  cfg('cli-limit-one', { limits: { train: 1 } }, /^limits\.train: must be an integer ≥ 2/),
  cfg('cli-time-cap-nan', { measure: { timeCapMs: NaN } }, /^measure\.timeCapMs: must be > 0/),
  cfg('cli-unknown-stage', { stages: ['prune', 'distill'] }, /^stages: unknown stage type 'distill'/),
  cfg('cli-no-stages', { stages: [] }, /^stages: give at least one stage type/),
  cfg('cli-name-path', { name: '../etc' }, /^name: '\.\.\/etc' is not a study name/),
  cfg('cli-name-unicode', { name: 'über' }, /^name: 'über' is not a study name/),
  cfg(
    'cli-contradictory-latency',
    { constraints: { minLatency: { absolute: 5 }, maxLatency: { absolute: 2 } } },
    /^constraints: contradictory constraints: --min-latency is above --max-latency/,
  ),
  cfg(
    'cli-accuracy-above-one',
    { constraints: { minMetric: 1.5 } },
    /^constraints: contradictory constraints: accuracy can never reach 1\.5/,
  ),
  cfg(
    'cli-ok',
    { task: 'gunpoint', budget: '10m,50evals', objectives: 'metric,latency', stages: ['prune', 'quantize'] },
    'ok',
  ),
];
const flag = (id: string, input: unknown, expect: RegExp | 'ok'): Case<unknown> => ({
  id,
  input,
  expect,
  error: ConfigError,
});
export const FLAG_CASES: readonly Case<unknown>[] = [
  flag('flag-latency-nan', ['latency', 'NaNms'], /^max-latency: 'NaNms' is not a number/),
  flag('flag-latency-negative', ['latency', '-2ms'], /^max-latency: '-2ms' must be a positive amount/),
  flag('flag-latency-unit', ['latency', '5 parsecs'], /^max-latency: unknown time unit 'parsecs' in '5 parsecs'/),
  flag('flag-latency-1e999', ['latency', '1e999ms'], /^max-latency: '1e999ms' must be a positive amount/),
  flag('flag-size-constructor-unit', ['size', '5constructor'], /^max-size: '5constructor' must be a positive amount/),
  flag('flag-size-percent-ok', ['size', '25%'], 'ok'),
  flag('flag-metric-drop-negative', ['drop', '-1'], /^max-metric-drop: '-1' must be ≥ 0/),
  flag('flag-input-zero-dim', ['input', '1x0x28'], /^input: '1x0x28' is not a shape/),
  flag('flag-input-negative', ['input', '1x-3'], /^input: '1x-3' is not a shape/),
  flag('flag-input-no-sample-dims', ['input', '8'], /^input: '8' is not a shape/),
  flag('flag-input-empty-dim', ['input', '1xx3'], /^input: '1xx3' is not a shape/),
  flag('flag-input-fraction', ['input', '1x2.5'], /^input: '1x2\.5' is not a shape/),
  flag('flag-input-ok', ['input', '1×3,224x224'], 'ok'),
];

test('explicit bad CLI configurations and flags give the documented ConfigError (test/README.md)', (t) => {
  runCases(t, CLI_CASES, (c) => normalizeConfig(c as SearchConfigInput));
  runCases(t, FLAG_CASES, (input) => {
    const [kind, s] = input as [string, string];
    switch (kind) {
      case 'latency':
        return parseLatency(s, 'max-latency');
      case 'size':
        return parseSize(s, 'max-size');
      case 'drop':
        return parseMetricDrop(s);
      default:
        return parseInputShape(s);
    }
  });
});

// ------------------------------------------------------------------------------------------------ regressions

test('regression (lib/pipeline/config.ts): task "constructor"/"toString" passes normalizeConfig and getTask', (t) => {
  for (const task of ['constructor', 'toString', 'hasOwnProperty']) {
    t.throws(() => normalizeConfig({ task }), { instanceOf: ConfigError }, task);
    t.throws(() => getTask(task), { instanceOf: ConfigError }, task);
  }
});

test('regression (lib/pipeline/config.ts): non-object config, non-array stages or objectives are TypeErrors', (t) => {
  for (const input of [
    null,
    { stages: 5 },
    { stages: {} },
    { objectives: 5 },
    { objectives: [5] },
    { objectives: null },
    { name: 5 },
    { model: 5 },
  ]) {
    t.throws(
      () => normalizeConfig(input as unknown as SearchConfigInput),
      { instanceOf: ConfigError },
      JSON.stringify(input),
    );
  }
});

test('regression (lib/pipeline/objectives.ts): bounds that are not { absolute } / { relative } are TypeErrors', (t) => {
  t.throws(() => normalizeConfig({ constraints: { minLatency: 5, maxLatency: 2 } as never }), {
    instanceOf: ConfigError,
  });
  t.throws(() => normalizeConfig({ constraints: { maxSize: { absolute: NaN } } }), { instanceOf: ConfigError });
});

test('regression (lib/pipeline/objectives.ts): parseObjectives("constructor") returns a function, not an error', (t) => {
  t.throws(() => parseObjectives('constructor'), { instanceOf: ConfigError });
});

test('regression (lib/pipeline/config.ts): parseBudget gives a NaN or infinite time budget', (t) => {
  t.throws(() => parseBudget('6constructor'), { instanceOf: ConfigError }); // unit looked up on Object.prototype
  t.throws(() => parseBudget(`${'9'.repeat(400)}m`), { instanceOf: ConfigError });
});

test('regression (lib/lab/benchmark.ts): bench --input accepts dimensions beyond int32 (1e300, 2^40)', (t) => {
  t.throws(() => parseInputShape('1e300x3'), { instanceOf: ConfigError });
  t.throws(() => parseInputShape(`1x${2 ** 40}`), { instanceOf: ConfigError });
  t.throws(() => parseInputShape('1x65536x65536x65536'), { instanceOf: ConfigError });
});
