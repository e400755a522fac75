import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { binding } from '../runtime/binding.js';
import { ConfigError } from '../core/errors.js';
import { OnnxModel, type OnnxBenchmarkReport } from '../interop/onnx-runtime.js';
import { benchmark, parseInputShape, TorchScriptModel, type BenchmarkReport } from '../lab/benchmark.js';
import { compare, type Comparison, type Measurable } from '../lab/compare.js';
import { Model } from '../runtime/model.js';
import { DEVICE, PRINT_JSON } from './shared/flags.js';

export interface BenchCommandOptions {
  input?: string[];
  device: string;
  batch?: string;
  timeCap: string;
  cudaGraph?: boolean;
  json?: boolean;
}

export function registerBench(program: Command): void {
  program
    .command('bench <models...>')
    .description(
      'measure latency and throughput of petra model files, TorchScript .pt and ONNX files (onnxruntime-node); with several models, compare each with the first on this host (interleaved A/B)',
    )
    .option(
      '--input <shape...>',
      'input shape, batch first (e.g. 1x3x224x224); once per input (TorchScript; ONNX inputs with symbolic dimensions)',
    )
    .option(
      '--batch <sizes>',
      'batch sizes, comma-separated (overrides the batch of --input; default 1,64 with several models)',
    )
    .option(...DEVICE)
    .option('--time-cap <ms>', 'time cap per batch size', '3000')
    .option('--cuda-graph', 'CUDA: capture the forward once and time CUDA-graph replays (no CPU launch overhead)')
    .option(...PRINT_JSON)
    .action(runBenchCommand);
}

export type BenchTargetKind = 'petra' | 'torchscript' | 'onnx';

function isPetraModel(path: string): boolean {
  try {
    binding().readModelSpec(path);
    return true;
  } catch {
    return false;
  }
}

/** An ONNX file: the .onnx extension, or a protobuf whose first field is ModelProto.ir_version (tag 0x08). */
function isOnnx(path: string): boolean {
  if (/\.onnx$/i.test(path)) return true;
  try {
    const head = readFileSync(path).subarray(0, 1);
    return head[0] === 0x08;
  } catch {
    return false;
  }
}

/** What kind of model file `path` is (petra spec + weights, ONNX, else TorchScript). */
export function benchTargetKind(path: string): BenchTargetKind {
  if (isPetraModel(path)) return 'petra';
  return isOnnx(path) ? 'onnx' : 'torchscript';
}

export function formatReport(r: BenchmarkReport | OnnxBenchmarkReport): string {
  const runtime =
    'runtime' in r
      ? `onnxruntime-node ${r.runtime.version} (${r.runtime.executionProvider}, ${r.runtime.intraOpThreads} threads, optimizations ${r.runtime.graphOptimizationLevel})`
      : `${r.host.threads} threads · LibTorch ${r.host.libtorch}`;
  const lines = [
    `device ${r.device}${r.cudaGraph ? ' (CUDA-graph replays)' : ''} · ${r.host.cpu} · ${runtime}${r.host.cuda ? ` · ${r.host.cuda.device}` : ''}`,
  ];
  lines.push('batch   median ms   95% CI ms            p5      p95     p99     MAD     iters  throughput/s');
  for (const b of r.batches) {
    lines.push(
      [
        String(b.batchSize).padEnd(7),
        b.medianMs.toFixed(4).padEnd(11),
        `${b.ciLowMs.toFixed(4)}–${b.ciHighMs.toFixed(4)}`.padEnd(20),
        b.p5Ms.toFixed(3).padEnd(7),
        b.p95Ms.toFixed(3).padEnd(7),
        b.p99Ms.toFixed(3).padEnd(7),
        b.madMs.toFixed(3).padEnd(7),
        String(b.iterations).padEnd(6),
        b.throughput.toFixed(1),
      ].join(' '),
    );
  }
  if ('runtime' in r) lines.push(`note: ${r.runtime.note}`);
  return lines.join('\n');
}

interface Target {
  path: string;
  kind: BenchTargetKind;
  measurable: Measurable;
  run(batches: number[] | undefined): Promise<BenchmarkReport | OnnxBenchmarkReport>;
  dispose(): void;
}

async function openTarget(path: string, opts: BenchCommandOptions, timeCapMs: number): Promise<Target> {
  const graph = opts.cudaGraph ? { cudaGraph: true } : {};
  const kind = benchTargetKind(path);
  if (kind === 'petra') {
    const model = await Model.load(path, { device: opts.device });
    return {
      path,
      kind,
      measurable: model,
      dispose: () => model.dispose(),
      run: (batches) => benchmark(model, { batchSizes: batches ?? [1, 64], timeCapMs, ...graph }),
    };
  }
  const parsed = (opts.input ?? []).map(parseInputShape);
  // Without --batch: the batch of the first --input, else 1 and 64.
  const defaultBatches = parsed.length ? [parsed[0]!.batch] : [1, 64];
  if (kind === 'onnx') {
    if (opts.device !== 'cpu')
      throw new ConfigError(
        `ONNX models run on onnxruntime's CPU provider here (got --device ${opts.device})`,
        'device',
      );
    if (opts.cudaGraph) throw new ConfigError('--cuda-graph is for LibTorch models on a CUDA device', 'cuda-graph');
    const onnx = await OnnxModel.load(path, parsed.length ? { inputShapes: parsed.map((p) => p.shape) } : {});
    return {
      path,
      kind,
      measurable: onnx,
      dispose: () => onnx.dispose(),
      run: (batches) => onnx.benchmark({ batchSizes: batches ?? defaultBatches, timeCapMs }),
    };
  }
  const script = TorchScriptModel.load(path, { device: opts.device });
  // petra's own TorchScript exports carry their spec: their input shapes (and token ranges) need no --input.
  const stored = parsed.length ? undefined : script.inputShapes();
  if (!parsed.length && !stored) {
    script.dispose();
    throw new ConfigError(`${path}: a TorchScript model needs --input NxCxHxW (batch first), once per input`, 'input');
  }
  const shapes = stored ?? parsed.map((p) => p.shape);
  return {
    path,
    kind,
    measurable: { script, inputShapes: shapes },
    dispose: () => script.dispose(),
    run: (batches) => script.benchmark(shapes, { batchSizes: batches ?? defaultBatches, timeCapMs, ...graph }),
  };
}

export interface BenchComparison extends Comparison {
  baseline: string;
  candidate: string;
}

function formatComparison(c: BenchComparison): string {
  const pct = (r: number): string => `${r < 1 ? '' : '+'}${((r - 1) * 100).toFixed(1)}%`;
  return (
    `batch ${String(c.batchSize).padEnd(4)} ${c.candidate} vs ${c.baseline}: latency ×${c.ratio.toFixed(3)} (${pct(c.ratio)}; 95% CI ×${c.ci[0].toFixed(3)}–×${c.ci[1].toFixed(3)}) ` +
    `${c.candidateMedianMs.toFixed(4)} ms vs ${c.baselineMedianMs.toFixed(4)} ms — ${c.verdict}`
  );
}

/**
 * `petra bench <model...>`: petra model files, TorchScript .pt (with --input) and ONNX files (onnxruntime-node).
 * With several models, each is measured, then every later one is compared with the first (interleaved A/B rounds,
 * `compare()`) at each batch size, so runtimes of the same network are compared on the same host in one command.
 */
export async function runBenchCommand(paths: string | string[], opts: BenchCommandOptions): Promise<void> {
  const list = Array.isArray(paths) ? paths : [paths];
  if (!list.length) throw new ConfigError('give at least one model file', 'model');
  const timeCapMs = Number(opts.timeCap);
  if (!(timeCapMs > 0)) throw new ConfigError('must be a positive number of milliseconds', 'time-cap');
  const batches = opts.batch ? opts.batch.split(',').map((b) => Number(b)) : undefined;
  if (batches?.some((b) => !Number.isInteger(b) || b < 1))
    throw new ConfigError(`'${opts.batch}' must be positive integers, comma-separated`, 'batch');
  const targets: Target[] = [];
  try {
    for (const p of list) targets.push(await openTarget(p, opts, timeCapMs));
    // Several models: one set of batch sizes for all (--batch, else 1 and 64), so the comparison is like for like.
    const shared = batches ?? (targets.length > 1 ? [1, 64] : undefined);
    const reports: (BenchmarkReport | OnnxBenchmarkReport)[] = [];
    for (const t of targets) reports.push(await t.run(shared));
    const comparisons: BenchComparison[] = [];
    for (const t of targets.slice(1)) {
      for (const batchSize of shared ?? []) {
        comparisons.push({
          ...(await compare(targets[0]!.measurable, t.measurable, { batchSize })),
          baseline: targets[0]!.path,
          candidate: t.path,
        });
      }
    }
    if (opts.json) {
      console.log(
        JSON.stringify(
          targets.length === 1
            ? reports[0]
            : { models: targets.map((t, i) => ({ path: t.path, kind: t.kind, report: reports[i] })), comparisons },
          null,
          2,
        ),
      );
      return;
    }
    targets.forEach((t, i) => {
      if (targets.length > 1) console.log(`${i > 0 ? '\n' : ''}${t.path} (${t.kind})`);
      console.log(formatReport(reports[i]!));
    });
    if (comparisons.length) {
      console.log('\ninterleaved A/B (median of per-round latency ratios; < 1: faster than the first model)');
      for (const c of comparisons) console.log(formatComparison(c));
    }
  } finally {
    for (const t of targets) t.dispose();
  }
}
