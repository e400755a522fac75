/**
 * Structured channel pruning on the dependency graph (depgraph.ts): score every group channel, pick the ones to
 * remove (per group or globally), then derive a physically smaller model whose tensors are index-selected copies.
 * Criteria, scopes, reductions and rounding only plug into that; nothing here knows an architecture.
 */
import type { NativeTensorRecipe } from '../runtime/binding.js';
import type { TabularSplit, TensorData } from '../data/types.js';
import { createRng } from '../data/split.js';
import { placeData, type DeviceData } from '../runtime/device-data.js';
import { ConfigError } from '../core/errors.js';
import type { Model } from '../runtime/model.js';
import { opDescriptor } from '../graph/ops/index.js';
import type { GraphNode, ModelSpec } from '../graph/types.js';
import { parameterCount, validateSpec } from '../graph/validate.js';
import { train, type TrainOptions } from '../runtime/train.js';
import {
  buildDependencyGraph,
  memberIndices,
  tensorShapes,
  type ChannelGroup,
  type DependencyGraph,
} from './depgraph.js';
import { deriveModel } from './derive.js';
import type { GroupReduction, PruneCriterion, PruneReport, PruneScope } from './report.js';

export type RoundTo = 1 | 4 | 8 | 16;

export interface PruneOptions {
  criterion: PruneCriterion;
  /** Fraction of channels to remove, 0 < ratio < 1 (per group for `layerwise`, overall for `global`). */
  ratio: number;
  /** Default `layerwise`. */
  scope?: PruneScope;
  /** How one channel's per-tensor scores combine (default `mean`). */
  reduce?: GroupReduction;
  /** Kept channel counts are multiples of this (or the whole group); never 0. Default 1. */
  roundTo?: RoundTo;
  /** Training data: needed by `taylor` (gradients) and by `finetune`. */
  data?: TabularSplit | DeviceData;
  /** Batches of gradients that `taylor` sums (default 8). */
  batches?: number;
  /** Batch size for `taylor` (default 64). */
  batchSize?: number;
  /** Seeds `random` and the batch order of `taylor` (default 0). */
  seed?: number;
  /**
   * Iterative pruning: `steps` rounds of 1 − (1 − ratio)^(1/steps) each, so the kept fraction ends at 1 − ratio
   * (up to rounding). Default 1.
   */
  steps?: number;
  /** Training after every step (needs `data`). */
  finetune?: TrainOptions;
}

/** Group channels to remove, by group name (as in `buildDependencyGraph(model.spec).groups`). */
export interface PrunePlan {
  remove: Record<string, number[]>;
}

const CRITERIA: readonly PruneCriterion[] = ['l1', 'l2', 'bn_scale', 'taylor', 'random'];

function checkOptions(o: PruneOptions): void {
  if (!CRITERIA.includes(o.criterion))
    throw new ConfigError(`unknown criterion '${String(o.criterion)}' (known: ${CRITERIA.join(', ')})`, 'criterion');
  if (!(typeof o.ratio === 'number' && o.ratio > 0 && o.ratio < 1))
    throw new ConfigError(`must be a number with 0 < ratio < 1, got ${String(o.ratio)}`, 'ratio');
  if (o.scope !== undefined && o.scope !== 'global' && o.scope !== 'layerwise')
    throw new ConfigError(`must be 'global' or 'layerwise', got '${String(o.scope)}'`, 'scope');
  if (o.reduce !== undefined && !['mean', 'sum', 'max'].includes(o.reduce))
    throw new ConfigError(`must be 'mean', 'sum' or 'max', got '${String(o.reduce)}'`, 'reduce');
  const posInt = (v: unknown): boolean => typeof v === 'number' && Number.isInteger(v) && v >= 1;
  for (const key of ['roundTo', 'batches', 'batchSize', 'steps'] as const) {
    if (o[key] !== undefined && !posInt(o[key]))
      throw new ConfigError(`must be a positive integer, got ${String(o[key])}`, key);
  }
  if (o.criterion === 'taylor' && !o.data)
    throw new ConfigError("criterion 'taylor' needs training data (`data`) for its gradients", 'data');
  if (o.finetune && !o.data) throw new ConfigError('fine-tuning needs training data (`data`)', 'finetune');
}

// ---------------------------------------------------------------------------------------------------------------
// Importance
// ---------------------------------------------------------------------------------------------------------------

/** Σ f(x) over every dimension but `dim`: one value per index of `dim`. */
function alongDim(t: TensorData, dim: number, f: (x: number) => number): Float64Array {
  const n = t.shape[dim]!;
  const inner = t.shape.slice(dim + 1).reduce((a, b) => a * b, 1);
  const outer = t.shape.slice(0, dim).reduce((a, b) => a * b, 1);
  const out = new Float64Array(n);
  const d = t.data;
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < n; i++) {
      let s = 0;
      const base = (o * n + i) * inner;
      for (let k = 0; k < inner; k++) s += f(d[base + k]!);
      out[i]! += s;
    }
  }
  return out;
}

function reduceValues(values: number[], how: GroupReduction): number {
  if (values.length === 0) return 0;
  switch (how) {
    case 'sum':
      return values.reduce((a, b) => a + b, 0);
    case 'max':
      return Math.max(...values);
    case 'mean':
      return values.reduce((a, b) => a + b, 0) / values.length;
  }
}

type Norm = 'l1' | 'l2' | 'sum';

/**
 * Per-channel scores of one group from its member slices: within a tensor, the slice's norm (`l1` Σ|x|, `l2`
 * √Σx², `sum` Σx for scores that are already non-negative); across tensors, `reduce`.
 */
function memberScores(
  group: ChannelGroup,
  tensors: Record<string, TensorData>,
  norm: Norm,
  reduce: GroupReduction,
  include: (m: ChannelGroup['members'][number]) => boolean,
): Float64Array | undefined {
  const f = norm === 'l1' ? Math.abs : norm === 'l2' ? (x: number) => x * x : (x: number) => x;
  const perChannel = Array.from({ length: group.size }, () => new Map<string, number>());
  const cache = new Map<string, Float64Array>();
  let scored = false;
  for (const m of group.members) {
    if (!include(m)) continue;
    const t = tensors[m.tensor];
    if (!t) continue;
    const key = `${m.tensor}#${m.dim}`;
    let agg = cache.get(key);
    if (!agg) {
      agg = alongDim(t, m.dim, f);
      cache.set(key, agg);
    }
    for (let j = 0; j < m.count; j++) {
      let s = 0;
      for (let k = 0; k < m.block; k++) s += agg[m.offset + j * m.block + k]!;
      const ch = perChannel[m.first + j]!;
      ch.set(m.tensor, (ch.get(m.tensor) ?? 0) + s);
      scored = true;
    }
  }
  if (!scored) return undefined;
  return Float64Array.from(perChannel, (ch) =>
    reduceValues(
      [...ch.values()].map((v) => (norm === 'l2' ? Math.sqrt(v) : v)),
      reduce,
    ),
  );
}

/** The tensors `channelScores` reads (producer, consumer and normalization weights; never running statistics). */
export function scoredTensors(graph: DependencyGraph): string[] {
  return [...new Set(graph.groups.flatMap((g) => g.members.filter((m) => m.role !== 'stat').map((m) => m.tensor)))];
}

/**
 * Importance of every channel of every group (higher = more important), from tensor values (`l1`, `l2`,
 * `bn_scale`) or per-parameter Taylor scores (`taylor`: pass them as `tensors`). `bn_scale` is |γ| of the group's
 * batch norms, falling back to `l1` for a group where some channel has none.
 */
export function channelScores(
  spec: ModelSpec,
  graph: DependencyGraph,
  tensors: Record<string, TensorData>,
  criterion: PruneCriterion,
  options: { reduce?: GroupReduction; seed?: number } = {},
): Float64Array[] {
  const reduce = options.reduce ?? 'mean';
  const rng = createRng(options.seed ?? 0);
  const bn = new Set(spec.nodes.filter((n) => n.op === 'batchnorm1d' || n.op === 'batchnorm2d').map((n) => n.name));
  const magnitude = (norm: 'l1' | 'l2', g: ChannelGroup): Float64Array =>
    memberScores(
      g,
      tensors,
      norm,
      reduce,
      (m) => m.role === 'out' || m.role === 'in' || (m.role === 'norm' && m.param === 'weight'),
    ) ?? new Float64Array(g.size);
  return graph.groups.map((g) => {
    switch (criterion) {
      case 'random':
        return Float64Array.from({ length: g.size }, () => rng.next());
      case 'l1':
      case 'l2':
        return magnitude(criterion, g);
      case 'taylor':
        return memberScores(g, tensors, 'sum', reduce, (m) => m.role !== 'stat') ?? new Float64Array(g.size);
      case 'bn_scale': {
        const isGamma = (m: ChannelGroup['members'][number]): boolean =>
          m.role === 'norm' && m.param === 'weight' && bn.has(m.node);
        const covered = new Uint8Array(g.size);
        for (const m of g.members) if (isGamma(m)) covered.fill(1, m.first, m.first + m.count);
        if (!covered.every((c) => c === 1)) return magnitude('l1', g);
        return memberScores(g, tensors, 'l1', reduce, isGamma) ?? magnitude('l1', g);
      }
    }
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Selection
// ---------------------------------------------------------------------------------------------------------------

/**
 * The allowed kept count nearest to `keep`: a multiple of `roundTo` (at least `roundTo`) or the whole group;
 * never 0. Ties go to the larger count.
 */
export function snapKept(keep: number, size: number, roundTo: number): number {
  if (roundTo <= 1) return Math.min(size, Math.max(1, Math.round(keep)));
  let best = size;
  for (let k = roundTo; k < size; k += roundTo) {
    if (Math.abs(k - keep) < Math.abs(best - keep) || (Math.abs(k - keep) === Math.abs(best - keep) && k > best))
      best = k;
  }
  return best;
}

/** Kept channels of a group of `size` pruned by `ratio`. */
export function keptCount(size: number, ratio: number, roundTo = 1): number {
  return snapKept(Math.round(size * (1 - ratio)), size, roundTo);
}

/** Channel indices of `scores` ascending by score, ties by index. */
function ascending(scores: ArrayLike<number>): number[] {
  return Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[a]! - scores[b]! || a - b);
}

/**
 * The `count` lowest-scored channels of a group whose removal leaves every producer at least one channel (in a
 * merged group — an inception module joined to its shortcut — one branch conv may own only a few channels).
 */
function lowest(g: ChannelGroup, scores: Float64Array, count: number): number[] {
  const owners: number[][] = Array.from({ length: g.size }, () => []); // channel → producer ids
  const left: number[] = [];
  const ids = new Map<string, number>();
  for (const m of g.members) {
    if (m.role !== 'out') continue;
    const key = `${m.tensor}#${m.dim}`;
    let id = ids.get(key);
    if (id === undefined) {
      ids.set(key, (id = left.length));
      left.push(0);
    }
    for (let c = m.first; c < m.first + m.count; c++) {
      owners[c]!.push(id);
      left[id]!++;
    }
  }
  const drop: number[] = [];
  for (const c of ascending(scores)) {
    if (drop.length >= count) break;
    if (owners[c]!.some((id) => left[id]! <= 1)) continue;
    for (const id of owners[c]!) left[id]!--;
    drop.push(c);
  }
  return drop.sort((a, b) => a - b);
}

/**
 * Picks the channels to remove. `layerwise`: in every group the lowest-scored `ratio` of channels. `global`:
 * scores are divided by their group's mean so groups compare, then the lowest `ratio` of all channels go, never
 * emptying a group. Either way kept counts then snap to `roundTo`.
 */
export function selectChannels(
  graph: DependencyGraph,
  scores: Float64Array[],
  options: { ratio: number; scope?: PruneScope; roundTo?: number },
): PrunePlan {
  const roundTo = options.roundTo ?? 1;
  const remove: Record<string, number[]> = {};
  const pick = (g: ChannelGroup, s: Float64Array, keep: number): void => {
    const drop = lowest(g, s, g.size - keep);
    if (drop.length) remove[g.name] = drop;
  };
  if ((options.scope ?? 'layerwise') === 'layerwise') {
    graph.groups.forEach((g, i) => pick(g, scores[i]!, keptCount(g.size, options.ratio, roundTo)));
    return { remove };
  }
  const all: { g: number; c: number; v: number }[] = [];
  graph.groups.forEach((g, gi) => {
    const s = scores[gi]!;
    const mean = s.reduce((a, b) => a + b, 0) / Math.max(1, s.length);
    s.forEach((v, c) => all.push({ g: gi, c, v: mean > 0 ? v / mean : v }));
  });
  all.sort((a, b) => a.v - b.v || a.g - b.g || a.c - b.c);
  const total = Math.round(options.ratio * all.length);
  const removed = graph.groups.map(() => 0);
  let taken = 0;
  for (const e of all) {
    if (taken >= total) break;
    if (removed[e.g]! + 1 >= graph.groups[e.g]!.size) continue; // never empty a group
    removed[e.g]!++;
    taken++;
  }
  graph.groups.forEach((g, i) => pick(g, scores[i]!, snapKept(g.size - removed[i]!, g.size, roundTo)));
  return { remove };
}

// ---------------------------------------------------------------------------------------------------------------
// Applying a plan
// ---------------------------------------------------------------------------------------------------------------

export interface PrunedSpec {
  spec: ModelSpec;
  /** index_select recipes for every tensor that shrinks (`<node>.<param>` → slices, ascending dims). */
  slices: Record<string, { dim: number; index: Int32Array }[]>;
  /** Nodes with at least one sliced tensor. */
  touched: string[];
}

function checkPlan(graph: DependencyGraph, plan: PrunePlan): Map<string, ChannelGroup> {
  const byName = new Map(graph.groups.map((g) => [g.name, g] as const));
  for (const [name, chans] of Object.entries(plan.remove)) {
    const g = byName.get(name);
    if (!g)
      throw new ConfigError(
        `no prunable channel group '${name}' (groups: ${[...byName.keys()].join(', ') || 'none'})`,
        `remove.${name}`,
      );
    const seen = new Set<number>();
    for (const c of chans) {
      if (!Number.isInteger(c) || c < 0 || c >= g.size)
        throw new ConfigError(`channel ${c} is outside 0..${g.size - 1}`, `remove.${name}`);
      seen.add(c);
    }
    if (seen.size >= g.size)
      throw new ConfigError(`would remove all ${g.size} channels of the group`, `remove.${name}`);
  }
  return byName;
}

/** The spec and slice recipes after removing `plan`'s channels (pure: no native calls). */
export function prunedSpec(spec: ModelSpec, graph: DependencyGraph, plan: PrunePlan): PrunedSpec {
  const groups = checkPlan(graph, plan);
  const shapes = tensorShapes(spec);
  const dropped = new Map<string, Map<number, Set<number>>>(); // tensor → dim → indices
  for (const [name, chans] of Object.entries(plan.remove)) {
    const g = groups.get(name)!;
    for (const m of g.members) {
      for (const c of chans) {
        const idx = memberIndices(m, c);
        if (!idx.length) continue;
        let dims = dropped.get(m.tensor);
        if (!dims) dropped.set(m.tensor, (dims = new Map()));
        let set = dims.get(m.dim);
        if (!set) dims.set(m.dim, (set = new Set()));
        for (const i of idx) set.add(i);
      }
    }
  }
  const slices: PrunedSpec['slices'] = {};
  const newShapes = new Map(shapes);
  for (const [tensor, dims] of dropped) {
    const shape = [...shapes.get(tensor)!];
    slices[tensor] = [...dims.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([dim, set]) => {
        if (set.size >= shape[dim]!)
          throw new ConfigError(`the plan removes every index of dim ${dim} of '${tensor}'`, 'remove');
        const index = new Int32Array(shape[dim]! - set.size);
        let k = 0;
        for (let i = 0; i < shape[dim]!; i++) if (!set.has(i)) index[k++] = i;
        shape[dim] = index.length;
        return { dim, index };
      });
    newShapes.set(tensor, shape);
  }
  const touched = [...new Set([...dropped.keys()].map((t) => t.slice(0, t.lastIndexOf('.'))))];
  const nodes = spec.nodes.map((n) =>
    touched.includes(n.name) ? resized(n, (p) => newShapes.get(`${n.name}.${p}`)!) : n,
  );
  const next = validateSpec({ ...structuredClone(spec), nodes: structuredClone(nodes) });
  return { spec: next, slices, touched };
}

/** A node's attributes read back from its (new) tensor shapes (its op's rule; ops without tensors stay as they are). */
function resized(n: GraphNode, shape: (param: string) => number[]): GraphNode {
  return opDescriptor(n.op).resize?.(n, shape) ?? n;
}

/** A new, physically smaller model without `plan`'s channels; `model` is untouched. */
export function applyPrunePlan(
  model: Model,
  plan: PrunePlan,
  graph: DependencyGraph = buildDependencyGraph(model.spec),
): Model {
  return derivePruned(model, prunedSpec(model.spec, graph, plan));
}

function derivePruned(model: Model, pruned: PrunedSpec): Model {
  const recipes: Record<string, NativeTensorRecipe> = {};
  for (const [tensor, s] of Object.entries(pruned.slices)) recipes[tensor] = { source: tensor, slices: s };
  return deriveModel(model, pruned.spec, recipes);
}

/**
 * Same spec, with `plan`'s channels silenced instead of removed: the producers' weights and biases and the
 * normalization γ **and** β of those channels are zeroed. A batch norm maps a zero input to β − γ·μ/σ, so zeroing
 * only the producer would leave a constant; with γ = β = 0 the channel is exactly 0 after the norm, after ReLU /
 * GELU / tanh / pooling / add (all its producers are zeroed) and after concat and flatten, so every consumer's
 * columns for it multiply zeros. Hence, before any training, `applyPrunePlan(model, plan)` and
 * `zeroChannels(model, plan)` give the same outputs — except through ops with f(0) ≠ 0 (sigmoid) or through a
 * layernorm, whose statistics still count the zeroed channel.
 */
export function zeroChannels(
  model: Model,
  plan: PrunePlan,
  graph: DependencyGraph = buildDependencyGraph(model.spec),
): Model {
  const groups = checkPlan(graph, plan);
  const targets = new Map<string, { dim: number; indices: number[] }[]>();
  for (const [name, chans] of Object.entries(plan.remove)) {
    for (const m of groups.get(name)!.members) {
      if (m.role !== 'out' && m.role !== 'norm') continue;
      const list = targets.get(m.tensor) ?? [];
      list.push({ dim: m.dim, indices: chans.flatMap((c) => memberIndices(m, c)) });
      targets.set(m.tensor, list);
    }
  }
  const values = targets.size ? model.native.tensors([...targets.keys()]) : {};
  const recipes: Record<string, NativeTensorRecipe> = {};
  for (const [tensor, list] of targets) {
    const t = values[tensor]!;
    const data = Float32Array.from(t.data);
    for (const { dim, indices } of list) {
      const n = t.shape[dim]!;
      const inner = t.shape.slice(dim + 1).reduce((a, b) => a * b, 1);
      const outer = t.shape.slice(0, dim).reduce((a, b) => a * b, 1);
      for (let o = 0; o < outer; o++)
        for (const i of indices) data.fill(0, (o * n + i) * inner, (o * n + i + 1) * inner);
    }
    recipes[tensor] = { data: { data, shape: [...t.shape] } };
  }
  return deriveModel(model, model.spec, recipes);
}

/** Scores the model's channels and picks what `prune` would remove in one step. */
export async function planPrune(
  model: Model,
  options: PruneOptions,
  graph: DependencyGraph = buildDependencyGraph(model.spec),
): Promise<PrunePlan> {
  checkOptions(options);
  let tensors: Record<string, TensorData> = {};
  if (options.criterion === 'taylor') {
    const placed = placeData(options.data!, model.device);
    try {
      tensors = await model.native.taylorScores(placed.data.native, {
        batches: options.batches ?? 8,
        batchSize: options.batchSize ?? 64,
        seed: options.seed ?? 0,
      });
    } finally {
      if (placed.owned) placed.data.dispose();
    }
  } else if (options.criterion !== 'random') {
    const names = scoredTensors(graph);
    tensors = names.length ? model.native.tensors(names) : {};
  }
  const scores = channelScores(model.spec, graph, tensors, options.criterion, {
    reduce: options.reduce,
    seed: options.seed,
  });
  return selectChannels(graph, scores, { ratio: options.ratio, scope: options.scope, roundTo: options.roundTo });
}

/**
 * Structured pruning: returns a new, physically smaller model and a report; `model` is untouched. With `steps`
 * > 1 it prunes iteratively (fine-tuning after every step when `finetune` is given).
 */
export async function prune(model: Model, options: PruneOptions): Promise<{ model: Model; report: PruneReport }> {
  checkOptions(options);
  const steps = options.steps ?? 1;
  const stepRatio = 1 - (1 - options.ratio) ** (1 / steps);
  const first = buildDependencyGraph(model.spec);
  const placed = options.data ? placeData(options.data, model.device) : undefined;
  const touched = new Set<string>();
  let current = model;
  try {
    for (let s = 0; s < steps; s++) {
      const graph = s === 0 ? first : buildDependencyGraph(current.spec);
      const plan = await planPrune(
        current,
        { ...options, ratio: stepRatio, data: placed?.data, seed: (options.seed ?? 0) + s },
        graph,
      );
      let next: Model;
      if (Object.keys(plan.remove).length) {
        const pruned = prunedSpec(current.spec, graph, plan);
        pruned.touched.forEach((n) => touched.add(n));
        next = derivePruned(current, pruned);
      } else {
        next = current.clone();
      }
      if (current !== model) current.dispose();
      current = next;
      if (options.finetune && placed) await train(current, { train: placed.data }, options.finetune);
    }
  } catch (error) {
    if (current !== model) current.dispose();
    throw error;
  } finally {
    if (placed?.owned) placed.data.dispose();
  }
  const after = new Map(buildDependencyGraph(current.spec).groups.map((g) => [g.name, g.size] as const));
  const report: PruneReport = {
    operator: 'prune',
    criterion: options.criterion,
    ratio: options.ratio,
    scope: options.scope ?? 'layerwise',
    steps,
    groups: first.groups.map((g) => ({ name: g.name, before: g.size, after: after.get(g.name) ?? g.size })),
    nonPrunable: first.nonPrunable,
    parametersBefore: parameterCount(model.spec),
    parametersAfter: parameterCount(current.spec),
    layersTouched: model.spec.nodes.map((n) => n.name).filter((n) => touched.has(n)),
  };
  return { model: current, report };
}
