/**
 * The lock cases: acquire/release cycles on one path without contention
 * (`lock-uncontended`), and child processes fighting over one counter file
 * (`lock-contended` with 4 of them, `lock-contended-16` with 16).
 *
 * @module
 */
import { fork, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { lock as properLock } from 'proper-lockfile';
import { lock as atomfsLock } from '../src/index.js';
import { measure, slug, timed, type CaseResult, type Context, type Entrant, type Row } from './cases.js';
import { CONTENDED_SETTINGS_TEXT } from './lock-settings.js';
import { nextMessage } from './util.js';

/** Row labels of the lock cases, shared with the targets. */
export const LK = Object.freeze({
  atomfs: 'atomfs lock',
  proper: 'proper-lockfile',
});

// build/bench/locks.js → build/bench/lock-child.js
const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'lock-child.js');

/** `lock-uncontended`: `cycles` acquire/release cycles on one existing file, one at a time. */
export interface UncontendedSpec {
  readonly id: string;
  readonly cycles: number;
}

export async function lockUncontendedCase(ctx: Context, spec: UncontendedSpec): Promise<CaseResult> {
  const caseDir = path.join(ctx.root, spec.id);
  const lockers: { name: string; cycle: (file: string) => Promise<void> }[] = [
    {
      name: LK.atomfs,
      cycle: async (f) => {
        const l = await atomfsLock(f);
        await l.release();
      },
    },
    {
      name: LK.proper,
      cycle: async (f) => {
        const release = await properLock(f);
        await release();
      },
    },
  ];
  const entrants: Entrant[] = lockers.map((k) => {
    // Each in its own folder, so the other's lock files are never in the way.
    const dir = path.join(caseDir, slug(k.name));
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, 'target');
    fs.writeFileSync(file, 'locked\n');
    return {
      row: { name: k.name, samples: [] },
      round: () =>
        timed(async () => {
          for (let i = 0; i < spec.cycles; i++) await k.cycle(file);
        }),
      rate: (s: number) => spec.cycles / s,
    };
  });
  await measure(ctx, spec.id, entrants);
  fs.rmSync(caseDir, { recursive: true, force: true });
  return {
    id: spec.id,
    title: `${spec.cycles} acquire/release cycles of an exclusive lock on one existing file, no contention`,
    unit: 'cycles/s',
    ref: LK.atomfs,
    rows: entrants.map((e) => e.row),
    notes: [
      'Both with default options: atomfs `lock(file)` then `release()`; proper-lockfile `lock(file)` then the returned `release()`.',
      'Neither reads a fencing token (proper-lockfile has none; atomfs takes its token only when `lock.token` is read: a read and a write of a token file, about 10 µs).',
    ],
  };
}

/** `lock-contended`: `children` processes × `cycles` lock, read counter, write counter + 1, release. */
export interface ContendedSpec {
  readonly id: string;
  readonly children: number;
  readonly cycles: number;
}

/** Waits for the next message of each child matching `type` (see {@link nextMessage}). */
function nextMessages(kids: readonly ChildProcess[], type: 'ready' | 'done'): Promise<void> {
  return Promise.all(kids.map((k) => nextMessage(k, type))).then(() => undefined);
}

async function contendedRound(ctx: Context, id: string, impl: 'atomfs' | 'proper-lockfile', dir: string, children: number, cycles: number, row: Row, check: boolean): Promise<number> {
  const counter = path.join(dir, 'counter');
  fs.writeFileSync(counter, '0'.padEnd(15) + '\n'); // the 16-byte record lock-child.ts updates in place
  const kids: ChildProcess[] = [];
  const killAll = (): void => {
    for (const k of kids) if (k.exitCode === null && k.signalCode === null) k.kill('SIGKILL');
  };
  const dispose = ctx.atExit(killAll);
  try {
    for (let i = 0; i < children; i++) {
      kids.push(fork(CHILD, [impl, counter, String(cycles)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
    }
    const exited = Promise.all(kids.map((k) => new Promise<void>((resolve) => (k.exitCode !== null ? resolve() : k.once('exit', () => resolve())))));
    // Start-up (node, module loading, a JIT warm-up of uncontended cycles) is not timed:
    // every child says ready first.
    await nextMessages(kids, 'ready');
    const done = nextMessages(kids, 'done');
    const t0 = performance.now();
    for (const k of kids) k.send('go');
    await done;
    const seconds = (performance.now() - t0) / 1000;
    await exited;
    const final = Number(fs.readFileSync(counter, 'utf8').trim());
    if (check && final !== children * cycles) {
      row.counterExact = false;
      ctx.progress(`${id}: ${row.name}: counter ${final}, expected ${children * cycles}`);
    }
    return seconds;
  } finally {
    dispose();
  }
}

export async function lockContendedCase(ctx: Context, spec: ContendedSpec): Promise<CaseResult> {
  const caseDir = path.join(ctx.root, spec.id);
  const total = spec.children * spec.cycles;
  const entrants: Entrant[] = (['atomfs', 'proper-lockfile'] as const).map((impl) => {
    const name = impl === 'atomfs' ? LK.atomfs : LK.proper;
    const dir = path.join(caseDir, slug(name));
    fs.mkdirSync(dir, { recursive: true });
    const row: Row = { name, samples: [], counterExact: true };
    return {
      row,
      round: (rep) =>
        // The warm-up runs a quarter of the cycles (each round starts new processes anyway).
        contendedRound(ctx, spec.id, impl, dir, spec.children, rep < 0 ? Math.max(1, spec.cycles >> 2) : spec.cycles, row, rep >= 0),
      rate: (s) => total / s,
    };
  });
  await measure(ctx, spec.id, entrants);
  fs.rmSync(caseDir, { recursive: true, force: true });
  return {
    id: spec.id,
    title: `${spec.children} processes × ${spec.cycles} cycles (exclusive lock, read counter, write counter + 1, release) on one file`,
    unit: 'cycles/s',
    ref: LK.atomfs,
    rows: entrants.map((e) => e.row),
    notes: [
      `Rate = ${total} cycles / time from "go" until every child reported done (children are started, load their modules and run 200 uncontended cycles on a private file, so the JIT has compiled the lock code as in a long-running program, before the clock starts; the same for both). "Counter exact" = the counter file read ${total} after every rep.`,
      `Settings: ${CONTENDED_SETTINGS_TEXT}`,
      'Inside the lock the counter, a 16-byte record, is read and rewritten in place (open, pread, pwrite, close; the same for both). Not fs.writeFileSync: its truncate makes ext4 flush the file at close and the next truncate wait for that, ~0.6 ms per cycle on this disk, which would measure the disk rather than the lock.',
    ],
  };
}
