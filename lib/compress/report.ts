/**
 * What each compression operator did, as plain JSON-ready objects (search storage and the CLI keep them as-is).
 */

export type PruneCriterion = 'l1' | 'l2' | 'bn_scale' | 'taylor' | 'random';
export type PruneScope = 'global' | 'layerwise';
export type GroupReduction = 'mean' | 'sum' | 'max';

export interface PruneReport {
  operator: 'prune';
  criterion: PruneCriterion;
  /** Requested fraction of channels removed overall (after all steps). */
  ratio: number;
  scope: PruneScope;
  steps: number;
  /** Channel count of every prunable group before and after. */
  groups: { name: string; before: number; after: number }[];
  /** Coupled channels that were left alone, and why (model output, GRU hidden state, grouped conv, …). */
  nonPrunable: { node: string; reason: string }[];
  /** Trainable parameters (spec count, as PyTorch reports them). */
  parametersBefore: number;
  parametersAfter: number;
  /** Nodes that had at least one tensor sliced. */
  layersTouched: string[];
}

/** How a rank is picked from singular values S (sorted descending); see lowrank.ts. */
export type RankRule = 'energy' | 'explained_variance' | 'fixed_ratio' | 'rank';

export interface LowrankLayerReport {
  name: string;
  /** min(out, in·kernel) of the layer's weight. */
  fullRank: number;
  /** Rank before this operation (decompose: the full rank; truncate: the factorized layer's rank). */
  rankBefore: number;
  /** Rank after (equal to `rankBefore` when skipped). */
  rank: number;
  paramsBefore: number;
  paramsAfter: number;
  /** Why the layer was left as it was, if it was. */
  skipped?: string;
}

export interface LowrankReport {
  operator: 'lowrank';
  /** `decompose` replaces dense layers by U·diag(S)·Vh; `truncate` drops singular directions of factorized layers. */
  mode: 'decompose' | 'truncate';
  rule: RankRule;
  threshold: number;
  layers: LowrankLayerReport[];
  parametersBefore: number;
  parametersAfter: number;
}

/** Any compression operator's report (quantization joins this union). */
export type CompressionReport = PruneReport | LowrankReport;

/** Fraction of parameters removed, 0..1 (negative if the model grew). */
export function parameterReduction(report: { parametersBefore: number; parametersAfter: number }): number {
  return report.parametersBefore === 0 ? 0 : 1 - report.parametersAfter / report.parametersBefore;
}

/** A few human-readable lines for logs and the CLI. */
export function formatReport(report: CompressionReport): string {
  const pct = (parameterReduction(report) * 100).toFixed(1);
  const head = `parameters ${report.parametersBefore} → ${report.parametersAfter} (−${pct}%)`;
  if (report.operator === 'prune') {
    const lines = [
      `prune ${report.criterion} ratio ${report.ratio} (${report.scope}, ${report.steps} step${report.steps === 1 ? '' : 's'}): ${head}`,
    ];
    for (const g of report.groups) lines.push(`  ${g.name}: ${g.before} → ${g.after} channels`);
    for (const n of report.nonPrunable) lines.push(`  ${n.node}: not pruned (${n.reason})`);
    return lines.join('\n');
  }
  const lines = [`lowrank ${report.mode} ${report.rule} ${report.threshold}: ${head}`];
  for (const l of report.layers) {
    lines.push(
      l.skipped
        ? `  ${l.name}: skipped (${l.skipped})`
        : `  ${l.name}: rank ${l.rankBefore} → ${l.rank} of ${l.fullRank}, params ${l.paramsBefore} → ${l.paramsAfter}`,
    );
  }
  return lines.join('\n');
}
