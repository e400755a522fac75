/**
 * Ordering rules of pipeline genomes: each says what it forbids (`check`) and how to fix it with the least change
 * (`repair`). They are plain objects in the space's configuration (lib/genome/space-config.ts), so a user-defined stage
 * type can bring its own; validity.ts applies them.
 */
import type { Stage } from './genome.js';

export interface Violation {
  /** The rule that failed ('schema', 'length', 'maxCount' or a rule's name). */
  readonly rule: string;
  /** Where, e.g. `stages[2].params.ratio`. */
  readonly path: string;
  readonly message: string;
}

export interface ValidityRule {
  readonly name: string;
  /** One sentence users see when the rule fails. */
  readonly description: string;
  check(stages: readonly Stage[]): Violation[];
  /** Stages that satisfy this rule; should change as little as possible. */
  repair(stages: readonly Stage[]): Stage[];
}

const isQuantize = (s: Stage, mode?: string): boolean =>
  s.type === 'quantize' && (mode === undefined || s.params['mode'] === mode);
const TRAINS = new Set(['train', 'prune', 'lowrank']);
/** Stages that run training afterwards, so regularizer weights placed before them take effect. */
const trains = (s: Stage): boolean => TRAINS.has(s.type) || isQuantize(s, 'qat');

/** Moves the stages selected by `misplaced` to just before index `anchor`, keeping their order. */
function moveBefore(stages: readonly Stage[], anchor: number, misplaced: (s: Stage, i: number) => boolean): Stage[] {
  const moved = stages.filter((s, i) => i > anchor && misplaced(s, i));
  const rest = stages.filter((s, i) => !(i > anchor && misplaced(s, i)));
  const at = rest.indexOf(stages[anchor] as Stage);
  return [...rest.slice(0, at), ...moved, ...rest.slice(at)];
}

export const oneQuantizePerMode: ValidityRule = {
  name: 'oneQuantizePerMode',
  description: 'a pipeline quantizes at most once in each mode (dynamic, static, qat)',
  check(stages) {
    const seen = new Set<unknown>();
    const out: Violation[] = [];
    stages.forEach((s, i) => {
      if (!isQuantize(s)) return;
      const mode = s.params['mode'];
      if (seen.has(mode))
        out.push({ rule: this.name, path: `stages[${i}]`, message: `a second ${String(mode)} quantize` });
      seen.add(mode);
    });
    return out;
  },
  repair(stages) {
    const seen = new Set<unknown>();
    return stages.filter((s) => {
      if (!isQuantize(s)) return true;
      const first = !seen.has(s.params['mode']);
      seen.add(s.params['mode']);
      return first;
    });
  },
};

export const onlyQatAfterStaticQuantize: ValidityRule = {
  name: 'onlyQatAfterStaticQuantize',
  description: 'after a static quantize the model is int8: only QAT fine-tuning (a qat quantize) may follow',
  check(stages) {
    const at = stages.findIndex((s) => isQuantize(s, 'static'));
    if (at < 0) return [];
    const out: Violation[] = [];
    for (let i = at + 1; i < stages.length; i++) {
      const s = stages[i] as Stage;
      if (!isQuantize(s, 'qat')) {
        out.push({
          rule: this.name,
          path: `stages[${i}]`,
          message: `${s.type} follows the static quantize at stages[${at}]`,
        });
      }
    }
    return out;
  },
  repair(stages) {
    const at = stages.findIndex((s) => isQuantize(s, 'static'));
    return at < 0 ? [...stages] : moveBefore(stages, at, (s) => !isQuantize(s, 'qat'));
  },
};

export const lowrankBeforeQuantize: ValidityRule = {
  name: 'lowrankBeforeQuantize',
  description: 'low-rank decomposition works on float weights, so it comes before any quantize',
  check(stages) {
    const at = stages.findIndex((s) => isQuantize(s));
    if (at < 0) return [];
    const out: Violation[] = [];
    stages.forEach((s, i) => {
      if (i > at && s.type === 'lowrank')
        out.push({ rule: this.name, path: `stages[${i}]`, message: `lowrank follows the quantize at stages[${at}]` });
    });
    return out;
  },
  repair(stages) {
    const at = stages.findIndex((s) => isQuantize(s));
    return at < 0 ? [...stages] : moveBefore(stages, at, (s) => s.type === 'lowrank');
  },
};

export const regularizeBeforeTraining: ValidityRule = {
  name: 'regularizeBeforeTraining',
  description:
    'regularizer weights apply to the training that follows, so a regularize must be followed by a training stage',
  check(stages) {
    const out: Violation[] = [];
    stages.forEach((s, i) => {
      const next = stages[i + 1];
      if (s.type === 'regularize' && !(next && trains(next))) {
        out.push({
          rule: this.name,
          path: `stages[${i}]`,
          message: 'regularize is not followed by train, prune, lowrank or a qat quantize',
        });
      }
    });
    return out;
  },
  repair(stages) {
    return stages.filter((s, i) => {
      const next = stages[i + 1];
      return !(s.type === 'regularize' && !(next && trains(next)));
    });
  },
};

export const builtinRules: readonly ValidityRule[] = [
  oneQuantizePerMode,
  lowrankBeforeQuantize,
  onlyQatAfterStaticQuantize,
  regularizeBeforeTraining,
];
