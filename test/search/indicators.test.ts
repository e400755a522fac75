import test from 'ava';
import { ConfigError, NumericError } from '../../lib/core/errors.js';
import { dtlz2, hypervolume, igd, igdPlus, Rng, zdt1, zdt2 } from '../../lib/search/index.js';

const close = (a: number, b: number, tol = 1e-9): boolean => Math.abs(a - b) <= tol * Math.max(1, Math.abs(b));

test('hypervolume: hand-computed 1-D, 2-D, 3-D and 4-D values', (t) => {
  t.is(hypervolume([[2], [3]], [5]), 3);
  t.is(
    hypervolume(
      [
        [1, 3],
        [2, 2],
        [3, 1],
      ],
      [4, 4],
    ),
    6,
  ); // staircase: 3 + 2 + 1
  t.is(
    hypervolume(
      [
        [1, 3],
        [2, 2],
        [3, 1],
        [3, 3],
        [2, 2],
      ],
      [4, 4],
    ),
    6,
  ); // dominated and duplicate points change nothing
  t.is(hypervolume([[5, 0]], [4, 4]), 0); // outside the reference box
  t.is(hypervolume([[0, 0, 0]], [1, 2, 3]), 6);
  // Two boxes [0,2]×[0,1]×[0,1] and [0,1]×[0,2]×[0,1] (ref 2,2,1 from points (0,1,0),(1,0,0)) overlap in a unit cube.
  t.is(
    hypervolume(
      [
        [0, 1, 0],
        [1, 0, 0],
      ],
      [2, 2, 1],
    ),
    3,
  );
  t.is(
    hypervolume(
      [
        [1, 0, 0, 0],
        [0, 1, 0, 0],
      ],
      [2, 2, 2, 2],
    ),
    8 + 8 - 4,
  );
});

test('hypervolume: ZDT1/ZDT2 and DTLZ2 dense fronts approach the closed-form values', (t) => {
  for (const p of [zdt1(), zdt2()]) {
    const hv = hypervolume(p.trueFront(5001), [1.1, 1.1]);
    t.true(hv <= p.trueHypervolume([1.1, 1.1]) && hv > 0.999 * p.trueHypervolume([1.1, 1.1]), p.name);
  }
  t.true(close(zdt1().trueHypervolume([1.1, 1.1]), 0.1 + 2 / 3 + 0.11));
  const d = dtlz2(3);
  const hv = hypervolume(d.trueFront(900), [1.1, 1.1, 1.1]);
  t.true(hv < d.trueHypervolume([1.1, 1.1, 1.1]) && hv > 0.97 * d.trueHypervolume([1.1, 1.1, 1.1]), `${hv}`);
});

test('hypervolume agrees with a Monte Carlo estimate in 3 and 4 dimensions', (t) => {
  const rng = new Rng(7);
  for (const m of [3, 4]) {
    const points = Array.from({ length: 40 }, () => Array.from({ length: m }, () => rng.random()));
    const ref = new Array<number>(m).fill(1);
    const exact = hypervolume(points, ref);
    const samples = 200_000;
    let hits = 0;
    for (let s = 0; s < samples; s++) {
      const y = Array.from({ length: m }, () => rng.random());
      if (points.some((p) => p.every((v, j) => v <= y[j]!))) hits++;
    }
    const estimate = hits / samples;
    const se = Math.sqrt((estimate * (1 - estimate)) / samples);
    t.true(Math.abs(exact - estimate) < 5 * se, `m=${m}: exact ${exact}, MC ${estimate} ± ${se}`);
  }
});

test('hypervolume rejects bad input with typed errors', (t) => {
  t.throws(() => hypervolume([[1, 2, 3]], [4, 4]), { instanceOf: ConfigError });
  t.throws(() => hypervolume([[Number.NaN, 1]], [4, 4]), { instanceOf: NumericError });
});

test('IGD and IGD+: hand-computed values', (t) => {
  const front = [
    [0, 1],
    [1, 0],
  ];
  t.is(igd(front, front), 0);
  t.is(igd([[1, 1]], front), 1);
  t.is(igdPlus([[1, 1]], front), 1);
  // A point better than the reference front in one objective: IGD+ only counts where it is worse.
  t.is(igdPlus([[0, 0.5]], [[0, 1]]), 0);
  t.is(igd([[0, 0.5]], [[0, 1]]), 0.5);
  t.throws(() => igd(front, []), { instanceOf: ConfigError });
});
