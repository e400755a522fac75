/**
 * `petra report`: one self-contained HTML file (no scripts, no external resources) — SVG Pareto fronts for each pair
 * of objectives, the table of Pareto candidates with their pipelines and changes vs the baseline, the hypervolume
 * over the evaluations, every trial (failures with their reasons) and the study's configuration and host.
 */
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { describeBudget } from '../pipeline/config.js';
import {
  describeConstraints,
  formatBytes,
  formatChange,
  formatMeasure,
  labelOf,
  type MeasureName,
} from '../pipeline/objectives.js';
import { describeHost } from '../distributed/remeasure.js';
import type { ReportData, ReportTrial } from './data.js';
import { escapeXml as esc, lineSvg, scatterSvg, type Axis, type ScatterPoint } from './svg.js';
import { sortByQuality } from './table.js';

const CSS = `
:root { --fg: #1d2330; --muted: #5d6678; --line: #d9dde5; --bg: #fbfbfd; --accent: #1f6feb; --bad: #c93c37; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); margin: 0; padding: 24px 32px 64px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 32px 0 10px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
.sub { color: var(--muted); margin: 0 0 16px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; min-width: 150px; }
.card .k { color: var(--muted); font-size: 12px; } .card .v { font-size: 18px; font-weight: 600; }
.plots { display: flex; flex-wrap: wrap; gap: 16px; }
.chart { background: #fff; border: 1px solid var(--line); border-radius: 8px; max-width: 100%; height: auto; }
.plot-bg { fill: #fff; } .grid { stroke: #eceef2; stroke-width: 1; }
.tick { font-size: 10px; fill: var(--muted); } .axis-label { font-size: 12px; fill: var(--fg); }
.pt-dominated { fill: #b7bdc8; opacity: .75; } .pt-infeasible { fill: none; stroke: var(--bad); stroke-width: 1.5; }
.pt-pareto { fill: var(--accent); stroke: #fff; stroke-width: 1.2; } .pt-baseline { fill: #111; }
.pt-label { font-size: 10px; fill: var(--accent); pointer-events: none; } /* a label never hides a neighbouring point from the pointer */
.hv { stroke: var(--accent); stroke-width: 2; } .hv-dot { fill: var(--accent); } .gen-marker { stroke: #e3e6ec; stroke-dasharray: 3 3; }
.legend { color: var(--muted); font-size: 12px; margin: 6px 0 0; }
.legend span { display: inline-flex; align-items: center; gap: 4px; margin-right: 14px; }
.sw { width: 10px; height: 10px; border-radius: 50%; display: inline-block; }
table { border-collapse: collapse; background: #fff; border: 1px solid var(--line); width: 100%; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: #f2f4f8; font-weight: 600; font-size: 12px; }
td.num { font-variant-numeric: tabular-nums; white-space: nowrap; }
.good { color: #1a7f37; } .worse { color: var(--bad); }
tr:target { background: #fff8c5; }
code, pre { font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, monospace; }
pre { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 10px; overflow: auto; max-height: 420px; }
details summary { cursor: pointer; color: var(--accent); }
.state-failed { color: var(--bad); } .state-pruned { color: #9a6700; }
`;

function axisFor(name: MeasureName, values: readonly number[]): Axis {
  const positive = values.filter((v) => v > 0);
  const spread = positive.length ? Math.max(...positive) / Math.min(...positive) : 1;
  const better =
    name === 'latencyMs' || name === 'sizeBytes' || name === 'rmse' || name === 'mae' ? '↓ better' : '↑ better';
  const unit =
    name === 'latencyMs'
      ? ' (ms, batch 1)'
      : name === 'throughput'
        ? ' (samples/s, batch 64)'
        : name === 'sizeBytes'
          ? ''
          : '';
  const format = (v: number): string => {
    switch (name) {
      case 'sizeBytes':
        return formatBytes(v);
      case 'latencyMs':
        return Number(v.toPrecision(3)).toString();
      case 'throughput':
        return v >= 1e4 ? `${Number((v / 1e3).toPrecision(3))}k` : Number(v.toPrecision(3)).toString();
      default:
        return Number(v.toPrecision(3)).toString();
    }
  };
  return {
    label: `${labelOf(name)}${unit} ${better}`,
    log: (name === 'sizeBytes' || name === 'throughput' || name === 'latencyMs') && spread > 8,
    format,
  };
}

function change(name: MeasureName, value: number, base: number | undefined): string {
  if (base === undefined) return '';
  const text = formatChange(name, value, base);
  const higherBetter = name === 'accuracy' || name === 'macroF1' || name === 'throughput';
  const improved = higherBetter ? value > base : value < base;
  return `<span class="${improved ? 'good' : value === base ? '' : 'worse'}">${esc(text)}</span>`;
}

function plotNames(data: ReportData): MeasureName[] {
  const names = data.objectives.map((o) => o.name as MeasureName);
  if (names.length >= 2) return names;
  const metric = data.meta.problem.metric;
  return [names[0]!, ...(['latencyMs', 'sizeBytes', metric] as MeasureName[]).filter((n) => n !== names[0])].slice(
    0,
    3,
  );
}

function scatterPlots(data: ReportData): string {
  const names = plotNames(data);
  const done = data.trials.filter((t) => t.measures);
  const plots: string[] = [];
  for (let i = 0; i < names.length; i++) {
    for (let j = i + 1; j < names.length; j++) {
      const xn = names[j]!;
      const yn = names[i]!;
      const points: ScatterPoint[] = done.map((t) => ({
        x: t.measures![xn]!,
        y: t.measures![yn]!,
        kind: t.pareto ? 'pareto' : t.feasible ? 'dominated' : 'infeasible',
        ...(t.pareto ? { label: `#${t.number}`, href: `#trial-${t.number}` } : {}),
        title: `#${t.number} ${t.pipeline}\n${labelOf(yn)} ${formatMeasure(yn, t.measures![yn]!)}, ${labelOf(xn)} ${formatMeasure(xn, t.measures![xn]!)}${t.feasible ? '' : ' (violates a constraint)'}`,
      }));
      points.push({
        x: data.baseline[xn]!,
        y: data.baseline[yn]!,
        kind: 'baseline',
        title: `baseline\n${labelOf(yn)} ${formatMeasure(yn, data.baseline[yn]!)}, ${labelOf(xn)} ${formatMeasure(xn, data.baseline[xn]!)}`,
      });
      plots.push(
        scatterSvg({
          x: axisFor(
            xn,
            points.map((p) => p.x),
          ),
          y: axisFor(
            yn,
            points.map((p) => p.y),
          ),
          points,
          title: `${labelOf(yn)} vs ${labelOf(xn)}`,
        }),
      );
    }
  }
  const legend = `<p class="legend"><span><i class="sw" style="background:#1f6feb"></i>Pareto candidate</span><span><i class="sw" style="background:#b7bdc8"></i>dominated</span><span><i class="sw" style="border:1.5px solid #c93c37"></i>violates a constraint</span><span>◆ baseline</span></p>`;
  return `<div class="plots">${plots.join('')}</div>${legend}`;
}

function paretoTableHtml(data: ReportData): string {
  const metric = data.meta.problem.metric;
  const names: MeasureName[] = [metric, 'latencyMs', 'throughput', 'sizeBytes'];
  const rows = sortByQuality(
    data.pareto.filter((t) => t.measures) as (ReportTrial & { measures: Record<string, number> })[],
    metric,
  );
  // Quality on the validation split the search selected on, then (where measured) on the held-out test split.
  const test = data.baselineHeldOut;
  const label = (n: MeasureName): string => (test !== undefined && n === metric ? `${labelOf(n)} val` : labelOf(n));
  const testHead = test !== undefined ? `<th>${esc(labelOf(metric))} test</th>` : '';
  const testCell = (v: number | undefined, withChange: boolean): string =>
    test === undefined
      ? ''
      : `<td class="num">${v === undefined ? '—' : esc(formatMeasure(metric, v))}${withChange && v !== undefined ? `<br>${change(metric, v, test)}` : ''}</td>`;
  const head = `<tr><th>trial</th><th>gen</th><th>pipeline</th>${names.map((n) => `<th>${esc(label(n))}</th>${n === metric ? testHead : ''}`).join('')}<th>time</th><th>lineage</th></tr>`;
  const base = `<tr><td>baseline</td><td></td><td>${esc(data.meta.problem.modelSource)} (${esc(data.meta.baseline.record.recipe.epochs + ' epochs')})</td>${names.map((n) => `<td class="num">${esc(formatMeasure(n, data.baseline[n]!))}</td>${n === metric ? testCell(test, false) : ''}`).join('')}<td class="num">${data.meta.baseline.record.trainSeconds.toFixed(0)} s</td><td></td></tr>`;
  const body = rows
    .map((t) => {
      const lineage = JSON.stringify(
        {
          genome: t.genome,
          seed: t.lineage?.seed,
          stages: t.lineage?.stages,
          measurements: t.lineage?.measurements,
          modelFile: t.lineage?.modelFile,
        },
        null,
        2,
      );
      return (
        `<tr id="trial-${t.number}"><td>#${t.number}</td><td>${t.generation}</td><td>${esc(t.pipeline)}<br><code>${esc(t.short)}</code></td>` +
        names
          .map(
            (n) =>
              `<td class="num">${esc(formatMeasure(n, t.measures[n]!))}<br>${change(n, t.measures[n]!, data.baseline[n])}</td>${n === metric ? testCell(t.heldOut, true) : ''}`,
          )
          .join('') +
        `<td class="num">${t.seconds !== undefined ? `${t.seconds.toFixed(1)} s` : ''}</td>` +
        `<td><details><summary>stages, seed, model</summary><pre>${esc(lineage)}</pre></details></td></tr>`
      );
    })
    .join('');
  return `<table class="pareto"><thead>${head}</thead><tbody>${base}${body}</tbody></table>`;
}

function hypervolumePlot(data: ReportData): string {
  const points = data.hypervolume.map((p) => [p.evaluations, p.hypervolume] as const);
  const gens: { x: number; label: string }[] = [];
  let last = -1;
  for (const p of data.hypervolume)
    if (p.generation !== last) {
      gens.push({ x: p.evaluations, label: `generation ${p.generation} starts` });
      last = p.generation;
    }
  return lineSvg({
    title: 'hypervolume over evaluations',
    x: { label: 'evaluations', format: (v) => String(Math.round(v)) },
    y: { label: 'front hypervolume (baseline-normalised)', format: (v) => Number(v.toPrecision(3)).toString() },
    series: [{ name: 'hypervolume', points, className: 'hv' }],
    markers: gens.slice(1),
  });
}

function trialsTable(data: ReportData): string {
  const metric = data.meta.problem.metric;
  const names: MeasureName[] = [metric, 'latencyMs', 'throughput', 'sizeBytes'];
  const distributed = data.trials.some((t) => t.worker);
  const rows = data.trials
    .map(
      (t) =>
        `<tr><td>#${t.number}</td><td>${t.generation}</td><td class="state-${t.state}">${esc(t.state)}${t.pareto ? ' ★' : ''}${t.state === 'complete' && !t.feasible ? ' (infeasible)' : ''}</td><td>${esc(t.pipeline)}</td>` +
        (t.measures
          ? names
              .map(
                (n) =>
                  `<td class="num">${esc(formatMeasure(n, t.measures![n]!))}${t.timedFirst && (n === 'latencyMs' || n === 'throughput') ? ' †' : ''}</td>`,
              )
              .join('')
          : `<td colspan="4">${esc(t.reason ?? '')}</td>`) +
        `<td class="num">${t.seconds !== undefined ? `${t.seconds.toFixed(1)} s` : ''}</td>${distributed ? `<td>${esc(t.worker ?? '')}</td>` : ''}</tr>`,
    )
    .join('');
  return `<table class="trials"><thead><tr><th>trial</th><th>gen</th><th>state</th><th>pipeline</th>${names.map((n) => `<th>${esc(labelOf(n))}</th>`).join('')}<th>time</th>${distributed ? '<th>worker</th>' : ''}</tr></thead><tbody>${rows}</tbody></table>`;
}

/** Which kinds of host timed the candidates (a distributed search may have several) and what was re-timed. */
function hostsSection(data: ReportData): string {
  if (!data.trials.some((t) => t.worker) && data.hosts.length <= 1) return '';
  const rows = data.hosts
    .map(
      (h) =>
        `<tr><td>${esc(describeHost(h.host))}</td><td>${esc(h.workers.join(', ') || 'the coordinator')}</td><td class="num">${h.trials}</td>` +
        `<td class="num">${h.baselineLatencyMs !== undefined ? esc(formatMeasure('latencyMs', h.baselineLatencyMs)) : '–'}</td></tr>`,
    )
    .join('');
  const r = data.remeasured;
  const again = r
    ? Object.entries(r.trials).map(
        ([n, x]) => `#${n} (first timed by ${x.worker ?? 'a worker'} on ${describeHost(x.host)})`,
      )
    : [];
  return `<h2>Where candidates were timed</h2>
<p class="sub">Each candidate is timed paired with the baseline on the host that evaluated it and reported as the baseline's figures times that ratio, so hosts of different speed give comparable numbers; the last column is the baseline's own latency on each kind of host. ${r ? `The front mixed kinds of host, so ${again.length} member(s) were re-timed on the coordinator's host (${esc(describeHost(r.host))}) and are shown with those numbers (marked †): ${esc(again.join('; '))}.` : data.hosts.length > 1 ? 'The front was timed on one kind of host.' : ''}</p>
<table><thead><tr><th>kind of host</th><th>workers</th><th>candidates timed</th><th>baseline latency there</th></tr></thead><tbody>${rows}</tbody></table>`;
}

export function renderReport(data: ReportData): string {
  const m = data.meta;
  const metric = m.problem.metric;
  const counts = { complete: 0, failed: 0, pruned: 0, running: 0 } as Record<string, number>;
  for (const t of data.trials) counts[t.state] = (counts[t.state] ?? 0) + 1;
  const constraints = describeConstraints(m.constraints);
  const elapsed = data.progress ? `${(data.progress.elapsedMs / 60e3).toFixed(1)} min` : '—';
  const host = m.host;
  const cards = [
    [
      'objectives',
      m.objectives.map((o) => `${labelOf(o.name as MeasureName)} ${o.direction === 'max' ? '↑' : '↓'}`).join(', '),
    ],
    ['baseline ' + labelOf(metric), formatMeasure(metric, data.baseline[metric]!)],
    ['baseline latency', formatMeasure('latencyMs', data.baseline['latencyMs']!)],
    ['baseline throughput', formatMeasure('throughput', data.baseline['throughput']!)],
    ['baseline size', formatMeasure('sizeBytes', data.baseline['sizeBytes']!)],
    ['trials', `${counts['complete']} complete, ${counts['failed']} failed, ${counts['pruned']} stopped early`],
    ['Pareto candidates', String(data.pareto.length)],
    ['search time', elapsed],
  ];
  const config = JSON.stringify(
    {
      config: m.config,
      constraints: m.constraints,
      problem: { ...m.problem, spec: undefined },
      baseline: m.baseline.record,
      space: m.space,
    },
    null,
    2,
  );
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>petra · ${esc(data.name)}</title><style>${CSS}</style></head>
<body>
<h1>petra study <code>${esc(data.name)}</code></h1>
<p class="sub">${esc(m.problem.description)} · model ${esc(m.problem.modelSource)} (${m.baseline.record.parameters.toLocaleString('en-US')} parameters) · device ${esc(m.config.device)} · budget ${esc(describeBudget(m.config.budget))} · status ${esc(data.progress?.status ?? 'unknown')}${data.progress?.reason ? ` (${esc(data.progress.reason)})` : ''}${constraints.length ? ` · constraints: ${esc(constraints.join('; '))}` : ''}</p>
<div class="cards">${cards.map(([k, v]) => `<div class="card"><div class="k">${esc(k!)}</div><div class="v">${esc(v!)}</div></div>`).join('')}</div>
<h2>Pareto front</h2>
<p class="sub">Every evaluated pipeline, measured on ${m.problem.rows.test.toLocaleString('en-US')} test rows; latency at batch ${m.config.measure.latencyBatch} and throughput at batch ${m.config.measure.throughputBatch} through the lab's timing loop; size is the saved model file. Click a Pareto point to jump to its row.</p>
${scatterPlots(data)}
<h2>Pareto candidates</h2>
${paretoTableHtml(data)}
<h2>Hypervolume over time</h2>
<p class="sub">Hypervolume of the feasible front after each evaluation, objectives divided by the baseline's values (dashed lines: generations).</p>
${hypervolumePlot(data)}
${hostsSection(data)}
<h2>All trials</h2>
<details><summary>${data.trials.length} trials</summary>${trialsTable(data)}</details>
<h2>Configuration and host</h2>
<p class="sub">${esc(host.cpu)} · ${host.cores} cores · ${host.threads} threads · LibTorch ${esc(host.libtorch)} · quantized engine ${esc(host.quantizedEngine)} · Node ${esc(host.node)}${host.cuda ? ` · ${esc(host.cuda.device)}` : ''} · study file <code>${esc(data.file)}</code> · generated ${esc(data.generatedAt)}</p>
<details><summary>configuration</summary><pre>${esc(config)}</pre></details>
</body></html>
`;
}

/** Writes the report atomically (a temporary file renamed into place); returns the absolute path. */
export function writeReport(data: ReportData, out: string): string {
  const file = resolve(out);
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, renderReport(data));
    renameSync(tmp, file);
  } finally {
    rmSync(tmp, { force: true });
  }
  return file;
}
