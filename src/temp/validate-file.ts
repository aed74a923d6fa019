/**
 * validateFile: is this file complete and what it should be? (seed 002 validate_atomic_write)
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { AtomfsError, toAtomfsError } from '../errors.js';
import { throwIfAborted } from '../internal/abort.js';
import { O, type AsyncFsOps, type FileStat } from '../internal/fs-ops.js';
import { validateUserPath, type PathLike, textOf } from '../internal/paths.js';
import { BASE_NAMES, type BaseOptions, boolOpt, checkOptionsObject, intOpt, optionNames, resolveBase } from '../options.js';

const VALIDATE_SET = optionNames(BASE_NAMES, ['encoding', 'json', 'minSize', 'maxSize', 'sha256']);

/** Options of {@link validateFile}. */
export interface ValidateFileOptions extends BaseOptions {
  /**
   * The text encoding the content must decode as. Only `'utf8'` (the default) is checked
   * strictly (every other Node encoding accepts any bytes); `null` skips decoding.
   */
  readonly encoding?: 'utf8' | null | undefined;
  /** The content must parse as JSON. Default `false`. */
  readonly json?: boolean | undefined;
  /** Smallest acceptable size in bytes. */
  readonly minSize?: number | undefined;
  /** Largest acceptable size in bytes (checked before reading). */
  readonly maxSize?: number | undefined;
  /** The SHA-256 the content must have (hex). */
  readonly sha256?: string | undefined;
}

/** What {@link validateFile} found. */
export interface ValidationResult {
  /** Whether every check passed. */
  readonly valid: boolean;
  /** Why not, in words (absent when valid). */
  readonly reason?: string;
  /** A short code for the failed check: a Node code (`ENOENT`, `EISDIR`, `EACCES`, …) or `EINVAL` for content checks. */
  readonly code?: string;
  /** The file's size in bytes (0 when it could not be read). */
  readonly size: number;
}

const CHUNK = 1 << 20;

// The checks a validation makes, resolved from its options (EINVAL before anything is read).
interface Checks {
  readonly operation: string;
  readonly given: string;
  readonly abs: string;
  readonly signal: AbortSignal | undefined;
  readonly sys: AsyncFsOps;
  readonly json: boolean;
  readonly decode: boolean;
  readonly minSize: number;
  readonly maxSize: number;
  readonly sha: string | undefined;
}

function resolveChecks(path: PathLike, options: ValidateFileOptions | undefined): Checks {
  const operation = 'validateFile';
  const { given, abs } = validateUserPath(operation, path);
  const o = checkOptionsObject(operation, options, given, VALIDATE_SET);
  const base = resolveBase(operation, o, given);
  const enc = o['encoding'];
  if (enc !== undefined && enc !== null && enc !== 'utf8' && enc !== 'utf-8') {
    throw new AtomfsError('EINVAL', `encoding must be 'utf8' or null, got ${textOf(enc)}`, { operation, path: given });
  }
  const json = boolOpt(operation, o, 'json', false, given);
  const minSize = intOpt(operation, o, 'minSize', 0, given);
  const maxSize = intOpt(operation, o, 'maxSize', Number.MAX_SAFE_INTEGER, given);
  const sha = o['sha256'];
  if (sha !== undefined && (typeof sha !== 'string' || !/^[0-9a-fA-F]{64}$/.test(sha))) {
    throw new AtomfsError('EINVAL', 'sha256 must be 64 hex digits', { operation, path: given });
  }
  return { operation, given, abs, signal: base.signal, sys: base.ops.async, json, decode: enc !== null || json, minSize, maxSize, sha: sha as string | undefined };
}

const fail = (code: string, reason: string, size = 0): ValidationResult => ({ valid: false, code, reason, size });

function ioFail(c: Checks, e: unknown, size = 0): ValidationResult {
  const err = toAtomfsError(e, { operation: c.operation, path: c.given });
  return fail(err.code, err.message, size);
}

function notRegular(s: FileStat): ValidationResult {
  const kind = s.isDirectory() ? 'a folder' : s.isFIFO() ? 'a FIFO' : 'a special file';
  return fail(s.isDirectory() ? 'EISDIR' : 'EINVAL', `not a regular file: ${kind}`);
}

// Opened following symlinks, as the stat was. O_NONBLOCK: should a FIFO have been put in the
// file's place since the stat, the open returns at once instead of waiting for a writer
// (reads of a regular file ignore the flag). The descriptor must then be the file the stat
// saw. Returns the descriptor, or why not.
async function openChecked(c: Checks, st: FileStat): Promise<number | ValidationResult> {
  const sys = c.sys;
  let fd: number;
  try {
    fd = await sys.open(c.abs, O.RDONLY | O.CLOEXEC | O.NONBLOCK, 0);
  } catch (e) {
    return ioFail(c, e, st.size);
  }
  let fst;
  try {
    fst = await sys.fstat(fd);
  } catch (e) {
    await sys.close(fd).catch(() => {});
    return ioFail(c, e, st.size);
  }
  if (!fst.isFile() || fst.dev !== st.dev || fst.ino !== st.ino) {
    await sys.close(fd).catch(() => {});
    if (!fst.isFile()) return notRegular(fst);
    return fail('EAGAIN', 'the file was replaced while it was being checked', st.size);
  }
  return fd;
}

// Reads the whole file once: its size, its SHA-256 (when asked), its text (for JSON), and
// whether it is UTF-8. Closes the descriptor.
async function readChecked(c: Checks, fd: number): Promise<{ size: number; text: string; sha256: string | undefined } | ValidationResult> {
  const hash = c.sha === undefined ? undefined : createHash('sha256');
  const decoder = c.decode ? new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }) : undefined;
  let text = '';
  let size = 0;
  try {
    const buf = Buffer.allocUnsafe(CHUNK);
    for (;;) {
      throwIfAborted(c.signal, { operation: c.operation, path: c.given });
      const n = await c.sys.read(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      size += n;
      if (size > c.maxSize) return fail('EINVAL', `too large: more than maxSize ${c.maxSize} bytes`, size);
      const chunk = buf.subarray(0, n);
      hash?.update(chunk);
      if (decoder) {
        try {
          const part = decoder.decode(chunk, { stream: true });
          if (c.json) text += part;
        } catch {
          return fail('EINVAL', 'not valid UTF-8', size);
        }
      }
    }
    if (decoder) {
      try {
        const rest = decoder.decode();
        if (c.json) text += rest;
      } catch {
        return fail('EINVAL', 'not valid UTF-8 (truncated character at the end)', size);
      }
    }
  } catch (e) {
    if ((e as AtomfsError).code === 'ABORT_ERR') throw e;
    return ioFail(c, e, size);
  } finally {
    await c.sys.close(fd).catch(() => {});
  }
  return { size, text, sha256: hash?.digest('hex') };
}

/**
 * Checks that a path is a complete, usable file: it exists, is a regular file, is
 * readable, decodes as UTF-8, parses as JSON (`json`), is within `minSize`/`maxSize`, and has
 * the given `sha256`. Checks that fail are reported, not thrown; only bad arguments throw.
 * A FIFO is never opened (it would block).
 *
 * @param path - The file to check.
 * @param options - See {@link ValidateFileOptions}.
 * @returns `{valid, reason?, code?, size}`.
 * @throws {@link AtomfsError} `EINVAL` for bad arguments; `ABORT_ERR` when the signal fires.
 * @example
 * ```ts
 * const r = await validateFile('out/report.json', { json: true, minSize: 2 });
 * if (!r.valid) console.error(r.reason);
 * ```
 */
export async function validateFile(path: PathLike, options?: ValidateFileOptions): Promise<ValidationResult> {
  const c = resolveChecks(path, options);
  throwIfAborted(c.signal, { operation: c.operation, path: c.given });
  let st;
  try {
    st = await c.sys.stat(c.abs);
  } catch (e) {
    return ioFail(c, e);
  }
  if (!st.isFile()) return notRegular(st);
  if (st.size < c.minSize) return fail('EINVAL', `too small: ${st.size} bytes < minSize ${c.minSize}`, st.size);
  if (st.size > c.maxSize) return fail('EINVAL', `too large: ${st.size} bytes > maxSize ${c.maxSize}`, st.size);
  const fd = await openChecked(c, st);
  if (typeof fd !== 'number') return fd;
  const r = await readChecked(c, fd);
  if ('valid' in r) return r;
  const size = r.size;
  if (size < c.minSize) return fail('EINVAL', `too small: ${size} bytes < minSize ${c.minSize}`, size);
  if (c.json) {
    try {
      JSON.parse(r.text);
    } catch (e) {
      return fail('EINVAL', `invalid JSON: ${(e as Error).message}`, size);
    }
  }
  if (r.sha256 !== undefined && r.sha256 !== c.sha!.toLowerCase()) return fail('EINVAL', `SHA-256 mismatch: ${r.sha256}`, size);
  return { valid: true, size };
}
