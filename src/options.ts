/**
 * Option fragments shared by every operation, and their validation. Options are resolved
 * once, at the entry point, into a frozen object with every default filled in; the
 * caller's object is never written to.
 *
 * @module
 */
import { AtomfsError } from './errors.js';
import { realOps, type FsOps } from './internal/fs-ops.js';
import { describe, isRevoked, textOf } from './internal/paths.js';
import { cryptoRandom, type RandomSource } from './internal/temp-name.js';
import { silentLogger, type Logger } from './logger.js';

/** Options every atomfs operation accepts. */
export interface BaseOptions {
  /**
   * Cancels the operation. Checked at every step up to the commit point (the rename);
   * after that the operation completes and the abort is ignored. Rejects with `ABORT_ERR`.
   */
  readonly signal?: AbortSignal | undefined;
  /** A pino-shaped logger (`debug`/`warn`/`error(fields, msg)`). Default: silent. */
  readonly logger?: Logger | undefined;
  /**
   * The file-system seam: the object through which every system call is made. Default:
   * the real `node:fs`. Replace it only to test (for example with a simulated disk).
   */
  readonly fs?: FsOps | undefined;
}

/** The option of operations whose cheap system calls may run on the calling thread. */
export interface BlockingOptions {
  /**
   * Make the cheap metadata calls (open, close, rename, link, unlink, lstat and stat,
   * mkdir, chmod, utimes, small writes, a lock's marker calls) synchronously: a few
   * microseconds each on a local disk, much faster than a thread-pool round trip, and never
   * queued behind other calls' fsyncs. fsync, copies, reads, listings and large writes
   * always run in the thread pool. Set `false` on a file system that may hang (a network
   * mount), so the event loop never waits for it. Default `true`.
   */
  readonly blocking?: boolean | undefined;
}

/** Options of operations that can skip durability. */
export interface DurabilityOptions {
  /**
   * Flush file data before the rename and the folder after it, so the result survives
   * power loss once the call resolves. `false` keeps atomic visibility but not durability.
   * Default `true`.
   */
  readonly fsync?: boolean | undefined;
}

/** Resolved base options. */
export interface ResolvedBase {
  readonly signal: AbortSignal | undefined;
  readonly logger: Logger;
  readonly ops: FsOps;
  readonly random: RandomSource;
}

// Tests may attach a deterministic random source to a seam object.
const randomSources = new WeakMap<FsOps, RandomSource>();

/**
 * Makes temp names drawn through `ops` use `random` (tests use it to force collisions).
 * @internal
 */
export function setRandomSource(ops: FsOps, random: RandomSource): void {
  randomSources.set(ops, random);
}

type Opts = Readonly<Record<string, unknown>>;

/**
 * Throws EINVAL unless `options` is undefined or a plain object, and, given the names an
 * operation knows, unless every name in it is one of them: `{fsyncc: false}` must not
 * silently drop a safety option (TypeScript users are told at compile time, JavaScript
 * users only here).
 */
export function checkOptionsObject(operation: string, options: unknown, path?: string, known?: ReadonlySet<string>): Opts {
  if (options === undefined) return {};
  if (options === null || typeof options !== 'object' || isRevoked(options) || Array.isArray(options)) {
    throw new AtomfsError('EINVAL', `options must be an object, got ${describe(options)}`, { operation, path });
  }
  if (known !== undefined) {
    // Own names only, and no getter runs: Object.keys reads no value.
    for (const k of Object.keys(options)) if (!known.has(k)) unknownOption(operation, k, known, path);
  }
  return options as Opts;
}

/** The option names of an operation: its own and those of the fragments it takes. */
export function optionNames(...lists: readonly (readonly string[])[]): ReadonlySet<string> {
  return new Set(lists.flat());
}

/** The names of {@link BaseOptions}. */
export const BASE_NAMES: readonly string[] = ['signal', 'logger', 'fs'];
/** The names of {@link DurabilityOptions}. */
export const DURABILITY_NAMES: readonly string[] = ['fsync'];

function unknownOption(operation: string, name: string, known: ReadonlySet<string>, path?: string): never {
  const best = closestName(name, known);
  const hint = best !== undefined ? ` (did you mean '${best}'?)` : ` (known: ${[...known].join(', ')})`;
  throw new AtomfsError('EINVAL', `unknown option '${name}'${hint}`, { operation, path });
}

/**
 * The known name closest to a misspelt one (a typo or two, a case slip, a clipped name), or
 * `undefined` when none is close enough to be worth suggesting. The CLI's hints use it too.
 */
export function closestName(name: string, known: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const lower = k.toLowerCase() === name.toLowerCase();
    // 'retry' for 'retries': a clipped name is as close as two typos.
    const clipped = Math.min(k.length, name.length) >= 4 && (k.startsWith(name) || name.startsWith(k));
    const d = lower ? 0 : Math.min(editDistance(k, name), clipped ? 2 : Infinity);
    if (d < bestD) [best, bestD] = [k, d];
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

/** Levenshtein distance, for the hint of a misspelt option (names are short). */
function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 8) return Infinity;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

/** Validates and resolves the base options. */
export function resolveBase(operation: string, o: Opts, path?: string): ResolvedBase {
  const signal = o['signal'];
  if (signal !== undefined && !isAbortSignal(signal)) bad(operation, 'signal must be an AbortSignal', path);
  const logger = o['logger'];
  if (logger !== undefined && !isLogger(logger)) bad(operation, 'logger must have debug, warn and error methods', path);
  const ops = o['fs'];
  if (ops !== undefined && !isOps(ops)) bad(operation, 'fs must be an atomfs FsOps object with sync and async calls', path);
  const resolvedOps = (ops as FsOps | undefined) ?? realOps;
  return {
    signal: signal as AbortSignal | undefined,
    logger: (logger as Logger | undefined) ?? silentLogger,
    ops: resolvedOps,
    random: randomSources.get(resolvedOps) ?? cryptoRandom,
  };
}

/** A boolean option with a default; EINVAL when it is not a boolean. */
export function boolOpt(operation: string, o: Opts, key: string, dflt: boolean, path?: string): boolean {
  const v = o[key];
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') bad(operation, `${key} must be a boolean, got ${describe(v)}`, path);
  return v;
}

/** A non-negative integer option (counts, milliseconds); EINVAL otherwise. */
export function intOpt(operation: string, o: Opts, key: string, dflt: number, path?: string, max = Number.MAX_SAFE_INTEGER): number {
  const v = o[key];
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) {
    bad(operation, `${key} must be an integer from 0 to ${max}, got ${textOf(v)}`, path);
  }
  return v;
}

/**
 * A duration in milliseconds: a number of at least `min` (fractions allowed), `Infinity`
 * only when `infinity` is set (a wait with no end); EINVAL otherwise.
 */
export function msOpt(operation: string, o: Opts, key: string, dflt: number, min: number, path?: string, infinity = false): number {
  const v = o[key];
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || Number.isNaN(v) || v < min || (!infinity && !Number.isFinite(v))) {
    bad(operation, `${key} must be a number of ms >= ${min}${infinity ? ' (or Infinity)' : ''}, got ${textOf(v)}`, path);
  }
  return v;
}

/** One of a fixed set of strings; EINVAL otherwise. */
export function enumOpt<T extends string>(operation: string, o: Opts, key: string, allowed: readonly T[], dflt: T, path?: string): T {
  const v = o[key];
  if (v === undefined) return dflt;
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    bad(operation, `${key} must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${textOf(v)}`, path);
  }
  return v as T;
}

/** A Buffer encoding; EINVAL otherwise. */
export function encodingOpt(operation: string, o: Opts, dflt: BufferEncoding | undefined, path?: string): BufferEncoding | undefined {
  const v = o['encoding'];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'string' || !Buffer.isEncoding(v)) bad(operation, `encoding must be a Buffer encoding, got ${textOf(v)}`, path);
  return v as BufferEncoding;
}

function bad(operation: string, detail: string, path?: string): never {
  throw new AtomfsError('EINVAL', detail, { operation, path });
}

function isAbortSignal(v: unknown): v is AbortSignal {
  return v instanceof AbortSignal;
}

function isLogger(v: unknown): v is Logger {
  const l = v as Partial<Logger> | null;
  return typeof l === 'object' && l !== null && typeof l.debug === 'function' && typeof l.warn === 'function' && typeof l.error === 'function';
}

function isOps(v: unknown): v is FsOps {
  const o = v as Partial<FsOps> | null;
  return typeof o === 'object' && o !== null && typeof o.sync === 'object' && typeof o.async === 'object';
}
