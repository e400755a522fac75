/**
 * NSGA-II (and SPEA2) on standard problems. Budgets are the evaluations stated in each title; the ratio is the
 * hypervolume of the study's front over that of the true front, both against the stated reference point.
 */
import test from 'ava';
import {
  dtlz2,
  hypervolume,
  spea2,
  srn,
  Study,
  zdt1,
  zdt2,
  zdt3,
  type Selector,
  type TestProblem,
} from '../../lib/search/index.js';

function run(problem: TestProblem, evaluations: number, populationSize: number, selector?: Selector): Study<number[]> {
  const objectives = Array.from({ length: problem.objectiveCount }, (_, i) => ({
    name: `f${i + 1}`,
    direction: 'min' as const,
  }));
  const constraints = problem.constraints
    ? [
        { name: 'g1', upper: 0 },
        { name: 'g2', upper: 0 },
      ]
    : [];
  const study = Study.open({
    space: problem.space,
    objectives,
    constraints,
    populationSize,
    seed: 1,
    ...(selector ? { selector } : {}),
  });
  for (let e = 0; e < evaluations; e++) {
    const trial = study.ask()!;
    const x = trial.genome;
    study.tell(trial.number, {
      objectives: problem.evaluate(x),
      ...(problem.constraints ? { constraints: problem.constraints(x) } : {}),
    });
  }
  return study;
}

const ratio = (study: Study<number[]>, problem: TestProblem, ref: number[]): number =>
  hypervolume(
    study.front().map((m) => m.values),
    ref,
  ) / problem.trueHypervolume(ref);

for (const [make, evaluations] of [
  [zdt1, 10_000],
  [zdt2, 10_000],
  [zdt3, 10_000],
] as const) {
  const problem = make();
  test(`NSGA-II on ${problem.name} reaches ≥ 95% of the true front's hypervolume (ref 1.1,1.1) in ${evaluations} evaluations (population 40)`, (t) => {
    const r = ratio(run(problem, evaluations, 40), problem, [1.1, 1.1]);
    t.log(`${problem.name}: HV ratio ${r.toFixed(4)}`);
    t.true(r >= 0.95, `${r}`);
  });
}

test('NSGA-II on DTLZ2 (3 objectives) reaches ≥ 95% of the true hypervolume 1.1³ − π/6 (ref 1.1,1.1,1.1) in 9,000 evaluations (population 40)', (t) => {
  const problem = dtlz2(3);
  const r = ratio(run(problem, 9000, 40), problem, [1.1, 1.1, 1.1]);
  t.log(`DTLZ2: HV ratio ${r.toFixed(4)}`);
  t.true(r >= 0.95 && r <= 1 + 1e-3, `${r}`);
});

test('SPEA2 on ZDT1 reaches ≥ 95% of the true hypervolume (ref 1.1,1.1) in 10,000 evaluations (population 40)', (t) => {
  const problem = zdt1();
  const r = ratio(run(problem, 10_000, 40, spea2()), problem, [1.1, 1.1]);
  t.log(`SPEA2 ZDT1: HV ratio ${r.toFixed(4)}`);
  t.true(r >= 0.95 && r <= 1 + 1e-3, `${r}`);
});

test('constrained SRN: every front member is feasible and the front reaches ≥ 95% of the true HV (ref 250,50, 4,000 evaluations)', (t) => {
  const problem = srn();
  const study = run(problem, 4000, 40);
  const front = study.front();
  t.true(front.length > 10);
  for (const m of front) for (const g of problem.constraints!(m.genome)) t.true(g <= 0);
  const r = ratio(study, problem, [250, 50]);
  t.log(`SRN: HV ratio ${r.toFixed(4)}`);
  t.true(r >= 0.95 && r <= 1 + 1e-3, `${r}`);
});
