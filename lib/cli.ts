/**
 * The `petra` command line. Each command is a thin shell over the public API and declares itself (arguments, flags,
 * action) in lib/commands/<name>.ts; `--json` prints machine-readable output for services, and errors exit non-zero
 * with one clean line.
 */
import { Command } from 'commander';
import { PetraError, serializeError } from './core/errors.js';
import { registerBench } from './commands/bench.js';
import { registerDemo } from './commands/demo.js';
import { registerExport } from './commands/export.js';
import { registerImport } from './commands/import.js';
import { registerInfo } from './commands/info.js';
import { registerReport } from './commands/report.js';
import { registerResume } from './commands/resume.js';
import { registerSearch } from './commands/search.js';
import type { CliContext, RegisterCommand } from './commands/shared/command.js';
import { registerTrain } from './commands/train.js';
import { registerWorker } from './commands/worker.js';

/** In the order `petra --help` lists them. */
const COMMANDS: readonly RegisterCommand[] = [
  registerInfo,
  registerTrain,
  registerBench,
  registerDemo,
  registerSearch,
  registerResume,
  registerWorker,
  registerImport,
  registerReport,
  registerExport,
];

/** Exit code of the last command that reports one (search, demo, resume: 130 when stopped by Ctrl-C). */
let exitCode = 0;
const context: CliContext = {
  withCode:
    (fn) =>
    async (...args) => {
      exitCode = await fn(...args);
    },
};

export function buildProgram(): Command {
  exitCode = 0;
  const program = new Command('petra')
    .description('Evolutionary search for training pipelines that make neural networks smaller and faster')
    .showHelpAfterError()
    .exitOverride();
  for (const register of COMMANDS) register(program, context);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return exitCode;
  } catch (error) {
    if (
      error &&
      typeof error === 'object' &&
      'code' in error &&
      typeof error.code === 'string' &&
      error.code.startsWith('commander.')
    ) {
      return error.code === 'commander.helpDisplayed' || error.code === 'commander.version' ? 0 : 2;
    }
    const message =
      error instanceof PetraError
        ? `${error.name}: ${error.message}`
        : String(error instanceof Error ? error.stack : error);
    console.error(`petra: ${message}`);
    // With --json the error is also one JSON line on stdout, which reviveError turns back into its class.
    if (argv.includes('--json'))
      process.stdout.write(`${JSON.stringify({ event: 'error', error: serializeError(error) })}\n`);
    return 1;
  }
}
