/**
 * The pipeline genome: an ordered list of typed stages, each with hyperparameters. The built-in stage types and
 * their parameter names are the contract with the native side; users may add stage types through the space.
 */
import { createHash } from 'node:crypto';
import type { ParamValue } from '../search/params.js';

export interface Stage<T extends string = string, P extends object = Record<string, ParamValue>> {
  readonly type: T;
  readonly params: P;
}

export interface TrainParams {
  epochs: number;
  lr: number;
  optimizer: 'sgd' | 'adam' | 'adamw';
  schedule: 'constant' | 'cosine' | 'step';
  batchSize: number;
}
export interface PruneParams {
  criterion: 'l1' | 'l2' | 'bn_scale' | 'taylor' | 'random';
  /** Fraction of prunable channels removed, 0.05–0.95. */
  ratio: number;
  scope: 'global' | 'layerwise';
  /** Kept channel counts are rounded to a multiple of this (1, 4, 8 or 16). */
  roundTo: number;
  /** Iterative pruning steps that together reach `ratio`. */
  steps: number;
  finetuneEpochs: number;
}
export interface LowRankParams {
  rule: 'energy' | 'explained_variance' | 'fixed_ratio';
  threshold: number;
  roundTo: number;
  orthogonalityWeight: number;
  hoyerWeight: number;
  finetuneEpochs: number;
}
export interface QuantizeParams {
  mode: 'dynamic' | 'static' | 'qat';
  perChannel: boolean;
  calibrationBatches: number;
  qatEpochs: number;
  backend: 'onednn' | 'qnnpack' | 'cuda';
}
/** Loss-regularizer weights for the training that follows this stage. */
export interface RegularizeParams {
  hoyer: number;
  orthogonality: number;
  l1: number;
}

export type BuiltinStage =
  | Stage<'train', TrainParams>
  | Stage<'prune', PruneParams>
  | Stage<'lowrank', LowRankParams>
  | Stage<'quantize', QuantizeParams>
  | Stage<'regularize', RegularizeParams>;

export type BuiltinStageType = BuiltinStage['type'];

/** A genome's stages; user-defined stage types appear as plain `Stage`. */
export interface PipelineGenome {
  readonly stages: readonly Stage[];
}

/** Narrows a stage to a built-in type, giving typed params (e.g. `isStage(s, 'prune') && s.params.ratio`). */
export function isStage<T extends BuiltinStageType>(
  stage: Stage,
  type: T,
): stage is Extract<BuiltinStage, { type: T }> & Stage {
  return stage.type === type;
}

/** JSON with sorted keys and -0 written as 0, so equal genomes always serialise to the same text. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number') return Object.is(value, -0) ? '0' : JSON.stringify(value);
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** A stable 16-hex-digit hash of the canonical JSON (SHA-256 prefix), for de-duplication. */
export function genomeHash(genome: PipelineGenome): string {
  return createHash('sha256').update(canonicalJson(genome)).digest('hex').slice(0, 16);
}

/** A short human-readable form, e.g. `lowrank → prune(0.5) → quantize(static)`. */
export function describeGenome(genome: PipelineGenome): string {
  return genome.stages
    .map((s) => {
      if (isStage(s, 'prune')) return `prune(${s.params.ratio})`;
      if (isStage(s, 'quantize')) return `quantize(${s.params.mode})`;
      return s.type;
    })
    .join(' → ');
}
