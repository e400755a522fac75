/** `petra report <study>`: writes the self-contained HTML report and prints the Pareto table. */
import type { Command } from 'commander';
import { loadReportData } from '../report/data.js';
import { writeReport } from '../report/html.js';
import { paretoTable, sortByQuality } from '../report/table.js';
import type { CliContext } from './shared/command.js';
import { PRINT_JSON, STUDY_DIR } from './shared/flags.js';

export interface ReportCommandOptions {
  out?: string;
  studyDir: string;
  json?: boolean;
  quiet?: boolean;
}

export function registerReport(program: Command, ctx: CliContext): void {
  program
    .command('report <study>')
    .description(
      "write a study's self-contained HTML report (Pareto fronts, candidates, hypervolume) and print its Pareto table",
    )
    .option('--out <file>', 'HTML file (default petra-out/<name>.html)')
    .option(...STUDY_DIR)
    .option(...PRINT_JSON)
    .option('--quiet', 'print only the report path')
    .action(ctx.withCode(runReportCommand));
}

export async function runReportCommand(study: string, o: ReportCommandOptions): Promise<number> {
  const data = loadReportData(study, o.studyDir);
  const file = writeReport(data, o.out ?? `petra-out/${data.name}.html`);
  const metric = data.meta.problem.metric;
  const rows = sortByQuality(
    data.pareto
      .filter((t) => t.measures)
      .map((t) => ({
        trial: t.number,
        pipeline: t.pipeline,
        measures: t.measures!,
        ...(t.heldOut !== undefined ? { heldOut: t.heldOut } : {}),
      })),
    metric,
  );
  if (o.json) {
    console.log(
      JSON.stringify({
        report: file,
        study: data.file,
        name: data.name,
        baseline: data.baseline,
        ...(data.baselineHeldOut !== undefined ? { baselineHeldOut: data.baselineHeldOut } : {}),
        objectives: data.objectives,
        front: rows,
        trials: data.trials.length,
        progress: data.progress,
      }),
    );
    return 0;
  }
  if (!o.quiet) {
    console.log(
      paretoTable(rows, {
        metric,
        baseline: data.baseline,
        ...(data.baselineHeldOut !== undefined ? { baselineHeldOut: data.baselineHeldOut } : {}),
      }),
    );
    console.log('');
  }
  console.log(`report: ${file}`);
  return 0;
}
