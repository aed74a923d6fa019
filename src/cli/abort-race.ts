/**
 * Waiting on something that may never end (a read of stdin, a full pipe) so that an
 * interrupt still ends the wait: the CLI's AbortSignal turns into an `ABORT_ERR`, which
 * `interruptible` (main.ts) turns into exit 128+N.
 *
 * @module
 */
import { AtomfsError } from '../errors.js';

/** The interrupt as an error: `interruptible` (main.ts) turns it into exit 128+N. */
export function aborted(signal: AbortSignal | undefined, path: string): AtomfsError | undefined {
  return signal?.aborted ? new AtomfsError('ABORT_ERR', undefined, { operation: 'vfs', path }, { cause: signal.reason }) : undefined;
}

/** Throws the interrupt's `ABORT_ERR` when `signal` has aborted. */
export function throwIfAborted(signal: AbortSignal | undefined, path: string): void {
  const e = aborted(signal, path);
  if (e !== undefined) throw e;
}

/** `p`, or a rejection as soon as `signal` aborts (a read of stdin, a full pipe may never end). */
export function orAbort<T>(p: Promise<T>, signal: AbortSignal | undefined, path: string): Promise<T> {
  if (signal === undefined) return p;
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(aborted(signal, path));
    // `p` is handled in every case: a read of stdin given up on rejects later, when main
    // destroys stdin, and an unhandled rejection would end the process with exit 1.
    if (signal.aborted) {
      p.catch(() => undefined);
      return onAbort();
    }
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
