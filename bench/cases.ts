/**
 * The benchmark cases. Each returns a {@link CaseResult}: one row per writer with the
 * samples of every repetition.
 *
 * How every case measures (and why):
 * - Repetitions are interleaved (rep 1 of every writer, then rep 2, …) and the order of
 *   the writers rotates each rep, so a slow minute of a shared virtual disk lands on
 *   everyone rather than on whoever ran then.
 * - `sync(1)` runs, untimed, before every timed sample (after the entrant's own untimed
 *   preparation, if it has one), so writeback left by the previous sample or by the
 *   preparation does not bill the sample.
 * - One untimed warm-up round per writer first: it creates the files (timed rounds all
 *   *replace* existing files, the common case for atomic writes) and warms the JIT.
 * - The C floor times itself inside the child, so process start-up is not counted.
 *
 * @module
 */
import * as fs from 'node:fs';
import { pipeline } from 'node:stream/promises';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { createWriteStream as atomfsCreateWriteStream, openAtomic } from '../src/index.js';
import { floorBig, floorSmall, type Floor } from './floor.js';
import { fmtRate, runPool, settleDisk } from './util.js';
import { smallWriters, W, type SmallWriter } from './writers.js';

/** One writer's samples in one case. */
export interface Row {
  readonly name: string;
  readonly samples: number[];
  /** The first error, if the writer failed; it is then not run again in this case. */
  error?: string;
  /** Hot-file case only: did every rep end with the last write's content? */
  lastWriteWins?: boolean;
  /** Hot-file case only: how many of the calls rejected, over all reps. */
  rejected?: number;
  /** Contended-lock case only: did every rep end with the counter at exactly the expected value? */
  counterExact?: boolean;
  /** Batch case only: fsync calls per file written, over every timed round. */
  fsyncsPerFile?: number;
  /** Batch case only: what the writer's design should need per file, printed beside it. */
  fsyncsExpected?: number;
  readonly note?: string | undefined;
}

/** The outcome of one case. */
export interface CaseResult {
  readonly id: string;
  readonly title: string;
  readonly unit: 'writes/s' | 'MiB/s' | 'moves/s' | 'cycles/s' | 'states/s' | 'MiB RSS growth' | 'files/s';
  /**
   * The unit is a cost, not a rate (memory): the ratio column and the charts then divide
   * each writer by the reference row, so above 1 still means the reference did better.
   */
  readonly lowerIsBetter?: boolean;
  /** The row the "atomfs ÷ writer" column divides by the others. */
  readonly ref: string;
  readonly rows: Row[];
  readonly notes: string[];
}

/** Where and how much. */
export interface Context {
  /** A fresh folder on the file system under test; each case makes its own subfolder. */
  readonly root: string;
  readonly floor: Floor;
  readonly reps: number;
  /** Logs progress to stderr (the tables go to stdout). */
  readonly progress: (msg: string) => void;
  /**
   * Registers a clean-up that must also run if the bench is interrupted (Ctrl-C, SIGTERM):
   * unmounting a tmpfs, killing child processes. Returns a function that runs it now (once)
   * and unregisters it, for the normal `finally` path.
   */
  readonly atExit: (fn: () => void) => () => void;
}

const KIB = 1024;
const MIB = 1024 * 1024;

/** Folder-safe form of a row label. */
export function slug(name: string): string {
  return name.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '').toLowerCase();
}

export function errText(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  return err?.code ? `${err.code}: ${err.message}` : String((e as Error)?.message ?? e);
}

/** Bytes that are neither zero nor repetitive at the block level (no sparse/dedup tricks). */
export function pattern(size: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  // The same bytes floor.c writes.
  for (let i = 0; i < size; i++) b[i] = (i * 131 + 7) & 0xff;
  return b;
}

/** Rotates `xs` left by `k` (the writer order of rep k). */
function rotate<T>(xs: readonly T[], k: number): T[] {
  const n = xs.length;
  return Array.from({ length: n }, (_, i) => xs[(i + k) % n]!);
}

/** A writer as the case loop sees it: one warm-up and then timed samples. */
export interface Entrant {
  readonly row: Row;
  /** The name in progress lines, when the row's name alone is ambiguous. */
  readonly label?: string;
  /**
   * Untimed preparation of round `rep` (-1 for the warm-up): run before the round, and
   * before the `sync(1)` that precedes every timed round, so what it writes or frees is
   * flushed before the clock starts. A round needs no `sync(1)` of its own.
   */
  readonly prepare?: ((rep: number) => void | Promise<void>) | undefined;
  /** Runs one round and returns its duration in seconds (the floor measures its own). */
  readonly round: (rep: number) => Promise<number>;
  /** Converts a round's seconds to the case's unit. */
  readonly rate: (seconds: number) => number;
}

/**
 * Warm-up, then `reps` interleaved, rotated, settled samples: each is the entrant's
 * `prepare(rep)`, `sync(1)`, then the timed round. Rep k starts with entrant `k × stride`
 * (stride 2 keeps pairs of entrants that depend on each other together).
 */
export async function measure(ctx: Context, id: string, entrants: readonly Entrant[], stride = 1): Promise<void> {
  for (const e of entrants) {
    ctx.progress(`${id}: warm-up ${e.label ?? e.row.name}`);
    try {
      await e.prepare?.(-1);
      await e.round(-1);
    } catch (err) {
      e.row.error = errText(err);
    }
  }
  for (let rep = 0; rep < ctx.reps; rep++) {
    for (const e of rotate(entrants, rep * stride)) {
      if (e.row.error !== undefined) continue;
      try {
        await e.prepare?.(rep);
        settleDisk();
        const r = e.rate(await e.round(rep));
        e.row.samples.push(r);
        ctx.progress(`${id}: rep ${rep + 1}/${ctx.reps} ${e.label ?? e.row.name}: ${fmtRate(r)}`);
      } catch (err) {
        e.row.error = errText(err);
        ctx.progress(`${id}: rep ${rep + 1}/${ctx.reps} ${e.label ?? e.row.name}: ${e.row.error}`);
      }
    }
  }
}

export async function timed(fn: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
}

/** Case (1)/(2): `count` 1 KiB writes to distinct files at a fixed concurrency. */
export interface SmallSpec {
  readonly id: string;
  readonly fsync: boolean;
  readonly concurrency: number;
  readonly count: number;
}

export async function smallCase(ctx: Context, spec: SmallSpec): Promise<CaseResult> {
  const size = KIB;
  const data = pattern(size);
  const caseDir = path.join(ctx.root, spec.id);
  const entrants: Entrant[] = [];
  const rate = (s: number): number => spec.count / s;

  for (const w of smallWriters(spec.fsync)) {
    const dir = path.join(caseDir, slug(w.name));
    fs.mkdirSync(dir, { recursive: true });
    // Paths built once, outside the timed loop.
    const files = Array.from({ length: spec.count }, (_, i) => path.join(dir, `f${i}`));
    entrants.push({
      row: { name: w.name, samples: [], note: w.note },
      round: () => timed(() => runPool(spec.count, spec.concurrency, (i) => w.write(files[i]!, data))),
      rate,
    });
  }
  const floorDir = path.join(caseDir, 'floor');
  fs.mkdirSync(floorDir, { recursive: true });
  entrants.push({
    row: {
      name: W.floor,
      samples: [],
      note:
        spec.concurrency > 1
          ? `C floor: ${spec.concurrency} pthreads, each write with its own file and folder fsync (no group commit).`
          : undefined,
    },
    round: async () => floorSmall(ctx.floor, floorDir, spec.count, size, spec.concurrency, spec.fsync).seconds,
    rate,
  });

  await measure(ctx, spec.id, entrants);
  fs.rmSync(caseDir, { recursive: true, force: true });
  return {
    id: spec.id,
    title: `${spec.count} × 1 KiB writes to distinct existing files, fsync ${spec.fsync ? 'on' : 'off'}, concurrency ${spec.concurrency}`,
    unit: 'writes/s',
    ref: W.atomfs,
    rows: entrants.map((e) => e.row),
    notes: [],
  };
}

/** Case (3): `writes` calls at one path, all fired before any is awaited. */
export interface HotSpec {
  readonly id: string;
  readonly fsync: boolean;
  readonly writes: number;
}

export async function hotCase(ctx: Context, spec: HotSpec): Promise<CaseResult> {
  const caseDir = path.join(ctx.root, spec.id);
  const entrants: Entrant[] = [];
  for (const w of smallWriters(spec.fsync)) {
    const dir = path.join(caseDir, slug(w.name));
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, 'hot');
    const row: Row = { name: w.name, samples: [], note: w.note, lastWriteWins: true, rejected: 0 };
    entrants.push({
      row,
      round: (rep) => hotRound(w, file, spec.writes, rep, row),
      rate: (s) => spec.writes / s,
    });
  }
  await measure(ctx, spec.id, entrants);
  fs.rmSync(caseDir, { recursive: true, force: true });
  return {
    id: spec.id,
    title: `${spec.writes} writes (~1 KiB each) fired at ONE file without awaiting, fsync ${spec.fsync ? 'on' : 'off'}`,
    unit: 'writes/s',
    ref: W.atomfs,
    rows: entrants.map((e) => e.row),
    notes: [
      'Rate = calls / time until every call settled. "Last write wins" = after every rep the file holds exactly the last call\'s bytes and no call rejected.',
    ],
  };
}

/**
 * One hot-file round. Every payload is distinct (rep and index in it) and a little
 * different in length, so a stale file from an earlier rep, a torn write or a mix of
 * two writes cannot pass the check.
 */
async function hotRound(w: SmallWriter, file: string, writes: number, rep: number, row: Row): Promise<number> {
  // The warm-up round (rep -1) creates the file and warms up the JIT with the full count:
  // a 20-call warm-up left the per-call code of the coalescing writers unoptimised.
  const n = writes;
  const payloads = Array.from({ length: n }, (_, i) => {
    const head = Buffer.from(`${w.name} rep ${rep} write ${i} of ${n}\n`);
    return Buffer.concat([head, pattern(KIB - 64 + (i % 61))]);
  });
  const t0 = performance.now();
  const results = await Promise.allSettled(payloads.map((p) => w.write(file, p)));
  const seconds = (performance.now() - t0) / 1000;
  if (rep < 0) return seconds;
  const rejected = results.filter((r) => r.status === 'rejected').length;
  row.rejected = (row.rejected ?? 0) + rejected;
  const final = fs.readFileSync(file);
  if (rejected > 0 || !final.equals(payloads[n - 1]!)) row.lastWriteWins = false;
  return seconds;
}

/** Case (4): one large file streamed in fixed chunks. */
export interface StreamSpec {
  readonly id: string;
  readonly totalBytes: number;
  readonly chunkBytes: number;
}

/** Row labels of the stream case. */
export const STREAM = Object.freeze({
  cws: 'atomfs createWriteStream',
  open: 'atomfs openAtomic',
  fsws: 'fs.createWriteStream',
  floor: W.floor,
});

export async function streamCase(ctx: Context, spec: StreamSpec): Promise<CaseResult> {
  const caseDir = path.join(ctx.root, spec.id);
  const chunk = pattern(spec.chunkBytes);
  const chunks = Math.ceil(spec.totalBytes / spec.chunkBytes);
  const total = chunks * spec.chunkBytes;
  // The same chunk object every time: the source costs nothing, only the writer is timed.
  function* source(n: number): Generator<Buffer> {
    for (let i = 0; i < n; i++) yield chunk;
  }
  // The warm-up round (rep -1) writes an eighth of the size: enough to warm the JIT.
  const chunksOf = (rep: number): number => (rep < 0 ? Math.max(1, chunks >> 3) : chunks);
  const rate = (s: number): number => total / MIB / s;

  /**
   * One writer of the stream case, writing `big` in its own folder. Every round creates
   * the file anew: the previous one is removed in `prepare` (untimed, and synced by
   * measure before the round), so no round pays for freeing the last one.
   */
  const streamEntrant = (name: string, write: (target: string, chunkCount: number) => Promise<number>, note?: string): Entrant => {
    const dir = path.join(caseDir, slug(name));
    fs.mkdirSync(dir, { recursive: true });
    const target = path.join(dir, 'big');
    let n = 0;
    return {
      row: { name, samples: [], note },
      prepare: (rep) => {
        n = chunksOf(rep);
        fs.rmSync(target, { force: true });
      },
      round: async () => {
        const seconds = await write(target, n);
        const size = fs.statSync(target).size;
        if (size !== n * spec.chunkBytes) throw new Error(`${target} has ${size} bytes, expected ${n * spec.chunkBytes}`);
        return seconds;
      },
      rate,
    };
  };

  const entrants: Entrant[] = [
    streamEntrant(STREAM.cws, (target, n) => timed(() => pipeline(source(n), atomfsCreateWriteStream(target)))),
    streamEntrant(STREAM.open, (target, n) =>
      timed(async () => {
        const f = await openAtomic(target);
        try {
          for (let i = 0; i < n; i++) await f.write(chunk);
          await f.commit();
        } finally {
          await f.abort();
        }
      }),
    ),
    streamEntrant(
      STREAM.fsws,
      (target, n) => timed(() => pipeline(source(n), fs.createWriteStream(target, { flush: true }))),
      'fs.createWriteStream with flush: true writes the target in place and fsyncs it before close: not atomic, no rename, no folder fsync.',
    ),
    // The C floor writes `big` in the folder it is given and times itself.
    streamEntrant(STREAM.floor, async (target, n) => floorBig(ctx.floor, path.dirname(target), n * spec.chunkBytes, spec.chunkBytes, true).seconds),
  ];
  await measure(ctx, spec.id, entrants);
  fs.rmSync(caseDir, { recursive: true, force: true });
  return {
    id: spec.id,
    title: `one ${total / MIB} MiB file in ${spec.chunkBytes / MIB} MiB chunks, fsync on (file + folder)`,
    unit: 'MiB/s',
    ref: STREAM.cws,
    rows: entrants.map((e) => e.row),
    notes: ['Each round writes a new file (the previous one is deleted and sync(1) runs first, untimed).'],
  };
}
