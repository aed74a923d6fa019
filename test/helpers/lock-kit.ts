/**
 * Tools for the lock tests: a scriptable lock-holding child process (`LockClient`), worker
 * runs with a deadline, and checks over logged critical-section intervals.
 *
 * Every timestamp is `process.hrtime.bigint()` (CLOCK_MONOTONIC), one clock shared by
 * every process of the host, so intervals logged by different processes compare directly.
 * An interval is logged from just after `lock()` resolved to just before `release()` was
 * called: strictly inside the time the lock was really held, so an overlap of two logged
 * intervals is always a real overlap.
 */
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { OP_NAMES, realOps, type FileWatch, type FsOps, type OpName, type SyncFsOps } from '../../src/internal/fs-ops.js';
import { parseMarker } from '../../src/lock/markers.js';
import { exited, spawnNode } from './child.js';
import { LineReader } from './lines.js';

/** Now, on the host-wide monotonic clock (ns). */
export const hrNow = (): bigint => process.hrtime.bigint();

/** Nanoseconds to milliseconds. */
export const ms = (ns: bigint): number => Number(ns) / 1e6;

/** One logged critical section. */
export interface Interval {
  readonly start: bigint;
  readonly end: bigint;
  /** Who held it (for messages). */
  readonly who: string;
  readonly mode?: 'exclusive' | 'shared';
  readonly token?: number;
}

const show = (i: Interval): string => `${i.who} [${i.start}..${i.end}]`;

/** The first pair of overlapping intervals, or undefined when none overlap. */
export function findOverlap(intervals: readonly Interval[]): [Interval, Interval] | undefined {
  const sorted = [...intervals].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  let latest: Interval | undefined;
  for (const i of sorted) {
    if (latest && i.start < latest.end) return [latest, i];
    if (!latest || i.end > latest.end) latest = i;
  }
  return undefined;
}

/** Describes an overlap for an assertion message. */
export function describeOverlap(pair: [Interval, Interval] | undefined): string {
  return pair ? `${show(pair[0])} overlaps ${show(pair[1])} by ${ms(pair[0].end - pair[1].start).toFixed(3)} ms` : 'none';
}

/** The first pair (one from each list) that overlaps, or undefined. */
export function findCrossOverlap(a: readonly Interval[], b: readonly Interval[]): [Interval, Interval] | undefined {
  const sb = [...b].sort((x, y) => (x.start < y.start ? -1 : x.start > y.start ? 1 : 0));
  for (const x of a) {
    for (const y of sb) {
      if (y.start >= x.end) break;
      if (y.end > x.start) return [x, y];
    }
  }
  return undefined;
}

/** How many pairs of intervals overlap (bounded scan; for "they do overlap" checks). */
export function countOverlaps(intervals: readonly Interval[], limit = 1_000): number {
  const sorted = [...intervals].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  let n = 0;
  for (let i = 0; i < sorted.length && n < limit; i++) {
    for (let j = i + 1; j < sorted.length && sorted[j]!.start < sorted[i]!.end; j++) n++;
  }
  return n;
}

/** The time within [from, to] covered by none of the intervals (ns), and the longest such gap. */
export function uncovered(intervals: readonly Interval[], from: bigint, to: bigint): { total: bigint; longest: bigint } {
  const sorted = [...intervals].filter((i) => i.end > from && i.start < to).sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  let cursor = from;
  let total = 0n;
  let longest = 0n;
  for (const i of sorted) {
    if (i.start > cursor) {
      const gap = (i.start < to ? i.start : to) - cursor;
      total += gap;
      if (gap > longest) longest = gap;
    }
    if (i.end > cursor) cursor = i.end;
    if (cursor >= to) break;
  }
  if (cursor < to) {
    const gap = to - cursor;
    total += gap;
    if (gap > longest) longest = gap;
  }
  return { total, longest };
}

/** The median of some numbers. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Lock marker names in a folder (prefix `.lock-` for a folder lock). */
export function markersIn(dir: string, prefix = '.lock-'): string[] {
  return fs
    .readdirSync(dir)
    .filter((n) => parseMarker(prefix, n) !== undefined)
    .sort();
}

import { within } from './wait.js';

export { within };

/** Waits for a child to exit (bounded), SIGKILLs it when it does not, and returns its exit. */
export async function reap(child: ChildProcess, limitMs: number, what: string): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  try {
    return await within(exited(child), limitMs, `${what} (pid ${child.pid}) to exit`);
  } catch (e) {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL');
    await exited(child);
    throw e;
  }
}

const FIXTURES = fileURLToPath(new URL('../lock/fixtures/', import.meta.url));

/** The compiled path of a fixture under test/lock/fixtures/. */
export function fixture(name: string): string {
  return path.join(FIXTURES, name);
}

/** Collects a child's stderr, for failure messages. */
function collectStderr(child: ChildProcess): () => string {
  let err = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (d: string) => {
    if (err.length < 20_000) err += d;
  });
  return () => err;
}

/** What a worker wrote to its log file (see fixtures/counter-worker.ts). */
export interface WorkerLog {
  readonly pid: number;
  readonly role: string;
  readonly intervals: { start: string; end: string; token?: number }[];
  readonly problems: string[];
}

/**
 * Runs `count` copies of a worker fixture at once; each gets `args(i, logFile)`. Waits for
 * all (bounded by `limitMs`, then SIGKILL), asserts each exited 0, and returns their logs.
 */
export async function runWorkers(
  t: TestContext,
  script: string,
  count: number,
  args: (i: number, logFile: string) => string[],
  logDir: string,
  limitMs: number,
): Promise<WorkerLog[]> {
  const kids = Array.from({ length: count }, (_, i) => {
    const logFile = path.join(logDir, `worker-${i}.json`);
    const child = spawnNode(t, script, args(i, logFile));
    return { child, logFile, stderr: collectStderr(child) };
  });
  const results = await Promise.allSettled(kids.map((k, i) => reap(k.child, limitMs, `worker ${i}`)));
  const failures: string[] = [];
  results.forEach((r, i) => {
    if (r.status === 'rejected') failures.push(`worker ${i}: ${(r.reason as Error).message}; stderr: ${kids[i]!.stderr()}`);
    else if (r.value.code !== 0) failures.push(`worker ${i} exited ${r.value.code ?? r.value.signal}; stderr: ${kids[i]!.stderr()}`);
  });
  if (failures.length > 0) throw new Error(failures.join('\n'));
  return kids.map((k) => JSON.parse(fs.readFileSync(k.logFile, 'utf8')) as WorkerLog);
}

/** A worker log's intervals as {@link Interval}s. */
export function intervalsOf(log: WorkerLog, mode?: 'exclusive' | 'shared'): Interval[] {
  return log.intervals.map((i, n) => ({
    start: BigInt(i.start),
    end: BigInt(i.end),
    who: `${log.role} ${log.pid} #${n}`,
    ...(mode ? { mode } : {}),
    ...(i.token !== undefined ? { token: i.token } : {}),
  }));
}

/** A command for fixtures/lock-client.ts (one JSON line on its stdin). */
export type ClientCommand =
  | { op: 'lock'; path: string; opts?: Record<string, unknown>; holdMs?: number; startAt?: string; attempts?: boolean }
  | { op: 'release' }
  | { op: 'block'; ms: number }
  | { op: 'state' }
  | { op: 'exit'; code?: number };

/**
 * A child process that takes and releases locks on command (fixtures/lock-client.ts) and
 * reports each step as a line: `locked <hr> <token>`, `attempt <hr>` (with `attempts`), `released <hr>`, `waiting <hr>`,
 * `blocking <hr>`, `unblocked <hr>`, `compromised <code> <reason> <hr>`, `error <code>`,
 * `state compromised=<bool> released=<bool>`. Every line is kept; `next(word)` returns
 * the first line starting with that word not returned before.
 */
export class LockClient {
  readonly child: ChildProcess;
  readonly #taken = new Set<number>();
  readonly #stderr: () => string;
  // A last line cut short (the child killed mid-line) is dropped: only whole lines count.
  readonly #out: LineReader;

  constructor(t: TestContext, readonly name = 'client') {
    this.child = spawnNode(t, fixture('lock-client.js'), [], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.#stderr = collectStderr(this.child);
    // A command sent to a child that was just killed must not crash the test (EPIPE).
    this.child.stdin!.on('error', () => {});
    this.#out = new LineReader(this.child.stdout, { cut: 'drop' });
    this.child.once('exit', () => this.#out.wake());
  }

  /** Every line it printed so far. */
  get lines(): readonly string[] {
    return this.#out.lines;
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Sends one command. */
  send(cmd: ClientCommand): void {
    this.child.stdin!.write(JSON.stringify(cmd) + '\n');
  }

  /** Resolves when ready to take commands. */
  ready(limitMs = 10_000): Promise<string> {
    return this.next('ready', limitMs);
  }

  /** The first line not yet returned that starts with `word` (waits up to `limitMs`). */
  next(word: string, limitMs = 10_000): Promise<string> {
    return this.#out.until(
      () => {
        for (let i = 0; i < this.lines.length; i++) {
          if (this.#taken.has(i)) continue;
          const l = this.lines[i]!;
          if (l === word || l.startsWith(word + ' ')) {
            this.#taken.add(i);
            return l;
          }
          if (l.startsWith('error ') || l.startsWith('fatal ')) {
            this.#taken.add(i);
            throw new Error(`${this.name} reported '${l}' while waiting for '${word}'; stderr: ${this.#stderr()}`);
          }
        }
        if (this.child.exitCode !== null || this.child.signalCode !== null) {
          throw new Error(`${this.name} exited (${this.child.exitCode ?? this.child.signalCode}) before '${word}'; lines: ${this.lines.join(' | ')}; stderr: ${this.#stderr()}`);
        }
        return undefined;
      },
      limitMs,
      () => new Error(`${this.name}: no '${word}' within ${limitMs} ms; lines: ${this.lines.join(' | ')}; stderr: ${this.#stderr()}`),
    );
  }

  /** The hrtime (ns) in a line like `locked <hr> ...`. */
  static hr(line: string): bigint {
    return BigInt(line.split(' ')[1]!);
  }

  /** Asks it to exit and waits (bounded); resolves with the exit code. */
  async exit(limitMs = 5_000): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.send({ op: 'exit', code: 0 });
    const r = await reap(this.child, limitMs, this.name);
    return r.code;
  }

  /** Its stderr so far. */
  stderr(): string {
    return this.#stderr();
  }
}

/** One call made through an {@link ObservedOps}, recorded once it returned or threw. */
export interface SeamCall {
  readonly name: OpName;
  readonly args: readonly unknown[];
  readonly failed: boolean;
}

/**
 * The real disk through a seam that records every call (sync and async alike) and every
 * file watch, so a lock test can count what a lock did (attempts, listings, heartbeats,
 * wake-ups) instead of timing it. `lock()` makes exactly one `bootId` call per attempt.
 */
export class ObservedOps implements FsOps {
  readonly sync: SyncFsOps;
  readonly async: FsOps['async'];
  readonly watchFile: ((path: string, onGone: () => void) => FileWatch) | undefined;
  readonly calls: SeamCall[] = [];
  /** Watches set (a waiter going to sleep on a marker). */
  watches = 0;
  /** Watches that fired (a waiter woken by a marker's removal). */
  wakeups = 0;
  /** Told after each call returned or threw. */
  onCall?: (c: SeamCall) => void;
  /** Told when a watch is set. */
  onWatch?: (file: string) => void;

  constructor(opts: { watch?: boolean } = {}) {
    const sync = {} as Record<string, (...a: unknown[]) => unknown>;
    const asyncOps = {} as Record<string, (...a: unknown[]) => Promise<unknown>>;
    for (const name of OP_NAMES) {
      const s = realOps.sync[name] as (...a: unknown[]) => unknown;
      const a = realOps.async[name] as (...a: unknown[]) => Promise<unknown>;
      sync[name] = (...args) => {
        let failed = true;
        try {
          const r = s(...args);
          failed = false;
          return r;
        } finally {
          this.#record({ name, args, failed });
        }
      };
      asyncOps[name] = async (...args) => {
        let failed = true;
        try {
          const r = await a(...args);
          failed = false;
          return r;
        } finally {
          this.#record({ name, args, failed });
        }
      };
    }
    this.sync = sync as unknown as SyncFsOps;
    this.async = asyncOps as unknown as FsOps['async'];
    const watch = realOps.watchFile!;
    this.watchFile =
      opts.watch === false
        ? undefined
        : (file, onGone) => {
            const w = watch(file, () => {
              this.wakeups++;
              onGone();
            });
            this.watches++;
            this.onWatch?.(file);
            return w;
          };
  }

  /** How many calls of `name` were made (optionally: whose first argument matches). */
  count(name: OpName, pathMatch?: (p: string) => boolean): number {
    return this.calls.filter((c) => c.name === name && (!pathMatch || (typeof c.args[0] === 'string' && pathMatch(c.args[0])))).length;
  }

  #record(c: SeamCall): void {
    this.calls.push(c);
    this.onCall?.(c);
  }
}
