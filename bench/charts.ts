/**
 * Charts of a bench run, as hand-written SVG (no dependency): for each case, the ratio of
 * each atomfs row to every other row (peers and the C floor), with a line at 1.0; and, for
 * the workloads measured at several concurrencies, the scaling curves (rate against
 * concurrency, one line per writer).
 *
 * Everything here is a pure function of the JSON results that `npm run bench` writes
 * ({@link BenchResults}); `bench/render.ts` reads such a file and writes the files.
 *
 * @module
 */
import type { CaseResult, Row } from './cases.js';
import type { TargetResult } from './report.js';
import type { MachineFacts } from './util.js';

/** What `npm run bench` writes as JSON: everything its Markdown tables were made from. */
export interface BenchResults {
  readonly version: 1;
  /** When the run started (ISO 8601). */
  readonly started: string;
  /** BENCH_QUICK: a smoke run, small counts, 2 reps. */
  readonly quick: boolean;
  /** The command that reproduces it. */
  readonly command: string;
  readonly machine: MachineFacts & { readonly loadStart?: readonly number[] };
  readonly reps: number;
  readonly cases: readonly CaseResult[];
  readonly targets: readonly TargetResult[];
}

/** One chart to write: a file name (no folder) and its SVG text. */
export interface Chart {
  readonly file: string;
  readonly title: string;
  readonly svg: string;
}

/** Escapes text for an SVG text node or attribute value. */
export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** A row's median, or NaN when it failed or has no samples. */
export function rowMedian(r: Row | undefined): number {
  return r && r.error === undefined && r.samples.length > 0 ? median(r.samples) : Number.NaN;
}

const fmt = (x: number): string => (!Number.isFinite(x) ? 'n/a' : x >= 100 ? `${Math.round(x)}×` : `${x.toFixed(2)}×`);
const fmtNum = (x: number): string => (x >= 1000 ? Math.round(x).toLocaleString('en-US') : x >= 10 ? x.toFixed(0) : x.toFixed(2));
const isAtomfs = (name: string): boolean => name.startsWith('atomfs');
const isFloor = (name: string): boolean => /floor/i.test(name);

/** One bar: `num ÷ den` in a case. */
export interface Bar {
  readonly group: string;
  readonly label: string;
  readonly ratio: number;
  readonly floor: boolean;
}

/**
 * The bars of a case: for every atomfs row (the case's reference row first), its median
 * divided by every row that is not atomfs (peers and floors). Greater than 1: atomfs is
 * faster. For a cost (`lowerIsBetter`: memory) the other way round, so greater than 1
 * still means atomfs did better. A case with no atomfs row compares its reference row with
 * the others.
 */
export function barsOf(c: CaseResult): Bar[] {
  const mine = c.rows.filter((r) => isAtomfs(r.name));
  const nums = mine.length > 0 ? [...mine].sort((a, b) => Number(b.name === c.ref) - Number(a.name === c.ref)) : c.rows.filter((r) => r.name === c.ref);
  const dens = c.rows.filter((r) => !nums.includes(r));
  const out: Bar[] = [];
  for (const n of nums) {
    for (const d of dens) {
      const ratio = c.lowerIsBetter ? rowMedian(d) / rowMedian(n) : rowMedian(n) / rowMedian(d);
      out.push({ group: n.name, label: d.name, ratio, floor: isFloor(d.name) });
    }
  }
  return out;
}

const W = 760;
const LABEL_W = 280;
const PLOT_L = LABEL_W + 10;
const PLOT_R = W - 70;
const BAR_H = 18;
const ROW_H = 26;
const GROUP_H = 24;

/** Where a ratio lands on the x axis: linear from 0, or logarithmic for wide ranges. */
interface Scale {
  readonly x: (v: number) => number;
  readonly ticks: readonly number[];
  readonly log: boolean;
}

function ratioScale(values: readonly number[]): Scale {
  const finite = values.filter((v) => Number.isFinite(v) && v > 0);
  const hi = Math.max(1, ...finite);
  const lo = Math.min(1, ...finite);
  if (hi / lo > 20) {
    // Decades, from the one below the smallest to the one above the largest.
    const a = Math.floor(Math.log10(lo));
    const b = Math.ceil(Math.log10(hi));
    const x = (v: number): number => PLOT_L + ((Math.log10(Math.max(v, 10 ** a)) - a) / (b - a || 1)) * (PLOT_R - PLOT_L);
    const ticks = Array.from({ length: b - a + 1 }, (_, i) => 10 ** (a + i));
    return { x, ticks, log: true };
  }
  const top = niceTop(hi * 1.1);
  const step = top / 5;
  return { x: (v) => PLOT_L + (Math.max(0, v) / top) * (PLOT_R - PLOT_L), ticks: Array.from({ length: 6 }, (_, i) => i * step), log: false };
}

function niceTop(v: number): number {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

const STYLE =
  'text{font-family:sans-serif;font-size:12px;fill:#222}.title{font-size:15px;font-weight:bold}.sub{fill:#555}.axis{stroke:#444}.grid{stroke:#ddd}' +
  '.even{stroke:#c00;stroke-dasharray:4 3}.bar{fill:#3a78c2}.bar.floor{fill:#8a8a8a}.bar.behind{fill:#d9822b}.group{font-weight:bold}';

/**
 * The ratio chart of one case: one horizontal bar per (atomfs row, other row) pair, grouped
 * by atomfs row, labelled with the other row's name and the ratio, on an axis with a
 * dashed line at 1.0. Bars below 1 (atomfs slower, or for a cost: needing more) are drawn
 * in another colour; bars against a floor are grey.
 */
export function ratioChart(c: CaseResult, subtitle: string): string {
  const bars = barsOf(c);
  const groups = [...new Set(bars.map((b) => b.group))];
  const scale = ratioScale(bars.map((b) => b.ratio));
  const top = 56;
  const height = top + groups.length * GROUP_H + bars.length * ROW_H + 40;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" role="img" aria-label="${esc(`${c.id}: ratios of atomfs to each peer and to the floor`)}">`);
  out.push(`<style>${STYLE}</style>`);
  out.push(`<rect width="${W}" height="${height}" fill="#fff"/>`);
  out.push(`<text class="title" x="10" y="22">${esc(`${c.id}: ${c.title}`)}</text>`);
  out.push(`<text class="sub" x="10" y="40">${esc(subtitle)}</text>`);
  const plotTop = top;
  const plotBottom = height - 40;
  // Grid and axis.
  for (const t of scale.ticks) {
    const x = scale.x(t).toFixed(1);
    out.push(`<line class="grid" x1="${x}" y1="${plotTop}" x2="${x}" y2="${plotBottom}"/>`);
    out.push(`<text x="${x}" y="${plotBottom + 16}" text-anchor="middle">${esc(scale.log ? `${fmtNum(t)}×` : `${+t.toFixed(2)}×`)}</text>`);
  }
  out.push(`<line class="axis" x1="${PLOT_L}" y1="${plotBottom}" x2="${PLOT_R}" y2="${plotBottom}"/>`);
  out.push(`<line class="axis" x1="${PLOT_L}" y1="${plotTop}" x2="${PLOT_L}" y2="${plotBottom}"/>`);
  out.push(`<text class="sub" x="${(PLOT_L + PLOT_R) / 2}" y="${plotBottom + 32}" text-anchor="middle">${esc(`${c.lowerIsBetter ? `other ÷ atomfs, ${c.unit} (greater than 1: atomfs needs less)` : 'atomfs ÷ other (greater than 1: atomfs is faster)'}${scale.log ? ', log scale' : ''}`)}</text>`);
  let y = plotTop;
  for (const g of groups) {
    y += GROUP_H;
    out.push(`<text class="group" x="10" y="${y - 7}">${esc(`${g} ÷`)}</text>`);
    for (const b of bars.filter((x) => x.group === g)) {
      const x0 = scale.log ? PLOT_L : scale.x(0);
      const x1 = Number.isFinite(b.ratio) ? scale.x(b.ratio) : x0;
      const cls = `bar${b.floor ? ' floor' : b.ratio < 1 ? ' behind' : ''}`;
      out.push(`<text x="${LABEL_W}" y="${y + BAR_H - 4}" text-anchor="end">${esc(b.label)}</text>`);
      const what = c.lowerIsBetter ? `${b.label} ÷ ${g}` : `${g} ÷ ${b.label}`;
      out.push(`<rect class="${cls}" x="${x0.toFixed(1)}" y="${y}" width="${Math.max(0, x1 - x0).toFixed(1)}" height="${BAR_H}"><title>${esc(`${what}: ${fmt(b.ratio)}`)}</title></rect>`);
      out.push(`<text x="${(Math.max(x1, x0) + 4).toFixed(1)}" y="${y + BAR_H - 4}">${esc(fmt(b.ratio))}</text>`);
      y += ROW_H;
    }
  }
  const even = scale.x(1).toFixed(1);
  out.push(`<line class="even" x1="${even}" y1="${plotTop}" x2="${even}" y2="${plotBottom}"/>`);
  out.push(`<text x="${even}" y="${plotTop - 4}" text-anchor="middle" fill="#c00">1.0</text>`);
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** One line of a scaling chart: a writer's rate at each concurrency it was measured at. */
export interface Series {
  readonly name: string;
  readonly points: readonly { readonly x: number; readonly y: number }[];
}

const PALETTE = ['#3a78c2', '#d9822b', '#4a9a4a', '#b04a9a', '#8a8a8a', '#c04040', '#40a0a0', '#705020'];

/**
 * A scaling chart: rate (log scale) against concurrency (one tick per value measured, evenly
 * spaced), one line per series, labelled at its last point.
 */
export function scalingChart(title: string, subtitle: string, xLabel: string, unit: string, series: readonly Series[]): string {
  const xs = [...new Set(series.flatMap((s) => s.points.map((p) => p.x)))].sort((a, b) => a - b);
  const ys = series.flatMap((s) => s.points.map((p) => p.y)).filter((v) => Number.isFinite(v) && v > 0);
  const a = Math.floor(Math.log10(Math.min(...ys, 1e9)));
  const b = Math.max(a + 1, Math.ceil(Math.log10(Math.max(...ys, 1))));
  const height = 420;
  const L = 80;
  const R = W - 200;
  const T = 56;
  const B = height - 50;
  const px = (x: number): number => (xs.length < 2 ? (L + R) / 2 : L + (xs.indexOf(x) / (xs.length - 1)) * (R - L));
  const py = (y: number): number => B - ((Math.log10(y) - a) / (b - a)) * (B - T);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" role="img" aria-label="${esc(title)}">`);
  out.push(`<style>${STYLE}</style>`);
  out.push(`<rect width="${W}" height="${height}" fill="#fff"/>`);
  out.push(`<text class="title" x="10" y="22">${esc(title)}</text>`);
  out.push(`<text class="sub" x="10" y="40">${esc(subtitle)}</text>`);
  for (let e = a; e <= b; e++) {
    const y = py(10 ** e).toFixed(1);
    out.push(`<line class="grid" x1="${L}" y1="${y}" x2="${R}" y2="${y}"/>`);
    out.push(`<text x="${L - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${esc(fmtNum(10 ** e))}</text>`);
  }
  for (const x of xs) {
    const X = px(x).toFixed(1);
    out.push(`<line class="grid" x1="${X}" y1="${T}" x2="${X}" y2="${B}"/>`);
    out.push(`<text x="${X}" y="${B + 16}" text-anchor="middle">${esc(String(x))}</text>`);
  }
  out.push(`<line class="axis" x1="${L}" y1="${B}" x2="${R}" y2="${B}"/>`);
  out.push(`<line class="axis" x1="${L}" y1="${T}" x2="${L}" y2="${B}"/>`);
  out.push(`<text class="sub" x="${(L + R) / 2}" y="${B + 36}" text-anchor="middle">${esc(xLabel)}</text>`);
  out.push(`<text class="sub" x="14" y="${(T + B) / 2}" transform="rotate(-90 14 ${(T + B) / 2})" text-anchor="middle">${esc(`${unit} (log scale)`)}</text>`);
  // End labels, pushed apart (top to bottom, at least LABEL_GAP) so that close lines stay readable.
  const LABEL_GAP = 15;
  const labels: { x: number; y: number; text: string; color: string }[] = [];
  series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length]!;
    const pts = s.points.filter((p) => Number.isFinite(p.y) && p.y > 0);
    if (pts.length === 0) return;
    const d = pts.map((p, j) => `${j === 0 ? 'M' : 'L'}${px(p.x).toFixed(1)},${py(p.y).toFixed(1)}`).join(' ');
    out.push(`<path class="line" d="${d}" fill="none" stroke="${color}" stroke-width="2"><title>${esc(s.name)}</title></path>`);
    for (const p of pts) out.push(`<circle cx="${px(p.x).toFixed(1)}" cy="${py(p.y).toFixed(1)}" r="3" fill="${color}"><title>${esc(`${s.name}, ${p.x}: ${fmtNum(p.y)} ${unit}`)}</title></circle>`);
    const last = pts[pts.length - 1]!;
    labels.push({ x: px(last.x) + 8, y: py(last.y) + 4, text: `${s.name} ${fmtNum(last.y)}`, color });
  });
  labels.sort((p, q) => p.y - q.y);
  for (let i = 1; i < labels.length; i++) labels[i]!.y = Math.max(labels[i]!.y, labels[i - 1]!.y + LABEL_GAP);
  for (const l of labels) out.push(`<text x="${l.x.toFixed(1)}" y="${l.y.toFixed(1)}" fill="${l.color}">${esc(l.text)}</text>`);
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** Families of cases that measure one workload at several concurrencies (case id → x). */
const SCALING: readonly { readonly file: string; readonly title: string; readonly xLabel: string; readonly cases: readonly (readonly [string, number])[] }[] = [
  { file: 'scaling-durable.svg', title: 'durable 1 KiB writes: rate against concurrency', xLabel: 'writes in flight', cases: [['durable-c1', 1], ['durable-c64', 64]] },
  { file: 'scaling-nofsync.svg', title: '1 KiB writes, fsync off: rate against concurrency', xLabel: 'writes in flight', cases: [['nofsync-c1', 1], ['nofsync-c64', 64]] },
  {
    file: 'scaling-writefiles.svg',
    title: 'durable 1 KiB files: files/s against files per batch',
    xLabel: 'files per batch (writeFiles) or written in turn',
    cases: [['writefiles-scale-1', 1], ['writefiles-scale-10', 10], ['writefiles-scale-100', 100], ['writefiles-scale-1000', 1000], ['writefiles-scale-10000', 10000]],
  },
  {
    file: 'scaling-lock.svg',
    title: 'file locks: cycles/s against contending processes',
    xLabel: 'processes',
    cases: [['lock-uncontended', 1], ['lock-contended', 4], ['lock-contended-16', 16]],
  },
  {
    file: 'scaling-pg-lock.svg',
    title: 'PostgreSQL locks: cycles/s against contending processes',
    xLabel: 'processes',
    cases: [['pg-lock-uncontended', 1], ['pg-lock-contended-4', 4], ['pg-lock-contended-16', 16]],
  },
];

/** When and how a run was made, for a chart's subtitle. */
export function describeRun(r: BenchResults, c?: CaseResult): string {
  // A results file assembled from earlier runs (docs/bench/record.json) says per case when
  // and how it was measured.
  const measured = (c as { readonly measured?: unknown } | undefined)?.measured;
  const how = typeof measured === 'string' ? measured : `${r.quick ? 'quick run (BENCH_QUICK: 2 reps, small counts)' : `${r.reps} reps`}, ${r.started.slice(0, 16).replace('T', ' ')} UTC`;
  return `${how}; ${r.machine.nproc} CPUs, ${r.machine.fsType}, node ${r.machine.node}; medians`;
}

/** Every chart of a run: one ratio chart per case, and the scaling curves its cases allow. */
export function chartsOf(r: BenchResults): Chart[] {
  const out: Chart[] = [];
  for (const c of r.cases) {
    if (barsOf(c).length === 0) continue;
    out.push({ file: `${c.id}.svg`, title: `${c.id}: ${c.title}`, svg: ratioChart(c, describeRun(r, c)) });
  }
  for (const fam of SCALING) {
    const present = fam.cases.flatMap(([id, x]) => {
      const c = r.cases.find((k) => k.id === id);
      return c ? [{ c, x }] : [];
    });
    if (present.length < 2) continue;
    // Writers measured at every point of the family.
    const names = present[0]!.c.rows.map((row) => row.name).filter((n) => present.every(({ c }) => c.rows.some((row) => row.name === n)));
    const series = names.map((name) => ({ name, points: present.map(({ c, x }) => ({ x, y: rowMedian(c.rows.find((row) => row.name === name)) })) }));
    // One subtitle when the points were measured alike, else one per point.
    const how = [...new Set(present.map(({ c }) => describeRun(r, c)))];
    const subtitle = how.length === 1 ? how[0]! : present.map(({ c, x }) => `${x}: ${describeRun(r, c).split(';')[0]}`).join(' | ');
    out.push({ file: fam.file, title: fam.title, svg: scalingChart(fam.title, subtitle, fam.xLabel, present[0]!.c.unit, series) });
  }
  return out;
}
