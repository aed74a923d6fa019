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

/** Throws EINVAL unless `options` is undefined or a plain object. */
export function checkOptionsObject(operation: string, options: unknown, path?: string): Opts {
  if (options === undefined) return {};
  if (options === null || typeof options !== 'object' || isRevoked(options) || Array.isArray(options)) {
    throw new AtomfsError('EINVAL', `options must be an object, got ${describe(options)}`, { operation, path });
  }
  return options as Opts;
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
