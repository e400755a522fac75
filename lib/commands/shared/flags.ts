/**
 * Flags several commands declare with the same words, defined once so their help cannot drift apart, and the
 * option sets the study commands (search, demo, resume) have in common.
 */
import { InvalidArgumentError, type Command } from 'commander';

/** A commander flag as `.option()` takes it: flags, description, default. */
export type Flag = readonly [flags: string, description: string, defaultValue?: string];

export const STUDY_DIR: Flag = ['--study-dir <dir>', 'where study files live', 'studies'];
export const CACHE_DIR: Flag = ['--cache-dir <dir>', 'baseline cache (default petra-out/cache)'];
export const DEVICE: Flag = ['--device <device>', 'cpu or cuda:N', 'cpu'];
export const PRINT_JSON: Flag = ['--json', 'print JSON'];
export const QUIET: Flag = ['--quiet', 'no progress output'];
export const SEED: Flag = ['--seed <n>', 'seed', '1'];

/** Where a study's file and its baseline cache live (search, demo). */
export const STUDY_STORE: readonly Flag[] = [STUDY_DIR, CACHE_DIR];

/** The HTML report of a study run (search, resume; the demo always writes its own). */
export const REPORT: readonly Flag[] = [
  ['--report <file>', 'HTML report path (default petra-out/<name>.html)'],
  ['--no-report', 'do not write the HTML report'],
];

/** What a study run prints (search, demo; resume's --json says less). */
export const STUDY_OUTPUT: readonly Flag[] = [['--json', 'JSON lines on stdout (events, then the result)'], QUIET];

/** Declares `flags` on `command`, in order (the order `--help` lists them in). */
export function addFlags(command: Command, flags: readonly Flag[]): Command {
  for (const flag of flags) command.option(...flag);
  return command;
}

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
  return n;
}
