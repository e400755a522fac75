/**
 * Low-rank compression: replace dense layers by W = U·diag(S)·Vh (the `lowrank_*` ops, same node names so
 * consumers are untouched), and later drop singular directions from factorized layers after training.
 *
 * Rank rules, on singular values S sorted by |S| descending (r is the smallest rank that satisfies the rule):
 * - `explained_variance`: Σ_{i<r} S_i² ≥ τ · Σ S_i²  (the spectral "variance" a rank-r truncation keeps)
 * - `energy`:             Σ_{i<r} |S_i| ≥ τ · Σ |S_i| (FedCore's "absolute sum": the nuclear-norm share kept;
 *                          for the same τ it keeps more directions than `explained_variance`)
 * - `fixed_ratio`:        r = ⌈τ · full rank⌉ (for `truncateRanks`: of the layer's current rank)
 * - `rank`:               r = τ, an absolute rank (capped at the full rank)
 * then r is rounded up to a multiple of `roundTo`, capped at the full rank, and is never below 1.
 */
import type { NativeTensorRecipe } from '../runtime/binding.js';
import { ConfigError } from '../core/errors.js';
import type { Model } from '../runtime/model.js';
import type { GraphNode, LowrankConv1dAttrs, LowrankConv2dAttrs, ModelSpec } from '../graph/types.js';
import { nodeParameterCount, parameterCount } from '../graph/validate.js';
import { kernelArea } from './depgraph.js';
import { deriveModel } from './derive.js';
import type { LowrankLayerReport, LowrankReport, RankRule } from './report.js';

export interface LowrankOptions {
  rule: RankRule;
  /** τ: a fraction in (0, 1] for `energy`, `explained_variance`, `fixed_ratio`; a positive integer for `rank`. */
  threshold: number;
  /** Round the rank up to a multiple of this (capped at the full rank). Default 1. */
  roundTo?: number;
  /**
   * Node names to work on. `decompose` default: every linear and groups-1 conv1d/conv2d (the output head
   * included; the profitability check drops it when factorizing would not save parameters). `truncateRanks`
   * default: every lowrank_* node.
   */
  layers?: string[];
}

export interface DecomposeOptions extends LowrankOptions {
  /**
   * Leave a layer dense when its factorization would not have fewer parameters than the dense layer
   * (r·(out + in·k) + r ≥ out·in·k). Default true; set false to factorize anyway (e.g. at full rank).
   */
  skipUnprofitable?: boolean;
}

const RULES: readonly RankRule[] = ['energy', 'explained_variance', 'fixed_ratio', 'rank'];

function checkOptions(o: LowrankOptions): void {
  if (!RULES.includes(o.rule))
    throw new ConfigError(`unknown rule '${String(o.rule)}' (known: ${RULES.join(', ')})`, 'rule');
  const t = o.threshold;
  if (o.rule === 'rank') {
    if (!(typeof t === 'number' && Number.isInteger(t) && t >= 1))
      throw new ConfigError(`rule 'rank' needs a positive integer rank, got ${String(t)}`, 'threshold');
  } else if (!(typeof t === 'number' && t > 0 && t <= 1)) {
    throw new ConfigError(`rule '${o.rule}' needs 0 < threshold ≤ 1, got ${String(t)}`, 'threshold');
  }
  if (o.roundTo !== undefined && !(Number.isInteger(o.roundTo) && o.roundTo >= 1)) {
    throw new ConfigError(`must be a positive integer, got ${String(o.roundTo)}`, 'roundTo');
  }
  if (o.layers !== undefined && !Array.isArray(o.layers))
    throw new ConfigError('must be an array of node names', 'layers');
}

/**
 * The rank `rule` picks from singular values `s` (any order, any sign; |s| sorted descending is used), rounded up
 * to `roundTo` and kept within 1..s.length.
 */
export function selectRank(s: ArrayLike<number>, rule: RankRule, threshold: number, roundTo = 1): number {
  const full = s.length;
  if (full === 0) return 0;
  const sorted = Array.from(s, Math.abs).sort((a, b) => b - a);
  let r: number;
  switch (rule) {
    case 'rank':
      r = threshold;
      break;
    case 'fixed_ratio':
      r = Math.ceil(threshold * full - 1e-9);
      break;
    case 'energy':
    case 'explained_variance': {
      const v = rule === 'energy' ? sorted : sorted.map((x) => x * x);
      const total = v.reduce((a, b) => a + b, 0);
      r = full;
      let cum = 0;
      for (let i = 0; i < full; i++) {
        cum += v[i]!;
        if (cum >= threshold * total) {
          r = i + 1;
          break;
        }
      }
      break;
    }
  }
  r = Math.max(1, Math.min(full, r));
  return Math.min(full, Math.ceil(r / roundTo) * roundTo);
}

type Dense = Extract<GraphNode, { op: 'linear' | 'conv1d' | 'conv2d' }>;
type Factorized = Extract<GraphNode, { op: 'lowrank_linear' | 'lowrank_conv1d' | 'lowrank_conv2d' }>;

const isDense = (n: GraphNode): n is Dense => n.op === 'linear' || n.op === 'conv1d' || n.op === 'conv2d';
const isFactorized = (n: GraphNode): n is Factorized =>
  n.op === 'lowrank_linear' || n.op === 'lowrank_conv1d' || n.op === 'lowrank_conv2d';

/** min(out, in·kernel) of a dense or factorized layer's weight matrix. */
function fullRankOf(n: Dense | Factorized): number {
  const lin = n.op === 'linear' || n.op === 'lowrank_linear';
  const out = lin ? n.attrs.outFeatures : n.attrs.outChannels;
  const rest = (lin ? n.attrs.inFeatures : n.attrs.inChannels) * kernelArea(n);
  return Math.min(out, rest);
}

/** The lowrank_* node that replaces a dense one at `rank` (same name, inputs and layer attributes). */
export function factorizedNode(n: Dense, rank: number): Factorized {
  switch (n.op) {
    case 'linear':
      return { name: n.name, op: 'lowrank_linear', inputs: [...n.inputs], attrs: { ...n.attrs, rank } };
    case 'conv1d':
      return {
        name: n.name,
        op: 'lowrank_conv1d',
        inputs: [...n.inputs],
        attrs: { ...n.attrs, rank } as LowrankConv1dAttrs,
      };
    case 'conv2d':
      return {
        name: n.name,
        op: 'lowrank_conv2d',
        inputs: [...n.inputs],
        attrs: { ...n.attrs, rank } as LowrankConv2dAttrs,
      };
  }
}

function pickLayers<T extends GraphNode>(
  spec: ModelSpec,
  layers: string[] | undefined,
  wanted: (n: GraphNode) => n is T,
  what: string,
  skipReason: (n: GraphNode) => string | undefined,
): { nodes: T[]; skipped: { node: GraphNode; reason: string }[] } {
  const byName = new Map(spec.nodes.map((n) => [n.name, n] as const));
  if (layers === undefined) {
    return { nodes: spec.nodes.filter((n): n is T => wanted(n) && skipReason(n) === undefined), skipped: [] };
  }
  const nodes: T[] = [];
  const skipped: { node: GraphNode; reason: string }[] = [];
  layers.forEach((name, i) => {
    const n = byName.get(name);
    if (!n) throw new ConfigError(`no node named '${name}'`, `layers[${i}]`);
    const reason = skipReason(n);
    if (reason !== undefined) skipped.push({ node: n, reason });
    else if (wanted(n)) nodes.push(n);
    else throw new ConfigError(`'${name}' is a ${n.op}; ${what}`, `layers[${i}]`);
  });
  return { nodes, skipped };
}

function skippedReport(node: GraphNode, reason: string): LowrankLayerReport {
  const params = nodeParameterCount(node);
  const rank = isFactorized(node) ? node.attrs.rank : isDense(node) ? fullRankOf(node) : 0;
  return {
    name: node.name,
    fullRank: isDense(node) || isFactorized(node) ? fullRankOf(node) : 0,
    rankBefore: rank,
    rank,
    paramsBefore: params,
    paramsAfter: params,
    skipped: reason,
  };
}

/**
 * Factorizes dense layers by truncated SVD at the rank the rule picks; `model` is untouched. At full rank the
 * new model computes the same function (up to float error).
 */
export async function decompose(
  model: Model,
  options: DecomposeOptions,
): Promise<{ model: Model; report: LowrankReport }> {
  checkOptions(options);
  const spec = model.spec;
  const { nodes, skipped } = pickLayers(
    spec,
    options.layers,
    isDense,
    'only linear, conv1d and conv2d layers can be decomposed',
    (n) => {
      if (isFactorized(n)) return 'already factorized';
      if ((n.op === 'conv1d' || n.op === 'conv2d') && (n.attrs.groups ?? 1) !== 1)
        return `grouped conv (groups ${n.attrs.groups})`;
      return undefined;
    },
  );
  const singular = nodes.length ? model.native.singularValues(nodes.map((n) => `${n.name}.weight`)) : {};
  const replaced = new Map<string, Factorized>();
  const reports = new Map<string, LowrankLayerReport>();
  for (const s of skipped) reports.set(s.node.name, skippedReport(s.node, s.reason));
  for (const n of nodes) {
    const full = fullRankOf(n);
    const s = singular[`${n.name}.weight`];
    const rank = s ? Math.min(full, selectRank(s, options.rule, options.threshold, options.roundTo)) : full;
    const f = factorizedNode(n, rank);
    const before = nodeParameterCount(n);
    const after = nodeParameterCount(f);
    const base = { name: n.name, fullRank: full, rankBefore: full, paramsBefore: before };
    if (after >= before && (options.skipUnprofitable ?? true)) {
      reports.set(n.name, {
        ...base,
        rank: full,
        paramsAfter: before,
        skipped: `rank ${rank} would not cut parameters (${after} ≥ ${before})`,
      });
      continue;
    }
    replaced.set(n.name, f);
    reports.set(n.name, { ...base, rank, paramsAfter: after });
  }
  const next: ModelSpec = {
    ...structuredClone(spec),
    nodes: spec.nodes.map((n) => structuredClone(replaced.get(n.name) ?? n)),
  };
  const recipes: Record<string, NativeTensorRecipe> = {};
  for (const [name, f] of replaced) {
    const source = `${name}.weight`;
    for (const part of ['U', 'S', 'Vh'] as const)
      recipes[`${name}.${part}`] = { svd: { source, part, rank: f.attrs.rank } };
    if (f.attrs.bias !== false) recipes[`${name}.bias`] = { source: `${name}.bias` };
  }
  const out = replaced.size ? deriveModel(model, next, recipes) : model.clone();
  return {
    model: out,
    report: {
      operator: 'lowrank',
      mode: 'decompose',
      rule: options.rule,
      threshold: options.threshold,
      layers: spec.nodes.filter((n) => reports.has(n.name)).map((n) => reports.get(n.name)!),
      parametersBefore: parameterCount(spec),
      parametersAfter: parameterCount(out.spec),
    },
  };
}

/**
 * Drops singular directions of factorized layers (typically after training with orthogonality and Hoyer
 * regularizers): the rule is applied to the trained |S|, and the top-r directions (U columns, S entries, Vh rows)
 * are kept in their original order. `model` is untouched.
 */
export async function truncateRanks(
  model: Model,
  options: LowrankOptions,
): Promise<{ model: Model; report: LowrankReport }> {
  checkOptions(options);
  const spec = model.spec;
  const { nodes } = pickLayers(
    spec,
    options.layers,
    isFactorized,
    'only lowrank_* layers have ranks to truncate',
    () => undefined,
  );
  const values = nodes.length ? model.native.tensors(nodes.map((n) => `${n.name}.S`)) : {};
  const replaced = new Map<string, Factorized>();
  const recipes: Record<string, NativeTensorRecipe> = {};
  const reports: LowrankLayerReport[] = [];
  for (const n of nodes) {
    const s = values[`${n.name}.S`]!.data;
    const current = n.attrs.rank;
    const rank = selectRank(s, options.rule, options.threshold, options.roundTo);
    const f = { ...n, attrs: { ...n.attrs, rank } } as Factorized;
    reports.push({
      name: n.name,
      fullRank: fullRankOf(n),
      rankBefore: current,
      rank,
      paramsBefore: nodeParameterCount(n),
      paramsAfter: nodeParameterCount(f),
    });
    if (rank >= current) continue;
    const keep = Array.from(s, (v, i) => [Math.abs(v), i] as const)
      .sort((a, b) => b[0] - a[0] || a[1] - b[1])
      .slice(0, rank)
      .map(([, i]) => i)
      .sort((a, b) => a - b);
    const index = Int32Array.from(keep);
    recipes[`${n.name}.U`] = { source: `${n.name}.U`, slices: [{ dim: 1, index }] };
    recipes[`${n.name}.S`] = { source: `${n.name}.S`, slices: [{ dim: 0, index }] };
    recipes[`${n.name}.Vh`] = { source: `${n.name}.Vh`, slices: [{ dim: 0, index }] };
    replaced.set(n.name, f);
  }
  const next: ModelSpec = {
    ...structuredClone(spec),
    nodes: spec.nodes.map((n) => structuredClone(replaced.get(n.name) ?? n)),
  };
  const out = replaced.size ? deriveModel(model, next, recipes) : model.clone();
  return {
    model: out,
    report: {
      operator: 'lowrank',
      mode: 'truncate',
      rule: options.rule,
      threshold: options.threshold,
      layers: reports,
      parametersBefore: parameterCount(spec),
      parametersAfter: parameterCount(out.spec),
    },
  };
}
