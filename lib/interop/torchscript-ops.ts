/**
 * How each op of the graph language lowers to TorchScript: one entry per op in a table whose type lists every
 * OpName, so a new op without a TorchScript lowering does not compile. Each lowering writes the statements that
 * compute its node — the ATen and quantized kernels petra's graph calls (native/graph_module.cc, native/quantize.cc) —
 * and records its value, float or quint8.
 */
import { opDescriptor } from '../graph/ops/index.js';
import { perDim } from '../graph/ops/geometry.js';
import type { NodeOf } from '../graph/ops/types.js';
import type { GraphNode, OpName, QuantAttrs } from '../graph/types.js';
import { FLOAT32, float, ints, PACKED_LINEAR, QUINT8, type PackPlan, type SourceWriter } from './torchscript-writer.js';

/** What every lowering gets: the writer, its first input's expression and whether that is an int8 (quint8) value. */
export interface TorchScriptStep {
  readonly w: SourceWriter;
  /**
   * The first input: as it is for ops that take int8 values (the registry's `quantAware`, native's table says the
   * same), else its float value (an int8 value dequantized).
   */
  readonly x: string;
  readonly inQuantized: boolean;
}

type Lowering<K extends OpName> = (s: TorchScriptStep, node: NodeOf<K>) => void;

// ---------------------------------------------------------------------------------------------------------------
// Lowerings
// ---------------------------------------------------------------------------------------------------------------

function conv(s: TorchScriptStep, node: NodeOf<'conv1d' | 'conv2d'>): void {
  const c = node.attrs;
  const dims = node.op === 'conv2d' ? 2 : 1;
  const bias = c.bias !== false;
  const m = s.w.module(node, bias ? ['weight', 'bias'] : ['weight']);
  const padding = c.padding === 'same' ? '"same"' : ints(perDim(c.padding, dims, 0));
  s.w.assign(
    node,
    `torch.conv${dims}d(${s.x}, ${m}.weight, ${bias ? `${m}.bias` : 'None'}, ${ints(perDim(c.stride, dims, 1))}, ${padding}, ${ints(perDim(c.dilation, dims, 1))}, ${c.groups ?? 1})`,
    false,
  );
}

function batchnorm(s: TorchScriptStep, node: NodeOf<'batchnorm1d' | 'batchnorm2d'>): void {
  const m = s.w.module(node, ['weight', 'bias', 'running_mean', 'running_var']);
  s.w.assign(
    node,
    `torch.batch_norm(${s.x}, ${m}.weight, ${m}.bias, ${m}.running_mean, ${m}.running_var, False, ${float(node.attrs.momentum ?? 0.1)}, ${float(node.attrs.eps ?? 1e-5)}, True)`,
    false,
  );
}

/** torch.<fn>(x), a float result. */
const call =
  (fn: string) =>
  (s: TorchScriptStep, node: GraphNode): void =>
    s.w.assign(node, `torch.${fn}(${s.x})`, false);

function pool(s: TorchScriptStep, node: NodeOf<'maxpool1d' | 'maxpool2d' | 'avgpool1d' | 'avgpool2d'>): void {
  const dims = node.op.endsWith('2d') ? 2 : 1;
  const p = node.attrs;
  const k = perDim(p.kernelSize, dims, 1);
  const st = p.stride === undefined ? k : perDim(p.stride, dims, 1);
  const pad = perDim(p.padding, dims, 0);
  if (node.op.startsWith('max')) {
    // Max commutes with the map to uint8 codes: pooling an int8 value keeps it int8, exactly.
    s.w.assign(
      node,
      `torch.max_pool${dims}d(${s.x}, ${ints(k)}, ${ints(st)}, ${ints(pad)}, ${ints(k.map(() => 1))}, False)`,
      s.inQuantized,
    );
    return;
  }
  const tail = dims === 2 ? 'False, True, None' : 'False, True';
  s.w.assign(node, `torch.avg_pool${dims}d(${s.x}, ${ints(k)}, ${ints(st)}, ${ints(pad)}, ${tail})`, false);
}

function adaptiveAvg(s: TorchScriptStep, node: NodeOf<'adaptiveavgpool1d' | 'adaptiveavgpool2d'>): void {
  s.w.assign(
    node,
    `torch.${node.op === 'adaptiveavgpool1d' ? 'adaptive_avg_pool1d' : 'adaptive_avg_pool2d'}(${s.x}, ${ints(perDim(node.attrs.outputSize, node.op.endsWith('2d') ? 2 : 1, 1))})`,
    s.inQuantized,
  );
}

function adaptiveMax(s: TorchScriptStep, node: NodeOf<'adaptivemaxpool1d' | 'adaptivemaxpool2d'>): void {
  s.w.assign(
    node,
    `torch.${node.op === 'adaptivemaxpool1d' ? 'adaptive_max_pool1d' : 'adaptive_max_pool2d'}(${s.x}, ${ints(perDim(node.attrs.outputSize, node.op.endsWith('2d') ? 2 : 1, 1))})[0]`,
    false,
  );
}

function add(s: TorchScriptStep, node: NodeOf<'add'>): void {
  const w = s.w;
  const q = node.attrs;
  if (q.outScale === undefined) {
    const terms = node.inputs.map((i) => w.float(i));
    w.assign(
      node,
      terms.slice(1).reduce((sum, t) => `torch.add(${sum}, ${t})`, terms[0]!),
      false,
    );
    return;
  }
  // quantized::add (add_relu for the last join when the ReLU was fused), inputs quantized at the output's parameters.
  const zp = q.outZeroPoint ?? 0;
  let sum = w.quint8(node.inputs[0]!, q.outScale, zp);
  node.inputs.slice(1).forEach((i, k) => {
    const op = q.relu && k === node.inputs.length - 2 ? 'add_relu' : 'add';
    sum = `quantized.${op}(${sum}, ${w.quint8(i, q.outScale!, zp)}, ${float(q.outScale!)}, ${zp})`;
  });
  w.assign(node, sum, true);
}

function concat(s: TorchScriptStep, node: NodeOf<'concat'>): void {
  const w = s.w;
  const c = node.attrs;
  const dim = c.dim ?? 1;
  if (c.outScale === undefined) {
    w.assign(node, `torch.cat([${node.inputs.map((i) => w.float(i)).join(', ')}], ${dim})`, false);
    return;
  }
  const zp = c.outZeroPoint ?? 0;
  w.assign(
    node,
    `quantized.cat([${node.inputs.map((i) => w.quint8(i, c.outScale!, zp)).join(', ')}], ${dim}, ${float(c.outScale)}, ${zp})`,
    true,
  );
}

function lowrankConv(s: TorchScriptStep, node: NodeOf<'lowrank_conv1d' | 'lowrank_conv2d'>): void {
  const w = s.w;
  const l = node.attrs;
  const dims = node.op === 'lowrank_conv2d' ? 2 : 1;
  const bias = l.bias !== false;
  const m = w.module(node, bias ? ['U', 'S', 'Vh', 'bias'] : ['U', 'S', 'Vh']);
  const k = perDim(l.kernelSize, dims, 1);
  const ones = k.map(() => 1);
  const padding = l.padding === 'same' ? '"same"' : ints(perDim(l.padding, dims, 0));
  const h = w.names.take(`${node.name}_v`);
  w.emit(
    `${h} = torch.conv${dims}d(${s.x}, ${m}.Vh.view(${ints([l.rank, l.inChannels, ...k])}), None, ${ints(perDim(l.stride, dims, 1))}, ${padding}, ${ints(perDim(l.dilation, dims, 1))}, 1)`,
  );
  w.assign(
    node,
    `torch.conv${dims}d(torch.mul(${h}, ${m}.S.view(${ints([1, l.rank, ...ones])})), ${m}.U.view(${ints([l.outChannels, l.rank, ...ones])}), ${bias ? `${m}.bias` : 'None'})`,
    false,
  );
}

function gru(w: SourceWriter, node: NodeOf<'gru'>, x: string): void {
  const g = node.attrs;
  const layers = g.numLayers ?? 1;
  const dirs = g.bidirectional ? 2 : 1;
  const tensors: string[] = [];
  for (let l = 0; l < layers; l++) {
    for (const s of dirs === 2 ? ['', '_reverse'] : [''])
      tensors.push(`weight_ih_l${l}${s}`, `weight_hh_l${l}${s}`, `bias_ih_l${l}${s}`, `bias_hh_l${l}${s}`);
  }
  const m = w.module(node, tensors);
  const y = w.names.take(`${node.name}_sequence`);
  const hn = w.names.take(`${node.name}_state`);
  const h0 = `torch.zeros([${layers * dirs}, ${x}.size(0), ${g.hiddenSize}], dtype=${FLOAT32}, device=${x}.device)`;
  w.emit(
    `${y}, ${hn} = torch.gru(${x}, ${h0}, [${tensors.map((t) => `${m}.${t}`).join(', ')}], True, ${layers}, 0.0, False, ${g.bidirectional ? 'True' : 'False'}, True)`,
  );
  if ((g.output ?? 'last') === 'sequence') return w.assign(node, y, false);
  const top = layers * dirs;
  return w.assign(
    node,
    dirs === 1 ? `${hn}[${top - 1}]` : `torch.cat([${hn}[${top - 2}], ${hn}[${top - 1}]], 1)`,
    false,
  );
}

/** Dynamic int8 GRU: per layer and direction, all input projections in one linear_dynamic, then the recurrence. */
function quantGru(w: SourceWriter, node: NodeOf<'qgru'>, x: string): void {
  const g = node.attrs;
  const H = g.hiddenSize;
  const layers = g.numLayers ?? 1;
  const dirs = g.bidirectional ? 2 : 1;
  const perChannel = g.perChannel !== false;
  const engine = g.engine ?? 'onednn';
  const packs: PackPlan[] = [];
  for (let l = 0; l < layers; l++) {
    for (const s of dirs === 2 ? ['', '_reverse'] : ['']) {
      for (const kind of ['ih', 'hh']) {
        packs.push({
          name: `_packed_${kind}_l${l}${s}`,
          kind: 'linear',
          weight: `${node.name}.w_${kind}_l${l}${s}`,
          scale: `${node.name}.w_${kind}_scale_l${l}${s}`,
          bias: `${node.name}.b_${kind}_l${l}${s}`,
          perChannel,
          engine,
        });
      }
    }
  }
  const m = w.module(node, [], packs);
  w.usesGruHelper = true;
  const seq = w.names.take(`${node.name}_input`);
  const B = w.names.take(`${node.name}_batch`);
  const T = w.names.take(`${node.name}_steps`);
  w.emit(`${seq} = ${x}.contiguous()`);
  w.emit(`${B} = ${seq}.size(0)`);
  w.emit(`${T} = ${seq}.size(1)`);
  let finals: string[] = [];
  for (let l = 0; l < layers; l++) {
    const inSize = l === 0 ? g.inputSize : H * dirs;
    const outs: string[] = [];
    finals = [];
    (dirs === 2 ? ['', '_reverse'] : ['']).forEach((s, d) => {
      const gi = w.names.take(`${node.name}_gi_l${l}${s}`);
      const o = w.names.take(`${node.name}_out_l${l}${s}`);
      const h = w.names.take(`${node.name}_h_l${l}${s}`);
      w.emit(
        `${gi} = quantized.linear_dynamic(${seq}.reshape([-1, ${inSize}]), ${m}._packed_ih_l${l}${s}, False).view([${B}, ${T}, ${3 * H}])`,
      );
      w.emit(
        `${o}, ${h} = self._int8_gru_direction(${gi}, ${m}._packed_hh_l${l}${s}, ${H}, ${d === 1 ? 'True' : 'False'})`,
      );
      outs.push(o);
      finals.push(h);
    });
    w.emit(`${seq} = ${outs.length === 1 ? outs[0] : `torch.cat([${outs.join(', ')}], 2)`}`);
  }
  w.int8.gru.push(node.name);
  if ((g.output ?? 'last') === 'sequence') return w.assign(node, seq, false);
  return w.assign(node, finals.length === 1 ? finals[0]! : `torch.cat([${finals.join(', ')}], 1)`, false);
}

function quantLayer(
  w: SourceWriter,
  node: NodeOf<'qlinear' | 'qconv1d' | 'qconv2d'>,
  x: string,
  inQuantized: boolean,
): void {
  const q: QuantAttrs = node.attrs;
  const kind = node.op === 'qlinear' ? 'linear' : node.op === 'qconv2d' ? 'conv2d' : 'conv1d';
  const pack: PackPlan = {
    name: '_packed_params',
    kind,
    weight: `${node.name}.qweight`,
    scale: `${node.name}.wscale`,
    bias: `${node.name}.bias`,
    perChannel: q.perChannel !== false,
    engine: q.engine ?? 'onednn',
  };
  let subsample: number[] | undefined;
  if (kind !== 'linear') {
    const dims = kind === 'conv2d' ? 2 : 1;
    const c = node.attrs as {
      kernelSize: number | [number, number];
      stride?: number | [number, number];
      padding?: number | [number, number] | 'same';
      dilation?: number;
      groups?: number;
    };
    const k = perDim(c.kernelSize, dims, 1);
    const dil = perDim(c.dilation, dims, 1);
    pack.stride = perDim(c.stride, dims, 1);
    // 'same' as explicit padding (stride 1, odd span), as QuantLayerImpl packs it.
    pack.padding = c.padding === 'same' ? k.map((kk, i) => (dil[i]! * (kk - 1)) / 2) : perDim(c.padding, dims, 0);
    pack.dilation = dil;
    pack.groups = c.groups ?? 1;
    // A strided 1×1 convolution runs on the subsampled input at stride 1, as QuantLayerImpl runs it (oneDNN's AVX2
    // int8 kernel for the strided 1×1 case reads wrong pixels at thread boundaries).
    if (k.every((kk) => kk === 1) && pack.padding.every((p) => p === 0) && pack.stride.some((st) => st > 1)) {
      subsample = pack.stride;
      pack.stride = pack.stride.map(() => 1);
    }
  }
  const m = w.module(node, [], [pack]);
  if (q.dynamic) {
    const input = inQuantized ? `${x}.dequantize()` : x;
    const y = `quantized.linear_dynamic(${input}.contiguous(), ${m}._packed_params, False)`;
    w.int8.dynamic.push(node.name);
    return w.assign(node, q.relu ? `torch.relu(${y})` : y, false);
  }
  let input = inQuantized
    ? x
    : `torch.quantize_per_tensor(${x}, ${float(q.inScale ?? 1)}, ${q.inZeroPoint ?? 0}, ${QUINT8})`;
  if (subsample) input = `${input}[:, :, ${subsample.map((st) => `::${st}`).join(', ')}].contiguous()`;
  w.int8.static.push(node.name);
  return w.assign(
    node,
    `quantized.${kind}${q.relu ? '_relu' : ''}(${input}, ${m}._packed_params, ${float(q.outScale ?? 1)}, ${q.outZeroPoint ?? 0})`,
    true,
  );
}

function quantized(s: TorchScriptStep, node: NodeOf<'qlinear' | 'qconv1d' | 'qconv2d'>): void {
  quantLayer(s.w, node, s.x, s.inQuantized);
}

export const TORCHSCRIPT_OPS: { readonly [K in OpName]: Lowering<K> } = {
  conv1d: conv,
  conv2d: conv,
  batchnorm1d: batchnorm,
  batchnorm2d: batchnorm,
  linear: (s, node) => {
    const bias = node.attrs.bias !== false;
    const m = s.w.module(node, bias ? ['weight', 'bias'] : ['weight']);
    s.w.assign(node, `torch.linear(${s.x}, ${m}.weight, ${bias ? `${m}.bias` : 'None'})`, false);
  },
  relu: (s, node) => s.w.assign(node, `torch.relu(${s.x})`, s.inQuantized),
  gelu: call('gelu'),
  sigmoid: call('sigmoid'),
  tanh: call('tanh'),
  // Inference: the identity (on the dequantized value, as petra's graph gives it).
  dropout: (s, node) => s.w.values.set(node.name, { expr: s.x, quantized: false }),
  maxpool1d: pool,
  maxpool2d: pool,
  avgpool1d: pool,
  avgpool2d: pool,
  adaptiveavgpool1d: adaptiveAvg,
  adaptiveavgpool2d: adaptiveAvg,
  adaptivemaxpool1d: adaptiveMax,
  adaptivemaxpool2d: adaptiveMax,
  add,
  concat,
  flatten: (s, node) => s.w.assign(node, `torch.flatten(${s.x}, ${node.attrs.startDim ?? 1})`, s.inQuantized),
  embedding: (s, node) => {
    const m = s.w.module(node, ['weight']);
    s.w.assign(node, `torch.embedding(${m}.weight, ${s.x})`, false);
  },
  layernorm: (s, node) => {
    const m = s.w.module(node, ['weight', 'bias']);
    s.w.assign(
      node,
      `torch.layer_norm(${s.x}, ${ints(node.attrs.normalizedShape)}, ${m}.weight, ${m}.bias, ${float(node.attrs.eps ?? 1e-5)}, True)`,
      false,
    );
  },
  gru: (s, node) => gru(s.w, node, s.x),
  qgru: (s, node) => quantGru(s.w, node, s.x),
  lowrank_linear: (s, node) => {
    const l = node.attrs;
    const bias = l.bias !== false;
    const m = s.w.module(node, bias ? ['U', 'S', 'Vh', 'bias'] : ['U', 'S', 'Vh']);
    s.w.assign(
      node,
      `torch.linear(torch.mul(torch.linear(${s.x}, ${m}.Vh, None), ${m}.S), ${m}.U, ${bias ? `${m}.bias` : 'None'})`,
      false,
    );
  },
  lowrank_conv1d: lowrankConv,
  lowrank_conv2d: lowrankConv,
  qlinear: quantized,
  qconv1d: quantized,
  qconv2d: quantized,
};

/** Writes one node of the spec (its inputs already written). */
export function writeNode(w: SourceWriter, node: GraphNode): void {
  const inName = node.inputs[0]!;
  const inQuantized = w.values.get(inName)!.quantized;
  const x = opDescriptor(node.op).quantAware !== undefined ? w.values.get(inName)!.expr : w.float(inName);
  (TORCHSCRIPT_OPS[node.op] as Lowering<OpName>)({ w, x, inQuantized }, node);
}

// The int8 GRU recurrence of one direction: h quantized per tensor at run time and multiplied with the int8 hidden
// weights (quantized::linear_dynamic, b_hh included), then torch's gates r, z, n. Returns (states [B, T, H], final h).
export const GRU_HELPER = `
def _int8_gru_direction(self, gi: Tensor, hh: ${PACKED_LINEAR}, hidden: int, reverse: bool) -> Tuple[Tensor, Tensor]:
    steps = gi.size(1)
    h = torch.zeros([gi.size(0), hidden], dtype=${FLOAT32}, device=gi.device)
    states: List[Tensor] = []
    for k in range(steps):
        t = k
        if reverse:
            t = steps - 1 - k
        g = gi.select(1, t)
        gh = quantized.linear_dynamic(h, hh, False)
        r = torch.sigmoid(g.narrow(1, 0, hidden) + gh.narrow(1, 0, hidden))
        z = torch.sigmoid(g.narrow(1, hidden, hidden) + gh.narrow(1, hidden, hidden))
        n = torch.tanh(g.narrow(1, 2 * hidden, hidden) + r * gh.narrow(1, 2 * hidden, hidden))
        h = (1.0 - z) * n + z * h
        states.append(h)
    out = torch.stack(states, 1)
    if reverse:
        out = torch.flip(out, [1])
    return out, h
`;
