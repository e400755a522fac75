/**
 * Shared pieces of the fuzz tests (test/fuzz/*.test.ts; see test/README.md).
 *
 * Seed policy: a fixed seed by default, so `npm test` is deterministic; FUZZ_SEED=<int> (or FUZZ_SEED=random) and
 * FUZZ_RUNS=<n> (runs per property) explore further. A failure prints the seed and the shrunk counterexample.
 */
import type { ExecutionContext } from 'ava';
import fc from 'fast-check';
import { ConfigError, PetraError } from '../../lib/core/errors.js';

const seedEnv = process.env.FUZZ_SEED;
export const FUZZ_SEED =
  seedEnv === 'random' ? Math.floor(Math.random() * 2 ** 31) : seedEnv ? Number(seedEnv) : 20_240_612;
const runsEnv = process.env.FUZZ_RUNS ? Math.max(1, Math.round(Number(process.env.FUZZ_RUNS))) : undefined;

/** fast-check parameters: the fixed (or FUZZ_SEED) seed and `numRuns` runs unless FUZZ_RUNS overrides it. */
export function fuzz<T = unknown>(numRuns: number): fc.Parameters<T> {
  return { seed: FUZZ_SEED, numRuns: runsEnv ?? numRuns, verbose: 1, includeErrorInReport: true };
}

/** A call that takes longer than this is reported as a hang. */
export const SLOW_MS = 3000;

export type Outcome<T> = { ok: true; value: T } | { ok: false; error: PetraError };

function checkThrown(error: unknown, ms: number): PetraError {
  if (!(error instanceof PetraError)) {
    const e = error as Error;
    throw new Error(`not a PetraError: ${e?.constructor?.name ?? typeof e}: ${e?.message ?? String(e)}`, {
      cause: error,
    });
  }
  if (ms > SLOW_MS) throw new Error(`took ${ms.toFixed(0)} ms before throwing (hang?): ${error.message.slice(0, 200)}`);
  return error;
}

/** Runs `fn`: a value, or a PetraError; anything else thrown (TypeError, RangeError, …) or a slow call fails. */
export function attempt<T>(fn: () => T): Outcome<T> {
  const t0 = performance.now();
  let value: T;
  try {
    value = fn();
  } catch (error) {
    return { ok: false, error: checkThrown(error, performance.now() - t0) };
  }
  const ms = performance.now() - t0;
  if (ms > SLOW_MS) throw new Error(`took ${ms.toFixed(0)} ms (hang?)`);
  return { ok: true, value };
}

/** `attempt` for async calls. */
export async function attemptAsync<T>(fn: () => Promise<T>): Promise<Outcome<T>> {
  const t0 = performance.now();
  let value: T;
  try {
    value = await fn();
  } catch (error) {
    return { ok: false, error: checkThrown(error, performance.now() - t0) };
  }
  const ms = performance.now() - t0;
  if (ms > SLOW_MS) throw new Error(`took ${ms.toFixed(0)} ms (hang?)`);
  return { ok: true, value };
}

/** Throws (failing the property) unless `cond`. */
export function check(cond: unknown, what: string): asserts cond {
  if (!cond) throw new Error(`invariant violated: ${what}`);
}

/** A ConfigError must carry a non-empty path that its message starts with. */
export function checkConfigPath(e: PetraError): void {
  if (e instanceof ConfigError) {
    check(typeof e.path === 'string' && e.path.length > 0, `ConfigError without a path: ${e.message}`);
    check(e.message.startsWith(`${e.path}: `), `ConfigError message does not name its path: ${e.message}`);
  }
}

/** One explicit bad-input case: `expect` is a regex the error message must match, or 'ok' for inputs that must work. */
export interface Case<I> {
  readonly id: string;
  readonly input: I;
  readonly expect: RegExp | 'ok';
  /** The error class expected (default: any PetraError). */
  readonly error?: new (...args: never[]) => PetraError;
}

/** Runs a table of cases through `run`, asserting each gives the expected outcome. Returns how many ran. */
export function runCases<I, T>(
  t: ExecutionContext,
  cases: readonly Case<I>[],
  run: (input: I) => T,
  validate?: (value: T, c: Case<I>) => void,
): number {
  const ids = new Set<string>();
  for (const c of cases) {
    t.false(ids.has(c.id), `duplicate case id ${c.id}`);
    ids.add(c.id);
    let out: Outcome<T>;
    try {
      out = attempt(() => run(c.input));
    } catch (error) {
      t.fail(`${c.id}: ${(error as Error).message}`);
      continue;
    }
    if (c.expect === 'ok') {
      if (!out.ok) t.fail(`${c.id}: expected a result, got ${out.error.name}: ${out.error.message}`);
      else validate?.(out.value, c);
    } else if (out.ok) {
      t.fail(`${c.id}: expected an error matching ${c.expect}, got a result`);
    } else {
      t.regex(out.error.message, c.expect, c.id);
      if (c.error) t.true(out.error instanceof c.error, `${c.id}: ${out.error.name} is not a ${c.error.name}`);
      checkConfigPath(out.error);
    }
  }
  return cases.length;
}

/** Counts results and errors of a property, so a test can show its inputs reach both (the fuzz is not vacuous). */
export class Tally {
  ok = 0;
  failed = 0;
  readonly reasons = new Map<string, number>();
  add<T>(out: Outcome<T>): Outcome<T> {
    if (out.ok) {
      this.ok++;
    } else {
      this.failed++;
      // the message with file names, numbers and quoted values blanked: a rough "kind of error"
      const kind = out.error.message
        .replace(/\S*\.(csv|ts|idx|gz)\S*|\d+|'[^']*'|"[^"]*"|\[[^\]]*\]/g, '_')
        .slice(0, 60);
      this.reasons.set(kind, (this.reasons.get(kind) ?? 0) + 1);
    }
    return out;
  }
  /** Both outcomes occurred (skipped when FUZZ_RUNS asks for very few runs). */
  assertBoth(t: ExecutionContext): void {
    if (runsEnv !== undefined && runsEnv < 50) return;
    t.true(this.ok > 0, `no input gave a result (${this.failed} errors)`);
    t.true(this.failed > 0, `no input gave an error (${this.ok} results)`);
    const top = [...this.reasons]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 4)
      .map(([k, n]) => `${n}× ${k}`);
    t.log(`${this.ok} results, ${this.failed} PetraErrors (${this.reasons.size} kinds; most: ${top.join(' | ')})`);
  }
}
