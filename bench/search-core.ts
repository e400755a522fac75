/**
 * Search-core benchmark: non-dominated sort + crowding (10,000 points × 4 objectives), exact hypervolume
 * (200 points × 4 objectives), and one generation's overhead at population 100 (selection, variation, survival;
 * the evaluator is free). Median of several runs. Writes bench/results/search-core.json and prints a table.
 * Run: node --import=tsx bench/search-core.ts
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import { PipelineSpace, type PipelineGenome } from '../lib/genome/index.js';
import { crowdingDistance, hypervolume, nonDominatedSort, Rng, Study, zdt1 } from '../lib/search/index.js';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}
function time(runs: number, setup: () => () => void): number[] {
  const out: number[] = [];
  for (let r = 0; r < runs; r++) {
    const fn = setup();
    const t0 = performance.now();
    fn();
    out.push(performance.now() - t0);
  }
  return out;
}

const rng = new Rng('bench');
const randomPoints = (n: number, m: number): number[][] =>
  Array.from({ length: n }, () => Array.from({ length: m }, () => rng.random()));
const spherePoints = (n: number, m: number): number[][] =>
  Array.from({ length: n }, () => {
    const v = Array.from({ length: m }, () => Math.abs(rng.normal()));
    const norm = Math.hypot(...v);
    return v.map((x) => x / norm);
  });

const results: Record<string, { medianMs: number; runs: number; minMs: number; maxMs: number; note: string }> = {};
function record(name: string, samples: number[], note: string): void {
  results[name] = {
    medianMs: median(samples),
    runs: samples.length,
    minMs: Math.min(...samples),
    maxMs: Math.max(...samples),
    note,
  };
}

// Warm-up so the JIT has compiled the hot loops.
for (let i = 0; i < 3; i++) {
  const p = randomPoints(10_000, 4);
  for (const f of nonDominatedSort(p)) crowdingDistance(p, f);
}

record(
  'sort+crowding 10000×4 (uniform random)',
  time(9, () => {
    const p = randomPoints(10_000, 4);
    return () => {
      for (const f of nonDominatedSort(p)) crowdingDistance(p, f);
    };
  }),
  'divide-and-conquer sort + crowding distance, target < 50 ms',
);

record(
  'sort+crowding 10000×4 (one front: sphere)',
  time(5, () => {
    const p = spherePoints(10_000, 4);
    return () => {
      for (const f of nonDominatedSort(p)) crowdingDistance(p, f);
    };
  }),
  'all points mutually non-dominated (ENS-BS, the sort before, took ~227 ms here), target < 50 ms',
);

record(
  'hypervolume 200×4 (sphere front)',
  time(9, () => {
    const p = spherePoints(200, 4);
    return () => {
      hypervolume(p, [1.1, 1.1, 1.1, 1.1]);
    };
  }),
  'WFG, exact',
);

record(
  'hypervolume 200×3 (sphere front)',
  time(9, () => {
    const p = spherePoints(200, 3);
    return () => {
      hypervolume(p, [1.1, 1.1, 1.1]);
    };
  }),
  'WFG, exact',
);

const problem = zdt1();
record(
  'generation overhead, population 100, real vectors (ZDT1)',
  time(9, () => {
    const study = Study.open({
      space: problem.space,
      objectives: [
        { name: 'f1', direction: 'min' },
        { name: 'f2', direction: 'min' },
      ],
      populationSize: 100,
      seed: 1,
    });
    for (let i = 0; i < 300; i++) {
      const t = study.ask()!;
      study.tell(t.number, { objectives: problem.evaluate(t.genome) });
    }
    return () => {
      for (let i = 0; i < 100; i++) {
        const t = study.ask()!;
        study.tell(t.number, { objectives: problem.evaluate(t.genome) });
      }
    };
  }),
  '100 ask/tell with an instant evaluator: SBX+polynomial mutation, NSGA-II survival, in-memory storage',
);

const space = new PipelineSpace();
record(
  'generation overhead, population 100, pipeline genome',
  time(9, () => {
    const study = Study.open<PipelineGenome>({
      space,
      objectives: [
        { name: 'size', direction: 'min' },
        { name: 'acc', direction: 'max' },
      ],
      populationSize: 100,
      seed: 1,
    });
    const evaluate = (g: PipelineGenome): number[] => [g.stages.length + rng.random(), rng.random()];
    for (let i = 0; i < 300; i++) {
      const t = study.ask()!;
      study.tell(t.number, { objectives: evaluate(t.genome) });
    }
    return () => {
      for (let i = 0; i < 100; i++) {
        const t = study.ask()!;
        study.tell(t.number, { objectives: evaluate(t.genome) });
      }
    };
  }),
  '100 ask/tell: pipeline mutation/crossover + repair + hashing, NSGA-II survival',
);

const out = {
  date: new Date().toISOString(),
  node: process.version,
  cpu: os.cpus()[0]?.model ?? 'unknown',
  cores: os.cpus().length,
  results,
};
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
writeFileSync(new URL('./results/search-core.json', import.meta.url), JSON.stringify(out, null, 2) + '\n');
console.table(
  Object.fromEntries(
    Object.entries(results).map(([k, v]) => [
      k,
      {
        'median ms': Number(v.medianMs.toFixed(2)),
        'min ms': Number(v.minMs.toFixed(2)),
        'max ms': Number(v.maxMs.toFixed(2)),
        runs: v.runs,
      },
    ]),
  ),
);
