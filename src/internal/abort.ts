/**
 * AbortSignal helpers.
 *
 * @module
 */
import { AtomfsError, type ErrorContext } from '../errors.js';

/** Throws `ABORT_ERR` (cause: the signal's reason) when the signal has fired. */
export function throwIfAborted(signal: AbortSignal | undefined, ctx: ErrorContext): void {
  if (signal?.aborted) throw abortError(signal, ctx);
}

/** The error an aborted operation rejects with. */
export function abortError(signal: AbortSignal, ctx: ErrorContext): AtomfsError {
  return new AtomfsError('ABORT_ERR', undefined, { operation: ctx.operation, path: ctx.path, dest: ctx.dest }, { cause: signal.reason });
}
