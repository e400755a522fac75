/**
 * The pipeline space a search explores, made from the search configuration: the built-in stage types narrowed to
 * what the budget and this build can run (fine-tune epochs capped, quantized engines this LibTorch has), plus the
 * executor's own rule that quantization comes last (int8 models are inference-only), and a few known-good
 * pipelines to start generation 0 with.
 */
import { info } from '../runtime/info.js';
import {
  defaultPipelineSpaceConfig,
  narrowSpace,
  PipelineSpace,
  withoutStages,
  type PipelineGenome,
  type PipelineSpaceConfig,
  type Stage,
  type ValidityRule,
} from '../genome/index.js';
import type { ParamSpec } from '../search/index.js';
import { STAGE_TYPES, type SearchConfig } from './config.js';

/** What the space depends on besides the configuration; stored with the study so a resume rebuilds the same space. */
export interface SpaceSettings {
  readonly backends: readonly string[];
}

/**
 * The quantized engines worth searching on this machine: for a search on a CUDA device whose LibTorch has
 * torch._int_mm, 'cuda' (int8 GEMM on the GPU, so every candidate is measured on the device the search targets);
 * otherwise ONEDNN on x86 (QNNPACK's x86 kernels measured 10–200× slower there, so searching them wastes
 * evaluations), QNNPACK first on ARM.
 */
export function currentSpaceSettings(device = 'cpu'): SpaceSettings {
  const i = info();
  if (device !== 'cpu' && i.cuda.int8Gemm) return { backends: ['cuda'] };
  const engines: string[] = i.quantizedEngines.map((e) => e.toLowerCase());
  const arm = process.arch === 'arm64' || process.arch === 'arm';
  const preferred = arm ? ['qnnpack', 'onednn'] : ['onednn'];
  const backends = preferred.filter((e) => engines.includes(e));
  return { backends: backends.length ? backends : engines };
}

/** Quantized models run int8 inference only, so a quantize stage ends the pipeline. */
export const quantizeLast: ValidityRule = {
  name: 'quantizeLast',
  description: 'int8 models are inference-only here, so one quantize stage, at the end',
  check(stages) {
    const at = stages.findIndex((s) => s.type === 'quantize');
    if (at < 0 || at === stages.length - 1) return [];
    return [
      {
        rule: 'quantizeLast',
        path: `stages[${at}]`,
        message: `quantize is followed by ${stages.length - at - 1} stage(s)`,
      },
    ];
  },
  repair(stages) {
    const at = stages.findIndex((s) => s.type === 'quantize');
    if (at < 0) return [...stages];
    return [...stages.filter((s) => s.type !== 'quantize'), stages[at] as Stage];
  },
};

export function spaceConfig(config: SearchConfig, settings: SpaceSettings): PipelineSpaceConfig {
  let c = defaultPipelineSpaceConfig();
  const allowed = config.stages ?? STAGE_TYPES;
  const drop = STAGE_TYPES.filter((t) => !allowed.includes(t));
  if (!settings.backends.length && !drop.includes('quantize')) drop.push('quantize');
  c = withoutStages(c, ...drop);
  if (allowed.includes('regularize') && !allowed.some((t) => t === 'train' || t === 'prune' || t === 'lowrank'))
    c = withoutStages(c, 'regularize');
  const max = config.finetune.maxEpochs;
  const epochs = (min: number): { kind: 'int'; min: number; max: number; default: number } => ({
    kind: 'int',
    min: Math.min(min, max),
    max,
    default: Math.min(Math.max(min, 1), max),
  });
  const overrides: Record<string, Record<string, ParamSpec>> = {};
  if (c.stages['train']) overrides['train'] = { epochs: epochs(1) };
  if (c.stages['prune'])
    overrides['prune'] = { finetuneEpochs: epochs(0), steps: { kind: 'int', min: 1, max: 3, default: 1 } };
  if (c.stages['lowrank']) overrides['lowrank'] = { finetuneEpochs: epochs(0) };
  if (c.stages['quantize']) {
    overrides['quantize'] = {
      qatEpochs: epochs(1),
      backend: { kind: 'categorical', choices: [...settings.backends], default: settings.backends[0]! },
    };
  }
  c = narrowSpace(c, overrides);
  const stages = { ...c.stages };
  if (stages['quantize']) stages['quantize'] = { ...stages['quantize'], maxCount: 1 };
  return { ...c, stages, maxStages: 5, sampleStages: { min: 1, max: 3 }, rules: [...c.rules, quantizeLast] };
}

export function buildSpace(config: SearchConfig, settings: SpaceSettings): PipelineSpace {
  return new PipelineSpace(spaceConfig(config, settings));
}

/**
 * Generation 0 starts with the pipelines the seed's tables favour — prune then quantize, low-rank then prune then
 * quantize — and plain quantization; evolution takes it from there. Only those the space allows are kept.
 */
export function seedPipelines(space: PipelineSpace, settings: SpaceSettings): PipelineGenome[] {
  // Recovery fine-tunes: 2 epochs on big data, half the cap where epochs are short (small UCR sets).
  const cap = space.config.stages['prune']
    ? (space.config.stages['prune'].params['finetuneEpochs'] as { max: number }).max
    : 2;
  const ft = Math.min(cap, Math.max(2, Math.round(cap / 2)));
  const backend = settings.backends[0] ?? 'onednn';
  const q = (mode: string): Stage => ({
    type: 'quantize',
    params: { mode, perChannel: true, calibrationBatches: 16, qatEpochs: 1, backend },
  });
  const p = (ratio: number, criterion = 'l1'): Stage => ({
    type: 'prune',
    params: { criterion, ratio, scope: 'layerwise', roundTo: 8, steps: 1, finetuneEpochs: ft },
  });
  const lr: Stage = {
    type: 'lowrank',
    params: {
      rule: 'explained_variance',
      threshold: 0.8,
      roundTo: 4,
      orthogonalityWeight: 0,
      hoyerWeight: 0.5,
      finetuneEpochs: 1,
    },
  };
  const candidates: PipelineGenome[] = [
    { stages: [p(0.5), q('static')] },
    { stages: [p(0.5), q('dynamic')] },
    { stages: [lr, p(0.3), q('static')] },
    { stages: [p(0.7, 'taylor'), q('static')] },
  ];
  const out: PipelineGenome[] = [];
  for (const g of candidates) {
    if (!g.stages.every((s) => space.config.stages[s.type])) continue;
    if (space.validate(g).valid) out.push(space.parse(g));
  }
  return out;
}
