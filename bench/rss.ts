/**
 * The memory case `rss-1gib`: how much a process's resident memory grows while it writes
 * one big file (`rss-1gib-write`) or moves one from a tmpfs to the bench's disk
 * (`rss-1gib-move`). A streaming writer or a copying move should need a few buffers,
 * whatever the file's size; one that holds the file in memory grows by the file.
 *
 * Every sample is a fresh `node` process (bench/rss-child.ts) doing the one operation, so
 * the figure is cold: nothing warmed up, grown or cached by an earlier measurement. The
 * usual rules otherwise (see cases.ts): interleaved reps in rotated order, `sync(1)` before
 * every sample, medians. Lower is better here.
 *
 * @module
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { measure, pattern, slug, STREAM, type CaseResult, type Context, type Entrant } from './cases.js';
import type { RssMode, RssReport } from './rss-protocol.js';
import { writeSource } from './util.js';
import { SAMPLE_MS } from './rss-protocol.js';
import { mountTmpfs } from './tmpfs.js';
import { fmtRate } from './util.js';

const MIB = 1024 * 1024;

// build/bench/rss.js → build/bench/rss-child.js
const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'rss-child.js');

/** Row labels of the memory case, shared with the targets. */
export const RS = Object.freeze({
  cws: STREAM.cws,
  open: STREAM.open,
  wfa: 'write-file-atomic',
  move: 'atomfs move',
  moveFile: 'move-file',
});

export interface RssSpec {
  readonly id: string;
  readonly totalBytes: number;
}

/** Runs one child to its end and returns its report; the child is killed if the bench is interrupted. */
function runChild(ctx: Context, args: readonly string[]): Promise<RssReport> {
  return new Promise((resolve, reject) => {
    const k = spawn(process.execPath, [CHILD, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    const dispose = ctx.atExit(() => {
      if (k.exitCode === null && k.signalCode === null) k.kill('SIGKILL');
    });
    let out = '';
    k.stdout.setEncoding('utf8');
    k.stdout.on('data', (d: string) => (out += d));
    k.once('error', (e) => {
      dispose();
      reject(e);
    });
    k.once('close', (code, signal) => {
      dispose();
      if (code !== 0) {
        reject(new Error(`rss-child ${args[0]} exited (${signal ?? code})`));
        return;
      }
      try {
        resolve(JSON.parse(out.trim().split('\n').pop() ?? '') as RssReport);
      } catch (e) {
        reject(new Error(`rss-child ${args[0]} printed no report: ${String(e)}`));
      }
    });
  });
}

/** What a row's runs showed beyond its samples, for the notes. */
interface Extra {
  hwmGrowth: number;
  samples: number[];
  seconds: number[];
}

/**
 * One row: each sample runs the child in `mode` once and is its sampled peak RSS minus its
 * RSS at start, in MiB (the `round` returns that figure and `rate` keeps it as it is).
 * There is no warm-up round (rep -1 does nothing): a warm process is what this case
 * excludes.
 */
function rssEntrant(ctx: Context, name: string, note: string, mode: RssMode, bytes: number, files: (rep: number) => { target: string; source?: string }, check: (f: { target: string; source?: string }) => void, extra: Extra): Entrant {
  let current: { target: string; source?: string } | undefined;
  return {
    row: { name, samples: [], note },
    prepare: (rep) => {
      current = rep < 0 ? undefined : files(rep);
    },
    round: async () => {
      if (!current) return 0;
      const f = current;
      const r = await runChild(ctx, [mode, String(bytes), f.target, ...(f.source === undefined ? [] : [f.source])]);
      check(f);
      const growth = (r.peakRss - r.startRss) / MIB;
      if (r.hwm > 0) extra.hwmGrowth = Math.max(extra.hwmGrowth, (r.hwm - r.startRss) / MIB);
      extra.samples.push(r.samples);
      extra.seconds.push(r.seconds);
      return growth;
    },
    rate: (growth) => growth,
  };
}

function extraNote(name: string, e: Extra): string {
  const min = (xs: number[]): number => Math.min(...xs);
  const max = (xs: number[]): number => Math.max(...xs);
  if (e.samples.length === 0) return `${name}: no run completed.`;
  return `${name}: ${min(e.samples)}-${max(e.samples)} RSS samples a run, ${min(e.seconds).toFixed(1)}-${max(e.seconds).toFixed(1)} s a run; kernel high-water mark (VmHWM) − start at most ${fmtRate(e.hwmGrowth)} MiB.`;
}

const sizeOf = (f: string): number | undefined => {
  try {
    return fs.statSync(f).size;
  } catch {
    return undefined;
  }
};

const COMMON_NOTES = (bytes: number): string[] => [
  `Figure = the highest of the RSS samples (process.memoryUsage.rss(), every ${SAMPLE_MS} ms, and once at the end) minus the RSS just before the operation, in MiB: lower is better. Each sample is a fresh \`node\` process (all modules loaded before the start figure, no warm-up), so nothing an earlier run grew is counted or hidden.`,
  'The page cache the writes fill is not in any process\'s RSS: what is counted is the memory the process itself holds (buffers, heap).',
  `The last column of the table is writer ÷ the reference row here (lower is better): above 1, the writer grows more. ${bytes / MIB} MiB in all.`,
];

export async function rssCase(ctx: Context, spec: RssSpec): Promise<CaseResult[]> {
  const caseDir = path.join(ctx.root, spec.id);
  const bytes = spec.totalBytes;
  const mib = bytes / MIB;
  const out: CaseResult[] = [];
  try {
    // --- Writing ---
    const writeExtras = new Map<string, Extra>();
    const writers: { name: string; mode: RssMode; note: string }[] = [
      { name: RS.cws, mode: 'atomfs-cws', note: `atomfs createWriteStream: \`pipeline(generator, createWriteStream(target))\`, the generator yielding the same 1 MiB Buffer ${mib} times (so the source holds 1 MiB: the rest is the writer's).` },
      { name: RS.open, mode: 'atomfs-open', note: `atomfs openAtomic: \`await f.write(chunk)\` ${mib} times with the same 1 MiB Buffer, then \`commit()\`.` },
      {
        name: RS.wfa,
        mode: 'wfa',
        note: `write-file-atomic cannot stream: the child builds the whole ${mib} MiB Buffer (after the start figure) and gives it to \`writeFileAtomic(target, data, { fsync: true })\`. Its growth counts that Buffer: it is what a caller of a library that takes only whole contents has to hold.`,
      },
    ];
    const writeEntrants: Entrant[] = writers.map((w) => {
      const dir = path.join(caseDir, slug(w.name));
      fs.mkdirSync(dir, { recursive: true });
      const target = path.join(dir, 'big');
      const extra: Extra = { hwmGrowth: 0, samples: [], seconds: [] };
      writeExtras.set(w.name, extra);
      return rssEntrant(
        ctx,
        w.name,
        w.note,
        w.mode,
        bytes,
        () => {
          // A new file each time; the last one is freed before the sync that precedes the sample.
          fs.rmSync(target, { force: true });
          return { target };
        },
        (f) => {
          const got = sizeOf(f.target);
          if (got !== bytes) throw new Error(`${f.target} has ${String(got)} bytes, expected ${bytes}`);
        },
        extra,
      );
    });
    await measure(ctx, `${spec.id}-write`, writeEntrants);
    out.push({
      id: `${spec.id}-write`,
      title: `RSS growth while writing one ${mib} MiB file durably from 1 MiB chunks (a fresh process per sample)`,
      unit: 'MiB RSS growth',
      lowerIsBetter: true,
      ref: RS.cws,
      rows: writeEntrants.map((e) => e.row),
      notes: [...COMMON_NOTES(bytes), ...writers.map((w) => extraNote(w.name, writeExtras.get(w.name)!))],
    });
    fs.rmSync(caseDir, { recursive: true, force: true });

    // --- Moving from a tmpfs ---
    if (process.getuid?.() !== 0) {
      const why = `${spec.id}-move skipped: mounting a tmpfs for it needs root.`;
      ctx.progress(why);
      out[0]!.notes.push(why);
      return out;
    }
    const tmpfs = mountTmpfs(`${mib + 64}m`, ctx.atExit);
    try {
      const moveExtras = new Map<string, Extra>();
      const movers: { name: string; mode: RssMode; note: string }[] = [
        { name: RS.move, mode: 'atomfs-move', note: 'atomfs move: `move(src, dest)` with its defaults (fsync on, verify: size): across devices it copies in one pipelined pass, fsyncs, renames into place, then removes the source.' },
        { name: RS.moveFile, mode: 'move-file', note: 'move-file: `moveFile(src, dest)`; across devices it copies with fs.copyFile (the kernel copies; no fsync) and removes the source.' },
      ];
      const moveEntrants: Entrant[] = movers.map((m) => {
        const srcDir = path.join(tmpfs.dir, slug(m.name));
        const destDir = path.join(caseDir, slug(m.name));
        fs.mkdirSync(srcDir, { recursive: true });
        fs.mkdirSync(destDir, { recursive: true });
        const source = path.join(srcDir, 'big');
        const target = path.join(destDir, 'big');
        const extra: Extra = { hwmGrowth: 0, samples: [], seconds: [] };
        moveExtras.set(m.name, extra);
        return rssEntrant(
          ctx,
          m.name,
          m.note,
          m.mode,
          bytes,
          () => {
            fs.rmSync(target, { force: true });
            writeSource(source, bytes, pattern(MIB));
            return { target, source };
          },
          (f) => {
            const got = sizeOf(f.target);
            if (got !== bytes) throw new Error(`${f.target} has ${String(got)} bytes, expected ${bytes}`);
            if (sizeOf(f.source!) !== undefined) throw new Error(`${f.source} still exists after the move`);
          },
          extra,
        );
      });
      await measure(ctx, `${spec.id}-move`, moveEntrants);
      out.push({
        id: `${spec.id}-move`,
        title: `RSS growth while moving one ${mib} MiB file from a tmpfs to the bench's disk (a fresh process per sample)`,
        unit: 'MiB RSS growth',
        lowerIsBetter: true,
        ref: RS.move,
        rows: moveEntrants.map((e) => e.row),
        notes: [
          ...COMMON_NOTES(bytes),
          `The tmpfs is ${tmpfs.how}; the source is written afresh there before every sample (untimed, by the bench, not the child).`,
          ...movers.map((m) => extraNote(m.name, moveExtras.get(m.name)!)),
        ],
      });
    } finally {
      tmpfs.dispose();
    }
    return out;
  } finally {
    fs.rmSync(caseDir, { recursive: true, force: true });
  }
}

