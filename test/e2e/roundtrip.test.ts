// The README's round trip through the CLI, as a user runs it: a TorchScript model made in PyTorch (the InceptionTime
// fixture) is searched on GunPoint, the best-quality front member is exported as ONNX and as TorchScript, and both files
// reproduce the accuracy the study measured — in onnxruntime-node and in PyTorch's loader — then `petra bench`
// compares the user's model with the exported one on this host.
import test from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OnnxModel } from '../../lib/interop/onnx-runtime.js';
import { TorchScriptModel } from '../../lib/lab/benchmark.js';
import { normalizeConfig } from '../../lib/pipeline/config.js';
import { resolveProblem } from '../../lib/pipeline/problem.js';
import { UCR_DIR } from '../helpers/tiny.js';
import { accuracy, argmaxRows } from '../interop/helpers.js';
import { runPetra } from './helpers/procs.js';
import { tempDir } from './helpers/tiny.js';

const petra = (cwd: string, args: string[]) => runPetra(cwd, args, { timeoutMs: 300_000 });
const fixture = fileURLToPath(new URL('../fixtures/torchscript/inception-time.pt', import.meta.url));

test('search --model model.pt → export best --format onnx|torchscript → the files keep the measured accuracy → bench', async (t) => {
  const dir = tempDir('roundtrip');
  const data = join(UCR_DIR, 'GunPoint_TRAIN.ts');
  const common = ['--study-dir', join(dir, 'studies')];
  const search = await petra(dir, [
    'search',
    '--model',
    fixture,
    '--data',
    data,
    '--name',
    'mine',
    '--budget',
    '4evals',
    '--population',
    '2',
    '--seed',
    '3',
    '--stages',
    'quantize',
    '--max-epochs',
    '1',
    '--baseline-epochs',
    '15',
    '--time-cap',
    '100',
    '--cache-dir',
    join(dir, 'cache'),
    '--no-report',
    '--quiet',
    ...common,
  ]);
  t.is(search.status, 0, search.stderr);

  const onnxDir = join(dir, 'petra-out', 'mine');
  const exported = await petra(dir, [
    'export',
    'mine',
    'best',
    '--format',
    'onnx',
    '--out',
    onnxDir,
    '--json',
    ...common,
  ]);
  t.is(exported.status, 0, exported.stderr);
  const r = JSON.parse(exported.stdout) as { onnx: string; lineage: string };
  const lineage = JSON.parse(readFileSync(r.lineage, 'utf8')) as {
    trial: number;
    measurements: { test: { accuracy: number; samples: number } };
  };
  const scriptDir = join(dir, 'petra-out', 'mine-ts');
  const asScript = await petra(dir, [
    'export',
    'mine',
    'best',
    '--format',
    'torchscript',
    '--out',
    scriptDir,
    ...common,
  ]);
  t.is(asScript.status, 0, asScript.stderr);
  t.regex(asScript.stdout, new RegExp(`exported trial ${lineage.trial} \\(the best on the Pareto front\\) to`));
  const scriptFile = join(scriptDir, 'model.torchscript.pt');
  t.true(existsSync(scriptFile));

  // The study's test split, as the search built it, through onnxruntime and through the TorchScript file.
  const { dataset } = resolveProblem(normalizeConfig({ data: { format: 'ucr', path: data }, model: fixture }));
  t.is(dataset.test.target.shape[0], lineage.measurements.test.samples);
  using onnx = await OnnxModel.load(r.onnx);
  const onnxAccuracy = accuracy(argmaxRows(await onnx.forward(dataset.test.inputs)), dataset.test.target);
  using script = TorchScriptModel.load(scriptFile);
  const scriptAccuracy = accuracy(argmaxRows(script.native.forward(dataset.test.inputs)), dataset.test.target);
  t.log(
    `trial ${lineage.trial}: measured ${lineage.measurements.test.accuracy}, onnxruntime ${onnxAccuracy}, TorchScript ${scriptAccuracy}`,
  );
  t.true(
    Math.abs(onnxAccuracy - lineage.measurements.test.accuracy) <= 0.005,
    `onnxruntime ${onnxAccuracy} vs measured ${lineage.measurements.test.accuracy}`,
  );
  t.is(scriptAccuracy, lineage.measurements.test.accuracy);
  t.true(scriptAccuracy > 0.7, `the winner is a trained classifier (${scriptAccuracy})`);

  // The user's model against the winner, both runtimes, one host.
  const bench = await petra(dir, [
    'bench',
    fixture,
    r.onnx,
    scriptFile,
    '--input',
    '1x1x150',
    '--batch',
    '1',
    '--time-cap',
    '100',
    '--json',
  ]);
  t.is(bench.status, 0, bench.stderr);
  const b = JSON.parse(bench.stdout) as { models: { kind: string }[]; comparisons: { ratio: number }[] };
  t.deepEqual(
    b.models.map((m) => m.kind),
    ['torchscript', 'onnx', 'torchscript'],
  );
  t.is(b.comparisons.length, 2);
  t.true(b.comparisons.every((c) => c.ratio > 0));
});
