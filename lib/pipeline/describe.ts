/** Pipelines in words, for tables and reports: `prune(l1 50%, ft 2) → quantize(static, onednn)`. */
import type { PipelineGenome, Stage } from '../genome/index.js';

function num(v: unknown): string {
  return typeof v === 'number' ? String(Number(v.toPrecision(3))) : String(v);
}

export function describeStage(s: Stage): string {
  const p = s.params as Record<string, unknown>;
  switch (s.type) {
    case 'train':
      return `train(${p['epochs']} ep, ${p['optimizer']} ${num(p['lr'])}, ${p['schedule']})`;
    case 'prune': {
      const steps = Number(p['steps'] ?? 1) > 1 ? ` ×${p['steps']}` : '';
      return `prune(${p['criterion']} ${Math.round(Number(p['ratio']) * 100)}%${steps}${p['scope'] === 'global' ? ' global' : ''}, ft ${p['finetuneEpochs']})`;
    }
    case 'lowrank': {
      const rule =
        p['rule'] === 'explained_variance' ? 'ev' : p['rule'] === 'fixed_ratio' ? 'ratio' : String(p['rule']);
      const reg = [
        Number(p['hoyerWeight']) > 0 ? `hoyer ${num(p['hoyerWeight'])}` : '',
        Number(p['orthogonalityWeight']) > 0 ? `orth ${num(p['orthogonalityWeight'])}` : '',
      ]
        .filter(Boolean)
        .join(' ');
      return `lowrank(${rule} ${num(p['threshold'])}, ft ${p['finetuneEpochs']}${reg ? `, ${reg}` : ''})`;
    }
    case 'quantize':
      return `quantize(${p['mode']}${p['mode'] === 'qat' ? ` ${p['qatEpochs']} ep` : ''}, ${p['backend']}${p['perChannel'] === false ? ', per-tensor' : ''})`;
    case 'regularize': {
      const parts = ['hoyer', 'orthogonality', 'l1']
        .filter((k) => Number(p[k]) > 0)
        .map((k) => `${k === 'orthogonality' ? 'orth' : k} ${num(p[k])}`);
      return `regularize(${parts.join(', ') || 'off'})`;
    }
    default:
      return s.type;
  }
}

export function describePipeline(genome: PipelineGenome): string {
  return genome.stages.map(describeStage).join(' → ');
}

/** The seed's short names: Pr, LR, QD / QS / QAT, FT (fine-tune), Reg. */
export function shortPipeline(genome: PipelineGenome): string {
  return genome.stages
    .map((s) => {
      const p = s.params as Record<string, unknown>;
      switch (s.type) {
        case 'prune':
          return 'Pr';
        case 'lowrank':
          return 'LR';
        case 'train':
          return 'FT';
        case 'regularize':
          return 'Reg';
        case 'quantize':
          return p['mode'] === 'dynamic' ? 'QD' : p['mode'] === 'static' ? 'QS' : 'QAT';
        default:
          return s.type;
      }
    })
    .join('-');
}
