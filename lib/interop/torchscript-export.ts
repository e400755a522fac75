/**
 * Export a petra model as TorchScript: a `.pt` that `torch.jit.load` (PyTorch) and `torch::jit::load` (LibTorch,
 * petra's TorchScriptModel) run without petra, with petra's outputs.
 *
 * petra models are LibTorch modules built from the graph spec in C++, so there is nothing to trace or script. Instead
 * this file writes the forward method as TorchScript source, one statement per graph node calling the same ATen and
 * quantized kernels petra's graph calls (native/graph_module.cc, native/quantize.cc), and native/torchscript_export.cc
 * compiles it into a module that holds the weights — one submodule per layer, so the state dict reads like PyTorch's
 * (`conv1.weight`, `bn1.running_mean`) — and saves it.
 *
 * - Float layers: torch.conv1d/2d, batch_norm, linear, embedding, gru, layer_norm, pooling, add, cat, flatten.
 * - Low-rank layers: petra's own two-step arithmetic (x·Vhᵀ, scaled by S, then U), parameters U, S, Vh kept.
 * - Static int8 layers: quantized::linear / conv1d / conv2d (+ _relu) on quint8 activations with petra's calibrated
 *   scales, int8 residual joins as quantized::add / add_relu / cat; the packed int8 weights are module attributes of
 *   PyTorch's own packed-params classes (`_packed_params`), so `torch.jit.load` repacks them for its engine.
 * - Dynamic int8 linears: quantized::linear_dynamic. Dynamic int8 GRUs: input projections through linear_dynamic,
 *   the recurrence as a TorchScript loop with linear_dynamic per step and torch's gate formula — the arithmetic of
 *   petra's 'linear_dynamic' recurrence (its fused loop computes the same to ~1e-7).
 *
 * Not exportable (one ConfigError lists every such node): fake-quantized layers (QAT in progress), half-precision
 * layers (attrs.dtype, a CUDA plan) and int8 layers of engine 'intmm' — the same as ONNX export.
 */
import { rmSync } from 'node:fs';
import { binding } from '../binding.js';
import { assertExportable, exportBlockers } from './export-blockers.js';
import { ConfigError, NumericError } from '../errors.js';
import { TorchScriptModel } from '../lab/benchmark.js';
import type { Model } from '../model.js';
import type { GraphNode, ModelSpec, QuantAttrs } from '../spec/types.js';
import { inferShapes, perDim, topologicalOrder } from '../spec/validate.js';
import { checkInputs, maxAbsDiff } from './torchscript-import-verify.js';

export interface TorchScriptExportOptions {
  /** Load the written file back and compare it with the petra model on a seeded random batch (default true). */
  verify?: boolean;
  /** Rows of the check batch (default 8). */
  checkBatch?: number;
  seed?: number;
  /** Largest accepted difference; default 1e-5 for float models, one output quantization step for int8 models. */
  tolerance?: number;
}

export interface TorchScriptExportReport {
  format: 'torchscript';
  bytes: number;
  /** The LibTorch that wrote the file; PyTorch and LibTorch of this version or newer load it. */
  libtorch: string;
  inputs: { name: string; dtype: 'float32' | 'int64'; shape: (number | string)[] }[];
  output: { shape: (number | string)[] };
  /** Submodules (layers with weights), float parameters, buffers and int8 packed-parameter objects. */
  modules: number;
  parameters: number;
  buffers: number;
  packed: number;
  int8: { static: string[]; dynamic: string[]; gru: string[] };
  /** The comparison of the written file, loaded back, with the petra model (absent with verify: false). */
  check?: { samples: number; maxAbsDiff: number; tolerance: number };
  notes: string[];
}

/** Plan for native saveTorchScript (native/torchscript_export.cc). */
interface TensorPlan { name: string; from: string; parameter: boolean }
interface PackPlan {
  name: string; kind: 'linear' | 'conv1d' | 'conv2d'; weight: string; scale: string; bias: string; perChannel: boolean; engine: string;
  stride?: number[]; padding?: number[]; dilation?: number[]; groups?: number;
}
interface SubmodulePlan { name: string; tensors: TensorPlan[]; packs: PackPlan[] }
export interface TorchScriptPlan { className: string; source: string; modules: SubmodulePlan[] }

// Names the generated code must not shadow or cannot use: Python keywords, the builtins it calls, the type names.
const RESERVED = new Set([
  'False', 'None', 'True', 'and', 'as', 'assert', 'async', 'await', 'break', 'class', 'continue', 'def', 'del', 'elif',
  'else', 'except', 'finally', 'for', 'from', 'global', 'if', 'import', 'in', 'is', 'lambda', 'nonlocal', 'not', 'or',
  'pass', 'raise', 'return', 'try', 'while', 'with', 'yield', 'self', 'torch', 'quantized', 'ops', 'range', 'len',
  'List', 'Tuple', 'Optional', 'Tensor', 'int', 'float', 'bool', 'str', 'print', 'annotate', 'math', 'training',
]);

/** Unique Python identifiers from arbitrary names (node names may hold dots, dashes, digits first). */
class Names {
  readonly #used = new Set<string>();
  take(raw: string): string {
    let base = raw.replace(/[^A-Za-z0-9_]/g, '_');
    if (!base || /^[0-9]/.test(base)) base = `_${base}`;
    if (RESERVED.has(base) || base.startsWith('__')) base = `${base}_`;
    let name = base;
    for (let k = 2; this.#used.has(name); k++) name = `${base}_${k}`;
    this.#used.add(name);
    return name;
  }
}

/** A Python float literal that reads back as the same double (TorchScript parses it with strtod). */
function float(x: number): string {
  if (!Number.isFinite(x)) throw new ConfigError(`a non-finite number (${x}) cannot be written to TorchScript`, 'model');
  const s = String(x);
  return /[.eE]/.test(s) ? s : `${s}.0`;
}
const ints = (v: number[]): string => `[${v.join(', ')}]`;

const QUINT8 = 13; // c10::ScalarType::QUInt8: TorchScript spells dtypes as their enum values
const FLOAT32 = 6;
const PACKED_LINEAR = '__torch__.torch.classes.quantized.LinearPackedParamsBase';

/** The nodes that cannot be exported to TorchScript, each with its reason (empty when the model exports). */
export const torchScriptExportBlockers = exportBlockers;

// Ops whose native step takes quint8 inputs as they are (GraphModuleImpl's quantAware set); every other op sees
// its quantized inputs dequantized first.
const QUANT_AWARE = new Set(['relu', 'maxpool1d', 'maxpool2d', 'adaptiveavgpool1d', 'adaptiveavgpool2d', 'flatten', 'qlinear', 'qconv1d', 'qconv2d']);

interface Value { expr: string; quantized: boolean }

class SourceWriter {
  readonly names = new Names();
  readonly lines: string[] = [];
  readonly modules: SubmodulePlan[] = [];
  readonly values = new Map<string, Value>();
  readonly int8 = { static: [] as string[], dynamic: [] as string[], gru: [] as string[] };
  readonly moduleNames = new Names();
  usesGruHelper = false;

  constructor(readonly buffers: Set<string>) {}

  emit(line: string): void { this.lines.push(`    ${line}`); }

  /** A submodule holding `tensors` (petra names `<node>.<t>`) and int8 packs; returns `self.<name>`. */
  module(node: GraphNode, tensors: string[], packs: PackPlan[] = []): string {
    const name = this.moduleNames.take(node.name);
    this.modules.push({
      name,
      tensors: tensors.map((t) => ({ name: t, from: `${node.name}.${t}`, parameter: !this.buffers.has(`${node.name}.${t}`) })),
      packs,
    });
    return `self.${name}`;
  }

  /** The float tensor of a value (its dequantized codes for an int8 value). */
  float(name: string): string {
    const v = this.values.get(name)!;
    return v.quantized ? `${v.expr}.dequantize()` : v.expr;
  }

  /** The quint8 tensor of a value: as it is, or quantized with (scale, zero point) like QuantizeActivation. */
  quint8(name: string, scale: number, zp: number): string {
    const v = this.values.get(name)!;
    return v.quantized ? v.expr : `torch.quantize_per_tensor(${v.expr}, ${float(scale)}, ${zp}, ${QUINT8})`;
  }

  assign(node: GraphNode, expr: string, quantized: boolean): void {
    const local = this.names.take(node.name);
    this.emit(`${local} = ${expr}  # ${node.op}`);
    this.values.set(node.name, { expr: local, quantized });
  }

  node(node: GraphNode): void {
    const inName = node.inputs[0]!;
    const inQuantized = this.values.get(inName)!.quantized;
    const x = QUANT_AWARE.has(node.op) ? this.values.get(inName)!.expr : this.float(inName);
    switch (node.op) {
      case 'conv1d':
      case 'conv2d': {
        const c = node.attrs;
        const dims = node.op === 'conv2d' ? 2 : 1;
        const bias = c.bias !== false;
        const m = this.module(node, bias ? ['weight', 'bias'] : ['weight']);
        const padding = c.padding === 'same' ? '"same"' : ints(perDim(c.padding, dims, 0));
        return this.assign(node, `torch.conv${dims}d(${x}, ${m}.weight, ${bias ? `${m}.bias` : 'None'}, ${ints(perDim(c.stride, dims, 1))}, ${padding}, ${ints(perDim(c.dilation, dims, 1))}, ${c.groups ?? 1})`, false);
      }
      case 'batchnorm1d':
      case 'batchnorm2d': {
        const m = this.module(node, ['weight', 'bias', 'running_mean', 'running_var']);
        return this.assign(node, `torch.batch_norm(${x}, ${m}.weight, ${m}.bias, ${m}.running_mean, ${m}.running_var, False, ${float(node.attrs.momentum ?? 0.1)}, ${float(node.attrs.eps ?? 1e-5)}, True)`, false);
      }
      case 'linear': {
        const bias = node.attrs.bias !== false;
        const m = this.module(node, bias ? ['weight', 'bias'] : ['weight']);
        return this.assign(node, `torch.linear(${x}, ${m}.weight, ${bias ? `${m}.bias` : 'None'})`, false);
      }
      case 'relu': return this.assign(node, `torch.relu(${x})`, inQuantized);
      case 'gelu': return this.assign(node, `torch.gelu(${x})`, false);
      case 'sigmoid': return this.assign(node, `torch.sigmoid(${x})`, false);
      case 'tanh': return this.assign(node, `torch.tanh(${x})`, false);
      case 'dropout': // inference: the identity (on the dequantized value, as petra's graph gives it)
        this.values.set(node.name, { expr: x, quantized: false });
        return;
      case 'maxpool1d':
      case 'maxpool2d':
      case 'avgpool1d':
      case 'avgpool2d': {
        const dims = node.op.endsWith('2d') ? 2 : 1;
        const p = node.attrs;
        const k = perDim(p.kernelSize, dims, 1);
        const s = p.stride === undefined ? k : perDim(p.stride, dims, 1);
        const pad = perDim(p.padding, dims, 0);
        if (node.op.startsWith('max')) {
          // Max commutes with the map to uint8 codes: pooling an int8 value keeps it int8, exactly.
          return this.assign(node, `torch.max_pool${dims}d(${x}, ${ints(k)}, ${ints(s)}, ${ints(pad)}, ${ints(k.map(() => 1))}, False)`, inQuantized);
        }
        const tail = dims === 2 ? 'False, True, None' : 'False, True';
        return this.assign(node, `torch.avg_pool${dims}d(${x}, ${ints(k)}, ${ints(s)}, ${ints(pad)}, ${tail})`, false);
      }
      case 'adaptiveavgpool1d':
      case 'adaptiveavgpool2d':
        return this.assign(node, `torch.${node.op === 'adaptiveavgpool1d' ? 'adaptive_avg_pool1d' : 'adaptive_avg_pool2d'}(${x}, ${ints(perDim(node.attrs.outputSize, node.op.endsWith('2d') ? 2 : 1, 1))})`, inQuantized);
      case 'adaptivemaxpool1d':
      case 'adaptivemaxpool2d':
        return this.assign(node, `torch.${node.op === 'adaptivemaxpool1d' ? 'adaptive_max_pool1d' : 'adaptive_max_pool2d'}(${x}, ${ints(perDim(node.attrs.outputSize, node.op.endsWith('2d') ? 2 : 1, 1))})[0]`, false);
      case 'add': {
        const q = node.attrs;
        if (q.outScale === undefined) {
          const terms = node.inputs.map((i) => this.float(i));
          return this.assign(node, terms.slice(1).reduce((sum, t) => `torch.add(${sum}, ${t})`, terms[0]!), false);
        }
        // quantized::add (add_relu for the last join when the ReLU was fused), inputs quantized at the output's parameters.
        const zp = q.outZeroPoint ?? 0;
        let sum = this.quint8(node.inputs[0]!, q.outScale, zp);
        node.inputs.slice(1).forEach((i, k) => {
          const op = q.relu && k === node.inputs.length - 2 ? 'add_relu' : 'add';
          sum = `quantized.${op}(${sum}, ${this.quint8(i, q.outScale!, zp)}, ${float(q.outScale!)}, ${zp})`;
        });
        return this.assign(node, sum, true);
      }
      case 'concat': {
        const c = node.attrs;
        const dim = c.dim ?? 1;
        if (c.outScale === undefined) return this.assign(node, `torch.cat([${node.inputs.map((i) => this.float(i)).join(', ')}], ${dim})`, false);
        const zp = c.outZeroPoint ?? 0;
        return this.assign(node, `quantized.cat([${node.inputs.map((i) => this.quint8(i, c.outScale!, zp)).join(', ')}], ${dim}, ${float(c.outScale)}, ${zp})`, true);
      }
      case 'flatten': return this.assign(node, `torch.flatten(${x}, ${node.attrs.startDim ?? 1})`, inQuantized);
      case 'embedding': {
        const m = this.module(node, ['weight']);
        return this.assign(node, `torch.embedding(${m}.weight, ${x})`, false);
      }
      case 'layernorm': {
        const m = this.module(node, ['weight', 'bias']);
        return this.assign(node, `torch.layer_norm(${x}, ${ints(node.attrs.normalizedShape)}, ${m}.weight, ${m}.bias, ${float(node.attrs.eps ?? 1e-5)}, True)`, false);
      }
      case 'gru': return this.gru(node, x);
      case 'qgru': return this.quantGru(node, x);
      case 'lowrank_linear': {
        const l = node.attrs;
        const bias = l.bias !== false;
        const m = this.module(node, bias ? ['U', 'S', 'Vh', 'bias'] : ['U', 'S', 'Vh']);
        return this.assign(node, `torch.linear(torch.mul(torch.linear(${x}, ${m}.Vh, None), ${m}.S), ${m}.U, ${bias ? `${m}.bias` : 'None'})`, false);
      }
      case 'lowrank_conv1d':
      case 'lowrank_conv2d': {
        const l = node.attrs;
        const dims = node.op === 'lowrank_conv2d' ? 2 : 1;
        const bias = l.bias !== false;
        const m = this.module(node, bias ? ['U', 'S', 'Vh', 'bias'] : ['U', 'S', 'Vh']);
        const k = perDim(l.kernelSize, dims, 1);
        const ones = k.map(() => 1);
        const padding = l.padding === 'same' ? '"same"' : ints(perDim(l.padding, dims, 0));
        const h = this.names.take(`${node.name}_v`);
        this.emit(`${h} = torch.conv${dims}d(${x}, ${m}.Vh.view(${ints([l.rank, l.inChannels, ...k])}), None, ${ints(perDim(l.stride, dims, 1))}, ${padding}, ${ints(perDim(l.dilation, dims, 1))}, 1)`);
        return this.assign(node, `torch.conv${dims}d(torch.mul(${h}, ${m}.S.view(${ints([1, l.rank, ...ones])})), ${m}.U.view(${ints([l.outChannels, l.rank, ...ones])}), ${bias ? `${m}.bias` : 'None'})`, false);
      }
      case 'qlinear':
      case 'qconv1d':
      case 'qconv2d':
        return this.quantLayer(node, x, inQuantized);
    }
  }

  gru(node: GraphNode & { op: 'gru' }, x: string): void {
    const g = node.attrs;
    const layers = g.numLayers ?? 1;
    const dirs = g.bidirectional ? 2 : 1;
    const tensors: string[] = [];
    for (let l = 0; l < layers; l++) {
      for (const s of dirs === 2 ? ['', '_reverse'] : ['']) tensors.push(`weight_ih_l${l}${s}`, `weight_hh_l${l}${s}`, `bias_ih_l${l}${s}`, `bias_hh_l${l}${s}`);
    }
    const m = this.module(node, tensors);
    const y = this.names.take(`${node.name}_sequence`);
    const hn = this.names.take(`${node.name}_state`);
    const h0 = `torch.zeros([${layers * dirs}, ${x}.size(0), ${g.hiddenSize}], dtype=${FLOAT32}, device=${x}.device)`;
    this.emit(`${y}, ${hn} = torch.gru(${x}, ${h0}, [${tensors.map((t) => `${m}.${t}`).join(', ')}], True, ${layers}, 0.0, False, ${g.bidirectional ? 'True' : 'False'}, True)`);
    if ((g.output ?? 'last') === 'sequence') return this.assign(node, y, false);
    const top = layers * dirs;
    return this.assign(node, dirs === 1 ? `${hn}[${top - 1}]` : `torch.cat([${hn}[${top - 2}], ${hn}[${top - 1}]], 1)`, false);
  }

  /** Dynamic int8 GRU: per layer and direction, all input projections in one linear_dynamic, then the recurrence. */
  quantGru(node: GraphNode & { op: 'qgru' }, x: string): void {
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
          packs.push({ name: `_packed_${kind}_l${l}${s}`, kind: 'linear', weight: `${node.name}.w_${kind}_l${l}${s}`, scale: `${node.name}.w_${kind}_scale_l${l}${s}`, bias: `${node.name}.b_${kind}_l${l}${s}`, perChannel, engine });
        }
      }
    }
    const m = this.module(node, [], packs);
    this.usesGruHelper = true;
    const seq = this.names.take(`${node.name}_input`);
    const B = this.names.take(`${node.name}_batch`);
    const T = this.names.take(`${node.name}_steps`);
    this.emit(`${seq} = ${x}.contiguous()`);
    this.emit(`${B} = ${seq}.size(0)`);
    this.emit(`${T} = ${seq}.size(1)`);
    let finals: string[] = [];
    for (let l = 0; l < layers; l++) {
      const inSize = l === 0 ? g.inputSize : H * dirs;
      const outs: string[] = [];
      finals = [];
      (dirs === 2 ? ['', '_reverse'] : ['']).forEach((s, d) => {
        const gi = this.names.take(`${node.name}_gi_l${l}${s}`);
        const o = this.names.take(`${node.name}_out_l${l}${s}`);
        const h = this.names.take(`${node.name}_h_l${l}${s}`);
        this.emit(`${gi} = quantized.linear_dynamic(${seq}.reshape([-1, ${inSize}]), ${m}._packed_ih_l${l}${s}, False).view([${B}, ${T}, ${3 * H}])`);
        this.emit(`${o}, ${h} = self._int8_gru_direction(${gi}, ${m}._packed_hh_l${l}${s}, ${H}, ${d === 1 ? 'True' : 'False'})`);
        outs.push(o);
        finals.push(h);
      });
      this.emit(`${seq} = ${outs.length === 1 ? outs[0] : `torch.cat([${outs.join(', ')}], 2)`}`);
    }
    this.int8.gru.push(node.name);
    if ((g.output ?? 'last') === 'sequence') return this.assign(node, seq, false);
    return this.assign(node, finals.length === 1 ? finals[0]! : `torch.cat([${finals.join(', ')}], 1)`, false);
  }

  quantLayer(node: GraphNode & { op: 'qlinear' | 'qconv1d' | 'qconv2d' }, x: string, inQuantized: boolean): void {
    const q: QuantAttrs = node.attrs;
    const kind = node.op === 'qlinear' ? 'linear' : node.op === 'qconv2d' ? 'conv2d' : 'conv1d';
    const pack: PackPlan = {
      name: '_packed_params', kind, weight: `${node.name}.qweight`, scale: `${node.name}.wscale`, bias: `${node.name}.bias`,
      perChannel: q.perChannel !== false, engine: q.engine ?? 'onednn',
    };
    let subsample: number[] | undefined;
    if (kind !== 'linear') {
      const dims = kind === 'conv2d' ? 2 : 1;
      const c = node.attrs as { kernelSize: number | [number, number]; stride?: number | [number, number]; padding?: number | [number, number] | 'same'; dilation?: number; groups?: number };
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
    const m = this.module(node, [], [pack]);
    if (q.dynamic) {
      const input = inQuantized ? `${x}.dequantize()` : x;
      const y = `quantized.linear_dynamic(${input}.contiguous(), ${m}._packed_params, False)`;
      this.int8.dynamic.push(node.name);
      return this.assign(node, q.relu ? `torch.relu(${y})` : y, false);
    }
    let input = inQuantized ? x : `torch.quantize_per_tensor(${x}, ${float(q.inScale ?? 1)}, ${q.inZeroPoint ?? 0}, ${QUINT8})`;
    if (subsample) input = `${input}[:, :, ${subsample.map((st) => `::${st}`).join(', ')}].contiguous()`;
    this.int8.static.push(node.name);
    return this.assign(node, `quantized.${kind}${q.relu ? '_relu' : ''}(${input}, ${m}._packed_params, ${float(q.outScale ?? 1)}, ${q.outZeroPoint ?? 0})`, true);
  }
}

// The int8 GRU recurrence of one direction: h quantized per tensor at run time and multiplied with the int8 hidden
// weights (quantized::linear_dynamic, b_hh included), then torch's gates r, z, n. Returns (states [B, T, H], final h).
const GRU_HELPER = `
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

/** The TorchScript source and module plan of a petra spec; `buffers`: the petra names of its buffers. */
export function torchScriptPlan(spec: ModelSpec, buffers: Set<string>): TorchScriptPlan & { int8: TorchScriptExportReport['int8'] } {
  assertExportable(spec, 'TorchScript');
  const w = new SourceWriter(buffers);
  const args = spec.inputs.map((inp) => {
    const local = w.names.take(inp.name);
    w.values.set(inp.name, { expr: local, quantized: false });
    return `${local}: Tensor`;
  });
  for (const node of topologicalOrder(spec)) w.node(node);
  w.emit(`return ${w.float(spec.output)}`);
  const forward = `def forward(self, ${args.join(', ')}) -> Tensor:\n${w.lines.join('\n')}\n`;
  const source = `${forward}${w.usesGruHelper ? GRU_HELPER : ''}`;
  const className = (spec.name ?? 'PetraModel').replace(/[^A-Za-z0-9_]/g, '_').replace(/^(?=[0-9])/, '_') || 'PetraModel';
  return { className, source, modules: w.modules, int8: w.int8 };
}

/**
 * Writes the model as TorchScript to `path` and, unless `verify: false`, loads the file back through
 * TorchScriptModel and compares it with the model on a seeded batch (NumericError beyond the tolerance; the file
 * is removed then). The model is untouched.
 */
export async function saveTorchScript(model: Model, path: string, options: TorchScriptExportOptions = {}): Promise<TorchScriptExportReport> {
  const spec = model.spec;
  const params = model.native.parameters();
  const plan = torchScriptPlan(spec, new Set(params.filter((p) => p.buffer).map((p) => p.name)));
  const { bytes } = await binding().saveTorchScript(model.native, { className: plan.className, source: plan.source, modules: plan.modules, path });
  const shapes = inferShapes(spec);
  const tensors = plan.modules.flatMap((m) => m.tensors);
  const quantized = plan.int8.static.length + plan.int8.dynamic.length + plan.int8.gru.length > 0;
  const notes: string[] = [];
  if (plan.int8.gru.length) notes.push(`int8 GRU ${plan.int8.gru.join(', ')}: the recurrence is a TorchScript loop calling quantized::linear_dynamic per step (petra's 'linear_dynamic' recurrence; its fused loop agrees to ~1e-7 per step)`);
  if (quantized) {
    const engines = [...new Set(spec.nodes.filter((n) => n.op.startsWith('q')).map((n) => (n.attrs as QuantAttrs).engine ?? 'onednn'))];
    notes.push(`int8 layers hold PyTorch's packed parameters, repacked by torch.jit.load for the quantized engine active then: set torch.backends.quantized.engine = '${engines.join("' / '")}' (petra's engine) before loading for petra's exact outputs; they run on the CPU`);
  }
  const report: TorchScriptExportReport = {
    format: 'torchscript', bytes, libtorch: binding().info().libtorchVersion,
    inputs: spec.inputs.map((i) => ({ name: i.name, dtype: i.dtype, shape: ['batch', ...i.shape] })),
    output: { shape: ['batch', ...shapes.get(spec.output)!] },
    modules: plan.modules.length, parameters: tensors.filter((t) => t.parameter).length, buffers: tensors.filter((t) => !t.parameter).length,
    packed: plan.modules.reduce((n, m) => n + m.packs.length, 0), int8: plan.int8, notes,
  };
  if (options.verify === false) return report;
  try {
    const rows = options.checkBatch ?? 8;
    const inputs = checkInputs(spec, rows, options.seed ?? 1);
    const expected = await model.forward(inputs);
    let got;
    {
      using script = TorchScriptModel.load(path);
      got = script.native.forward(inputs);
    }
    const diff = maxAbsDiff(expected, got);
    const tolerance = options.tolerance ?? (quantized ? outputStep(spec, expected.data) : 1e-5);
    report.check = { samples: rows, maxAbsDiff: diff, tolerance };
    if (!(diff <= tolerance)) throw new NumericError(`the TorchScript written to '${path}' differs from the petra model by ${diff.toExponential(3)} (tolerance ${tolerance.toExponential(3)})`);
    return report;
  } catch (error) {
    rmSync(path, { force: true });
    throw error;
  }
}

/**
 * One quantization step of an int8 model's output: the output scale of a static int8 output layer, else 1/255 of the
 * outputs' range (float outputs downstream of int8 layers inherit their rounding).
 */
function outputStep(spec: ModelSpec, out: ArrayLike<number>): number {
  const node = spec.nodes.find((n) => n.name === spec.output);
  const a = node?.attrs as { outScale?: number; dynamic?: boolean } | undefined;
  if (a?.outScale !== undefined && a.dynamic !== true) return a.outScale * (1 + 1e-6);
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < out.length; i++) { lo = Math.min(lo, out[i]!); hi = Math.max(hi, out[i]!); }
  return Math.max((hi - lo) / 255, 1e-5);
}
