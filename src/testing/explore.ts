/**
 * exploreCrashes: run an operation on a simulated disk, then check every state the disk
 * could be in after a power loss at every step.
 *
 * @module
 */
import type { FsOps } from '../internal/fs-ops.js';
import { seededRandom } from '../internal/prng.js';
import { SimulatedDisk, type DiskSnapshot, type TraceStep } from './sim-disk.js';
import { AtomfsError } from '../errors.js';
import { textOf } from '../internal/paths.js';
import { checkOptionsObject, intOpt, optionNames, setRandomSource } from '../options.js';

const EXPLORE_SET = optionNames(['setup', 'exhaustiveLimit', 'samples', 'seed', 'maxViolations']);

/** What `check` is told about the crash it looks at. */
export interface CrashInfo {
  /** How many recorded system calls ran before the power went (0 = before the first). */
  readonly crashPoint: number;
  /** Whether the operation had already resolved (its promise settled successfully). */
  readonly completed: boolean;
  /** Whether the operation ended with an error (when it had ended). */
  readonly failed: boolean;
  /** The recorded calls up to the crash. */
  readonly steps: readonly TraceStep[];
  /** Which pending changes this state keeps, in words. */
  readonly persisted: readonly string[];
}

/**
 * A check of the state after a restart: return nothing or `true` when it holds, `false`
 * or a message when it does not (or throw).
 */
export type CrashCheck = (disk: SimulatedDisk, info: CrashInfo) => void | boolean | string | Promise<void | boolean | string>;

/** Options of {@link exploreCrashes}. */
export interface ExploreOptions {
  /** Prepares the disk before the operation; everything it makes is durable. */
  readonly setup?: ((disk: SimulatedDisk) => void | Promise<void>) | undefined;
  /** States per crash point above which states are sampled instead of all enumerated. Default 4,096. */
  readonly exhaustiveLimit?: number | undefined;
  /** States sampled per crash point when there are too many. Default 512. */
  readonly samples?: number | undefined;
  /** Seed of the sampling and of the operation's temp names. Default 1. */
  readonly seed?: number | undefined;
  /** Stop after this many violations. Default 20. */
  readonly maxViolations?: number | undefined;
}

/** One state after a crash in which `check` failed. */
export interface Violation {
  /** How many recorded system calls ran before the power went, as in {@link CrashInfo}. */
  readonly crashPoint: number;
  /** What the check said: the string it returned, the message of what it threw, or `check returned false`. */
  readonly message: string;
  /** The recorded calls up to the crash. */
  readonly steps: readonly TraceStep[];
  /** Which pending changes this state kept, in words. */
  readonly persisted: readonly string[];
  /** The files after the restart. */
  readonly tree: readonly string[];
  /** A readable account: the calls, what reached the disk, what was found. */
  readonly report: string;
}

/** What {@link exploreCrashes} found. */
export interface ExploreResult {
  /** Crash points explored (recorded calls + 1). */
  readonly crashPoints: number;
  /** States checked in all. */
  readonly states: number;
  /** Whether every crash point was enumerated exhaustively. */
  readonly exhaustive: boolean;
  /** The states whose check failed (at most `maxViolations`). */
  readonly violations: readonly Violation[];
  /** The operation's own error, if it failed on the simulated disk. */
  readonly operationError: unknown;
  /** The recorded system calls of the whole operation. */
  readonly steps: readonly TraceStep[];
  /** How long the exploration took, in milliseconds. */
  readonly durationMs: number;
}



/** One crash state: which pending name changes reached the disk, and how much of each inode's data. @internal */
export interface Choice {
  readonly entries: Set<number>;
  readonly data: Map<number, { ops: number; partial: number }>;
}

/**
 * The crash states of one snapshot: all of them when there are at most `limit`, else
 * `samples` drawn with `rnd`. Shared by {@link exploreCrashes} and `atomfs crashcheck`.
 * @internal
 */
export function crashChoices(snap: DiskSnapshot, limit: number, samples: number, rnd: () => number): { readonly total: number; readonly exhaustive: boolean; readonly choices: Iterable<Choice> } {
  const space = choiceSpace(snap);
  if (space.total <= limit) return { total: space.total, exhaustive: true, choices: allChoices(space) };
  return {
    total: space.total,
    exhaustive: false,
    choices: (function* () {
      for (let i = 0; i < samples; i++) yield randomChoice(space, rnd);
    })(),
  };
}

/** Every way the pending data of one inode may have reached the disk. */
function dataOptions(ops: readonly { type: string; bytes?: Uint8Array }[]): { ops: number; partial: number }[] {
  const out: { ops: number; partial: number }[] = [];
  for (let k = 0; k <= ops.length; k++) {
    out.push({ ops: k, partial: 0 });
    const next = ops[k];
    // A write that reached the disk in part: half of it (a torn write).
    if (next?.type === 'write' && next.bytes && next.bytes.length > 1) out.push({ ops: k, partial: Math.floor(next.bytes.length / 2) });
  }
  return out;
}

/** Every way the pending changes of one snapshot may have reached the disk, computed once per snapshot. */
interface ChoiceSpace {
  readonly entrySeqs: readonly number[];
  readonly inodes: readonly { readonly ino: number; readonly options: readonly { ops: number; partial: number }[] }[];
  /** How many states: 2^(pending name changes) × the product of every inode's data options. */
  readonly total: number;
}

function choiceSpace(snap: DiskSnapshot): ChoiceSpace {
  const entrySeqs = snap.pendingEntries.map((e) => e.seq);
  const inodes = [...snap.pendingData].map(([ino, ops]) => ({ ino, options: dataOptions(ops) }));
  const total = inodes.reduce((t, i) => t * i.options.length, 2 ** entrySeqs.length);
  return { entrySeqs, inodes, total };
}

function* allChoices(space: ChoiceSpace): Generator<Choice> {
  const entryCount = 2 ** space.entrySeqs.length;
  for (let n = 0; n < space.total; n++) {
    let rest = n;
    const entries = new Set<number>();
    const mask = rest % entryCount;
    rest = Math.floor(rest / entryCount);
    space.entrySeqs.forEach((seq, i) => {
      if (mask & (1 << i)) entries.add(seq);
    });
    const data = new Map<number, { ops: number; partial: number }>();
    for (const i of space.inodes) {
      data.set(i.ino, i.options[rest % i.options.length]!);
      rest = Math.floor(rest / i.options.length);
    }
    yield { entries, data };
  }
}

function randomChoice(space: ChoiceSpace, rnd: () => number): Choice {
  const entries = new Set<number>();
  for (const seq of space.entrySeqs) if (rnd() < 0.5) entries.add(seq);
  const data = new Map<number, { ops: number; partial: number }>();
  for (const i of space.inodes) data.set(i.ino, i.options[Math.floor(rnd() * i.options.length)]!);
  return { entries, data };
}

function describeChoice(snap: DiskSnapshot, c: Choice): string[] {
  const out: string[] = [];
  for (const e of snap.pendingEntries) out.push(`${c.entries.has(e.seq) ? 'reached the disk' : 'lost'}: ${e.label}`);
  for (const [ino, ops] of snap.pendingData) {
    const ch = c.data.get(ino)!;
    const writes = ops.length;
    out.push(`inode ${ino}: ${ch.ops} of ${writes} unsynced data change(s) reached the disk${ch.partial ? `, then ${ch.partial} bytes of the next write` : ''}`);
  }
  return out;
}

/**
 * Runs `operation` on a {@link SimulatedDisk}, records every system call, and for every
 * crash point (before the first call, after each call) and every disk state the
 * persistence model allows there, restarts the disk in that state and calls `check`.
 * Small cases are enumerated exhaustively; beyond `exhaustiveLimit` states per point a
 * seeded random sample is checked.
 *
 * @param operation - Async work that uses the given seam (pass it as `{ fs }` to atomfs);
 *   its second argument's `steps()` is the number of calls recorded so far.
 * @param check - The invariant, checked on each restarted disk.
 * @param options - `setup`, `exhaustiveLimit`, `samples`, `seed`, `maxViolations`.
 * @returns Counts, and every violation with a readable report.
 * @throws {@link atomfs!AtomfsError} `EINVAL` when `operation` or `check` is not a function or an
 *   option has the wrong type. Never for a failing check (that is a violation); rethrows
 *   nothing from the operation (its error is in `operationError`).
 * @example
 * ```ts
 * const r = await exploreCrashes(
 *   (fs) => writeFile('/d/f', 'new', { fs }),
 *   (disk, { completed }) => {
 *     const s = disk.readFile('/d/f')?.toString();
 *     return completed ? s === 'new' : s === 'old' || s === 'new';
 *   },
 *   { setup: (d) => { d.mkdirp('/d'); d.writeFile('/d/f', 'old'); } },
 * );
 * assert.equal(r.violations.length, 0);
 * ```
 */
export async function exploreCrashes(
  operation: (fs: FsOps, progress: { readonly steps: () => number }) => Promise<unknown>,
  check: CrashCheck,
  options: ExploreOptions = {},
): Promise<ExploreResult> {
  const operationName = 'exploreCrashes';
  if (typeof operation !== 'function') throw new AtomfsError('EINVAL', 'operation must be a function', { operation: operationName });
  if (typeof check !== 'function') throw new AtomfsError('EINVAL', 'check must be a function', { operation: operationName });
  const o = checkOptionsObject(operationName, options, undefined, EXPLORE_SET);
  const setup = o['setup'];
  if (setup !== undefined && typeof setup !== 'function') throw new AtomfsError('EINVAL', 'setup must be a function', { operation: operationName });
  const t0 = performance.now();
  // A seed is any 32-bit pattern: an integer, negative ones included.
  const seedOpt = o['seed'];
  if (seedOpt !== undefined && (typeof seedOpt !== 'number' || !Number.isSafeInteger(seedOpt))) throw new AtomfsError('EINVAL', `seed must be an integer, got ${textOf(seedOpt)}`, { operation: operationName });
  const seed = (seedOpt as number | undefined) ?? 1;
  const limit = intOpt(operationName, o, 'exhaustiveLimit', 4096);
  const samples = intOpt(operationName, o, 'samples', 512);
  const maxViolations = intOpt(operationName, o, 'maxViolations', 20);
  const disk = new SimulatedDisk();
  const names = seededRandom(seed ^ 0x5eed);
  setRandomSource(disk.fs, (b) => {
    for (let i = 0; i < b.length; i++) b[i] = Math.floor(names() * 256);
  });
  await (setup as ExploreOptions['setup'])?.(disk);
  disk.syncAll();

  const steps: TraceStep[] = [];
  const snaps: DiskSnapshot[] = [disk.snapshot()];
  disk.record((step, d) => {
    steps.push(step);
    snaps.push(d.snapshot());
  });
  let operationError: unknown;
  let completed = false;
  try {
    // `steps()` lets an operation note when it observed something (a token, a resolve),
    // to compare with `crashPoint` in the check.
    await operation(disk.fs, { steps: () => steps.length });
    completed = true;
  } catch (e) {
    operationError = e;
  }
  disk.record(undefined);

  const rnd = seededRandom(seed);
  const violations: Violation[] = [];
  let states = 0;
  let exhaustive = true;
  for (let point = 0; point < snaps.length && violations.length < maxViolations; point++) {
    const snap = snaps[point]!;
    const last = point === snaps.length - 1;
    const at = crashChoices(snap, limit, samples, rnd);
    if (!at.exhaustive) exhaustive = false;
    for (const choice of at.choices) {
      states++;
      const restarted = SimulatedDisk.restart(snap, choice.entries, choice.data);
      const persisted = describeChoice(snap, choice);
      const info: CrashInfo = { crashPoint: point, completed: last && completed, failed: last && !completed, steps: steps.slice(0, point), persisted };
      let verdict: void | boolean | string;
      try {
        verdict = await check(restarted, info);
      } catch (e) {
        verdict = (e as Error)?.message ?? String(e);
      }
      if (verdict === false || typeof verdict === 'string') {
        const message = typeof verdict === 'string' ? verdict : 'check returned false';
        const tree = restarted.tree();
        violations.push({ crashPoint: point, message, steps: info.steps, persisted, tree, report: formatReport(point, message, info.steps, persisted, tree, last && completed) });
        if (violations.length >= maxViolations) break;
      }
    }
  }
  return { crashPoints: snaps.length, states, exhaustive, violations, operationError, steps, durationMs: performance.now() - t0 };
}

function formatReport(point: number, message: string, steps: readonly TraceStep[], persisted: readonly string[], tree: readonly string[], completed: boolean): string {
  const lines = [
    `Violation: ${message}`,
    `Power lost after ${point} system call(s)${completed ? ' (the operation had returned)' : ''}:`,
    ...steps.map((s) => `  ${String(s.index + 1).padStart(3)}. ${s.call} = ${s.result}`),
    'Not yet durable at that moment, and what this state keeps:',
    ...(persisted.length ? persisted.map((p) => `  - ${p}`) : ['  (nothing pending: everything was durable)']),
    'Files after the restart:',
    ...(tree.length ? tree.map((t) => `  ${t}`) : ['  (none)']),
  ];
  return lines.join('\n');
}
