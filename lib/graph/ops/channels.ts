/**
 * The vocabulary op descriptors use to say how channels flow through them (the dependency graph of
 * lib/compress/depgraph.ts implements `ChannelFlow`; its header comment explains atoms, spaces and members).
 */
import type { GraphNode } from '../types.js';

/**
 * What a member is to its channel: `out` the weights/bias that produce it, `in` the weights that consume it,
 * `norm` a normalization's affine weight/bias, `stat` a running statistic (sliced, never scored).
 */
export type MemberRole = 'out' | 'in' | 'norm' | 'stat';

/** Per-sample dimensions of a value, each a list of atom ids (−1: not prunable). */
export type Dims = number[][];

export interface ChannelFlow {
  /** Fresh atoms for `size` output channels of `node`; non-prunable from the start when `fixedReason` is given. */
  newSpace(node: string, size: number, fixedReason?: string): number[];
  /** Records that index c·block … (c+1)·block − 1 of `dim` of `<node>.<param>` belongs to atom `atoms[c]`. */
  member(atoms: readonly number[], node: string, param: string, dim: number, role: MemberRole, block?: number): void;
  /** Unites two positions; a prunable atom meeting a non-prunable position (−1) becomes non-prunable. */
  union(a: number, b: number, reason: string): number;
  /** Makes every atom of `dims` non-prunable for `reason`. */
  fixAll(dims: readonly number[], reason: string): void;
}

/** Dimensions that carry no channel atoms (graph inputs, spatial and time positions). */
export const untracked = (shape: readonly number[]): Dims => shape.map((d) => new Array<number>(d).fill(-1));

/** The input's atoms passed through unchanged (a copy). */
export const passThrough = (x: Dims): Dims => x.map((d) => [...d]);

/** Fixes a dimension the op mixes (a conv's spatial positions, a pool's window). */
export const mixer =
  (flow: ChannelFlow, n: GraphNode) =>
  (d: number[]): void =>
    flow.fixAll(d, `'${n.name}' (${n.op}) mixes that dimension`);
