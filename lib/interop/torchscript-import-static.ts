/**
 * TorchScript import, op mapping part 1: the ops evaluated statically. They compute Python values (ints, lists,
 * bools, `x.size(0)`, comparisons, arithmetic on the symbolic batch size) or pass a value through, and emit no
 * petra node; torchscript-import-ops.ts merges `STATIC` into the handler table and counts them in the report.
 */
import type { Handler } from './torchscript-import-graph.js';
import {
  BATCH,
  bool,
  describeVal,
  dimOf,
  equal,
  int,
  isT,
  unsupported,
  type Val,
} from './torchscript-import-values.js';

/** Ops evaluated statically: they compute Python values (ints, lists, bools) or pass a value through. */
export const STATIC: Record<string, Handler> = {
  'prim::ListConstruct': (_im, _n, a) => [[...a]],
  'prim::TupleConstruct': (_im, _n, a) => [[...a]],
  'prim::ListUnpack': (_im, n, a) => {
    const l = a[0];
    if (!Array.isArray(l) || l.length !== n.outputs.length) return unsupported(`unpacking ${describeVal(l ?? null)}`);
    return l;
  },
  'prim::TupleUnpack': (im, n, a) => STATIC['prim::ListUnpack']!(im, n, a),
  'prim::TupleIndex': (_im, _n, a) => {
    const l = a[0];
    if (!Array.isArray(l)) return unsupported('indexing a non-tuple');
    const i = int(a[1]!, 'index');
    return [l[i < 0 ? i + l.length : i] ?? unsupported(`index ${i} out of range`)];
  },
  'aten::__getitem__': (im, n, a) => {
    if (!Array.isArray(a[0])) return unsupported('indexing something other than a list');
    return STATIC['prim::TupleIndex']!(im, n, a);
  },
  'aten::len': (_im, _n, a) => [Array.isArray(a[0]) ? a[0].length : unsupported('len() of a non-list')],
  'aten::append': (_im, _n, a) => {
    if (!Array.isArray(a[0])) return unsupported('append to a non-list');
    a[0].push(a[1]!);
    return [a[0]];
  },
  'aten::list': (_im, _n, a) => [Array.isArray(a[0]) ? [...a[0]] : unsupported('list() of a non-list')],
  'aten::dim': (im, n, a) => {
    const v = a[0]!;
    if (isT(v, 'zeros')) return [v.size.length];
    if (isT(v, 'gru')) return [3];
    return [im.tensor(n, v, 'dim()').shape.length + 1];
  },
  'aten::size': (im, n, a) => {
    const v = a[0]!;
    let full: Val[];
    if (isT(v, 'zeros')) full = v.size;
    else if (isT(v, 'gru')) {
      const g = v.gru;
      const dirs = g.bidirectional ? 2 : 1;
      full = v.part === 'seq' ? [BATCH, g.input.shape[0]!, g.hidden * dirs] : [g.numLayers * dirs, BATCH, g.hidden];
    } else full = [BATCH, ...im.tensor(n, v, 'size()').shape];
    if (a.length === 1) return [full];
    return [full[dimOf(int(a[1]!, 'dim'), full.length, 'dim')]!];
  },
  'prim::dtype': () => [{ t: 'opaque', what: 'dtype' }],
  'prim::device': () => [{ t: 'opaque', what: 'device' }],
  'prim::layout': () => [{ t: 'opaque', what: 'layout' }],
  'prim::Uninitialized': () => [null],
  'prim::unchecked_cast': (_im, _n, a) => [a[0]!],
  'aten::Int': (_im, _n, a) => [a[0]!],
  'aten::Float': (_im, _n, a) => [a[0]!],
  'aten::ScalarImplicit': (_im, _n, a) => [a[0]!],
  'prim::NumToTensor': (_im, _n, a) => [a[0]!],
  'aten::format': () => [''],
  'aten::warn': () => [],
  'aten::__is__': (_im, _n, a) => [
    a[0] === null && a[1] === null ? true : a[0] === null || a[1] === null ? false : unsupported('`is` on two values'),
  ],
  'aten::__isnot__': (im, n, a) => [!(STATIC['aten::__is__']!(im, n, a)[0] as boolean)],
  'aten::__not__': (_im, _n, a) => [!bool(a[0]!, 'operand')],
  'aten::__and__': (_im, _n, a) => [bool(a[0]!, 'operand') && bool(a[1]!, 'operand')],
  'aten::__or__': (_im, _n, a) => [bool(a[0]!, 'operand') || bool(a[1]!, 'operand')],
  'aten::eq': (_im, _n, a) => [
    equal(a[0]!, a[1]!) ??
      unsupported(`comparing ${describeVal(a[0]!)} with ${describeVal(a[1]!)}, known only at run time`),
  ],
  'aten::ne': (_im, _n, a) => {
    const e = equal(a[0]!, a[1]!);
    return [
      e === undefined
        ? unsupported(`comparing ${describeVal(a[0]!)} with ${describeVal(a[1]!)}, known only at run time`)
        : !e,
    ];
  },
  'aten::zeros': (_im, _n, a) => {
    if (!Array.isArray(a[0])) return unsupported('zeros() with a size that is not a list');
    return [{ t: 'zeros', size: a[0] }];
  },
  'prim::RaiseException': (_im, _n, a) =>
    unsupported(
      `the module raises here for the given input shape${typeof a[0] === 'string' && a[0] ? `: ${a[0]}` : ''}`,
    ),
};
for (const [op, f] of [
  ['lt', (x: number, y: number) => x < y],
  ['le', (x: number, y: number) => x <= y],
  ['gt', (x: number, y: number) => x > y],
  ['ge', (x: number, y: number) => x >= y],
] as const) {
  STATIC[`aten::${op}`] = (_im, _n, a) => [
    typeof a[0] === 'number' && typeof a[1] === 'number'
      ? f(a[0], a[1])
      : unsupported(`comparing ${describeVal(a[0]!)} with ${describeVal(a[1]!)}, known only at run time`),
  ];
}

/** aten::add/sub/mul/floordiv on Python numbers (a symbolic int stays symbolic). */
export function arithmetic(op: string, a: Val, b: Val): Val {
  if (typeof a === 'number' && typeof b === 'number') {
    switch (op) {
      case 'add':
        return a + b;
      case 'sub':
        return a - b;
      case 'mul':
        return a * b;
      case 'floordiv':
        return Math.floor(a / b);
      case 'div':
        return a / b;
    }
  }
  return { t: 'sym', expr: `(${describeVal(a)} ${op} ${describeVal(b)})` };
}
export const isScalar = (v: Val): boolean => typeof v === 'number' || isT(v, 'sym');
