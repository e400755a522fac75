/**
 * Fuzzing genome and space JSON: decoding any JSON gives a valid genome or a ConfigError naming the stage and
 * parameter; repair turns any JSON into a valid genome; space overrides from JSON give a space or a ConfigError.
 */
import test from 'ava';
import fc from 'fast-check';
import { ConfigError } from '../../lib/core/errors.js';
import { canonicalJson, genomeHash, type PipelineGenome } from '../../lib/genome/genome.js';
import { defaultPipelineSpaceConfig, narrowSpace, type SpaceOverrides } from '../../lib/genome/space-config.js';
import { PipelineSpace } from '../../lib/genome/pipeline-space.js';
import { Rng } from '../../lib/search/rng.js';
import { attempt, check, checkConfigPath, fuzz, runCases, Tally, type Case } from './fuzz-helpers.js';
import { HOSTILE_VALUES, jsonMutation, mutateJson } from './spec-gen.js';

const space = new PipelineSpace();

function checkGenome(g: PipelineGenome): void {
  check(space.validate(g).valid, `decoded genome is not valid: ${JSON.stringify(space.validate(g).violations)}`);
  check(genomeHash(space.decode(space.encode(g))) === genomeHash(g), 'encode/decode round trip');
  check(canonicalJson(space.encode(g)) === canonicalJson(g), 'canonical form');
}

/** Sampled valid genomes, as JSON. */
const sampled = fc
  .integer({ min: 0, max: 1e6 })
  .map((seed) => JSON.parse(JSON.stringify(space.sample(new Rng(seed)))) as unknown);

/** Stage-shaped JSON: known and prototype-named types, known and odd parameter names, hostile values. */
const stageLike = fc.record({
  type: fc.constantFrom(
    'train',
    'prune',
    'lowrank',
    'quantize',
    'regularize',
    'constructor',
    'toString',
    '__proto__',
    'hasOwnProperty',
    'teleport',
    '',
  ),
  params: fc.dictionary(
    fc.constantFrom(
      'epochs',
      'lr',
      'ratio',
      'mode',
      'roundTo',
      'threshold',
      'hoyer',
      'constructor',
      'valueOf',
      '__proto__',
      'bogus',
    ),
    fc.oneof(
      fc.constantFrom(...HOSTILE_VALUES),
      fc.jsonValue({ maxDepth: 1 }),
      fc.constantFrom('static', 'qat', 'adam', 8),
    ),
    { maxKeys: 6 },
  ),
});

test('decode(any JSON): a valid genome, or a ConfigError whose path names the stage/parameter', (t) => {
  const tally = new Tally();
  const input = fc.oneof(
    sampled,
    fc.jsonValue({ maxDepth: 4 }),
    fc.array(stageLike, { maxLength: 7 }).map((stages) => ({ stages })),
    fc
      .tuple(sampled, fc.array(jsonMutation, { minLength: 1, maxLength: 2 }))
      .map(([g, ms]) => ms.reduce((x, m) => mutateJson(x, m), g)),
  );
  fc.assert(
    fc.property(input, (json) => {
      // through JSON text, as a stored genome arrives (so '__proto__' keys are own properties)
      const parsed = JSON.parse(JSON.stringify(json) ?? 'null') as unknown;
      const out = tally.add(attempt(() => space.decode(parsed)));
      if (out.ok) {
        checkGenome(out.value);
        return;
      }
      check(out.error instanceof ConfigError, `${out.error.name}: ${out.error.message}`);
      checkConfigPath(out.error);
      check(
        /^stages(\[\d+\](\.type|\.params\.[^.]+)?)?$/.test((out.error as ConfigError).path!),
        `path ${(out.error as ConfigError).path}`,
      );
    }),
    fuzz(1000),
  );
  tally.assertBoth(t);
});

test('repair(any JSON) always gives a valid genome', (t) => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.jsonValue({ maxDepth: 4 }),
        fc.array(stageLike, { maxLength: 9 }).map((stages) => ({ stages })),
      ),
      (json) => {
        const parsed = JSON.parse(JSON.stringify(json) ?? 'null') as unknown;
        const out = attempt(() => space.repair(parsed));
        check(out.ok, out.ok ? '' : out.error.message);
        checkGenome(out.value);
      },
    ),
    fuzz(500),
  );
  t.pass();
});

test('space overrides from JSON: a working space or a ConfigError with a path', (t) => {
  const tally = new Tally();
  const specLike = fc.oneof(
    fc.record(
      {
        kind: fc.constantFrom('int', 'float'),
        min: fc.oneof(fc.integer({ min: -3, max: 5 }), fc.constantFrom(NaN, Infinity, 0.5, '1')),
        max: fc.oneof(fc.integer({ min: 0, max: 9 }), fc.constantFrom(NaN, -Infinity)),
        log: fc.option(fc.constantFrom(true, false, 'yes'), { nil: undefined }),
      },
      { requiredKeys: ['kind', 'min', 'max'] },
    ),
    fc.record({
      kind: fc.constant('categorical'),
      choices: fc.oneof(
        fc.array(fc.constantFrom('l1', 'adam', 8, true, 1.5), { maxLength: 3 }),
        fc.constantFrom(null, 'abc', [{}], [null]),
      ),
    }),
    fc.jsonValue({ maxDepth: 2 }),
  );
  const overrides = fc.oneof(
    fc.dictionary(
      fc.constantFrom('train', 'prune', 'quantize', 'constructor', 'toString', 'nope'),
      fc.dictionary(fc.constantFrom('epochs', 'ratio', 'mode', 'steps', 'constructor', 'bogus'), specLike, {
        maxKeys: 2,
      }),
      { maxKeys: 2 },
    ),
    fc.jsonValue({ maxDepth: 3 }),
  );
  fc.assert(
    fc.property(overrides, fc.integer({ min: 0, max: 1000 }), (json, seed) => {
      const parsed = JSON.parse(JSON.stringify(json) ?? 'null') as SpaceOverrides;
      const out = tally.add(attempt(() => new PipelineSpace(narrowSpace(defaultPipelineSpaceConfig(), parsed))));
      if (!out.ok) {
        check(out.error instanceof ConfigError, `${out.error.name}: ${out.error.message}`);
        checkConfigPath(out.error);
        return;
      }
      // a space that was accepted samples, mutates and decodes what it samples — or says its rules clash
      const rng = new Rng(seed);
      const g = attempt(() => out.value.sample(rng));
      if (!g.ok) {
        check(g.error instanceof ConfigError, g.error.message);
        return;
      }
      check(out.value.validate(g.value).valid, 'sampled genome invalid');
      const m = attempt(() => out.value.mutate(g.value, rng));
      if (m.ok) check(out.value.validate(m.value).valid, 'mutated genome invalid');
    }),
    fuzz(400),
  );
  tally.assertBoth(t);
});

const stage = (type: string, params: Record<string, unknown> = {}) => {
  const defaults = Object.fromEntries(
    Object.entries(space.config.stages[type]!.params).map(([k, s]) => [
      k,
      s.default ?? (s.kind === 'categorical' ? s.choices[0] : s.min),
    ]),
  );
  return { type, params: { ...defaults, ...params } };
};
const c = (id: string, input: unknown, expect: RegExp | 'ok'): Case<unknown> => ({
  id,
  input,
  expect,
  error: ConfigError,
});

export const GENOME_CASES: readonly Case<unknown>[] = [
  c('genome-null', null, /^stages: a genome is \{ stages: Stage\[\] \}/),
  c('genome-array', [], /^stages: a genome is/),
  c('genome-stages-not-array', { stages: { 0: stage('train') } }, /^stages: a genome is/),
  c('genome-empty', { stages: [] }, /^stages: 0 stages; allowed 1–6/),
  c(
    'genome-too-long',
    {
      stages: [
        stage('train'),
        stage('train'),
        stage('train'),
        stage('prune'),
        stage('prune'),
        stage('prune'),
        stage('train'),
      ],
    },
    /^stages: 7 stages; allowed 1–6/,
  ),
  c('genome-stage-not-object', { stages: ['train'] }, /^stages\[0\]: a stage is \{ type: string, params: object \}/),
  c(
    'genome-type-constructor',
    JSON.parse('{"stages":[{"type":"constructor","params":{}}]}'),
    /^stages\[0\]\.type: unknown stage type "constructor"/,
  ),
  c(
    'genome-type-proto',
    JSON.parse('{"stages":[{"type":"__proto__","params":{}}]}'),
    /^stages\[0\]\.type: unknown stage type "__proto__"/,
  ),
  c(
    'genome-param-constructor',
    JSON.parse(
      JSON.stringify({ stages: [{ ...stage('train'), params: { ...stage('train').params, constructor: 1 } }] }),
    ),
    /^stages\[0\]\.params\.constructor: unknown parameter of train/,
  ),
  c(
    'genome-param-proto',
    JSON.parse(
      `{"stages":[{"type":"prune","params":${JSON.stringify(stage('prune').params).replace('{', '{"__proto__":{"ratio":0.5},')}}]}`,
    ),
    /^stages\[0\]\.params\.__proto__: unknown parameter of prune/,
  ),
  c(
    'genome-param-missing',
    { stages: [{ type: 'prune', params: { ratio: 0.5 } }] },
    /^stages\[0\]\.params\.criterion: missing/,
  ),
  c(
    'genome-param-nan',
    { stages: [stage('prune', { ratio: NaN })] },
    /^stages\[0\]\.params\.ratio: null is not a finite number/,
  ),
  c(
    'genome-param-infinity',
    { stages: [stage('train', { lr: Infinity })] },
    /^stages\[0\]\.params\.lr: null is not a finite number/,
  ),
  c(
    'genome-param-out-of-range',
    { stages: [stage('prune', { ratio: 2 })] },
    /^stages\[0\]\.params\.ratio: 2 is outside \[0\.05, 0\.95\]/,
  ),
  c(
    'genome-param-fraction-int',
    { stages: [stage('train', { epochs: 2.5 })] },
    /^stages\[0\]\.params\.epochs: 2\.5 is not an integer/,
  ),
  c(
    'genome-param-bad-choice',
    { stages: [stage('quantize', { mode: 'fp4' })] },
    /^stages\[0\]\.params\.mode: "fp4" is not one of/,
  ),
  c(
    'genome-rule-violation',
    { stages: [stage('quantize', { mode: 'static' }), stage('prune')] },
    /^stages\[1\]: prune follows the static quantize/,
  ),
  c('genome-unicode-type', { stages: [{ type: 'прун', params: {} }] }, /^stages\[0\]\.type: unknown stage type "прун"/),
  c('genome-valid', { stages: [stage('prune'), stage('quantize')] }, 'ok'),
];

test('explicit bad genomes and spaces give the documented ConfigError (test/README.md)', (t) => {
  runCases(
    t,
    GENOME_CASES,
    (g) => space.decode(JSON.parse(JSON.stringify(g))),
    (g) => checkGenome(g),
  );
  const spaceCases: readonly Case<unknown>[] = [
    c('space-overrides-null', null, /^stages: overrides must be an object/),
    c(
      'space-stage-constructor',
      JSON.parse('{"constructor":{"a":{"kind":"int","min":1,"max":2}}}'),
      /^stages\.constructor: unknown stage type "constructor"/,
    ),
    c(
      'space-param-proto',
      JSON.parse('{"train":{"__proto__":{"kind":"int","min":1,"max":2}}}'),
      /^stages\.train\.__proto__: stage "train" has no parameter "__proto__"/,
    ),
    c('space-spec-null', { train: { epochs: null } }, /^stages\.train\.epochs: a parameter spec must be an object/),
    c(
      'space-spec-bad-kind',
      { train: { epochs: { kind: 'complex', min: 1, max: 2 } } },
      /^stages\.train\.epochs\.kind: kind must be/,
    ),
    c(
      'space-choices-not-array',
      { quantize: { mode: { kind: 'categorical', choices: 'static' } } },
      /^stages\.quantize\.mode\.choices: choices must be an array/,
    ),
    c(
      'space-choices-empty',
      { quantize: { mode: { kind: 'categorical', choices: [] } } },
      /^stages\.quantize\.mode: a categorical parameter needs at least one choice/,
    ),
    c(
      'space-range-nan',
      { prune: { ratio: { kind: 'float', min: NaN, max: 1 } } },
      /^stages\.prune\.ratio: range \[NaN, 1\] is not a valid range/,
    ),
    c(
      'space-range-reversed',
      { prune: { ratio: { kind: 'float', min: 0.9, max: 0.1 } } },
      /^stages\.prune\.ratio: range \[0\.9, 0\.1\] is not a valid range/,
    ),
    c(
      'space-log-from-zero',
      { train: { lr: { kind: 'float', min: 0, max: 1, log: true } } },
      /^stages\.train\.lr: a log-scale range must start above 0/,
    ),
  ];
  runCases(t, spaceCases, (o) => new PipelineSpace(narrowSpace(defaultPipelineSpaceConfig(), o as SpaceOverrides)));
});
