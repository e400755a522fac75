/**
 * Channel dependency graph (the idea of Torch-Pruning's DepGraph, computed on the spec in pure TypeScript).
 *
 * Every value in the graph carries, for each per-sample dimension, a list of *channel atoms*: one atom per index,
 * or −1 where the index is not prunable (graph inputs, spatial and time positions). Producers (conv, linear,
 * lowrank_*, embedding) create fresh atoms for their output channels; channel-preserving ops pass atoms through;
 * `add` unites atoms position by position (residual coupling); `concat` concatenates atom lists; `flatten`
 * repeats a channel's atom over its spatial block. Every parameter or buffer dimension that is indexed by channels
 * records which atom each of its indices belongs to (a *member*). At the end, atoms that were united form one
 * coupled channel; coupled channels whose producers share a tensor form one *group*, which is pruned as a unit:
 * removing group channel c removes, in every member tensor, the indices that belong to c.
 *
 * A channel is not prunable when it reaches anything that cannot shrink: the model output, a graph input through
 * `add`, a grouped (non-depthwise) conv, a GRU's recurrent state, a multi-dimensional layernorm, or an op that
 * mixes the dimension it sits in. Then its whole group is reported in `nonPrunable` instead of `groups`.
 * There are no per-architecture rules: MLPs, CNNs, residual nets, inception blocks and embedding → GRU models all
 * come out of the same propagation.
 */
import { ConfigError } from '../errors.js';
import type { GraphNode, ModelSpec } from '../spec/types.js';
import { inferShapes, topologicalOrder } from '../spec/validate.js';

/**
 * What a member is to its channel: `out` the weights/bias that produce it, `in` the weights that consume it,
 * `norm` a normalization's affine weight/bias, `stat` a running statistic (sliced, never scored).
 */
export type MemberRole = 'out' | 'in' | 'norm' | 'stat';

/**
 * One run of group channels inside one tensor dimension: group channel `first + j` (0 ≤ j < count) owns indices
 * `offset + j·block` … `offset + (j+1)·block − 1` of dimension `dim` of `tensor`. `block` is 1 for an ordinary
 * channel, H·W after an NCHW flatten feeding a linear, and k(·k) for the columns of a lowrank conv's `Vh`.
 */
export interface ChannelMember {
  /** `<node>.<param>`, the native tensor name. */
  tensor: string;
  node: string;
  param: string;
  dim: number;
  role: MemberRole;
  first: number;
  count: number;
  offset: number;
  block: number;
}

/** A set of coupled channels that are pruned together. */
export interface ChannelGroup {
  /** The source nodes joined by '+', e.g. `stem_conv+layer1_0_conv2+layer1_1_conv2`. */
  name: string;
  /** Nodes whose output channels this group is (producers that create the channel space). */
  sources: string[];
  /** Number of group channels. */
  size: number;
  members: ChannelMember[];
}

export interface NonPrunable { node: string; reason: string }

export interface DependencyGraph {
  groups: ChannelGroup[];
  nonPrunable: NonPrunable[];
}

// ---------------------------------------------------------------------------------------------------------------
// Tensor shapes per node (names match native/: `<node>.<param>`)
// ---------------------------------------------------------------------------------------------------------------

const pair = (v: number | [number, number]): [number, number] => (Array.isArray(v) ? v : [v, v]);

/** Kernel positions per input channel: k for 1d, kh·kw for 2d, 1 for linear. */
export function kernelArea(node: GraphNode): number {
  switch (node.op) {
    case 'conv1d':
    case 'lowrank_conv1d':
      return node.attrs.kernelSize;
    case 'conv2d':
    case 'lowrank_conv2d': {
      const k = pair(node.attrs.kernelSize);
      return k[0] * k[1];
    }
    default:
      return 1;
  }
}

/** Shapes of the parameters and channel-indexed buffers a node owns, keyed by param name (`weight`, `U`, …). */
export function nodeTensorShapes(node: GraphNode): Record<string, number[]> {
  switch (node.op) {
    case 'conv1d':
    case 'conv2d': {
      const a = node.attrs;
      const k = node.op === 'conv2d' ? pair(node.attrs.kernelSize) : [node.attrs.kernelSize];
      const out: Record<string, number[]> = { weight: [a.outChannels, a.inChannels / (a.groups ?? 1), ...k] };
      if (a.bias !== false) out.bias = [a.outChannels];
      return out;
    }
    case 'linear': {
      const out: Record<string, number[]> = { weight: [node.attrs.outFeatures, node.attrs.inFeatures] };
      if (node.attrs.bias !== false) out.bias = [node.attrs.outFeatures];
      return out;
    }
    case 'lowrank_linear':
    case 'lowrank_conv1d':
    case 'lowrank_conv2d': {
      const lin = node.op === 'lowrank_linear';
      const o = lin ? node.attrs.outFeatures : node.attrs.outChannels;
      const i = (lin ? node.attrs.inFeatures : node.attrs.inChannels) * kernelArea(node);
      const r = node.attrs.rank;
      const out: Record<string, number[]> = { U: [o, r], S: [r], Vh: [r, i] };
      if (node.attrs.bias !== false) out.bias = [o];
      return out;
    }
    case 'batchnorm1d':
    case 'batchnorm2d': {
      const c = node.attrs.numFeatures;
      return { weight: [c], bias: [c], running_mean: [c], running_var: [c] };
    }
    case 'layernorm': {
      const ns = node.attrs.normalizedShape;
      return { weight: [...ns], bias: [...ns] };
    }
    case 'embedding':
      return { weight: [node.attrs.numEmbeddings, node.attrs.embeddingDim] };
    case 'qgru': {
      const { inputSize, hiddenSize: h } = node.attrs;
      const dirs = node.attrs.bidirectional ? 2 : 1;
      const ch = node.attrs.perChannel === false ? 1 : 3 * h;
      const out: Record<string, number[]> = {};
      for (let l = 0; l < (node.attrs.numLayers ?? 1); l++) {
        for (const sfx of dirs === 2 ? ['', '_reverse'] : ['']) {
          out[`w_ih_l${l}${sfx}`] = [3 * h, l === 0 ? inputSize : h * dirs];
          out[`w_hh_l${l}${sfx}`] = [3 * h, h];
          out[`w_ih_scale_l${l}${sfx}`] = [ch];
          out[`w_hh_scale_l${l}${sfx}`] = [ch];
          out[`b_ih_l${l}${sfx}`] = [3 * h];
          out[`b_hh_l${l}${sfx}`] = [3 * h];
        }
      }
      return out;
    }
    case 'gru': {
      const { inputSize, hiddenSize: h } = node.attrs;
      const dirs = node.attrs.bidirectional ? 2 : 1;
      const out: Record<string, number[]> = {};
      for (let l = 0; l < (node.attrs.numLayers ?? 1); l++) {
        for (const sfx of dirs === 2 ? ['', '_reverse'] : ['']) {
          out[`weight_ih_l${l}${sfx}`] = [3 * h, l === 0 ? inputSize : h * dirs];
          out[`weight_hh_l${l}${sfx}`] = [3 * h, h];
          out[`bias_ih_l${l}${sfx}`] = [3 * h];
          out[`bias_hh_l${l}${sfx}`] = [3 * h];
        }
      }
      return out;
    }
    default:
      return {};
  }
}

/** Every channel-relevant tensor of the spec: `<node>.<param>` → shape. */
export function tensorShapes(spec: ModelSpec): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const n of spec.nodes) for (const [p, s] of Object.entries(nodeTensorShapes(n))) out.set(`${n.name}.${p}`, s);
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Propagation
// ---------------------------------------------------------------------------------------------------------------

/** Per-sample dimensions of a value, each a list of atom ids (−1: not prunable). */
type Dims = number[][];

interface Space { node: string; atoms: number[] }
interface RawMember { atom: number; node: string; param: string; dim: number; index: number; role: MemberRole }

class Propagation {
  readonly parent: number[] = [];
  readonly spaceOf: number[] = [];
  readonly fixed = new Map<number, string>(); // root → reason
  readonly spaces: Space[] = [];
  readonly spaceParent: number[] = [];
  readonly members: RawMember[] = [];

  newSpace(node: string, size: number, fixedReason?: string): number[] {
    const s = this.spaces.length;
    const atoms: number[] = [];
    for (let i = 0; i < size; i++) {
      const a = this.parent.length;
      this.parent.push(a);
      this.spaceOf.push(s);
      atoms.push(a);
      if (fixedReason) this.fixed.set(a, fixedReason);
    }
    this.spaces.push({ node, atoms });
    this.spaceParent.push(s);
    return atoms;
  }

  find(a: number): number {
    const p = this.parent;
    while (p[a] !== a) {
      p[a] = p[p[a]!]!;
      a = p[a]!;
    }
    return a;
  }

  findSpace(s: number): number {
    const p = this.spaceParent;
    while (p[s] !== s) {
      p[s] = p[p[s]!]!;
      s = p[s]!;
    }
    return s;
  }

  fix(a: number, reason: string): void {
    if (a < 0) return;
    const r = this.find(a);
    if (!this.fixed.has(r)) this.fixed.set(r, reason);
  }

  fixAll(dims: readonly number[], reason: string): void {
    for (const a of dims) this.fix(a, reason);
  }

  /** Unites two positions; a prunable atom meeting a non-prunable position (−1) becomes non-prunable. */
  union(a: number, b: number, reason: string): number {
    if (a < 0 && b < 0) return -1;
    if (a < 0 || b < 0) {
      this.fix(a < 0 ? b : a, reason);
      return -1;
    }
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra !== rb) {
      const reasonA = this.fixed.get(ra);
      const reasonB = this.fixed.get(rb);
      this.parent[rb] = ra;
      if (reasonA === undefined && reasonB !== undefined) this.fixed.set(ra, reasonB);
      this.fixed.delete(rb);
      const sa = this.findSpace(this.spaceOf[ra]!);
      const sb = this.findSpace(this.spaceOf[rb]!);
      if (sa !== sb) this.spaceParent[Math.max(sa, sb)] = Math.min(sa, sb);
    }
    return ra;
  }

  member(atoms: readonly number[], node: string, param: string, dim: number, role: MemberRole, block = 1): void {
    atoms.forEach((atom, c) => {
      if (atom < 0) return;
      for (let k = 0; k < block; k++) this.members.push({ atom, node, param, dim, index: c * block + k, role });
    });
  }
}

const untracked = (shape: readonly number[]): Dims => shape.map((d) => new Array<number>(d).fill(-1));

/**
 * Computes the channel groups of a spec. Throws `ConfigError` only for an invalid spec (it runs shape inference).
 */
export function buildDependencyGraph(spec: ModelSpec): DependencyGraph {
  const shapes = inferShapes(spec);
  const P = new Propagation();
  const values = new Map<string, Dims>();
  for (const inp of spec.inputs) values.set(inp.name, untracked(inp.shape));

  for (const n of topologicalOrder(spec)) {
    const ins = n.inputs.map((r) => values.get(r)!);
    values.set(n.name, propagate(P, n, ins, shapes.get(n.name)!));
  }
  for (const d of values.get(spec.output)!) P.fixAll(d, `its channels are the model output ('${spec.output}')`);

  return collect(P);
}

function propagate(P: Propagation, n: GraphNode, ins: Dims[], outShape: number[]): Dims {
  const x = ins[0]!;
  const mixed = (d: number[]): void => P.fixAll(d, `'${n.name}' (${n.op}) mixes that dimension`);
  switch (n.op) {
    case 'conv1d':
    case 'conv2d':
    case 'lowrank_conv1d':
    case 'lowrank_conv2d': {
      x.slice(1).forEach(mixed);
      const spatial = untracked(outShape.slice(1));
      const a = n.attrs;
      const groups = a.groups ?? 1;
      if (n.op === 'lowrank_conv1d' || n.op === 'lowrank_conv2d') {
        P.member(x[0]!, n.name, 'Vh', 1, 'in', kernelArea(n));
        const out = P.newSpace(n.name, a.outChannels);
        P.member(out, n.name, 'U', 0, 'out');
        if (a.bias !== false) P.member(out, n.name, 'bias', 0, 'out');
        return [out, ...spatial];
      }
      if (groups === 1) {
        P.member(x[0]!, n.name, 'weight', 1, 'in');
        const out = P.newSpace(n.name, a.outChannels);
        P.member(out, n.name, 'weight', 0, 'out');
        if (a.bias !== false) P.member(out, n.name, 'bias', 0, 'out');
        return [out, ...spatial];
      }
      if (groups === a.inChannels && groups === a.outChannels) {
        // Depthwise: output channel c is computed from input channel c alone, so they are one channel.
        P.member(x[0]!, n.name, 'weight', 0, 'out');
        if (a.bias !== false) P.member(x[0]!, n.name, 'bias', 0, 'out');
        return [[...x[0]!], ...spatial];
      }
      const why = `grouped conv '${n.name}' (groups ${groups}) is not pruned`;
      P.fixAll(x[0]!, why);
      return [P.newSpace(n.name, a.outChannels, why), ...spatial];
    }
    case 'linear':
    case 'lowrank_linear': {
      const last = x.length - 1;
      const kept = x.slice(0, last).map((d) => [...d]);
      let out: number[];
      if (n.op === 'lowrank_linear') {
        P.member(x[last]!, n.name, 'Vh', 1, 'in');
        out = P.newSpace(n.name, n.attrs.outFeatures);
        P.member(out, n.name, 'U', 0, 'out');
      } else {
        P.member(x[last]!, n.name, 'weight', 1, 'in');
        out = P.newSpace(n.name, n.attrs.outFeatures);
        P.member(out, n.name, 'weight', 0, 'out');
      }
      if (n.attrs.bias !== false) P.member(out, n.name, 'bias', 0, 'out');
      return [...kept, out];
    }
    case 'batchnorm1d':
    case 'batchnorm2d':
      for (const p of ['weight', 'bias']) P.member(x[0]!, n.name, p, 0, 'norm');
      for (const p of ['running_mean', 'running_var']) P.member(x[0]!, n.name, p, 0, 'stat');
      return x.map((d) => [...d]);
    case 'layernorm': {
      const k = n.attrs.normalizedShape.length;
      if (k === 1) {
        for (const p of ['weight', 'bias']) P.member(x[x.length - 1]!, n.name, p, 0, 'norm');
      } else {
        for (const d of x.slice(x.length - k)) P.fixAll(d, `layernorm '${n.name}' normalizes over ${k} dimensions`);
      }
      return x.map((d) => [...d]);
    }
    case 'relu':
    case 'gelu':
    case 'sigmoid':
    case 'tanh':
    case 'dropout':
      return x.map((d) => [...d]);
    case 'maxpool1d':
    case 'maxpool2d':
    case 'avgpool1d':
    case 'avgpool2d':
    case 'adaptiveavgpool1d':
    case 'adaptiveavgpool2d':
    case 'adaptivemaxpool1d':
    case 'adaptivemaxpool2d':
      x.slice(1).forEach(mixed);
      return [[...x[0]!], ...untracked(outShape.slice(1))];
    case 'add':
      return x.map((d, k) => d.map((a, i) => {
        let r = a;
        for (const other of ins.slice(1)) r = P.union(r, other[k]![i]!, `'${n.name}' adds it to a non-prunable value`);
        return r;
      }));
    case 'concat': {
      const rank = x.length;
      const raw = n.attrs.dim ?? 1;
      const k = (raw < 0 ? raw + rank + 1 : raw) - 1;
      return x.map((d, j) => {
        if (j === k) return ins.flatMap((v) => v[k]!);
        // Other dimensions are equal in every input and travel side by side: couple them.
        return d.map((a, i) => ins.slice(1).reduce((r, v) => P.union(r, v[j]![i]!, `'${n.name}' concatenates it with a non-prunable value`), a));
      });
    }
    case 'flatten': {
      const rank = x.length;
      const raw = n.attrs.startDim ?? 1;
      const k = (raw < 0 ? raw + rank + 1 : raw) - 1;
      const merged = x.slice(k);
      const tracked = merged.filter((d) => d.some((a) => a >= 0));
      let flat: number[];
      if (tracked.length > 1) {
        merged.forEach((d) => P.fixAll(d, `'${n.name}' flattens two channel dimensions together`));
        flat = new Array<number>(outShape[k]!).fill(-1);
      } else {
        // Row-major: index = Σ coord_j · stride_j; only the tracked dimension decides the atom.
        const t = merged.findIndex((d) => d.some((a) => a >= 0));
        const sizes = merged.map((d) => d.length);
        const inner = sizes.slice(t + 1).reduce((a, b) => a * b, 1);
        flat = new Array<number>(sizes.reduce((a, b) => a * b, 1));
        for (let i = 0; i < flat.length; i++) flat[i] = t < 0 ? -1 : merged[t]![Math.floor(i / inner) % sizes[t]!]!;
      }
      return [...x.slice(0, k).map((d) => [...d]), flat];
    }
    case 'embedding': {
      const out = P.newSpace(n.name, n.attrs.embeddingDim);
      P.member(out, n.name, 'weight', 1, 'out');
      return [...untracked(outShape.slice(0, -1)), out];
    }
    case 'qlinear': {
      // int8 layers are not sliced: prune before quantizing.
      const why = `quantized layer '${n.name}' is not pruned`;
      const last = x.length - 1;
      P.fixAll(x[last]!, why);
      return [...x.slice(0, last).map((d) => [...d]), P.newSpace(n.name, n.attrs.outFeatures, why)];
    }
    case 'qconv1d':
    case 'qconv2d': {
      const why = `quantized layer '${n.name}' is not pruned`;
      P.fixAll(x[0]!, why);
      x.slice(1).forEach(mixed);
      return [P.newSpace(n.name, n.attrs.outChannels, why), ...untracked(outShape.slice(1))];
    }
    case 'qgru': {
      const why = `quantized GRU '${n.name}' is not pruned`;
      P.fixAll(x[1]!, why);
      mixed(x[0]!);
      const hidden = P.newSpace(n.name, n.attrs.hiddenSize * (n.attrs.bidirectional ? 2 : 1), why);
      return (n.attrs.output ?? 'last') === 'last' ? [hidden] : [untracked([outShape[0]!])[0]!, hidden];
    }
    case 'gru': {
      mixed(x[0]!);
      const dirs = n.attrs.bidirectional ? 2 : 1;
      P.member(x[1]!, n.name, 'weight_ih_l0', 1, 'in');
      if (dirs === 2) P.member(x[1]!, n.name, 'weight_ih_l0_reverse', 1, 'in');
      const hidden = P.newSpace(n.name, n.attrs.hiddenSize * dirs, `GRU '${n.name}' hidden size is not pruned`);
      return (n.attrs.output ?? 'last') === 'last' ? [hidden] : [untracked([outShape[0]!])[0]!, hidden];
    }
  }
}

function collect(P: Propagation): DependencyGraph {
  // Components of spaces, in creation (topological) order.
  const comps = new Map<number, number[]>();
  P.spaces.forEach((_, s) => {
    const root = P.findSpace(s);
    const list = comps.get(root);
    if (list) list.push(s);
    else comps.set(root, [s]);
  });
  const membersByRoot = new Map<number, RawMember[]>();
  for (const m of P.members) {
    const root = P.findSpace(P.spaceOf[P.find(m.atom)]!);
    const list = membersByRoot.get(root);
    if (list) list.push(m);
    else membersByRoot.set(root, [m]);
  }

  const groups: ChannelGroup[] = [];
  const nonPrunable: NonPrunable[] = [];
  for (const [root, spaceIds] of comps) {
    const sources = [...new Set(spaceIds.map((s) => P.spaces[s]!.node))];
    // Group channels: the atom classes, numbered by first appearance.
    const channelOf = new Map<number, number>();
    let reason: string | undefined;
    for (const s of spaceIds) {
      for (const a of P.spaces[s]!.atoms) {
        const r = P.find(a);
        reason ??= P.fixed.get(r);
        if (!channelOf.has(r)) channelOf.set(r, channelOf.size);
      }
    }
    if (reason !== undefined) {
      for (const node of sources) nonPrunable.push({ node, reason });
      continue;
    }
    groups.push({
      name: sources.join('+'),
      sources,
      size: channelOf.size,
      members: runs((membersByRoot.get(root) ?? []).map((m) => ({ ...m, channel: channelOf.get(P.find(m.atom))! }))),
    });
  }
  return { groups, nonPrunable };
}

/** Run-length encodes index → channel assignments into `ChannelMember`s. */
function runs(raw: (RawMember & { channel: number })[]): ChannelMember[] {
  const byTensor = new Map<string, (RawMember & { channel: number })[]>();
  for (const m of raw) {
    const key = `${m.node}.${m.param}#${m.dim}`;
    const list = byTensor.get(key);
    if (list) list.push(m);
    else byTensor.set(key, [m]);
  }
  const out: ChannelMember[] = [];
  for (const list of byTensor.values()) {
    list.sort((a, b) => a.index - b.index);
    const { node, param, dim, role } = list[0]!;
    // Blocks: maximal runs of consecutive indices with the same channel.
    const blocks: { start: number; len: number; channel: number }[] = [];
    for (const m of list) {
      const b = blocks[blocks.length - 1];
      if (b && b.channel === m.channel && b.start + b.len === m.index) b.len++;
      else blocks.push({ start: m.index, len: 1, channel: m.channel });
    }
    let cur: ChannelMember | undefined;
    for (const b of blocks) {
      if (cur && b.len === cur.block && b.channel === cur.first + cur.count && b.start === cur.offset + cur.count * cur.block) {
        cur.count++;
        continue;
      }
      cur = { tensor: `${node}.${param}`, node, param, dim, role, first: b.channel, count: 1, offset: b.start, block: b.len };
      out.push(cur);
    }
  }
  return out;
}

/** The tensor indices (along `member.dim`) that belong to group channel `channel`, or none. */
export function memberIndices(member: ChannelMember, channel: number): number[] {
  const j = channel - member.first;
  if (j < 0 || j >= member.count) return [];
  const start = member.offset + j * member.block;
  return Array.from({ length: member.block }, (_, k) => start + k);
}

/** Finds a group by name; throws `ConfigError` listing the known names. */
export function groupByName(graph: DependencyGraph, name: string): ChannelGroup {
  const g = graph.groups.find((x) => x.name === name);
  if (!g) throw new ConfigError(`no prunable channel group '${name}' (groups: ${graph.groups.map((x) => x.name).join(', ') || 'none'})`, 'groups');
  return g;
}
