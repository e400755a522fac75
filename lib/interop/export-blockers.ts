/**
 * What neither ONNX nor TorchScript export can write, for the same reasons: half-precision layers (a CUDA quantization
 * plan), fake-quantized layers (quantization-aware training in progress) and int8 layers of engine 'intmm' (per-row
 * run-time activation scales, a CUDA recipe with no CPU kernel format to carry it).
 */
import { ConfigError } from '../core/errors.js';
import type { GraphNode, ModelSpec } from '../graph/types.js';

/** Why a node cannot be exported, or undefined. */
function blocker(node: GraphNode): string | undefined {
  const a = node.attrs as { dtype?: string; fakeQuant?: boolean; engine?: string };
  if (a.dtype !== undefined)
    return `runs in ${a.dtype} (a CUDA quantization plan): export the float model, or quantize it on the CPU`;
  if (a.fakeQuant) return 'is fake-quantized (quantization-aware training in progress): quantize() the model first';
  if (a.engine === 'intmm')
    return "is an int8 layer of engine 'intmm' (per-row run-time activation scales): quantize with a CPU engine (onednn, qnnpack) to export";
  return undefined;
}

/** The nodes that cannot be exported, each with its reason (empty when the model exports). */
export function exportBlockers(spec: ModelSpec): { node: string; op: string; reason: string }[] {
  const out: { node: string; op: string; reason: string }[] = [];
  for (const n of spec.nodes) {
    const reason = blocker(n);
    if (reason) out.push({ node: n.name, op: n.op, reason });
  }
  return out;
}

/** Throws one ConfigError listing every node that cannot be exported to `format`. */
export function assertExportable(spec: ModelSpec, format: string): void {
  const blocked = exportBlockers(spec);
  if (blocked.length)
    throw new ConfigError(
      `cannot export to ${format}: ${blocked.map((b) => `node '${b.node}' (${b.op}) ${b.reason}`).join('; ')}`,
      'model',
    );
}
