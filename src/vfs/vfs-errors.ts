/**
 * The VFS's own errors and the translation of a mount's errors into the caller's terms
 * (the caller's virtual paths, the mount's error as `cause`), so that no mount's paths or
 * messages reach a caller.
 *
 * @module
 * @internal
 */
import { AtomfsError, toAtomfsError, type AtomfsErrorCode, type ErrorContext } from '../errors.js';

// Errors the VFS itself made (already in the caller's terms): never wrapped again.
const own = new WeakSet<AtomfsError>();

/** An error the VFS makes, in the caller's terms already (never translated again). @internal */
export function vErr(code: AtomfsErrorCode, detail: string | undefined, ctx: ErrorContext, cause?: unknown): AtomfsError {
  const e = new AtomfsError(code, detail, ctx, cause === undefined ? {} : { cause });
  own.add(e);
  return e;
}

/**
 * A mount's error in the caller's terms: same code, the caller's virtual path(s), the
 * mount's error as `cause`. With `force`, the syscall is the context's (rename reports
 * `rename` whichever mount call found the problem). @internal
 */
export function translate(e: unknown, ctx: ErrorContext, force = false): AtomfsError {
  if (e instanceof AtomfsError && own.has(e)) return e;
  const s = (e as { syscall?: unknown } | null)?.syscall;
  const syscall = force || typeof s !== 'string' ? ctx.syscall : s;
  let out: AtomfsError;
  // An abort keeps the signal's reason as its cause, as everywhere in atomfs.
  if (e instanceof AtomfsError && e.code === 'ABORT_ERR') out = new AtomfsError('ABORT_ERR', undefined, { ...ctx, syscall }, { cause: e.cause });
  else if (e instanceof AtomfsError) out = new AtomfsError(e.code, undefined, { ...ctx, syscall }, e.reason === undefined ? { cause: e } : { cause: e, reason: e.reason });
  else out = toAtomfsError(e, { ...ctx, syscall });
  own.add(out);
  return out;
}
