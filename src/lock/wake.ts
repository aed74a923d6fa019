/**
 * Waking lock waiters when a holder lets go.
 *
 * Polling alone makes a hand-over cost up to one poll interval: the lock sits idle until
 * the next waiter's sleep ends. So a waiter also watches the very markers it waits for
 * (inotify through {@link FsOps.watchFile}) and is woken the moment one of them is removed
 * (released, withdrawn, or reclaimed). It watches those files, not their folder: a folder
 * watch would wake every waiter for every marker made or removed and every write to the
 * locked file beside them, and under contention those wake-ups cost more than they save.
 *
 * The watch only speeds things up; it is never needed for correctness. Events can be lost
 * (a network file system where other hosts' changes raise none) or unavailable (a seam
 * without `watchFile`): waiters keep polling at `retryInterval`, which also finds dead
 * holders (a killed process removes nothing).
 *
 * @module
 */
import * as path from 'node:path';
import type { FileWatch, FsOps } from '../internal/fs-ops.js';
import { timerDelay } from '../internal/abort.js';

/** At most this many markers are watched per wait (more are found by the poll). Names '' (markers in another place) are not watched. */
const MAX_WATCHED = 8;

/**
 * Waits until one of the files `names` (in `dir`) changes or goes, or `ms` pass, or
 * `signal` aborts. Resolves `true` when woken by one of the files (or one was already
 * gone), `false` on the timer, the signal, or when the seam cannot watch. Never rejects.
 */
export function waitForRemoval(ops: FsOps, dir: string, names: readonly string[], ms: number, signal: AbortSignal | undefined): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    if (signal?.aborted) return resolve(false);
    const watches: FileWatch[] = [];
    let done = false;
    const finish = (byFile: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      for (const w of watches) w.close();
      resolve(byFile);
    };
    const onAbort = (): void => finish(false);
    const timer = setTimeout(onAbort, timerDelay(ms));
    signal?.addEventListener('abort', onAbort, { once: true });
    const watchFile = ops.watchFile;
    if (!watchFile) return;
    for (const name of names.filter((n) => n !== '').slice(0, MAX_WATCHED)) {
      try {
        watches.push(watchFile(path.join(dir, name), () => finish(true)));
      } catch (e) {
        // Gone already: look again now. Any other failure (no watches left): poll.
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return finish(true);
      }
    }
  });
}
