/**
 * Variation operators on pipeline genomes. Each operator works on the stage list and may leave it invalid for a
 * moment; the space repairs every result, so every operator yields a valid genome.
 */
import type { Stage } from './genome.js';
import { mutateParam, sampleParam, type ParamValue } from '../search/params.js';
import type { MutationWeights, PipelineSpaceConfig } from './space-config.js';
import type { Rng } from '../search/rng.js';

export type MutationOperator = keyof MutationWeights;

/** Draws a stage type, respecting each type's weight. */
export function pickStageType(config: PipelineSpaceConfig, rng: Rng, exclude?: string): string {
  const weights: Record<string, number> = {};
  for (const [type, def] of Object.entries(config.stages)) if (type !== exclude) weights[type] = def.weight ?? 1;
  if (Object.keys(weights).length === 0) return exclude as string;
  return rng.weighted(weights);
}

export function sampleStage(config: PipelineSpaceConfig, type: string, rng: Rng): Stage {
  const def = config.stages[type];
  const params: Record<string, ParamValue> = {};
  if (def) for (const [name, spec] of Object.entries(def.params)) params[name] = sampleParam(spec, rng);
  return { type, params };
}

/** Operators that can act on a pipeline of this length. */
function applicable(config: PipelineSpaceConfig, length: number): Partial<Record<MutationOperator, number>> {
  const w = config.mutation;
  const out: Partial<Record<MutationOperator, number>> = {};
  if (length > 0) {
    out.param = w.param;
    out.replace = w.replace;
  }
  if (length < config.maxStages) out.insert = w.insert;
  if (length > config.minStages) out.delete = w.delete;
  if (length > 1) out.swap = w.swap;
  return out;
}

/** Applies one randomly chosen operator; returns the (unrepaired) stages and the operator's name. */
export function mutateStages(
  config: PipelineSpaceConfig,
  stages: readonly Stage[],
  rng: Rng,
): { stages: Stage[]; operator: MutationOperator } {
  const weights = applicable(config, stages.length);
  const operator = rng.weighted(weights as Record<MutationOperator, number>);
  const out = [...stages];
  switch (operator) {
    case 'param': {
      const i = rng.int(0, out.length - 1);
      const stage = out[i] as Stage;
      const specs = Object.entries(config.stages[stage.type]?.params ?? {});
      if (specs.length === 0) break;
      const params: Record<string, ParamValue> = { ...stage.params };
      // Each parameter changes with probability 1/n, and at least one always does.
      const forced = rng.int(0, specs.length - 1);
      specs.forEach(([name, spec], k) => {
        if (k === forced || rng.bool(1 / specs.length))
          params[name] = mutateParam(spec, params[name] as ParamValue, rng);
      });
      out[i] = { type: stage.type, params };
      break;
    }
    case 'insert':
      out.splice(rng.int(0, out.length), 0, sampleStage(config, pickStageType(config, rng), rng));
      break;
    case 'delete':
      out.splice(rng.int(0, out.length - 1), 1);
      break;
    case 'replace': {
      const i = rng.int(0, out.length - 1);
      out[i] = sampleStage(config, pickStageType(config, rng, (out[i] as Stage).type), rng);
      break;
    }
    case 'swap': {
      const i = rng.int(0, out.length - 2);
      [out[i], out[i + 1]] = [out[i + 1] as Stage, out[i] as Stage];
      break;
    }
  }
  return { stages: out, operator };
}

/**
 * Uniform exchange on the parameters of shared stages (the k-th stage of a type in one parent is matched with the
 * k-th of that type in the other), then, with probability `onePointProbability`, a one-point cut on the stage lists.
 */
export function crossoverStages(
  config: PipelineSpaceConfig,
  a: readonly Stage[],
  b: readonly Stage[],
  rng: Rng,
): [Stage[], Stage[]] {
  const left = [...a];
  const right = [...b];
  const occurrences = (stages: readonly Stage[]): Map<string, number[]> => {
    const m = new Map<string, number[]>();
    stages.forEach((s, i) => m.set(s.type, [...(m.get(s.type) ?? []), i]));
    return m;
  };
  const inRight = occurrences(right);
  for (const [type, leftIdx] of occurrences(left)) {
    const rightIdx = inRight.get(type) ?? [];
    for (let k = 0; k < Math.min(leftIdx.length, rightIdx.length); k++) {
      const i = leftIdx[k] as number;
      const j = rightIdx[k] as number;
      const pa: Record<string, ParamValue> = { ...(left[i] as Stage).params };
      const pb: Record<string, ParamValue> = { ...(right[j] as Stage).params };
      for (const name of Object.keys(config.stages[type]?.params ?? {})) {
        if (rng.bool(config.uniformSwapProbability))
          [pa[name], pb[name]] = [pb[name] as ParamValue, pa[name] as ParamValue];
      }
      left[i] = { type, params: pa };
      right[j] = { type, params: pb };
    }
  }
  if (!rng.bool(config.onePointProbability)) return [left, right];
  const i = rng.int(0, left.length);
  const j = rng.int(0, right.length);
  return [
    [...left.slice(0, i), ...right.slice(j)],
    [...right.slice(0, j), ...left.slice(i)],
  ];
}
