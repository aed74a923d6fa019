/**
 * readFile with retries on transient errors (seed 002 safe_read_with_retry).
 *
 * @module
 */
import { toAtomfsError, type ErrorContext } from '../errors.js';
import { throwIfAborted } from '../internal/abort.js';
import { O, type FsOps } from '../internal/fs-ops.js';
import { validateUserPath, type PathLike } from '../internal/paths.js';
import { retry, retrySync, type RetryPolicy } from '../internal/retry.js';
import { call, runAsync, runSync, type Steps } from '../internal/steps.js';
import { BASE_NAMES, type BaseOptions, checkOptionsObject, encodingOpt, intOpt, optionNames, resolveBase } from '../options.js';

/** Options of {@link readFile}. */
export interface ReadFileOptions extends BaseOptions {
  /** Decode the bytes as text with this encoding; without it a Buffer is returned. */
  readonly encoding?: BufferEncoding | undefined;
  /** Attempts after the first, on transient errors. Default `3`. */
  readonly retries?: number | undefined;
}

// Transient conditions: a descriptor shortage, a locked file, and on Windows the moment in
// which a file is being replaced (sharing violations surface as EPERM/EACCES there only).
const READ_SET = optionNames(BASE_NAMES, ['encoding', 'retries']);
const TRANSIENT = new Set(['EAGAIN', 'EBUSY', 'EMFILE', 'ENFILE', ...(process.platform === 'win32' ? ['EPERM', 'EACCES'] : [])]);

function* readSteps(abs: string): Steps<Buffer> {
  const fd = yield* call('open', abs, O.RDONLY | O.CLOEXEC, 0);
  try {
    const st = yield* call('fstat', fd);
    // The size is a hint: the file may grow while we read (not if writers use atomfs).
    let buf = Buffer.allocUnsafe(Math.max(st.size + 1, 8192));
    let len = 0;
    for (;;) {
      if (len === buf.length) {
        const bigger = Buffer.allocUnsafe(buf.length * 2);
        buf.copy(bigger, 0, 0, len);
        buf = bigger;
      }
      const n = yield* call('read', fd, buf, len, buf.length - len, null);
      if (n === 0) break;
      len += n;
    }
    return buf.subarray(0, len);
  } finally {
    yield* call('close', fd);
  }
}

/**
 * Reads a whole file, retrying transient errors (`EAGAIN`, `EBUSY`, `EMFILE`, `ENFILE`,
 * and on Windows `EPERM`/`EACCES` during a replace) with jittered exponential backoff.
 *
 * @param path - The file to read.
 * @param options - `encoding`, `retries` (default 3), `signal`.
 * @returns The content: a string with `encoding`, otherwise a Buffer.
 * @throws {@link AtomfsError} `ENOENT`, `EISDIR`, `EACCES`, `EINVAL` (bad input),
 *   `ABORT_ERR`, or the transient code after the last retry.
 * @example
 * ```ts
 * const text = await readFile('config.json', { encoding: 'utf8' });
 * ```
 */
export async function readFile(path: PathLike, options: ReadFileOptions & { encoding: BufferEncoding }): Promise<string>;
export async function readFile(path: PathLike, options?: ReadFileOptions): Promise<Buffer>;
export async function readFile(path: PathLike, options?: ReadFileOptions): Promise<string | Buffer> {
  const r = resolveRead('readFile', path, options);
  let buf: Buffer;
  try {
    buf = await retry(() => runAsync(readSteps(r.abs), r.ops), r.policy);
  } catch (e) {
    // Aborted during an attempt or a back-off: the abort is the answer, not the transient
    // error of the last attempt.
    throwIfAborted(r.policy.signal, r.ctx);
    throw toAtomfsError(e, r.ctx);
  }
  throwIfAborted(r.policy.signal, r.ctx);
  return r.encoding ? buf.toString(r.encoding) : buf;
}

/** {@link readFile}, blocking: the same steps and retries (readJsonSync uses it). @internal */
export function readFileSync(path: PathLike, options?: ReadFileOptions, operation = 'readFileSync'): string | Buffer {
  const r = resolveRead(operation, path, options);
  let buf: Buffer;
  try {
    buf = retrySync(() => runSync(readSteps(r.abs), r.ops), r.policy);
  } catch (e) {
    throwIfAborted(r.policy.signal, r.ctx);
    throw toAtomfsError(e, r.ctx);
  }
  return r.encoding ? buf.toString(r.encoding) : buf;
}

function resolveRead(operation: string, path: unknown, options: unknown): { abs: string; ops: FsOps; encoding: BufferEncoding | undefined; ctx: ErrorContext; policy: RetryPolicy } {
  const { given, abs } = validateUserPath(operation, path);
  const o = checkOptionsObject(operation, options, given, READ_SET);
  const base = resolveBase(operation, o, given);
  const encoding = encodingOpt(operation, o, undefined, given);
  const retries = intOpt(operation, o, 'retries', 3, given, 100);
  const ctx = { operation, path: given };
  throwIfAborted(base.signal, ctx);
  return {
    abs,
    ops: base.ops,
    encoding,
    ctx,
    policy: { retries, isRetriable: (e) => TRANSIENT.has((e as NodeJS.ErrnoException).code ?? ''), signal: base.signal, minDelay: 10, maxDelay: 500 },
  };
}
