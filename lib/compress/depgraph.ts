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
 * come out of the same propagation. The per-op rules — which tensors a node owns, how its channels flow — are its
 * op's descriptor (`tensors`, `channels` in lib/graph/ops/); this file is the union-find they drive and the grouping.
 */
import { ConfigError } from '../core/errors.js';
import { untracked, type ChannelFlow, type Dims, type MemberRole } from '../graph/ops/channels.js';
import { opDescriptor } from '../graph/ops/index.js';
import type { GraphNode, ModelSpec } from '../graph/types.js';
import { inferShapes, topologicalOrder } from '../graph/validate.js';

export type { MemberRole } from '../graph/ops/channels.js';
export { kernelArea } from '../graph/ops/index.js';

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

export interface NonPrunable {
  node: string;
  reason: string;
}

export interface DependencyGraph {
  groups: ChannelGroup[];
  nonPrunable: NonPrunable[];
}

// ---------------------------------------------------------------------------------------------------------------
// Tensor shapes per node (names match native/: `<node>.<param>`)
// ---------------------------------------------------------------------------------------------------------------

/** Shapes of the parameters and channel-indexed buffers a node owns, keyed by param name (`weight`, `U`, …). */
export function nodeTensorShapes(node: GraphNode): Record<string, number[]> {
  return opDescriptor(node.op).tensors?.(node) ?? {};
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

interface Space {
  node: string;
  atoms: number[];
}
interface RawMember {
  atom: number;
  node: string;
  param: string;
  dim: number;
  index: number;
  role: MemberRole;
}

/** Union-find over channel atoms and over the spaces that create them; the ops' channel rules drive it. */
class Propagation implements ChannelFlow {
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
    values.set(n.name, opDescriptor(n.op).channels(P, n, ins, shapes.get(n.name)!));
  }
  for (const d of values.get(spec.output)!) P.fixAll(d, `its channels are the model output ('${spec.output}')`);

  return collect(P);
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
      if (
        cur &&
        b.len === cur.block &&
        b.channel === cur.first + cur.count &&
        b.start === cur.offset + cur.count * cur.block
      ) {
        cur.count++;
        continue;
      }
      cur = {
        tensor: `${node}.${param}`,
        node,
        param,
        dim,
        role,
        first: b.channel,
        count: 1,
        offset: b.start,
        block: b.len,
      };
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
  if (!g)
    throw new ConfigError(
      `no prunable channel group '${name}' (groups: ${graph.groups.map((x) => x.name).join(', ') || 'none'})`,
      'groups',
    );
  return g;
}
