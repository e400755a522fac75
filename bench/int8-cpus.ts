// bench/int8-cpus: what int8 is worth per kind of CPU, from bench/compression runs on each (one JSON per kind).
// The table in README's "int8 on your CPU" comes from here. Each input is a bench/compression JSON; its host record
// says which int8 scheme ran (weight bits, oneDNN ISA, kernel clone).
// Usage: node --import=tsx bench/int8-cpus.ts [bench/results/compression.json bench/results/compression-avx2.json …]
//        [--out bench/results/int8-cpus]
import { readFileSync, writeFileSync } from 'node:fs';
import { markdownTable } from './lib/stats.js';

interface Row {
  name: string;
  accuracy: number;
  change: { latencyB1: number; latencyB64: number; accuracyPoints: number };
}
interface Run {
  date: string;
  host: { cpu: string; int8?: { weightBits: number; oneDnnIsa: string; kernelIsa: string; cpuFlags: string[] } };
  env?: Record<string, string>;
  byThreads: {
    threads: number;
    suites: { key: string; title: string; rows: Row[] }[];
    targets: { target: string; value: number; measured: string }[];
  }[];
}

const args = process.argv.slice(2);
const outIndex = args.indexOf('--out');
const out = outIndex >= 0 ? args[outIndex + 1]! : 'bench/results/int8-cpus';
const files = args.filter((a, i) => !a.startsWith('--') && (outIndex < 0 || i !== outIndex + 1));
const inputs = files.length ? files : ['bench/results/compression.json', 'bench/results/compression-avx2.json'];

const pct = (v: number) => `${v > 0 ? '+' : ''}${v.toFixed(1)}%`;
const rows: string[][] = [];
const json: unknown[] = [];
for (const file of inputs) {
  const run = JSON.parse(readFileSync(file, 'utf8')) as Run;
  const t = run.byThreads.find((b) => b.threads === 2) ?? run.byThreads[0]!;
  const target = (re: RegExp) => t.targets.find((x) => re.test(x.target));
  const row = (suite: string, name: string) => t.suites.find((s) => s.key === suite)?.rows.find((r) => r.name === name);
  const i8 = run.host.int8;
  const kind = i8
    ? `${i8.oneDnnIsa || 'oneDNN ?'} · ${i8.weightBits}-bit weights · ${i8.kernelIsa} kernels`
    : 'VNNI · 8-bit weights (before int8 schemes were recorded)';
  const entry = {
    file,
    date: run.date,
    cpu: run.host.cpu,
    kind,
    threads: t.threads,
    linearStatic: target(/static Linear/)?.value,
    linearDynamic: target(/dynamic Linear/)?.value,
    cnnStatic: row('smallCnn', 'int8 static')?.change,
    resnetStatic: row('resnet20', 'int8 static')?.change,
  };
  json.push(entry);
  const fmt = (c?: Row['change']) =>
    c
      ? `${pct(c.latencyB1)} / ${pct(c.latencyB64)} (${c.accuracyPoints >= 0 ? '+' : ''}${c.accuracyPoints.toFixed(2)} pt)`
      : '—';
  rows.push([
    kind,
    file.replace(/^bench\/results\//, ''),
    entry.linearStatic ? `${entry.linearStatic.toFixed(2)}×` : '—',
    entry.linearDynamic ? `${entry.linearDynamic.toFixed(2)}×` : '—',
    fmt(entry.cnnStatic),
    fmt(entry.resnetStatic),
  ]);
}
const header = [
  'CPU as oneDNN runs it',
  'source',
  'int8 static Linear 1024² b64 vs fp32',
  'dynamic',
  'small CNN static int8: latency b1 / b64 (acc.)',
  'ResNet-20 static int8: latency b1 / b64 (acc.)',
];
const md = markdownTable(header, rows);
console.log(md);
writeFileSync(
  `${out}.json`,
  JSON.stringify({ bench: 'int8-cpus', date: new Date().toISOString(), inputs: json }, null, 2) + '\n',
);
writeFileSync(
  `${out}.md`,
  `# int8 per kind of CPU\n\nFrom \`node --import=tsx bench/int8-cpus.ts ${inputs.join(' ')}\` (2 LibTorch threads; latency change vs the fp32 baseline by interleaved compare(); accuracy on the Fashion-MNIST test set).\n\n${md}\n`,
);
