/**
 * Ops that join or reshape values: add (residual joins), concat, flatten. With attrs.outScale (set by int8
 * quantization) add and concat join int8 values as int8.
 */
import { ConfigError } from '../../core/errors.js';
import { opt } from './attrs.js';
import { passThrough } from './channels.js';
import { fmt } from './geometry.js';
import type { OpFamily } from './types.js';

export const JOIN_OPS: OpFamily<'add' | 'concat' | 'flatten'> = {
  add: {
    attrs: { outScale: opt('posNum'), outZeroPoint: opt('zeroPoint'), relu: opt('bool') },
    minInputs: 2,
    maxInputs: Infinity,
    shape: (_, c) => {
      const x = c.x;
      c.ins.forEach((s, j) => {
        if (s.length !== x.length || s.some((d, k) => d !== x[k])) {
          throw new ConfigError(
            `'add' needs equal shapes: inputs[0] is ${fmt(x)}, inputs[${j}] is ${fmt(s)}`,
            `${c.path}.inputs[${j}]`,
          );
        }
      });
      return [...x];
    },
    // Residual coupling: the channels added position by position become one channel.
    channels: (P, n, ins) =>
      ins[0]!.map((d, k) =>
        d.map((a, i) => {
          let r = a;
          for (const other of ins.slice(1))
            r = P.union(r, other[k]![i]!, `'${n.name}' adds it to a non-prunable value`);
          return r;
        }),
      ),
  },
  concat: {
    attrs: { dim: opt('int'), outScale: opt('posNum'), outZeroPoint: opt('zeroPoint') },
    minInputs: 2,
    maxInputs: Infinity,
    shape: (n, c) => {
      const x = c.x;
      const full = x.length + 1; // batch counts as dim 0
      const raw = n.attrs.dim ?? 1;
      const dim = raw < 0 ? raw + full : raw;
      if (dim < 1 || dim >= full) {
        throw new ConfigError(
          `dim ${raw} is out of range for per-sample rank ${x.length} (batch is dim 0; valid: 1..${full - 1} or -${full - 1}..-1)`,
          `${c.path}.attrs.dim`,
        );
      }
      const k = dim - 1;
      let total = 0;
      c.ins.forEach((s, j) => {
        if (s.length !== x.length || s.some((d, i) => i !== k && d !== x[i])) {
          throw new ConfigError(
            `'concat' along dim ${raw} needs equal shapes except that dim: inputs[0] is ${fmt(x)}, inputs[${j}] is ${fmt(s)}`,
            `${c.path}.inputs[${j}]`,
          );
        }
        total += s[k]!;
      });
      const out = [...x];
      out[k] = total;
      return out;
    },
    // The joined dimension's channel lists follow one another; the others travel side by side and are coupled.
    channels: (P, n, ins) => {
      const x = ins[0]!;
      const rank = x.length;
      const raw = n.attrs.dim ?? 1;
      const k = (raw < 0 ? raw + rank + 1 : raw) - 1;
      return x.map((d, j) => {
        if (j === k) return ins.flatMap((v) => v[k]!);
        // Other dimensions are equal in every input and travel side by side: couple them.
        return d.map((a, i) =>
          ins
            .slice(1)
            .reduce((r, v) => P.union(r, v[j]![i]!, `'${n.name}' concatenates it with a non-prunable value`), a),
        );
      });
    },
  },
  flatten: {
    attrs: { startDim: opt('int') },
    minInputs: 1,
    maxInputs: 1,
    shape: (n, c) => {
      const x = c.x;
      const full = x.length + 1;
      const raw = n.attrs.startDim ?? 1;
      const sd = raw < 0 ? raw + full : raw;
      if (sd < 1 || sd >= full) {
        throw new ConfigError(
          `startDim ${raw} is out of range for per-sample rank ${x.length} (batch is dim 0 and cannot be flattened)`,
          `${c.path}.attrs.startDim`,
        );
      }
      const k = sd - 1;
      return [...x.slice(0, k), x.slice(k).reduce((a, b) => a * b, 1)];
    },
    // A channel's atom repeats over its spatial block; two channel dimensions flattened together cannot be pruned.
    channels: (P, n, ins, outShape) => {
      const x = ins[0]!;
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
      return [...passThrough(x.slice(0, k)), flat];
    },
    // Flattening int8 codes keeps their parameters.
    quantAware: 'keepsParams',
  },
};
