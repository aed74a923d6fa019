/**
 * Turns case results into Markdown tables and checks the targets.
 *
 * @module
 */
import type { CaseResult, Row } from './cases.js';
import { STREAM } from './cases.js';
import { LK } from './locks.js';
import { MV } from './moves.js';
import { PL } from './pg-locks.js';
import { PM } from './pg-mount.js';
import { RS } from './rss.js';
import { fmtRate, fmtRatio, median } from './util.js';
import { W } from './writers.js';

function rowMedian(r: Row | undefined): number {
  return r && r.error === undefined && r.samples.length > 0 ? median(r.samples) : Number.NaN;
}

function find(c: CaseResult | undefined, name: string): Row | undefined {
  return c?.rows.find((r) => r.name === name);
}

/** One case as a Markdown table, with its notes underneath. */
export function caseTable(c: CaseResult): string {
  const floor = find(c, W.floor);
  const hot = c.rows.some((r) => r.lastWriteWins !== undefined);
  const counted = c.rows.some((r) => r.counterExact !== undefined);
  const syncs = c.rows.some((r) => r.fsyncsExpected !== undefined);
  const ref = rowMedian(find(c, c.ref));
  const head = ['writer', `median ${c.unit}`, 'min', 'max'];
  if (floor) head.push('÷ C floor');
  head.push(c.lowerIsBetter ? `writer ÷ ${c.ref}` : `${c.ref} ÷ writer`);
  if (hot) head.push('last write wins');
  if (counted) head.push('counter exact');
  if (syncs) head.push('fsyncs / file', 'expected');
  const lines = [`### ${c.id}: ${c.title}`, '', `| ${head.join(' | ')} |`, `|${head.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`];
  const notes = [...c.notes];
  for (const r of c.rows) {
    const m = rowMedian(r);
    const cells = [r.name];
    if (r.error !== undefined) {
      cells.push(`ERROR: ${r.error.slice(0, 80)}`, '', '');
    } else {
      cells.push(fmtRate(m), fmtRate(Math.min(...r.samples)), fmtRate(Math.max(...r.samples)));
    }
    if (floor) cells.push(fmtRatio(m / rowMedian(floor)));
    cells.push(r.name === c.ref ? '—' : fmtRatio(c.lowerIsBetter ? m / ref : ref / m));
    if (hot) {
      const rej = r.rejected ? ` (${r.rejected} rejected)` : '';
      cells.push(r.error !== undefined ? 'FAIL' : r.lastWriteWins ? 'PASS' : `FAIL${rej}`);
    }
    if (counted) cells.push(r.error === undefined && r.counterExact === true ? 'PASS' : 'FAIL');
    if (syncs) cells.push(r.fsyncsPerFile === undefined ? 'n/a' : r.fsyncsPerFile.toFixed(4), r.fsyncsExpected === undefined ? '' : r.fsyncsExpected.toFixed(4));
    lines.push(`| ${cells.join(' | ')} |`);
    if (r.note) notes.push(r.note);
  }
  if (notes.length > 0) lines.push('', ...notes.map((n) => `- ${n}`));
  return lines.join('\n');
}

/**
 * A target: `num ÷ den` in case `caseId` must be at least `need`; or, with `atMost`, the
 * median of `num` itself must be at most `need` (in the case's unit).
 */
interface Target {
  readonly label: string;
  readonly caseId: string;
  readonly num: string;
  readonly den?: string;
  readonly need: number;
  /** An upper bound on `num`'s median (a cost such as memory), not a ratio. */
  readonly atMost?: boolean;
  /** The numerator must also have kept "last write wins" (hot-file cases). */
  readonly needsLastWriteWins?: boolean;
  /** The numerator's counter must have been exact after every rep (contended-lock case). */
  readonly needsCounterExact?: boolean;
  /**
   * Rows of the same case that bound what any mover can do (the C floor moves): the result
   * says what rate the target asks for and what they reached, so a run shows whether the
   * target was within the machine's reach at all.
   */
  readonly ceilings?: readonly string[];
}

const TARGETS: readonly Target[] = [
  { label: 'durable 1 KiB, concurrency 1: atomfs ≥ 0.85× C floor', caseId: 'durable-c1', num: W.atomfs, den: W.floor, need: 0.85 },
  { label: 'durable 1 KiB, concurrency 1: atomfs ≥ 1.5× write-file-atomic', caseId: 'durable-c1', num: W.atomfs, den: W.wfa, need: 1.5 },
  { label: 'durable 1 KiB, concurrency 64: atomfs ≥ 1.5× write-file-atomic', caseId: 'durable-c64', num: W.atomfs, den: W.wfa, need: 1.5 },
  { label: 'durable 1 KiB to new files, c1: atomfs ≥ 0.85× C floor', caseId: 'durable-new-c1', num: W.atomfs, den: W.floor, need: 0.85 },
  { label: 'durable 1 KiB to new files, c1: atomfs ≥ 1.5× write-file-atomic', caseId: 'durable-new-c1', num: W.atomfs, den: W.wfa, need: 1.5 },
  { label: 'durable 1 KiB to new files, c64: atomfs ≥ 1.5× write-file-atomic', caseId: 'durable-new-c64', num: W.atomfs, den: W.wfa, need: 1.5 },
  { label: 'durable 1 KiB writeFileSync: atomfs ≥ 0.85× C floor', caseId: 'durable-sync-c1', num: W.atomfs, den: W.floor, need: 0.85 },
  { label: 'durable 1 KiB writeFileSync: atomfs ≥ 1.5× write-file-atomic', caseId: 'durable-sync-c1', num: W.atomfs, den: W.wfa, need: 1.5 },
  { label: 'durable 1 KiB writeFileSync to new files: atomfs ≥ 0.85× C floor', caseId: 'durable-sync-new-c1', num: W.atomfs, den: W.floor, need: 0.85 },
  { label: 'one big Buffer: atomfs ≥ 1× write-file-atomic', caseId: 'big-buffer', num: W.atomfs, den: W.wfa, need: 1 },
  { label: 'one big Buffer: atomfs ≥ 0.95× C floor', caseId: 'big-buffer', num: W.atomfs, den: W.floor, need: 0.95 },
  {
    label: 'hot file, fsync on: atomfs ≥ 100× write-file-atomic (and last write wins)',
    caseId: 'hot-fsync',
    num: W.atomfs,
    den: W.wfa,
    need: 100,
    needsLastWriteWins: true,
  },
  {
    label: 'hot file, fsync off: atomfs ≥ 1× steno (and last write wins)',
    caseId: 'hot-nofsync',
    num: W.atomfs,
    den: W.steno,
    need: 1,
    needsLastWriteWins: true,
  },
  { label: 'stream: atomfs createWriteStream ≥ 0.95× C floor', caseId: 'stream', num: STREAM.cws, den: W.floor, need: 0.95 },
  { label: 'stream: atomfs openAtomic ≥ 0.95× C floor', caseId: 'stream', num: STREAM.open, den: W.floor, need: 0.95 },
  { label: 'move same device: atomfs fsync off ≥ 2× move-file', caseId: 'move-same', num: MV.atomfsNoSync, den: MV.moveFile, need: 2 },
  { label: 'move disk → tmpfs: atomfs verify size ≥ 0.9× cp+sync+rm', caseId: 'move-xdev-to-tmpfs', num: MV.size, den: MV.cp, need: 0.9 },
  { label: 'move tmpfs → disk: atomfs verify size ≥ 0.9× cp+sync+rm', caseId: 'move-xdev-from-tmpfs', num: MV.size, den: MV.cp, need: 0.9 },
  {
    label: 'move tmpfs → disk: atomfs verify size ≥ 1.5× move-file',
    caseId: 'move-xdev-from-tmpfs',
    num: MV.size,
    den: MV.moveFile,
    need: 1.5,
    ceilings: [MV.floor1, MV.floor4],
  },
  { label: 'move disk → tmpfs: atomfs verify checksum ≥ 0.6× cp+sync+rm', caseId: 'move-xdev-to-tmpfs', num: MV.checksum, den: MV.cp, need: 0.6 },
  { label: 'move tmpfs → disk: atomfs verify checksum ≥ 0.6× cp+sync+rm', caseId: 'move-xdev-from-tmpfs', num: MV.checksum, den: MV.cp, need: 0.6 },
  { label: 'lock uncontended: atomfs ≥ 10× proper-lockfile', caseId: 'lock-uncontended', num: LK.atomfs, den: LK.proper, need: 10 },
  { label: 'PostgreSQL lock uncontended: atomfs store ≥ 0.5× pg_advisory_lock', caseId: 'pg-lock-uncontended', num: PL.store, den: PL.advisory, need: 0.5 },
  { label: 'PostgresMount folder rename: 100,000 entries ≥ 0.5× the rate of 10 (flat within 2×)', caseId: 'pg-mount-rename', num: PM.pg(100_000), den: PM.pg(10), need: 0.5 },
  { label: 'PostgresMount 8 clients × 1 KiB writes, durable server, ≥ 0.5× INSERT … ON CONFLICT', caseId: 'pg-mount-small', num: PM.write, den: PM.upsert, need: 0.5 },
  {
    label: 'lock contended: atomfs ≥ 3× proper-lockfile (and counter exact)',
    caseId: 'lock-contended',
    num: LK.atomfs,
    den: LK.proper,
    need: 3,
    needsCounterExact: true,
  },
  {
    label: 'lock contended, 16 processes: atomfs ≥ 3× proper-lockfile (and counter exact)',
    caseId: 'lock-contended-16',
    num: LK.atomfs,
    den: LK.proper,
    need: 3,
    needsCounterExact: true,
  },
  { label: 'RSS growth writing 1 GiB: atomfs createWriteStream ≤ 64 MiB', caseId: 'rss-1gib-write', num: RS.cws, need: 64, atMost: true },
  { label: 'RSS growth writing 1 GiB: atomfs openAtomic ≤ 64 MiB', caseId: 'rss-1gib-write', num: RS.open, need: 64, atMost: true },
  { label: 'RSS growth moving 1 GiB tmpfs → disk: atomfs move ≤ 64 MiB', caseId: 'rss-1gib-move', num: RS.move, need: 64, atMost: true },
];

/** One evaluated target. */
export interface TargetResult {
  readonly label: string;
  readonly status: 'PASS' | 'MISS' | 'SKIP';
  /** The ratio, or for an upper bound the median itself. */
  readonly ratio: number;
  readonly need: number;
  /** Set for an upper bound: the unit of `ratio` and `need` (which is then a maximum). */
  readonly atMost?: string;
  readonly why?: string;
}

/** Evaluates every target against the cases that ran (SKIP for cases filtered out). */
export function evaluateTargets(results: ReadonlyMap<string, CaseResult>): TargetResult[] {
  return TARGETS.map((t) => {
    const c = results.get(t.caseId);
    if (!c) return { label: t.label, status: 'SKIP', ratio: Number.NaN, need: t.need, why: 'case not run' };
    const numRow = find(c, t.num);
    if (t.atMost) {
      const value = rowMedian(numRow);
      if (!Number.isFinite(value)) return { label: t.label, status: 'MISS', ratio: value, need: t.need, atMost: c.unit, why: 'a writer failed' };
      return { label: t.label, status: value <= t.need ? 'PASS' : 'MISS', ratio: value, need: t.need, atMost: c.unit };
    }
    const ratio = rowMedian(numRow) / rowMedian(find(c, t.den ?? ''));
    if (!Number.isFinite(ratio)) return { label: t.label, status: 'MISS', ratio, need: t.need, why: 'a writer failed' };
    if (t.needsLastWriteWins && numRow?.lastWriteWins !== true) {
      return { label: t.label, status: 'MISS', ratio, need: t.need, why: 'last write did not win' };
    }
    if (t.needsCounterExact && numRow?.counterExact !== true) {
      return { label: t.label, status: 'MISS', ratio, need: t.need, why: 'counter not exact' };
    }
    const reach = t.ceilings ? ceilingNote(c, t) : undefined;
    return reach ? { label: t.label, status: ratio >= t.need ? 'PASS' : 'MISS', ratio, need: t.need, why: reach } : { label: t.label, status: ratio >= t.need ? 'PASS' : 'MISS', ratio, need: t.need };
  });
}

/** "needs 1,074 MiB/s; C floor move, 1 writer: 1,010 (0.94 of it); …" for a target with ceilings. */
function ceilingNote(c: CaseResult, t: Target): string | undefined {
  const needed = t.need * rowMedian(find(c, t.den ?? ''));
  if (!Number.isFinite(needed)) return undefined;
  const parts = [`needs ${fmtRate(needed)} ${c.unit}`];
  for (const name of t.ceilings ?? []) {
    const m = rowMedian(find(c, name));
    if (Number.isFinite(m)) parts.push(`${name}: ${fmtRate(m)} (${(m / needed).toFixed(2)} of it)`);
  }
  return parts.join('; ');
}

/** The targets as a Markdown table. */
export function targetTable(ts: readonly TargetResult[]): string {
  const lines = ['| target | ratio | needed | result |', '| --- | ---: | ---: | --- |'];
  for (const t of ts) {
    const [got, needed] = t.atMost ? [`${fmtRate(t.ratio)} ${t.atMost}`, `≤ ${fmtRate(t.need)}`] : [fmtRatio(t.ratio), fmtRatio(t.need)];
    lines.push(`| ${t.label} | ${got} | ${needed} | ${t.status}${t.why ? ` (${t.why})` : ''} |`);
  }
  return lines.join('\n');
}
