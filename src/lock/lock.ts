/**
 * Inter-process locks: many shared holders or one exclusive holder, across processes and
 * hosts, built from marker files (see `markers.ts` for the names).
 *
 * The protocol, and why it is safe:
 *
 * 1. A contender creates its own marker (a unique name, `O_EXCL`), THEN lists the folder.
 * 2. An exclusive contender holds the lock when the listing shows no other live marker; a
 *    shared contender when it shows no live exclusive marker.
 *
 * Of two contenders, the one that lists second always sees the first one's marker (each
 * creates before it lists), so two conflicting contenders can never both see a clear
 * folder: whatever the interleaving, at most one of them passes. When they do see each
 * other: a shared contender that sees a writer withdraws its marker and waits (writer
 * preference: a stream of readers cannot starve a writer, whose marker stays); of two
 * writers, the one with the later order key withdraws, the earlier one keeps its place.
 *
 * 3. A writer withdraws into a line: it renames its marker to a `queued` one (which rule 2
 *    never counts: only `exclusive` and `shared` markers decide who may hold; readers still
 *    let a queued writer go first, as a preference) and waits for the
 *    writer just ahead of it, so a release wakes the next waiter, not all of them (its
 *    rename back into a lock marker wakes the one behind it once more). First
 *    in line, it renames the marker back (the same as making a new one, rule 1) and
 *    contends. Readers let queued writers go first too. A writer that has not been in
 *    line yet may pass it (it ignores queued markers): a process that releases and takes
 *    the lock again at once may keep it, until the head of the line has its lock marker
 *    back in place; from then on the newcomer sees an earlier writer and queues. The
 *    head, finding the lock so taken, lets it be until it has waited PATIENCE_MS (at most
 *    `retryInterval`), then contends. So the line is served in order, a busy process
 *    cannot starve it (each waiter's wait grows by at most that), and a hand-over between
 *    processes (a wake-up, the dearest step) is paid far less often than once per
 *    acquisition.
 *
 * Dead holders: a marker of this host whose process is gone (or whose pid now belongs to a
 * process with another start time, or from an earlier boot) is removed at once; a marker
 * of another host is judged by its lease (the marker's mtime, refreshed by the holder's
 * heartbeat) and removed when older than `stale`. Because every marker name is unique to
 * one acquisition, removing a dead holder's marker can never remove anyone else's, and
 * two reclaimers racing simply both re-list: rule 2 still decides (the first to rename the
 * dead marker away "wins" the reclaim; the loser sees ENOENT).
 *
 * @module
 */
import { AtomfsError, toAtomfsError } from '../errors.js';
import { type PathLike, textOf } from '../internal/paths.js';
import { call, runSync, type Steps } from '../internal/steps.js';
import type { BaseOptions, BlockingOptions } from '../options.js';
import { acquire, acquireFromStore, acquireSync } from './acquire.js';
import { Lock } from './held-lock.js';
import { shortBoot, type LockMode } from './markers.js';
import { locate } from './place.js';
import { resolveLock } from './plan.js';
import { scan, type Attempt } from './protocol.js';
import type { LockStore } from './store.js';

export type { LockMode } from './markers.js';
export type { LockStore, FenceToken } from './store.js';
export { Lock };

/** Options of {@link lock} and {@link withLock}. */
export interface LockOptions extends BaseOptions, BlockingOptions {
  /** `'exclusive'` (default): one holder. `'shared'`: many holders, no exclusive one. */
  readonly mode?: LockMode | undefined;
  /** Give up after this long (ms) with `ETIMEDOUT`. `Infinity` waits forever. Default 10,000. */
  readonly timeout?: number | undefined;
  /**
   * The longest pause between two attempts while waiting (ms). Default 25. A waiter is also
   * woken the moment the marker it waits for goes (a file watch), so this is the poll for
   * what raises no event: a killed holder, another host's release. It also bounds how long
   * the first writer in line lets a writer that passed it keep the lock (at most 20 ms).
   */
  readonly retryInterval?: number | undefined;
  /**
   * A holder on another host whose lease (refreshed every `stale / 2`) is older than this is
   * reclaimed (ms). Default 10,000. Holders on this host are judged by their process instead.
   */
  readonly stale?: number | undefined;
  /** Told (never thrown at) when this lock is lost: reclaimed as stale, or its marker removed. */
  readonly onCompromised?: ((error: AtomfsError) => void) | undefined;
  /**
   * Judge every holder by its lease only, as if all were on other hosts. For network file
   * systems shared by hosts with one name. Default `false`.
   */
  readonly leaseOnly?: boolean | undefined;
  /**
   * Keep the lock in a lock store instead of marker files (`postgresLocks` of
   * atomfs/postgres), so hosts that share no file system, and whose clocks disagree, share
   * it. The path is then the lock's name, taken as it is (not resolved against the working
   * folder). `stale` is the lease, which the store's server times; `retryInterval` the
   * longest pause between attempts while waiting (default 500: waiters are woken by the
   * store when the lock is released); `fs`, `leaseOnly` and `blocking` do not apply
   * (`EINVAL`). Async only: `lockSync` refuses a store.
   */
  readonly store?: LockStore | undefined;
}

/**
 * Takes a lock on a folder (markers inside it) or a file (markers beside it, named after
 * it; the file need not exist), shared or exclusive, across processes and hosts. Waits up
 * to `timeout`: woken when the marker it waits for goes, and polling every `retryInterval`.
 * A holder on this host whose process died is reclaimed at once; one on another host when
 * its lease is older than `stale`. With `store`, the lock lives in a lock store instead
 * (`postgresLocks`): the path is then a name, and leases are timed by the store's server.
 *
 * @param path - The folder or file to lock (a path that does not exist is locked as a
 *   file); with `store`, the lock's name.
 * @param options - See {@link LockOptions}.
 * @returns The held {@link Lock}; exclusive locks carry a fencing `token`.
 * @throws {@link AtomfsError} `ETIMEDOUT` not acquired in time; `ABORT_ERR` the signal fired;
 *   `EROFS`/`EACCES` markers cannot be created (at once, never a hang); `ENOENT`/`ENOTDIR`
 *   the folder is missing; `EINVAL` bad input; `ENAMETOOLONG` a store's lock name over
 *   1,024 bytes; with a store, the store's connection errors (its own documentation lists them).
 * @remarks Not detected: a holder that keeps running after its lease expired on another host
 *   (it learns through `onCompromised` at its next heartbeat, but may have acted meanwhile;
 *   use the fencing token against such a holder). Clocks of hosts sharing a lock must agree
 *   to well within `stale`.
 * @example
 * ```ts
 * const l = await lock('/srv/data', { timeout: 5_000 });
 * try { await rebuildIndex(); } finally { await l.release(); }
 * ```
 */
export async function lock(path: PathLike, options?: LockOptions): Promise<Lock> {
  const plan = resolveLock('lock', path, options);
  return plan.store === undefined ? acquire(plan) : acquireFromStore(plan, plan.store);
}

/**
 * {@link lock}, blocking: takes the lock before it returns, waiting up to `timeout` (the
 * thread sleeps between attempts; proper-lockfile's `lockSync` cannot wait at all). The
 * same attempts as `lock`, run by a synchronous driver; without an event loop to watch
 * with, a waiter polls (a back-off from 1 ms up to `retryInterval`). The held lock's
 * heartbeat still runs on the event loop, once the caller lets it turn.
 *
 * @param path - The folder or file to lock.
 * @param options - See {@link LockOptions} (`signal` is checked between attempts).
 * @returns The held {@link Lock}.
 * @throws {@link AtomfsError} Every code of {@link lock}.
 * @example
 * ```ts
 * const l = lockSync('state.json', { timeout: 2_000 });
 * try { bumpSync('state.json'); } finally { await l.release(); }
 * ```
 */
export function lockSync(path: PathLike, options?: LockOptions): Lock {
  const plan = resolveLock('lockSync', path, options);
  if (plan.store !== undefined) throw new AtomfsError('EINVAL', 'a lock store is async only: use lock()', { operation: 'lockSync', path: plan.given });
  return acquireSync(plan);
}

/**
 * Whether a lock of `mode` would have to wait now (proper-lockfile's `check`), without
 * taking one: `'exclusive'` (the default) asks whether anyone holds the lock, `'shared'`
 * whether a writer holds it. Every path to one file is asked about the same lock, and a
 * dead holder found on the way is reclaimed, as a contender would.
 *
 * @param path - The folder or file.
 * @param options - `mode`, `leaseOnly`, `stale`, `fs`.
 * @returns `true` when held.
 * @throws {@link AtomfsError} `EINVAL` bad input; `EACCES`, `ENOTDIR` the place cannot be listed.
 * @example
 * ```ts
 * if (await isLocked('/srv/data')) console.log('busy');
 * ```
 */
export async function isLocked(path: PathLike, options?: Pick<LockOptions, 'mode' | 'leaseOnly' | 'stale' | 'fs' | 'signal' | 'logger' | 'store'>): Promise<boolean> {
  const plan = resolveLock('isLocked', path, options);
  if (plan.store !== undefined) {
    try {
      return await plan.store.isLocked(plan.given, plan.mode, 'isLocked');
    } catch (e) {
      throw toAtomfsError(e, { operation: 'isLocked', path: plan.given });
    }
  }
  const a: Attempt = { waitFor: [], since: Date.now() };
  const probe = function* (): Steps<boolean> {
    const where = yield* locate(plan);
    const myBoot = shortBoot(yield* call('bootId'));
    try {
      // Fresh: a one-off question deserves today's answer, not a verdict cached for waiters
      // (a holder killed a moment after an earlier probe would still read as alive).
      return (yield* scan(plan, where, a, myBoot, true)).blockers.length > 0;
    } catch (e) {
      // Nothing there to hold a lock in: not locked.
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw e;
    }
  };
  try {
    return runSync(probe(), plan.ops);
  } catch (e) {
    throw toAtomfsError(e, { operation: 'isLocked', path: plan.given });
  }
}

/**
 * Runs `fn` under a lock and releases it afterwards, whatever happens.
 *
 * @param path - The folder or file to lock.
 * @param fn - The work; receives the {@link Lock}.
 * @param options - See {@link LockOptions}.
 * @returns What `fn` returns.
 * @throws {@link AtomfsError} Every code of {@link lock}; and whatever `fn` throws.
 * @example
 * ```ts
 * const n = await withLock('counter.txt', async () => bump('counter.txt'));
 * ```
 */
export async function withLock<T>(path: PathLike, fn: (lock: Lock) => T | Promise<T>, options?: LockOptions): Promise<T> {
  if (typeof fn !== 'function') throw new AtomfsError('EINVAL', 'fn must be a function', { operation: 'withLock', path: textOf(path) });
  const l = await lock(path, options);
  try {
    return await fn(l);
  } finally {
    await l.release();
  }
}
