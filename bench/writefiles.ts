/**
 * The batch case `writefiles-scale`: atomfs `writeFiles` (every file written and fsynced,
 * then all renamed, then one fsync per distinct folder) with batches of 1 to 10,000 files
 * of 1 KiB into one folder, next to write-file-atomic writing the same files one by one.
 * One table per batch size (`writefiles-scale-<N>`), and a scaling chart across them.
 *
 * Besides the rate, each row counts its fsyncs per file over the timed rounds: atomfs
 * through its file-system seam (`fs:`, a counting wrapper over the real calls),
 * write-file-atomic by wrapping `fs.fsync` of the CommonJS `fs` module it calls (it looks
 * the function up at every call). A group commit should need 1 + folders/N per file.
 *
 * The usual rules otherwise (see cases.ts): interleaved reps in rotated order, `sync(1)`
 * before every sample, medians.
 *
 * @module
 */
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { writeFiles, type FsOps } from '../src/index.js';
import { realOps } from '../src/internal/fs-ops.js';
import { measure, pattern, slug, timed, type CaseResult, type Context, type Entrant, type Row } from './cases.js';

const KIB = 1024;

/** Row labels of the batch case, the same at every size (the scaling chart joins them). */
export const WF = Object.freeze({
  atomfs: 'atomfs writeFiles',
  wfa: 'write-file-atomic, one by one',
});

export interface WriteFilesSpec {
  readonly id: string;
  readonly sizes: readonly number[];
}

/** The real calls, with every fsync counted (the sync and async forms alike). */
function countingOps(): { readonly ops: FsOps; count: () => number } {
  let n = 0;
  const ops: FsOps = {
    ...realOps,
    sync: {
      ...realOps.sync,
      fsync: (fd) => {
        n++;
        realOps.sync.fsync(fd);
      },
    },
    async: {
      ...realOps.async,
      fsync: (fd) => {
        n++;
        return realOps.async.fsync(fd);
      },
    },
  };
  return { ops, count: () => n };
}

// The module object write-file-atomic's `require('fs')` returns (ESM namespaces of
// builtins are snapshots: wrapping a function there would not reach it).
const cjsFs = createRequire(import.meta.url)('node:fs') as typeof fs;

/** Runs `fn` with every fsync and fdatasync through `cjsFs` counted; returns the count. */
async function countingCjsFsyncs(fn: () => Promise<void>): Promise<number> {
  const { fsync, fdatasync, fsyncSync, fdatasyncSync } = cjsFs;
  let n = 0;
  const counted = <F extends (...a: never[]) => unknown>(f: F): F =>
    ((...a: Parameters<F>) => {
      n++;
      return f(...a);
    }) as F;
  cjsFs.fsync = counted(fsync);
  cjsFs.fdatasync = counted(fdatasync);
  cjsFs.fsyncSync = counted(fsyncSync);
  cjsFs.fdatasyncSync = counted(fdatasyncSync);
  try {
    await fn();
  } finally {
    cjsFs.fsync = fsync;
    cjsFs.fdatasync = fdatasync;
    cjsFs.fsyncSync = fsyncSync;
    cjsFs.fdatasyncSync = fdatasyncSync;
  }
  return n;
}

/** Files written by a warm-up round: enough to warm the JIT, not to double the case's time. */
const WARM_FILES = 100;

/** One batch size: both writers, each in its own folder of `n` existing files. */
async function batchCase(ctx: Context, caseDir: string, id: string, n: number): Promise<CaseResult> {
  const data = pattern(KIB);
  /** `bind(files)` makes the round's call (entries built before the clock starts); it resolves to the fsyncs it made. */
  type Writer = { name: string; note: string; expected: (folders: number) => number; bind: (files: readonly string[]) => () => Promise<number> };
  const counter = countingOps();
  const writers: Writer[] = [
    {
      name: WF.atomfs,
      note: `atomfs writeFiles: \`writeFiles(entries, { fs })\`, one call for the batch, defaults otherwise (fsync on; 32 files prepared at a time): each temp written and fsynced, then all renamed in order, then one fsync per distinct folder. \`fs\` is a seam that counts fsyncs and makes the real calls.`,
      expected: (folders) => 1 + folders / n,
      bind: (files) => {
        const entries = files.map((p) => ({ path: p, data }));
        return async () => {
          const before = counter.count();
          await writeFiles(entries, { fs: counter.ops });
          return counter.count() - before;
        };
      },
    },
    {
      name: WF.wfa,
      note: 'write-file-atomic: `await writeFileAtomic(file, data, { fsync: true })` for each file in turn: it fsyncs each file, never the folder after the rename (so a power loss may lose renames it reported done).',
      expected: () => 1,
      bind: (files) => () =>
        countingCjsFsyncs(async () => {
          for (const f of files) await writeFileAtomic(f, data, { fsync: true });
        }),
    },
  ];
  const entrants: Entrant[] = [];
  for (const w of writers) {
    const dir = path.join(caseDir, `n${n}`, slug(w.name));
    fs.mkdirSync(dir, { recursive: true });
    const files = Array.from({ length: n }, (_, i) => path.join(dir, `f${i}`));
    // Created untimed (and flushed by the sync before the first sample), so every round
    // replaces existing files, and the warm-up can be short.
    for (const f of files) fs.writeFileSync(f, data);
    const full = w.bind(files);
    const warm = w.bind(files.slice(0, Math.min(n, WARM_FILES)));
    const row: Row = { name: w.name, samples: [], note: w.note, fsyncsExpected: w.expected(new Set(files.map((f) => path.dirname(f))).size) };
    const totals = { fsyncs: 0, files: 0 };
    entrants.push({
      row,
      round: async (rep) => {
        let fsyncs = 0;
        const seconds = await timed(async () => {
          fsyncs = await (rep < 0 ? warm : full)();
        });
        if (rep >= 0) {
          totals.fsyncs += fsyncs;
          totals.files += n;
          row.fsyncsPerFile = totals.fsyncs / totals.files;
        }
        return seconds;
      },
      rate: (s) => n / s,
    });
  }
  await measure(ctx, id, entrants);
  return {
    id,
    title: `${n.toLocaleString('en-US')} × 1 KiB durable writes to existing files in one folder: one writeFiles batch against one by one`,
    unit: 'files/s',
    ref: WF.atomfs,
    rows: entrants.map((e) => e.row),
    notes: [
      `"fsyncs / file" = fsync and fdatasync calls over every timed round ÷ files written; "expected" = 1 + folders/N = 1 + 1/${n} for writeFiles (one per file, one per folder), 1 for write-file-atomic (no folder fsync).`,
      `The files exist before the first round (written untimed); the warm-up round writes the first ${Math.min(n, WARM_FILES)} of them.`,
    ],
  };
}

export async function writeFilesScaleCase(ctx: Context, spec: WriteFilesSpec): Promise<CaseResult[]> {
  const caseDir = path.join(ctx.root, spec.id);
  const out: CaseResult[] = [];
  try {
    for (const n of spec.sizes) {
      out.push(await batchCase(ctx, caseDir, `${spec.id}-${n}`, n));
      // Each size's files go before the next size is measured.
      fs.rmSync(path.join(caseDir, `n${n}`), { recursive: true, force: true });
    }
  } finally {
    fs.rmSync(caseDir, { recursive: true, force: true });
  }
  return out;
}
