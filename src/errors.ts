/**
 * The one error class atomfs throws, shaped like Node's own `ErrnoException` so that code
 * written for `node:fs` (`err.code === 'ENOENT'`) keeps working.
 *
 * @module
 */

/**
 * Codes atomfs itself raises. Any other code a system call reports (`ENAMETOOLONG`,
 * `ELOOP`, `EPERM`, `EMFILE`, …) is passed through unchanged, so the type stays open.
 */
export type AtomfsErrorCode =
  | 'ENOENT'
  | 'EEXIST'
  | 'EXDEV'
  | 'EBUSY'
  | 'EROFS'
  | 'EACCES'
  | 'ENOSPC'
  | 'ENOTDIR'
  | 'EISDIR'
  | 'ENOTEMPTY'
  | 'EINVAL'
  | 'ETIMEDOUT'
  | 'ABORT_ERR'
  // PostgresMount's: the database cannot be reached or the connection broke, and a schema
  // laid out by a newer atomfs.
  | 'ECONNREFUSED'
  | 'ECONNRESET'
  | 'ENOTSUP'
  // A conditional write (`ifMatch`) whose entry is no longer at the version it named.
  | 'ECANCELED'
  | (string & {});

/** Context attached to an {@link AtomfsError}: which atomfs call, on which paths. */
export interface ErrorContext {
  /** The atomfs function that failed, e.g. `writeFile`. */
  readonly operation: string;
  /** The caller's path (never an internal temp path unless that is what failed). */
  readonly path?: string | undefined;
  /** The second path of a two-path operation (rename, move). */
  readonly dest?: string | undefined;
  /** The system call that failed, when one did. */
  readonly syscall?: string | undefined;
}

// Descriptions as libuv prints them, so messages read like Node's own.
const DESCRIPTIONS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file or directory',
  EEXIST: 'file already exists',
  EXDEV: 'cross-device link not permitted',
  EBUSY: 'resource busy or locked',
  EROFS: 'read-only file system',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOSPC: 'no space left on device',
  ENOTDIR: 'not a directory',
  EISDIR: 'illegal operation on a directory',
  ENOTEMPTY: 'directory not empty',
  EINVAL: 'invalid argument',
  ETIMEDOUT: 'connection timed out',
  ABORT_ERR: 'the operation was aborted',
  ENAMETOOLONG: 'name too long',
  ELOOP: 'too many symbolic links encountered',
  EMFILE: 'too many open files',
  ENFILE: 'file table overflow',
  EAGAIN: 'resource temporarily unavailable',
  EIO: 'i/o error',
  EBADF: 'bad file descriptor',
  EDQUOT: 'disk quota exceeded',
  EFBIG: 'file too large',
  ESTALE: 'stale file handle',
  ECANCELED: 'operation canceled',
};

/**
 * An error from atomfs: a Node error code, the caller's path(s), the failing system call
 * and the atomfs operation, with the original error as `cause`.
 *
 * The message follows libuv's format: `EXDEV: cross-device link not permitted, rename '/a' -> '/b'`.
 *
 * @example
 * ```ts
 * try {
 *   await writeFile('/etc/passwd', 'x');
 * } catch (err) {
 *   if (isAtomfsError(err, 'EACCES')) console.error(err.path, err.syscall);
 * }
 * ```
 */
export class AtomfsError extends Error implements NodeJS.ErrnoException {
  /** Always `'AtomfsError'`. */
  override readonly name = 'AtomfsError';
  /** Node's error code (`ENOENT`, `EXDEV`, …) or `ABORT_ERR`. */
  readonly code: AtomfsErrorCode;
  /** The negative errno, when the error came from a system call. */
  readonly errno?: number;
  /** The system call that failed, when one did. */
  readonly syscall?: string;
  /** The caller's path. */
  readonly path?: string;
  /** The caller's second path, for two-path operations. */
  readonly dest?: string;
  /** The atomfs function that failed. */
  readonly operation: string;
  /** A finer reason within a code, e.g. `'compromised'` for a lost lock. */
  readonly reason?: string;

  /**
   * @param code - Node's error code.
   * @param detail - What went wrong, when the code's standard description is not enough.
   * @param context - Operation, paths and syscall.
   * @param options - `cause` (the original error), `errno`, `reason`.
   * @throws {@link AtomfsError} `EINVAL` (operation `AtomfsError`) for a code that is not a
   *   non-empty string, a detail that is not a string, or a context without a string
   *   `operation`.
   */
  constructor(
    code: AtomfsErrorCode,
    detail: string | undefined,
    context: ErrorContext,
    options: { cause?: unknown; errno?: number; reason?: string } = {},
  ) {
    checkErrorArgs(code, detail, context, options);
    super(formatMessage(code, detail, context), options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.operation = context.operation;
    if (options.errno !== undefined) this.errno = options.errno;
    if (context.syscall !== undefined) this.syscall = context.syscall;
    if (context.path !== undefined) this.path = context.path;
    if (context.dest !== undefined) this.dest = context.dest;
    if (options.reason !== undefined) this.reason = options.reason;
  }
}

/**
 * The constructor's own arguments: a wrong type would make an error whose message or fields
 * lie. Throws an AtomfsError `EINVAL` about the constructor itself (its fields are checked
 * first, so building that one cannot recurse).
 */
function checkErrorArgs(code: unknown, detail: unknown, context: unknown, options: unknown): void {
  let why: string | undefined;
  if (typeof code !== 'string' || code.length === 0) why = 'code must be a non-empty string';
  else if (detail !== undefined && typeof detail !== 'string') why = 'detail must be a string or undefined';
  else if (!isContext(context)) why = 'context must be an object with a string operation (and string path, dest, syscall when given)';
  else if (options === null || typeof options !== 'object') why = 'options must be an object';
  if (why !== undefined) throw new AtomfsError('EINVAL', why, { operation: 'AtomfsError' });
}

function isContext(c: unknown): c is ErrorContext {
  if (c === null || typeof c !== 'object' || isRevoked(c)) return false;
  const x = c as Record<string, unknown>;
  const optStr = (v: unknown): boolean => v === undefined || typeof v === 'string';
  return typeof x['operation'] === 'string' && optStr(x['path']) && optStr(x['dest']) && optStr(x['syscall']);
}

function formatMessage(code: string, detail: string | undefined, ctx: ErrorContext): string {
  let msg = `${code}: ${detail ?? DESCRIPTIONS[code] ?? 'unknown error'}`;
  const where = ctx.syscall ?? ctx.operation;
  if (ctx.path !== undefined) {
    msg += `, ${where} '${ctx.path}'`;
    if (ctx.dest !== undefined) msg += ` -> '${ctx.dest}'`;
  } else {
    msg += `, ${where}`;
  }
  return msg;
}

/**
 * Wraps any caught error as an {@link AtomfsError}, keeping its `code`, `errno` and
 * `syscall` and setting `cause` to it. The original is never mutated. An `AtomfsError`
 * passes through unchanged.
 *
 * @param err - The caught value.
 * @param context - The atomfs operation and the caller's paths (default: operation
 *   `'unknown'`).
 * @returns An `AtomfsError`.
 * @throws {@link AtomfsError} `EINVAL` when `context` is given but is not an
 *   {@link ErrorContext} (the error to wrap is its `cause`).
 * @example
 * ```ts
 * try { fs.renameSync(a, b); } catch (e) { throw toAtomfsError(e, { operation: 'rename', path: a, dest: b }); }
 * ```
 */
export function toAtomfsError(err: unknown, context: ErrorContext = { operation: 'unknown' }): AtomfsError {
  if (isRevoked(err)) return new AtomfsError('EIO', 'the error was a revoked Proxy', isContext(context) ? context : { operation: 'toAtomfsError' });
  if (err instanceof AtomfsError) return err;
  if (!isContext(context)) {
    throw new AtomfsError('EINVAL', 'context must be an object with a string operation (and string path, dest, syscall when given)', { operation: 'toAtomfsError' }, { cause: err });
  }
  const e = err as Partial<NodeJS.ErrnoException> | undefined;
  const hasCode = typeof e?.code === 'string';
  const code = hasCode ? e!.code! : e instanceof Error && e.name === 'AbortError' ? 'ABORT_ERR' : 'EIO';
  const syscall = context.syscall ?? (typeof e?.syscall === 'string' ? e.syscall : undefined);
  // Keep a foreign error's own description (a failing source stream, an unknown code).
  const detail = (!hasCode || DESCRIPTIONS[code] === undefined) && e instanceof Error ? stripNodeSuffix(e.message) : undefined;
  const opts: { cause: unknown; errno?: number } = { cause: err };
  if (typeof e?.errno === 'number') opts.errno = e.errno;
  return new AtomfsError(code, detail, { ...context, syscall }, opts);
}

// Node's messages are "CODE: description, syscall 'path'"; keep only the description.
function stripNodeSuffix(message: string): string {
  const m = /^[A-Z0-9_]+: (.*?)(, \w+ '.*)?$/s.exec(message);
  return m?.[1] ?? message;
}

/**
 * Whether `err` is an {@link AtomfsError}, optionally with the given code.
 *
 * @param err - Any value.
 * @param code - When given, the code it must have.
 * @returns `true` when it is.
 * @throws Never.
 * @example
 * ```ts
 * if (isAtomfsError(err, 'ENOSPC')) alertDiskFull();
 * ```
 */
export function isAtomfsError(err: unknown, code?: AtomfsErrorCode): err is AtomfsError {
  return err instanceof AtomfsError && (code === undefined || err.code === code);
}

/**
 * The `code` of a caught error, when it has a string one (`'ENOENT'`, …). Works on any
 * thrown value.
 * @internal
 */
export const codeOf = (e: unknown): string | undefined => {
  const c = (e as { code?: unknown } | null | undefined)?.code;
  return typeof c === 'string' ? c : undefined;
};

/**
 * Attaches a second failure (a cleanup that failed after `err`) to `err` as its
 * non-enumerable `suppressed`, so it never hides the original error. Returns `err`.
 * @internal
 */
export function attachSuppressed<E extends Error>(err: E, suppressed: unknown): E {
  if (suppressed !== undefined) Object.defineProperty(err, 'suppressed', { value: suppressed, enumerable: false, configurable: true });
  return err;
}

/**
 * A revoked Proxy: every look at it (`instanceof`, a property, `Array.isArray`) throws the
 * engine's TypeError, so validation asks this first and answers `EINVAL`.
 * @internal
 */
export function isRevoked(v: unknown): boolean {
  if (typeof v !== 'object' && typeof v !== 'function') return false;
  if (v === null) return false;
  try {
    // Array.isArray calls no trap: it throws for a revoked Proxy alone.
    Array.isArray(v);
    return false;
  } catch {
    return true;
  }
}

