/**
 * Export of a stored study to Optuna's JournalStorage format (JSON lines of operations, the op codes of
 * optuna ≥ 3.2 / 4.x: 0 create study (with directions), 3 study system attr, 4 create trial, 5 set param,
 * 6 set state and values, 7 intermediate value, 8 user attr), so optuna-dashboard can display a petra study:
 * `optuna-dashboard ./study.log` (a JournalFileBackend file).
 */
import { ConfigError } from '../core/errors.js';
import type { ExportedParam, SearchSpace } from './space.js';
import type { Storage, TrialState } from './storage.js';

const OP = {
  CREATE_STUDY: 0,
  SET_STUDY_SYSTEM_ATTR: 3,
  CREATE_TRIAL: 4,
  SET_TRIAL_PARAM: 5,
  SET_TRIAL_STATE_VALUES: 6,
  SET_TRIAL_INTERMEDIATE_VALUE: 7,
  SET_TRIAL_USER_ATTR: 8,
} as const;
const DIRECTION = { min: 1, max: 2 } as const; // optuna StudyDirection.MINIMIZE / MAXIMIZE
const STATE: Record<TrialState, number> = { running: 0, complete: 1, pruned: 2, failed: 3 }; // optuna TrialState

/** Optuna's datetime format: `%Y-%m-%dT%H:%M:%S.%f` (local-free, microseconds). */
function isoMicro(ms: number): string {
  return new Date(ms).toISOString().replace('Z', '000');
}

function distributionJson(p: ExportedParam): { json: string; internal: number } {
  const d = p.distribution;
  if (d.kind === 'categorical') {
    const index = d.choices.indexOf(p.value as never);
    return {
      json: JSON.stringify({ name: 'CategoricalDistribution', attributes: { choices: d.choices } }),
      internal: Math.max(0, index),
    };
  }
  const name = d.kind === 'int' ? 'IntDistribution' : 'FloatDistribution';
  const attributes =
    d.kind === 'int'
      ? { log: d.log, step: 1, low: d.low, high: d.high }
      : { step: null, low: d.low, high: d.high, log: d.log };
  return { json: JSON.stringify({ name, attributes }), internal: p.value as number };
}

/**
 * The journal lines for study `name`. Give `space` to export genome parameters (via `space.exportParams`); the
 * genome itself and petra's bookkeeping always go into user attributes. Optuna ids start at 0 in a fresh journal.
 */
export function exportOptunaJournal<G>(storage: Storage, name: string, space?: SearchSpace<G>): string {
  const study = storage.loadStudy(name);
  if (!study) throw new ConfigError(`no study named "${name}"`, 'name');
  const worker = `petra-${process.pid}`;
  const lines: unknown[] = [];
  const studyId = 0;
  lines.push({
    op_code: OP.CREATE_STUDY,
    worker_id: worker,
    study_name: study.name,
    directions: study.objectives.map((o) => DIRECTION[o.direction]),
  });
  lines.push({
    op_code: OP.SET_STUDY_SYSTEM_ATTR,
    worker_id: worker,
    study_id: studyId,
    system_attr: { 'study:metric_names': study.objectives.map((o) => o.name) },
  });
  storage.trials(study.id).forEach((t, trialId) => {
    lines.push({
      op_code: OP.CREATE_TRIAL,
      worker_id: worker,
      study_id: studyId,
      datetime_start: isoMicro(t.startedAt),
    });
    if (space?.exportParams) {
      const params = space.exportParams(space.decode(t.genome));
      for (const [paramName, p] of Object.entries(params)) {
        const { json, internal } = distributionJson(p);
        lines.push({
          op_code: OP.SET_TRIAL_PARAM,
          worker_id: worker,
          trial_id: trialId,
          param_name: paramName,
          param_value_internal: internal,
          distribution: json,
        });
      }
    }
    t.intermediate.forEach((r) => {
      if (typeof r.value === 'number' && Number.isFinite(r.value)) {
        lines.push({
          op_code: OP.SET_TRIAL_INTERMEDIATE_VALUE,
          worker_id: worker,
          trial_id: trialId,
          step: r.step,
          intermediate_value: r.value,
        });
      }
    });
    const attrs: Record<string, unknown> = {
      ...t.userAttrs,
      'petra:number': t.number,
      'petra:generation': t.generation,
      'petra:genome': t.genome,
      'petra:key': t.key,
      ...(t.constraints ? { 'petra:constraints': t.constraints, 'petra:violation': t.violation } : {}),
      ...(t.failReason !== undefined ? { 'petra:failReason': t.failReason } : {}),
    };
    for (const [k, v] of Object.entries(attrs))
      lines.push({ op_code: OP.SET_TRIAL_USER_ATTR, worker_id: worker, trial_id: trialId, user_attr: { [k]: v } });
    if (t.state !== 'running') {
      lines.push({
        op_code: OP.SET_TRIAL_STATE_VALUES,
        worker_id: worker,
        trial_id: trialId,
        state: STATE[t.state],
        values: t.state === 'complete' ? (t.values ?? null) : null,
        datetime_complete: isoMicro(t.finishedAt ?? t.startedAt),
      });
    }
  });
  return lines.map((l) => JSON.stringify(l)).join('\n') + '\n';
}
