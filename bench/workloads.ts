/**
 * The workloads the first benchmark was not tuned to (the performance issue):
 * - `durable-new-c1`, `durable-new-c64`: 1 KiB durable writes to NEW files (every round
 *   writes into a fresh, empty folder), async, at concurrency 1 and 64;
 * - `durable-sync`, `durable-sync-new`: the same through each library's synchronous call
 *   (`writeFileSync`), to existing files and to new ones;
 * - `big-buffer`: one big Buffer written durably in one call.
 * Anchors side by side and the C floor making the same system calls, in the same run.
 *
 * @module
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { writeFileSync as atomicallyWriteFileSync } from 'atomically';
import writeFileAtomic from 'write-file-atomic';
import { writeFileSync as atomfsWriteFileSync } from '../src/index.js';
import { measure, pattern, slug, timed, type CaseResult, type Context, type Entrant } from './cases.js';
import { floorBig, floorSmall } from './floor.js';
import { runPool } from './util.js';
import { smallWriters, W } from './writers.js';

const KIB = 1024;
const MIB = 1024 * 1024;

/** A synchronous writer, configured for durable writes. */
interface SyncWriter {
  readonly name: string;
  readonly note?: string;
  write(file: string, data: Buffer): void;
}

function syncWriters(): SyncWriter[] {
  return [
    { name: W.atomfs, write: (f, d) => atomfsWriteFileSync(f, d) },
    { name: W.wfa, note: 'write-file-atomic.sync fsyncs the file but never the folder after the rename.', write: (f, d) => writeFileAtomic.sync(f, d, { fsync: true }) },
    { name: W.atomically, note: 'atomically.writeFileSync fsyncs the file but never the folder after the rename.', write: (f, d) => atomicallyWriteFileSync(f, d, { fsync: true }) },
    { name: W.fs, note: 'fs.writeFileSync with flush: true rewrites the file in place: not atomic, no folder fsync.', write: (f, d) => fs.writeFileSync(f, d, { flush: true }) },
  ];
}

/**
 * `count` durable 1 KiB writes to distinct files. `fresh`: every round (the warm-up too)
 * writes into a new empty folder, made untimed before it, so each write creates its file;
 * otherwise the warm-up creates the files and the timed rounds replace them.
 */
export async function smallWorkloadCase(ctx: Context, spec: { id: string; fresh: boolean; sync: boolean; concurrency: number; count: number }): Promise<CaseResult> {
  const data = pattern(KIB);
  const caseDir = path.join(ctx.root, spec.id);
  const rate = (s: number): number => spec.count / s;
  const entrants: Entrant[] = [];
  const folderOf = (name: string): { dir: () => string; prepare: (rep: number) => void } => {
    const base = path.join(caseDir, slug(name));
    fs.mkdirSync(base, { recursive: true });
    let current = path.join(base, 'files');
    return {
      dir: () => current,
      prepare: (rep) => {
        if (!spec.fresh) {
          fs.mkdirSync(current, { recursive: true });
          return;
        }
        fs.rmSync(current, { recursive: true, force: true });
        current = path.join(base, `round${rep + 1}`);
        fs.mkdirSync(current);
      },
    };
  };
  const writers: { name: string; note?: string | undefined; run: (files: string[]) => Promise<void> }[] = spec.sync
    ? syncWriters().map((w) => ({
        name: w.name,
        note: w.note,
        run: async (files) => {
          for (const f of files) w.write(f, data);
        },
      }))
    : smallWriters(true).map((w) => ({ name: w.name, note: w.note, run: (files) => runPool(files.length, spec.concurrency, (i) => w.write(files[i]!, data)) }));
  for (const w of writers) {
    const folder = folderOf(w.name);
    entrants.push({
      row: { name: w.name, samples: [], note: w.note },
      prepare: folder.prepare,
      round: () => {
        // Paths built before the clock starts.
        const files = Array.from({ length: spec.count }, (_, i) => path.join(folder.dir(), `f${i}`));
        return timed(() => w.run(files));
      },
      rate,
    });
  }
  const floorFolder = folderOf(W.floor);
  entrants.push({
    row: { name: W.floor, samples: [], note: spec.concurrency > 1 ? `C floor: ${spec.concurrency} pthreads, each write with its own file and folder fsync.` : undefined },
    prepare: floorFolder.prepare,
    round: async () => floorSmall(ctx.floor, floorFolder.dir(), spec.count, KIB, spec.concurrency, true).seconds,
    rate,
  });
  try {
    await measure(ctx, spec.id, entrants);
  } finally {
    fs.rmSync(caseDir, { recursive: true, force: true });
  }
  return {
    id: spec.id,
    title: `${spec.count} × 1 KiB durable writes to ${spec.fresh ? 'NEW files (a fresh folder each round)' : 'existing files'}, ${spec.sync ? 'writeFileSync' : `async, concurrency ${spec.concurrency}`}`,
    unit: 'writes/s',
    ref: W.atomfs,
    rows: entrants.map((e) => e.row),
    notes: [],
  };
}

/** One Buffer of `totalBytes` written durably by one call, to a new file each round. */
export async function bigBufferCase(ctx: Context, spec: { id: string; totalBytes: number }): Promise<CaseResult> {
  const caseDir = path.join(ctx.root, spec.id);
  const data = pattern(spec.totalBytes);
  const rate = (s: number): number => spec.totalBytes / MIB / s;
  const entrants: Entrant[] = [];
  const one = (name: string, write: (target: string) => Promise<number>, note?: string): Entrant => {
    const dir = path.join(caseDir, slug(name));
    fs.mkdirSync(dir, { recursive: true });
    const target = path.join(dir, 'big');
    return {
      row: { name, samples: [], note },
      // The last round's file is freed before the clock starts (and synced by measure).
      prepare: () => fs.rmSync(target, { force: true }),
      round: async () => {
        const s = await write(target);
        const size = fs.statSync(target).size;
        if (size !== spec.totalBytes) throw new Error(`${target} has ${size} bytes, expected ${spec.totalBytes}`);
        return s;
      },
      rate,
    };
  };
  for (const w of smallWriters(true)) entrants.push(one(w.name, (target) => timed(() => w.write(target, data)), w.note));
  const floorDir = path.join(caseDir, 'floor');
  fs.mkdirSync(floorDir, { recursive: true });
  entrants.push({
    // 1 MiB writes, as the stream case's floor: one write(2) of the whole buffer measured
    // far below every writer here (the kernel's handling of one huge request, not a floor).
    row: { name: W.floor, samples: [], note: 'C floor: the buffer in 1 MiB write(2)s into a temp, fsync, rename, folder fsync.' },
    prepare: () => fs.rmSync(path.join(floorDir, 'big'), { force: true }),
    round: async () => floorBig(ctx.floor, floorDir, spec.totalBytes, MIB, true).seconds,
    rate,
  });
  const t0 = performance.now();
  try {
    await measure(ctx, spec.id, entrants);
  } finally {
    fs.rmSync(caseDir, { recursive: true, force: true });
  }
  return {
    id: spec.id,
    title: `one ${spec.totalBytes / MIB} MiB Buffer written durably by one call, a new file each round`,
    unit: 'MiB/s',
    ref: W.atomfs,
    rows: entrants.map((e) => e.row),
    notes: [`Whole case ${((performance.now() - t0) / 1000).toFixed(0)} s.`],
  };
}
