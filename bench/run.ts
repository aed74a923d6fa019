/**
 * `npm run bench`: atomfs next to write-file-atomic, atomically, steno, plain fs and a C
 * floor making the same system calls, in one run. Prints Markdown tables of medians and
 * ratios, then the targets with PASS/MISS.
 *
 *   npm run bench                   the full run (about 2-5 minutes)
 *   BENCH_QUICK=1 npm run bench     a smoke run (smaller counts, 64 MiB stream, 2 reps)
 *   npm run bench -- hot            only the cases whose id contains "hot"
 *   npm run bench -- move lock      only the move and lock cases (about 2-2.5 minutes; they add as much to the full run)
 *   npm run bench -- rss writefiles the memory and batch cases (about 4 minutes each on the bench VM)
 *
 * Case ids: durable-c1, durable-c64, durable-new-c1, durable-new-c64, durable-sync-c1,
 * durable-sync-new-c1, big-buffer, nofsync-c1, nofsync-c64, hot-fsync, hot-nofsync,
 * stream, move-same, move-xdev (two tables: to and from a tmpfs), rss-1gib (two tables:
 * RSS growth writing 1 GiB and moving it from a tmpfs; 128 MiB in a quick run),
 * writefiles-scale (one table per batch size, writefiles-scale-1 … -10000), lock-uncontended,
 * lock-contended, lock-contended-16, pg-lock-uncontended, pg-lock-contended-4, pg-lock-contended-16,
 * pg-mount-rename, pg-mount-small, pg-mount-small-cpu, pg-mount-stream (the pg- cases start a throwaway
 * PostgreSQL server: Debian's postgresql package), crashcheck (needs strace). BENCH_DIR overrides the bench folder (default: <repo>/.bench-tmp, on the
 * repo's own file system, never tmpfs, so fsync costs what it costs on real disk).
 * move-xdev mounts a tmpfs for itself (root; otherwise it uses /dev/shm) and unmounts it
 * on every exit path.
 *
 * Tables go to stdout, progress to stderr. Every result is also written as JSON
 * (`BENCH_OUT`, default <repo>/.bench-results: `<start time>.json` and `latest.json`) and
 * drawn as SVG charts into `charts/` there (bench/charts.ts); `npm run bench:report -- FILE
 * [DIR]` draws them again from a saved file (into docs/bench for the report). Exit code 0
 * unless the bench itself failed (a MISS is a result, not an error).
 *
 * @module
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { hotCase, smallCase, streamCase, type CaseResult, type Context } from './cases.js';
import { crashcheckCase } from './crashcheck.js';
import { compileFloor } from './floor.js';
import { lockContendedCase, lockUncontendedCase } from './locks.js';
import { moveSameCase, moveXdevCase } from './moves.js';
import { pgLockContendedCase, pgLockUncontendedCase, stopPgServer } from './pg-locks.js';
import { bigBufferCase, smallWorkloadCase } from './workloads.js';
import { rssCase } from './rss.js';
import { writeFilesScaleCase } from './writefiles.js';
import { pgMountRenameCase, pgMountSmallCase, pgMountStreamCase } from './pg-mount.js';
import { CHUNK } from '../src/postgres/schema.js';
import type { BenchResults } from './charts.js';
import { writeCharts } from './render.js';
import { caseTable, evaluateTargets, targetTable } from './report.js';
import { machineFacts } from './util.js';

// build/bench/run.js → the repository root.
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const MIB = 1024 * 1024;

interface Plan {
  readonly id: string;
  /** One table, or several (move-xdev: one per direction). */
  readonly run: (ctx: Context) => Promise<CaseResult | CaseResult[]>;
}

/**
 * The cases and their sizes. Full sizes keep each sample well above timer noise and the
 * whole run near 2-5 minutes on a disk where an fsync costs about 1 ms; quick sizes only
 * show that everything works.
 */
function plans(quick: boolean): Plan[] {
  const q = (full: number, small: number): number => (quick ? small : full);
  return [
    { id: 'durable-c1', run: (c) => smallCase(c, { id: 'durable-c1', fsync: true, concurrency: 1, count: q(300, 40) }) },
    { id: 'durable-c64', run: (c) => smallCase(c, { id: 'durable-c64', fsync: true, concurrency: 64, count: q(1000, 128) }) },
    { id: 'nofsync-c1', run: (c) => smallCase(c, { id: 'nofsync-c1', fsync: false, concurrency: 1, count: q(1000, 200) }) },
    { id: 'nofsync-c64', run: (c) => smallCase(c, { id: 'nofsync-c64', fsync: false, concurrency: 64, count: q(2000, 400) }) },
    // The workloads the cases above were not tuned to (new files, sync calls, one big buffer).
    { id: 'durable-new-c1', run: (c) => smallWorkloadCase(c, { id: 'durable-new-c1', fresh: true, sync: false, concurrency: 1, count: q(300, 40) }) },
    { id: 'durable-new-c64', run: (c) => smallWorkloadCase(c, { id: 'durable-new-c64', fresh: true, sync: false, concurrency: 64, count: q(1000, 128) }) },
    { id: 'durable-sync-c1', run: (c) => smallWorkloadCase(c, { id: 'durable-sync-c1', fresh: false, sync: true, concurrency: 1, count: q(300, 40) }) },
    { id: 'durable-sync-new-c1', run: (c) => smallWorkloadCase(c, { id: 'durable-sync-new-c1', fresh: true, sync: true, concurrency: 1, count: q(300, 40) }) },
    { id: 'big-buffer', run: (c) => bigBufferCase(c, { id: 'big-buffer', totalBytes: q(512, 64) * MIB }) },
    { id: 'hot-fsync', run: (c) => hotCase(c, { id: 'hot-fsync', fsync: true, writes: q(1000, 200) }) },
    // Without fsync a round lasts 1-10 ms, so it measures microseconds of per-call work and
    // the scheduler's noise: three times the reps steady the median (same for every writer).
    { id: 'hot-nofsync', run: (c) => hotCase({ ...c, reps: c.reps * 3 }, { id: 'hot-nofsync', fsync: false, writes: q(1000, 200) }) },
    // Big sequential writes on a shared virtual disk swing between ~250 and ~1,900 MiB/s
    // from one rep to the next (the host's cache): two more reps steady the median.
    { id: 'stream', run: (c) => streamCase({ ...c, reps: c.reps + 2 }, { id: 'stream', totalBytes: q(512, 64) * MIB, chunkBytes: MIB }) },
    { id: 'move-same', run: (c) => moveSameCase(c, { id: 'move-same', count: q(2000, 200) }) },
    // Each sample moves 1 GiB (and its preparation may write 1 GiB more): 10 samples a rep.
    // On the bench VM every such copy runs in one of two modes 2x apart (the host takes
    // freed memory back; whoever copies next pays to fault it in): with 5 reps a median
    // lands in either; twice the reps (about 3 minutes) steady it, the same for every mover.
    {
      id: 'move-xdev',
      run: (c) => moveXdevCase({ ...c, reps: c.reps * 2 }, { id: 'move-xdev', totalBytes: q(1024, 128) * MIB, fsType: machineFacts(c.root).fsType }),
    },
    // One table per batch size; write-file-atomic writes 10,000 durable files in turn (tens of seconds a round).
    { id: 'writefiles-scale', run: (c) => writeFilesScaleCase(c, { id: 'writefiles-scale', sizes: quick ? [1, 10, 100, 1_000] : [1, 10, 100, 1_000, 10_000] }) },
    // A fresh process per sample, no warm-up: 1 GiB written or moved per sample.
    { id: 'rss-1gib', run: (c) => rssCase(c, { id: 'rss-1gib', totalBytes: q(1024, 128) * MIB }) },
    { id: 'lock-uncontended', run: (c) => lockUncontendedCase(c, { id: 'lock-uncontended', cycles: q(2000, 200) }) },
    { id: 'lock-contended', run: (c) => lockContendedCase(c, { id: 'lock-contended', children: 4, cycles: q(200, 50) }) },
    // Four times the processes on a 2-CPU machine: most waiters are off-CPU at any moment,
    // so how a release reaches the next waiter decides the rate. A quarter of the cycles
    // each keeps the total (and the time) of the 4-process case.
    { id: 'lock-contended-16', run: (c) => lockContendedCase(c, { id: 'lock-contended-16', children: 16, cycles: q(50, 13) }) },
    // A throwaway PostgreSQL server (the tests' harness), started by the first of these.
    { id: 'pg-lock-uncontended', run: (c) => pgLockUncontendedCase(c, { id: 'pg-lock-uncontended', cycles: q(1000, 100) }) },
    { id: 'pg-lock-contended-4', run: (c) => pgLockContendedCase(c, { id: 'pg-lock-contended-4', children: 4, cycles: q(200, 30) }) },
    { id: 'pg-lock-contended-16', run: (c) => pgLockContendedCase(c, { id: 'pg-lock-contended-16', children: 16, cycles: q(50, 10) }) },
    // The same sizes in a quick run (the targets name them); only the reps and counts shrink.
    { id: 'pg-mount-rename', run: (c) => pgMountRenameCase(c, { id: 'pg-mount-rename', pgSizes: [10, 1_000, 100_000], copySizes: [10, 100, 1_000], renames: q(50, 10) }) },
    { id: 'pg-mount-small', run: (c) => pgMountSmallCase(c, { id: 'pg-mount-small', clients: 8, filesPerClient: q(500, 20), durable: true }) },
    { id: 'pg-mount-small-cpu', run: (c) => pgMountSmallCase(c, { id: 'pg-mount-small-cpu', clients: 8, filesPerClient: q(500, 20), durable: false }) },
    { id: 'pg-mount-stream', run: (c) => pgMountStreamCase(c, { id: 'pg-mount-stream', totalBytes: q(1024, 64) * MIB, chunkBytes: CHUNK }) },
    // One whole `atomfs crashcheck` run per sample (strace, replay, a sh -c per state).
    { id: 'crashcheck', run: (c) => crashcheckCase(c, { id: 'crashcheck', files: 20, maxStates: q(16, 4) }) },
  ];
}

async function main(): Promise<number> {
  const quick = process.env['BENCH_QUICK'] === '1';
  const filters = process.argv.slice(2);
  const all = plans(quick);
  const chosen = all.filter((p) => filters.length === 0 || filters.some((f) => p.id.includes(f)));
  if (chosen.length === 0) {
    console.error(`no case matches ${filters.join(', ')}; cases: ${all.map((p) => p.id).join(', ')}`);
    return 2;
  }
  const reps = quick ? 2 : 5;

  // Compiled first: if that fails there is nothing to clean up yet.
  const floor = compileFloor(path.join(REPO, 'bench', 'floor.c'));
  const base = path.resolve(process.env['BENCH_DIR'] ?? path.join(REPO, '.bench-tmp'));
  let root: string;
  try {
    fs.mkdirSync(base, { recursive: true });
    root = fs.mkdtempSync(path.join(base, 'run-'));
  } catch (e) {
    floor.dispose();
    throw e;
  }
  // Clean-ups registered by the cases (tmpfs mounts, child processes), run before the
  // folder is removed: on a normal exit they have already run and unregistered.
  const exitHooks = new Set<() => void>();
  const atExit = (fn: () => void): (() => void) => {
    let ran = false;
    const hook = (): void => {
      exitHooks.delete(hook);
      if (ran) return;
      ran = true;
      fn();
    };
    exitHooks.add(hook);
    return hook;
  };
  // Removed on every exit path, Ctrl-C included.
  const cleanup = (): void => {
    for (const hook of [...exitHooks].reverse()) {
      try {
        hook();
      } catch (e) {
        console.error(e);
      }
    }
    fs.rmSync(root, { recursive: true, force: true });
    floor.dispose();
    try {
      fs.rmdirSync(base); // only if empty: another run may be using it
    } catch {
      // not empty, or already gone
    }
  };
  const onSignal = (): void => {
    cleanup();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    const m = machineFacts(root);
    const started = new Date();
    console.log(`## atomfs benchmark, ${started.toISOString()}${quick ? ' (BENCH_QUICK: smoke run, not for comparison)' : ''}`);
    console.log('');
    console.log(`- machine: ${m.nproc} CPUs (${m.cpu}), ${m.memGiB} GiB RAM, kernel ${m.kernel}`);
    console.log(`- bench folder: ${path.relative(REPO, root) || root} on ${m.fsType}`);
    console.log(`- node ${m.node}, UV_THREADPOOL_SIZE ${m.uvThreadpool}; C floor built with cc -O2 -pthread`);
    // Another busy process on a 2-CPU machine moves these numbers a lot: say so.
    const loadStart = os.loadavg();
    console.log(`- load average at start: ${loadStart.map((l) => l.toFixed(2)).join(', ')}`);
    console.log(`- ${reps} timed reps per writer (${reps + 2} for the stream) after one warm-up, interleaved; medians shown`);
    console.log('');

    const results = new Map<string, CaseResult>();
    const progress = (msg: string): void => void process.stderr.write(`  … ${msg}\n`);
    const ctx: Context = { root, floor, reps, progress, atExit };
    for (const p of chosen) {
      const t0 = Date.now();
      const out = await p.run(ctx);
      for (const r of Array.isArray(out) ? out : [out]) {
        results.set(r.id, r);
        console.log(caseTable(r));
        console.log('');
      }
      progress(`${p.id} took ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    }
    await stopPgServer();

    const targets = evaluateTargets(results);
    console.log('### Targets');
    console.log('');
    console.log(targetTable(targets));
    console.log('');
    const command = `${quick ? 'BENCH_QUICK=1 ' : ''}npm run bench${filters.length > 0 ? ` -- ${filters.join(' ')}` : ''}`;
    const json: BenchResults = { version: 1, started: started.toISOString(), quick, command, machine: { ...m, loadStart }, reps, cases: [...results.values()], targets };
    const out = path.resolve(process.env['BENCH_OUT'] ?? path.join(REPO, '.bench-results'));
    fs.mkdirSync(out, { recursive: true });
    const text = `${JSON.stringify(json, null, 1)}\n`;
    fs.writeFileSync(path.join(out, `${started.toISOString().replace(/[:.]/g, '-')}.json`), text);
    fs.writeFileSync(path.join(out, 'latest.json'), text);
    const charts = writeCharts(json, path.join(out, 'charts'));
    progress(`results: ${path.join(out, 'latest.json')}; ${charts.length} charts in ${path.join(out, 'charts')}`);
    console.log(`Total time ${((Date.now() - started.getTime()) / 1000).toFixed(0)} s; load average at end: ${os.loadavg().map((l) => l.toFixed(2)).join(', ')}.`);
    return 0;
  } finally {
    cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  },
);
