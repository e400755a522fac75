/**
 * Small, dependency-free SVG charts for the HTML report: a scatter plot (points linked to table rows, tooltips as
 * <title>) and a line chart. Linear or log axes with "nice" ticks.
 */

export function escapeXml(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

export interface Axis {
  readonly label: string;
  readonly log?: boolean;
  readonly format: (v: number) => string;
}

export interface ScatterPoint {
  readonly x: number;
  readonly y: number;
  readonly kind: 'pareto' | 'dominated' | 'infeasible' | 'baseline';
  readonly label?: string;
  readonly title: string;
  readonly href?: string;
}

const WIDTH = 440;
const HEIGHT = 320;
const M = { left: 64, right: 16, top: 14, bottom: 46 };

function niceStep(span: number, count: number): number {
  const raw = span / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
}

export function linearTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const step = niceStep(hi - lo, count);
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

export function logTicks(lo: number, hi: number): number[] {
  const out: number[] = [];
  const a = Math.floor(Math.log10(lo));
  const b = Math.ceil(Math.log10(hi));
  const mults = b - a <= 3 ? [1, 2, 5] : [1];
  for (let e = a; e <= b; e++)
    for (const m of mults) {
      const v = m * 10 ** e;
      if (v >= lo * 0.999 && v <= hi * 1.001) out.push(v);
    }
  return out.length >= 2 ? out : linearTicks(lo, hi, 4);
}

interface Scale {
  (v: number): number;
  ticks: number[];
}

function scale(values: readonly number[], log: boolean | undefined, from: number, to: number): Scale {
  const finite = values.filter((v) => Number.isFinite(v) && (!log || v > 0));
  let lo = finite.length ? Math.min(...finite) : 0;
  let hi = finite.length ? Math.max(...finite) : 1;
  const useLog = !!log && lo > 0;
  if (useLog) {
    const pad = (Math.log10(hi) - Math.log10(lo)) * 0.06 || 0.1;
    lo = 10 ** (Math.log10(lo) - pad);
    hi = 10 ** (Math.log10(hi) + pad);
  } else {
    const pad = (hi - lo) * 0.06 || Math.abs(hi) * 0.05 || 1;
    lo -= pad;
    hi += pad;
  }
  const t = (v: number): number => (useLog ? Math.log10(v) : v);
  const f = ((v: number) => from + ((t(v) - t(lo)) / (t(hi) - t(lo))) * (to - from)) as Scale;
  f.ticks = useLog ? logTicks(lo, hi) : linearTicks(lo, hi);
  return f;
}

function frame(x: Axis, y: Axis, sx: Scale, sy: Scale): string {
  const parts: string[] = [];
  const x0 = M.left,
    x1 = WIDTH - M.right,
    y0 = HEIGHT - M.bottom,
    y1 = M.top;
  parts.push(`<rect x="${x0}" y="${y1}" width="${x1 - x0}" height="${y0 - y1}" class="plot-bg"/>`);
  for (const v of sx.ticks) {
    const px = sx(v).toFixed(1);
    parts.push(`<line x1="${px}" y1="${y1}" x2="${px}" y2="${y0}" class="grid"/>`);
    parts.push(`<text x="${px}" y="${y0 + 16}" text-anchor="middle" class="tick">${escapeXml(x.format(v))}</text>`);
  }
  for (const v of sy.ticks) {
    const py = sy(v).toFixed(1);
    parts.push(`<line x1="${x0}" y1="${py}" x2="${x1}" y2="${py}" class="grid"/>`);
    parts.push(
      `<text x="${x0 - 6}" y="${py}" text-anchor="end" dominant-baseline="middle" class="tick">${escapeXml(y.format(v))}</text>`,
    );
  }
  parts.push(
    `<text x="${(x0 + x1) / 2}" y="${HEIGHT - 8}" text-anchor="middle" class="axis-label">${escapeXml(x.label)}</text>`,
  );
  parts.push(
    `<text transform="translate(14 ${(y0 + y1) / 2}) rotate(-90)" text-anchor="middle" class="axis-label">${escapeXml(y.label)}</text>`,
  );
  return parts.join('');
}

export function scatterSvg(opts: { x: Axis; y: Axis; points: readonly ScatterPoint[]; title: string }): string {
  const sx = scale(
    opts.points.map((p) => p.x),
    opts.x.log,
    M.left,
    WIDTH - M.right,
  );
  const sy = scale(
    opts.points.map((p) => p.y),
    opts.y.log,
    HEIGHT - M.bottom,
    M.top,
  );
  const order = { dominated: 0, infeasible: 1, pareto: 2, baseline: 3 } as const;
  const marks = [...opts.points]
    .sort((a, b) => order[a.kind] - order[b.kind])
    .filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y))
    .map((p) => {
      const cx = sx(p.x).toFixed(1);
      const cy = sy(p.y).toFixed(1);
      const title = `<title>${escapeXml(p.title)}</title>`;
      let mark: string;
      if (p.kind === 'baseline') {
        mark = `<path d="M${cx} ${Number(cy) - 7} l7 7 l-7 7 l-7 -7 z" class="pt-baseline">${title}</path>`;
      } else {
        mark = `<circle cx="${cx}" cy="${cy}" r="${p.kind === 'pareto' ? 5.5 : 4}" class="pt-${p.kind}">${title}</circle>`;
      }
      const label = p.label
        ? `<text x="${Number(cx) + 7}" y="${Number(cy) - 6}" class="pt-label">${escapeXml(p.label)}</text>`
        : '';
      // The label stays outside the link: the link's box is the mark alone, and labels never take the pointer.
      return `${p.href ? `<a href="${escapeXml(p.href)}">${mark}</a>` : mark}${label}`;
    });
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${WIDTH} ${HEIGHT}" width="${WIDTH}" height="${HEIGHT}" role="img" aria-label="${escapeXml(opts.title)}" class="chart scatter">` +
    frame(opts.x, opts.y, sx, sy) +
    marks.join('') +
    '</svg>'
  );
}

export interface Series {
  readonly name: string;
  readonly points: readonly (readonly [number, number])[];
  readonly className: string;
}

export function lineSvg(opts: {
  x: Axis;
  y: Axis;
  series: readonly Series[];
  title: string;
  markers?: readonly { x: number; label: string }[];
}): string {
  const xs = opts.series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = opts.series.flatMap((s) => s.points.map((p) => p[1]));
  const sx = scale(xs.length ? xs : [0, 1], opts.x.log, M.left, WIDTH - M.right);
  const sy = scale(ys.length ? [...ys, 0] : [0, 1], opts.y.log, HEIGHT - M.bottom, M.top);
  const lines = opts.series.map((s) => {
    if (s.points.length === 0) return '';
    // A step line: the front's hypervolume holds until the next evaluation changes it.
    let d = `M${sx(s.points[0]![0]).toFixed(1)} ${sy(s.points[0]![1]).toFixed(1)}`;
    for (let i = 1; i < s.points.length; i++) {
      d += ` H${sx(s.points[i]![0]).toFixed(1)} V${sy(s.points[i]![1]).toFixed(1)}`;
    }
    const dots = s.points
      .map(
        ([x, y]) =>
          `<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="2.5" class="${s.className}-dot"><title>${escapeXml(`${opts.x.label} ${opts.x.format(x)}: ${opts.y.format(y)}`)}</title></circle>`,
      )
      .join('');
    return `<path d="${d}" class="${s.className}" fill="none"/>${dots}`;
  });
  const marks = (opts.markers ?? []).map((m) => {
    const px = sx(m.x).toFixed(1);
    return `<line x1="${px}" y1="${M.top}" x2="${px}" y2="${HEIGHT - M.bottom}" class="gen-marker"><title>${escapeXml(m.label)}</title></line>`;
  });
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${WIDTH} ${HEIGHT}" width="${WIDTH}" height="${HEIGHT}" role="img" aria-label="${escapeXml(opts.title)}" class="chart line">` +
    frame(opts.x, opts.y, sx, sy) +
    marks.join('') +
    lines.join('') +
    '</svg>'
  );
}
