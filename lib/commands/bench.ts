import { binding } from '../binding.js';
import { ConfigError } from '../errors.js';
import { benchmark, parseInputShape, TorchScriptModel, type BenchmarkReport } from '../lab/benchmark.js';
import { Model } from '../model.js';

export interface BenchCommandOptions { input?: string[]; device: string; batch?: string; timeCap: string; cudaGraph?: boolean; json?: boolean }

function isPetraModel(path: string): boolean {
  try {
    binding().readModelSpec(path);
    return true;
  } catch {
    return false;
  }
}

export function formatReport(r: BenchmarkReport): string {
  const lines = [`device ${r.device}${r.cudaGraph ? ' (CUDA-graph replays)' : ''} · ${r.host.cpu} · ${r.host.threads} threads · LibTorch ${r.host.libtorch}${r.host.cuda ? ` · ${r.host.cuda.device}` : ''}`];
  lines.push('batch   median ms   95% CI ms            p5      p95     p99     MAD     iters  throughput/s');
  for (const b of r.batches) {
    lines.push([
      String(b.batchSize).padEnd(7), b.medianMs.toFixed(4).padEnd(11), `${b.ciLowMs.toFixed(4)}–${b.ciHighMs.toFixed(4)}`.padEnd(20),
      b.p5Ms.toFixed(3).padEnd(7), b.p95Ms.toFixed(3).padEnd(7), b.p99Ms.toFixed(3).padEnd(7), b.madMs.toFixed(3).padEnd(7),
      String(b.iterations).padEnd(6), b.throughput.toFixed(1),
    ].join(' '));
  }
  return lines.join('\n');
}

/** `petra bench <model>`: a TorchScript .pt (with --input) or a petra model file. */
export async function runBenchCommand(path: string, opts: BenchCommandOptions): Promise<void> {
  const timeCapMs = Number(opts.timeCap);
  if (!(timeCapMs > 0)) throw new ConfigError('must be a positive number of milliseconds', 'time-cap');
  const extraBatches = opts.batch ? opts.batch.split(',').map((b) => Number(b)) : [];
  const graph = opts.cudaGraph ? { cudaGraph: true } : {};
  let report: BenchmarkReport;
  if (isPetraModel(path)) {
    using model = await Model.load(path, { device: opts.device });
    report = await benchmark(model, { batchSizes: extraBatches.length ? extraBatches : [1, 64], timeCapMs, ...graph });
  } else {
    if (!opts.input?.length) throw new ConfigError('a TorchScript model needs --input NxCxHxW (batch first), once per input', 'input');
    const parsed = opts.input.map(parseInputShape);
    using script = TorchScriptModel.load(path, { device: opts.device });
    const batches = extraBatches.length ? extraBatches : [parsed[0]!.batch];
    report = await script.benchmark(parsed.map((p) => p.shape), { batchSizes: batches, timeCapMs, ...graph });
  }
  console.log(opts.json ? JSON.stringify(report, null, 2) : formatReport(report));
}
