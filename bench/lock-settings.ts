/**
 * The lock options of the contended case, shared by the parent (for the notes) and the
 * child processes.
 *
 * Fair settings: both poll at most every 20 ms (proper-lockfile: first retry after 1 ms,
 * doubling, capped at 20 ms, exactly; atomfs: every 10-20 ms, jittered, as a fallback: its
 * waiters are woken by the release itself through a watch on the marker they wait for).
 * Neither gives up within the case: atomfs after 60 s, proper-lockfile after 1,000 retries
 * (at least 20 s). Everything else at its defaults (atomfs: `stale` 10 s, heartbeat every
 * 5 s; proper-lockfile: `stale` 10 s, `update` 5 s, `realpath` true: the file exists).
 *
 * @module
 */
import type { LockOptions } from '../src/index.js';

export const ATOMFS_CONTENDED: LockOptions = Object.freeze({ mode: 'exclusive', retryInterval: 20, timeout: 60_000 });

export const PROPER_LOCKFILE_CONTENDED = Object.freeze({
  retries: Object.freeze({ retries: 1000, factor: 2, minTimeout: 1, maxTimeout: 20, randomize: false }),
});

/** The settings in words, for the notes under the table. */
export const CONTENDED_SETTINGS_TEXT =
  "atomfs `lock(file, { mode: 'exclusive', retryInterval: 20, timeout: 60000 })`: woken by the release (a watch on the marker it waits for), polling every 10-20 ms as a fallback; " +
  'proper-lockfile `lock(file, { retries: { retries: 1000, factor: 2, minTimeout: 1, maxTimeout: 20, randomize: false } })`: 1 ms doubling to 20 ms, no jitter. Other options at their defaults.';

/** The messages between the parent and a child. */
export type ChildMessage = { readonly type: 'ready' } | { readonly type: 'done'; readonly cycles: number } | { readonly type: 'error'; readonly message: string };
