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

/**
 * A delay as Node's timers can take it. A longer one (a lock's `stale` of 2**40 ms, say)
 * is not an error there: Node warns and fires after 1 ms, turning a rare heartbeat into a
 * busy loop. Every atomfs timer goes through this.
 */
export function timerDelay(ms: number): number {
  return Math.min(ms, 2 ** 31 - 1);
}

const sleepCell = new Int32Array(new SharedArrayBuffer(4));

/** Blocks this thread for `ms` (no CPU: a futex wait that nothing wakes), for the blocking twins. */
export function sleepSync(ms: number): void {
  if (ms > 0) Atomics.wait(sleepCell, 0, 0, timerDelay(ms));
}
