/**
 * TorchScript import, op mapping part 3: `TENSOR_OPS`, the aten ops that become petra nodes (or pass a tensor
 * through), and `HANDLERS`, the full table the interpreter (torchscript-import-graph.ts) dispatches on — these
 * plus the static ops of torchscript-import-static.ts. The table in torchscript-import.ts's header summarizes it.
 */
import type { TensorData } from '../data/types.js';
import type { OpName } from '../graph/types.js';
import type { Handler } from './torchscript-import-graph.js';
import { activation, adaptive, conv, flattenTo, linear, pool } from './torchscript-import-layers.js';
import { arithmetic, isScalar, STATIC } from './torchscript-import-static.js';
import {
  BATCH,
  bool,
  constArg,
  describeVal,
  dimOf,
  filled,
  int,
  ints,
  isT,
  num,
  optConst,
  prod,
  sameShape,
  td,
  transpose2d,
  unsupported,
  type GruInfo,
  type Val,
} from './torchscript-import-values.js';

/** Identity ops: the same value comes out. */
const PASS: Handler = (_im, _n, a) => [a[0]!];

const TENSOR_OPS: Record<string, Handler> = {
  'aten::_convolution': (im, n, a) => {
    if (bool(a[6]!, 'transposed')) unsupported('a transposed convolution');
    return conv(im, n, a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, a[5]!, a[8]!);
  },
  // Traced convolutions with string padding ('same' / 'valid').
  'aten::_convolution_mode': (im, n, a) => conv(im, n, a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, a[5]!, a[6]!),
  'aten::conv1d': (im, n, a) => conv(im, n, a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, a[5]!, a[6]!),
  'aten::conv2d': (im, n, a) => conv(im, n, a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, a[5]!, a[6]!),
  'aten::batch_norm': (im, n, a) => {
    const x = im.tensor(n, a[0]!, 'input');
    const w = optConst(a[1]!, 'weight');
    const b = optConst(a[2]!, 'bias');
    if (a[3] === null || a[4] === null)
      unsupported('batch norm without running statistics (track_running_stats=False)');
    const mean = constArg(a[3]!, 'running_mean');
    const varc = constArg(a[4]!, 'running_var');
    if (bool(a[5]!, 'training')) unsupported('batch norm in training mode');
    const c = mean.shape[0]!;
    if (x.shape[0] !== c) unsupported(`the input has ${x.shape[0]} channels, the batch norm ${c}`);
    const op: OpName =
      x.shape.length === 3
        ? 'batchnorm2d'
        : x.shape.length <= 2
          ? 'batchnorm1d'
          : unsupported(`batch norm on a per-sample rank-${x.shape.length} input`);
    const attrs: Record<string, unknown> = { numFeatures: c };
    const eps = num(a[7]!, 'eps');
    if (Math.abs(eps - 1e-5) > 1e-12) attrs.eps = eps;
    if (typeof a[6] === 'number' && Math.abs(a[6] - 0.1) > 1e-12) attrs.momentum = a[6];
    if (!w || !b)
      im.notes.add(
        "a batch norm without affine parameters imports with weight 1 and bias 0 (petra's are always affine, so fine-tuning may train them)",
      );
    return [
      im.emit(
        n,
        op,
        [x],
        attrs,
        [...x.shape],
        {
          weight: w ? td(w) : filled(c, 1),
          bias: b ? td(b) : filled(c, 0),
          running_mean: td(mean),
          running_var: td(varc),
        },
        w ?? mean,
      ),
    ];
  },
  'aten::linear': (im, n, a) => linear(im, n, a[0]!, constArg(a[1]!, 'weight'), optConst(a[2]!, 'bias')),
  'aten::addmm': (im, n, a) => {
    // Old traces of nn.Linear: addmm(bias, x, weight.t(), beta=1, alpha=1).
    if ((a[3] !== undefined && num(a[3], 'beta') !== 1) || (a[4] !== undefined && num(a[4], 'alpha') !== 1))
      unsupported('addmm with beta or alpha ≠ 1');
    const bias = constArg(a[0]!, 'bias');
    const x = im.tensor(n, a[1]!, 'input');
    if (x.shape.length !== 1) unsupported('addmm on a per-sample input that is not a vector');
    return linear(im, n, x, transpose2d(constArg(a[2]!, 'mat2')), bias);
  },
  'aten::matmul': (im, n, a) => {
    const w = constArg(a[1]!, 'the second operand');
    if (w.shape.length !== 2) unsupported('matmul with a constant that is not a matrix');
    return linear(im, n, a[0]!, transpose2d(w), undefined);
  },
  'aten::t': (_im, _n, a) => [transpose2d(constArg(a[0]!, 'operand'))],
  'aten::transpose': (_im, _n, a) => {
    const c = constArg(a[0]!, 'operand');
    const dims = [int(a[1]!, 'dim0'), int(a[2]!, 'dim1')].map((d) => (d < 0 ? d + c.shape.length : d)).sort();
    if (c.shape.length !== 2 || dims[0] !== 0 || dims[1] !== 1) unsupported('transpose of a tensor');
    return [transpose2d(c)];
  },
  'aten::relu': activation('relu'),
  'aten::gelu': activation('gelu'),
  'aten::sigmoid': activation('sigmoid'),
  'aten::tanh': activation('tanh'),
  'aten::max_pool1d': pool('max', 1),
  'aten::max_pool2d': pool('max', 2),
  'aten::avg_pool1d': pool('avg', 1),
  'aten::avg_pool2d': pool('avg', 2),
  'aten::adaptive_avg_pool1d': adaptive('avg', 1),
  'aten::adaptive_avg_pool2d': adaptive('avg', 2),
  'aten::adaptive_max_pool1d': adaptive('max', 1),
  'aten::adaptive_max_pool2d': adaptive('max', 2),
  'aten::add': (im, n, a) => {
    if (isScalar(a[0]!) && isScalar(a[1]!)) return [arithmetic('add', a[0]!, a[1]!)];
    if (a[2] !== undefined && num(a[2], 'alpha') !== 1) unsupported('add with alpha ≠ 1');
    // x @ W + b (a matmul trace of nn.Linear): fold the bias into the bias-free linear.
    if (isT(a[0]!, 'tensor') && isT(a[1]!, 'const')) {
      const producer = im.byName.get(a[0].ref);
      const b = a[1];
      const single = (im.uses.get(n.inputs[0]!) ?? 0) === 1;
      if (
        producer &&
        producer.node.op === 'linear' &&
        producer.node.attrs.bias === false &&
        single &&
        b.shape.length === 1 &&
        b.shape[0] === producer.node.attrs.outFeatures
      ) {
        delete (producer.node.attrs as { bias?: boolean }).bias;
        im.weights[`${producer.node.name}.bias`] = td(b);
        producer.from += ` + ${n.kind}`;
        return [a[0]];
      }
      return unsupported('adding a constant tensor');
    }
    const x = im.tensor(n, a[0]!, 'input');
    const y = im.tensor(n, a[1]!, 'other');
    if (!sameShape(x.shape, y.shape))
      unsupported(
        `add of [${x.shape.join(', ')}] and [${y.shape.join(', ')}] (petra adds equal shapes, no broadcasting)`,
      );
    return [im.emit(n, 'add', [x, y], {}, [...x.shape])];
  },
  'aten::sub': (_im, _n, a) =>
    isScalar(a[0]!) && isScalar(a[1]!) ? [arithmetic('sub', a[0]!, a[1]!)] : unsupported('subtraction of tensors'),
  'aten::mul': (_im, _n, a) =>
    isScalar(a[0]!) && isScalar(a[1]!) ? [arithmetic('mul', a[0]!, a[1]!)] : unsupported('multiplication of tensors'),
  'aten::floordiv': (_im, _n, a) =>
    isScalar(a[0]!) && isScalar(a[1]!)
      ? [arithmetic('floordiv', a[0]!, a[1]!)]
      : unsupported('floor division of tensors'),
  'aten::neg': (_im, _n, a) => (typeof a[0] === 'number' ? [-a[0]] : unsupported('negation of a tensor')),
  'aten::cat': (im, n, a) => {
    const list = a[0];
    if (!Array.isArray(list) || list.length === 0) return unsupported('cat of something other than a list of tensors');
    const dimRaw = int(a[1] ?? 0, 'dim');
    // cat(h[-2], h[-1]) of a bidirectional GRU: its last state, forward then reverse — petra's gru 'last'.
    if (
      list.length === 2 &&
      isT(list[0]!, 'gruLastDir') &&
      isT(list[1]!, 'gruLastDir') &&
      list[0].gru === list[1].gru &&
      list[0].dir === 0 &&
      list[1].dir === 1 &&
      (dimRaw === 1 || dimRaw === -1)
    ) {
      return [im.gruNode(n, list[0].gru, 'last')];
    }
    const xs = list.map((v, i) => im.tensor(n, v, `tensors[${i}]`));
    const rank = xs[0]!.shape.length + 1;
    const dim = dimOf(dimRaw, rank, 'dim');
    if (dim === 0) unsupported('cat along the batch dimension');
    const shape = [...xs[0]!.shape];
    for (const x of xs.slice(1)) {
      if (x.shape.length !== shape.length || x.shape.some((v, i) => i !== dim - 1 && v !== shape[i]))
        unsupported('cat of tensors whose other dims differ');
      shape[dim - 1]! += x.shape[dim - 1]!;
    }
    return [im.emit(n, 'concat', xs, dim === 1 ? {} : { dim }, shape)];
  },
  'aten::flatten': (im, n, a) => {
    const x = im.tensor(n, a[0]!, 'input');
    const rank = x.shape.length + 1;
    const start = dimOf(int(a[1]!, 'start_dim'), rank, 'start_dim');
    const end = dimOf(int(a[2]!, 'end_dim'), rank, 'end_dim');
    if (start === end) return [x];
    if (start === 0) unsupported('flatten including the batch dimension');
    if (end !== rank - 1) unsupported(`flatten(${start}, ${end}) that keeps trailing dims (petra flattens to the end)`);
    return [flattenTo(im, n, x, start)];
  },
  'aten::view': (im, n, a) => {
    const x = im.tensor(n, a[0]!, 'input');
    const size = Array.isArray(a[1]) ? a[1] : unsupported('a view to a size that is not a list');
    if (size.length === 0) unsupported('a view to a scalar');
    const first = size[0]!;
    const rest = size.slice(1).map((v, i) => int(v, `size[${i + 1}]`));
    const total = prod(x.shape);
    const firstIsBatch = isT(first, 'sym') && first.expr === 'batch';
    if (!firstIsBatch && !(first === -1 && !rest.includes(-1)))
      unsupported(`a view to ${describeVal(size)} that does not keep the batch dimension`);
    const known = prod(rest.filter((v) => v !== -1));
    const target = rest.map((v) => (v === -1 ? total / known : v));
    if (prod(target) !== total || target.some((v) => !Number.isInteger(v)))
      unsupported(`a view of [N, ${x.shape.join(', ')}] to ${describeVal(size)}`);
    if (sameShape(target, x.shape)) return [x];
    for (let k = 0; k < x.shape.length; k++) {
      if (sameShape(target, [...x.shape.slice(0, k), prod(x.shape.slice(k))])) return [flattenTo(im, n, x, k + 1)];
    }
    return unsupported(`a view of [N, ${x.shape.join(', ')}] to [N, ${target.join(', ')}], which is not a flatten`);
  },
  'aten::reshape': (im, n, a) => TENSOR_OPS['aten::view']!(im, n, a),
  'aten::squeeze': (im, n, a) => {
    const v = a[0]!;
    if (isT(v, 'gru') && v.part === 'h' && a.length > 1) {
      const g = v.gru;
      if (int(a[1]!, 'dim') === 0 && g.numLayers * (g.bidirectional ? 2 : 1) === 1) return [im.gruNode(n, g, 'last')];
    }
    const x = im.tensor(n, v, 'input');
    const rank = x.shape.length + 1;
    if (a.length < 2) {
      if (!x.shape.includes(1)) return [x];
      return unsupported('squeeze() of every size-1 dim');
    }
    const d = dimOf(int(a[1]!, 'dim'), rank, 'dim');
    if (d === 0) unsupported('squeeze of the batch dimension');
    if (x.shape[d - 1] !== 1) return [x];
    if (d === rank - 1 && rank >= 3) return [flattenTo(im, n, x, rank - 2)];
    return unsupported(`squeeze(${d}) of [N, ${x.shape.join(', ')}] (petra squeezes only the last dim, as a flatten)`);
  },
  'aten::mean': (im, n, a) => {
    const x = im.tensor(n, a[0]!, 'input');
    const rank = x.shape.length + 1;
    if (a.length < 3) unsupported('mean over all elements');
    const dims = ints(a[1]!, 'dim')
      .map((d) => dimOf(d, rank, 'dim'))
      .sort((p, q) => p - q);
    const keep = bool(a[2]!, 'keepdim');
    if (a[3] !== undefined && a[3] !== null) unsupported('mean with a dtype');
    const spatial = rank === 3 ? [2] : rank === 4 ? [2, 3] : [];
    if (spatial.length === 0 || !sameShape(dims, spatial))
      unsupported(
        `mean over dims [${dims.join(', ')}] of [N, ${x.shape.join(', ')}] (petra averages the trailing spatial dims of [N, C, L] or [N, C, H, W])`,
      );
    const pooled = im.emit(n, rank === 3 ? 'adaptiveavgpool1d' : 'adaptiveavgpool2d', [x], { outputSize: 1 }, [
      x.shape[0]!,
      ...spatial.map(() => 1),
    ]);
    return [keep ? pooled : flattenTo(im, n, pooled, 1)];
  },
  'aten::dropout': (im, n, a) => {
    const x = im.tensor(n, a[0]!, 'input');
    const p = num(a[1]!, 'p');
    if (p === 0) return [x];
    return [im.emit(n, 'dropout', [x], { p }, [...x.shape])];
  },
  'aten::feature_dropout': (im, n, a) => {
    im.notes.add(
      'Dropout2d/Dropout1d (channel dropout) imports as element-wise dropout: the same at inference, different when fine-tuning',
    );
    return TENSOR_OPS['aten::dropout']!(im, n, a);
  },
  'aten::embedding': (im, n, a) => {
    const w = constArg(a[0]!, 'weight');
    const idx = im.tensor(n, a[1]!, 'indices');
    if (idx.dtype !== 'int64') unsupported('embedding indices must be an int64 input of the model');
    if (typeof a[2] === 'number' && a[2] !== -1)
      im.notes.add(
        `the embedding ${w.name.replace(/^self\./, '')} has padding_idx ${a[2]}: petra's embedding has none (the same output; that row is trained when fine-tuning)`,
      );
    return [
      im.emit(
        n,
        'embedding',
        [idx],
        { numEmbeddings: w.shape[0], embeddingDim: w.shape[1] },
        [...idx.shape, w.shape[1]!],
        { weight: td(w) },
        w,
      ),
    ];
  },
  'aten::gru': (im, n, a) => {
    if (!Array.isArray(a[2])) return unsupported('a GRU over a packed sequence');
    const x = im.tensor(n, a[0]!, 'input');
    const hx = a[1]!;
    if (hx !== null && !isT(hx, 'zeros')) unsupported('a GRU with a given initial state (petra starts from zeros)');
    const params = a[2].map((p, i) => constArg(p, `params[${i}]`));
    const hasBiases = bool(a[3]!, 'has_biases');
    const numLayers = int(a[4]!, 'num_layers');
    if (bool(a[6]!, 'train')) unsupported('a GRU in training mode');
    const bidirectional = bool(a[7]!, 'bidirectional');
    if (!bool(a[8]!, 'batch_first')) unsupported("a GRU with batch_first=False (petra's GRU is batch-first)");
    const dirs = bidirectional ? 2 : 1;
    if (params.length !== numLayers * dirs * (hasBiases ? 4 : 2))
      unsupported(`${params.length} GRU parameters for ${numLayers} layer(s)`);
    if (!hasBiases)
      im.notes.add(
        "a GRU without biases imports with zero biases (petra's GRU has them, so fine-tuning may train them)",
      );
    if (num(a[5]!, 'dropout') !== 0)
      im.notes.add("GRU dropout between layers is not kept (petra's GRU has none; inference is unchanged)");
    if (x.shape.length !== 2)
      unsupported(`a GRU on a per-sample [${x.shape.join(', ')}] input (it needs [T, features])`);
    const hidden = params[1]!.shape[1]!;
    if (params[0]!.shape[1] !== x.shape[1])
      unsupported(`the GRU expects ${params[0]!.shape[1]} input features, the input has ${x.shape[1]}`);
    const info: GruInfo = { input: x, params, numLayers, bidirectional, hidden, node: n, nodes: {} };
    return [
      { t: 'gru', part: 'seq', gru: info },
      { t: 'gru', part: 'h', gru: info },
    ];
  },
  'aten::select': (im, n, a) => {
    const v = a[0]!;
    const dim = int(a[1]!, 'dim');
    const index = int(a[2]!, 'index');
    if (isT(v, 'gru')) {
      const g = v.gru;
      const dirs = g.bidirectional ? 2 : 1;
      if (v.part === 'h' && dim === 0) {
        const total = g.numLayers * dirs;
        const i = index < 0 ? index + total : index;
        if (!g.bidirectional && i === total - 1) return [im.gruNode(n, g, 'last')];
        if (g.bidirectional && i >= total - 2) return [{ t: 'gruLastDir', gru: g, dir: i === total - 2 ? 0 : 1 }];
        return unsupported(`h[${index}]: the final state of a layer below the last`);
      }
      if (v.part === 'seq' && (dim === 1 || dim === -2) && !g.bidirectional) {
        const T = g.input.shape[0]!;
        if (index === -1 || index === T - 1) return [im.gruNode(n, g, 'last')];
      }
      return unsupported(
        `selecting [${dim}][${index}] of a GRU output (petra has the last step's state and the whole sequence)`,
      );
    }
    return unsupported(`indexing a tensor (select dim ${dim}, index ${index})`);
  },
  'aten::slice': (im, n, a) => {
    const v = a[0]!;
    const full = isT(v, 'gru')
      ? (STATIC['aten::size']!(im, n, [v])[0] as Val[])
      : [BATCH, ...im.tensor(n, v, 'input').shape];
    const dim = dimOf(int(a[1] ?? 0, 'dim'), full.length, 'dim');
    const start = a[2] === null || a[2] === undefined ? 0 : int(a[2], 'start');
    const end = a[3] === null || a[3] === undefined ? Infinity : num(a[3], 'end');
    const step = a[4] === undefined ? 1 : int(a[4], 'step');
    const size = full[dim]!;
    const coversAll =
      start === 0 && step === 1 && (end >= Number.MAX_SAFE_INTEGER || (typeof size === 'number' && end >= size));
    if (coversAll) return [v];
    return unsupported(`slicing [${start}:${end === Infinity ? '' : end}:${step}] along dim ${dim}`);
  },
  'aten::layer_norm': (im, n, a) => {
    const x = im.tensor(n, a[0]!, 'input');
    const shape = ints(a[1]!, 'normalized_shape');
    if (!sameShape(shape, x.shape.slice(x.shape.length - shape.length)))
      unsupported(`normalized_shape [${shape.join(', ')}] does not match the input's trailing dims`);
    const w = optConst(a[2]!, 'weight');
    const b = optConst(a[3]!, 'bias');
    const size = prod(shape);
    if (!w || !b) im.notes.add('a layer norm without affine parameters imports with weight 1 and bias 0');
    const attrs: Record<string, unknown> = { normalizedShape: shape };
    const eps = num(a[4]!, 'eps');
    if (Math.abs(eps - 1e-5) > 1e-12) attrs.eps = eps;
    const reshape = (t: TensorData): TensorData => ({ data: t.data, shape: [...shape] });
    return [
      im.emit(
        n,
        'layernorm',
        [x],
        attrs,
        [...x.shape],
        {
          weight: w ? reshape(td(w)) : reshape(filled(size, 1)),
          bias: b ? reshape(td(b)) : reshape(filled(size, 0)),
        },
        w,
      ),
    ];
  },
  'aten::contiguous': PASS,
  'aten::clone': PASS,
  'aten::detach': PASS,
};
// In-place variants behave like their functional forms; Importer.step rebinds the mutated operand.
for (const op of ['relu', 'sigmoid', 'tanh', 'add', 'dropout', 'feature_dropout'])
  TENSOR_OPS[`aten::${op}_`] = TENSOR_OPS[`aten::${op}`]!;

export const HANDLERS: Record<string, Handler> = { ...STATIC, ...TENSOR_OPS };
// Static ops count as such in the report (tensor ops become nodes).
for (const kind of Object.keys(STATIC)) {
  const f = STATIC[kind]!;
  HANDLERS[kind] = (im, n, a) => {
    im.count(kind);
    return f(im, n, a);
  };
}
for (const kind of ['aten::contiguous', 'aten::clone', 'aten::detach', 'aten::t', 'aten::transpose']) {
  const f = TENSOR_OPS[kind]!;
  HANDLERS[kind] = (im, n, a) => {
    im.count(kind);
    return f(im, n, a);
  };
}
