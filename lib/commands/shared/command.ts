/** What every lib/commands module gives the CLI: a function that declares its command on the program. */
import type { Command } from 'commander';

export interface CliContext {
  /**
   * Wraps an action that returns an exit code (search, demo, resume: 130 when stopped by Ctrl-C) so that `main`
   * returns it; actions that only throw or succeed need no wrapping.
   */
  withCode<A extends unknown[]>(fn: (...args: A) => Promise<number>): (...args: A) => Promise<void>;
}

/** Adds one command (its arguments, flags, description and action) to `program`. */
export type RegisterCommand = (program: Command, ctx: CliContext) => void;
