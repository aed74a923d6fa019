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
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AtomfsError, toAtomfsError, type ErrorContext } from '../errors.js';
import { type PathLike, textOf } from '../internal/paths.js';
import { LOG_EVENTS } from '../logger.js';
import { call, runAsync, runSync, type Steps } from '../internal/steps.js';
import type { BaseOptions, BlockingOptions } from '../options.js';
import { shortBoot, type LockMode } from './markers.js';
import { waitForRemoval } from './wake.js';
import { assertMade, madeHere } from '../internal/made.js';
import { sleepSync, timerDelay } from '../internal/abort.js';
import type { FenceToken, LockStore, StoreDriver, StoreHold } from './store.js';
import { resolveLock, type LockPlan } from './plan.js';
import { locate, type Where } from './place.js';
import { nextToken } from './token.js';
import { attempt, dropMarker, scan, type Attempt } from './protocol.js';

export type { LockMode } from './markers.js';
export type { LockStore, FenceToken } from './store.js';

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

// Locks held by this process, so a normal exit removes their markers. The exit hook is
// installed with the first held lock and removed with the last (no import-time effects).
const held = new Set<Lock>();
const onExit = (): void => {
  for (const l of held) l._dropSync();
};

function track(l: Lock): void {
  if (held.size === 0) process.once('exit', onExit);
  held.add(l);
}

function untrack(l: Lock): void {
  if (held.delete(l) && held.size === 0) process.off('exit', onExit);
}

/**
 * A held lock. Release it with `release()` or `await using`. If the lock is lost
 * (reclaimed after its lease expired, or its marker removed by hand), `compromised`
 * becomes true and `onCompromised` is told.
 *
 * @example
 * ```ts
 * await using l = await lock('data/', { mode: 'shared' });
 * console.log(l.mode, l.path);
 * ```
 */
export class Lock implements AsyncDisposable {
  readonly #plan: LockPlan;
  readonly #where: Where | undefined;
  readonly #markerPath: string;
  // A lock kept by a store (no marker file).
  readonly #hold: StoreHold | undefined;
  #token: number | undefined;
  #state: 'held' | 'released' = 'held';
  #compromised = false;
  #timer: NodeJS.Timeout | undefined;
  #lastBeat = Date.now();
  // Store locks: when the last renewal the store confirmed was sent (monotonic ms). The
  // store computed its expiry after that moment, so the lease holds at least until
  // this + stale, whatever the clocks of the two hosts say.
  #confirmed = performance.now();
  #renewing = false;

  /** @internal Use {@link lock}. */
  constructor(plan: LockPlan, where: Where | undefined, markerPath: string, token: number | undefined, hold?: StoreHold) {
    assertMade(plan, 'Lock', 'lock()');
    this.#plan = plan;
    this.#where = where;
    this.#markerPath = markerPath;
    this.#token = token;
    this.#hold = hold;
    if (hold === undefined) {
      track(this);
      const every = Math.max(20, Math.floor(plan.stale / 2));
      this.#timer = setInterval(() => void this.#beat(), timerDelay(every));
    } else {
      // A third of the lease: two renewals may fail (a blip) before the lease is at risk.
      const every = Math.max(20, Math.floor(plan.stale / 3));
      this.#timer = setInterval(() => void this.#renew(hold), timerDelay(every));
    }
    // The heartbeat serves the lock while the program runs; it must not keep it running.
    this.#timer.unref();
  }

  /** `'exclusive'` or `'shared'`. */
  get mode(): LockMode {
    return this.#plan.mode;
  }

  /** The locked path, as given. */
  get path(): string {
    return this.#plan.given;
  }

  /**
   * The fencing token of an exclusive lock: larger than every token handed out before for
   * this path, durably (also across reboots). `undefined` for a shared lock.
   *
   * Read it while the lock is held. With `blocking` (the default) it is taken from the
   * path's token file the first time it is read, under the lock, so acquisitions whose
   * token nobody reads cost no token I/O (and the tokens that are read still grow with
   * every holder). A token first read after `release()` is `undefined`. With
   * `blocking: false` it is taken at acquisition.
   *
   * @throws {@link AtomfsError} `ENOENT` (reason `compromised`) the lock was lost before
   *   the token was taken (then no token is handed out); `EROFS`/`EACCES`/`ENOSPC`/`EIO` the
   *   token file cannot be read or written (first read only).
   */
  get token(): number | undefined {
    if (this.#token === undefined && this.#hold === undefined && this.#plan.mode === 'exclusive' && this.#state === 'held') {
      const ctx = { operation: 'lock', path: this.#plan.given };
      if (this.#compromised) throw new AtomfsError('ENOENT', 'lock lost: no fencing token for a lock that was lost', ctx, { reason: 'compromised' });
      let token: number;
      try {
        token = runSync(nextToken(this.#where!), this.#plan.ops);
      } catch (e) {
        throw toAtomfsError(e, ctx);
      }
      // Taken late, a token is valid only if our marker outlived its taking. A holder whose
      // lease ran out and was reclaimed (its marker renamed away) before this point must not
      // get a token above the new holder's; once this check passes, anyone who reclaims us
      // later reads the counter after us and gets a larger token. The check doubles as a
      // lease refresh.
      try {
        const now = Date.now();
        this.#plan.ops.sync.utimes(this.#markerPath, now, now);
        this.#lastBeat = now;
      } catch (e) {
        this.#compromise('the lock marker was gone when its fencing token was taken', e);
        throw new AtomfsError('ENOENT', 'lock lost: the marker was gone when the fencing token was taken', ctx, { cause: e, reason: 'compromised' });
      }
      this.#token = token;
    }
    return this.#token;
  }

  /**
   * What a fenced change carries (`vfs.writeFile(p, d, { fence: lock })`): set for an
   * exclusive lock of a lock store, `undefined` for file locks and shared locks (the
   * storage that checks a fence must know the store that issued the token).
   */
  get fence(): FenceToken | undefined {
    return this.#hold?.fence;
  }

  /** Whether this lock was lost while held. */
  get compromised(): boolean {
    return this.#compromised;
  }

  /** Whether `release()` was called. */
  get released(): boolean {
    return this.#state === 'released';
  }

  async #beat(): Promise<void> {
    if (this.#state !== 'held' || this.#compromised) return;
    const now = Date.now();
    const late = now - this.#lastBeat > this.#plan.stale;
    this.#lastBeat = now;
    try {
      // Refreshing the lease doubles as the check that the marker is still ours.
      await this.#plan.ops.async.utimes(this.#markerPath, now, now);
    } catch (e) {
      if (this.#state !== 'held') return;
      this.#compromise(
        late
          ? `the lease expired while the process was blocked for more than ${this.#plan.stale} ms and the lock was reclaimed`
          : 'the lock marker was removed by another process',
        e,
      );
    }
  }

  async #renew(hold: StoreHold): Promise<void> {
    if (this.#state !== 'held' || this.#compromised || this.#renewing) return;
    this.#renewing = true;
    const sent = performance.now();
    try {
      const ours = await hold.renew();
      if (this.#state !== 'held') return;
      if (ours) this.#confirmed = sent;
      else this.#compromise('the lease ran out at the store and the lock was taken or cleared', undefined);
    } catch (e) {
      // One failed renewal is not a lost lock: the lease the store last confirmed still runs.
      // Past it, the store may have given the lock to someone else.
      if (this.#state === 'held' && performance.now() - this.#confirmed >= this.#plan.stale) {
        this.#compromise(`the lease could not be renewed for ${this.#plan.stale} ms (the store is unreachable) and may have run out`, e);
      }
    } finally {
      this.#renewing = false;
    }
  }

  #compromise(why: string, cause: unknown): void {
    if (this.#compromised) return;
    this.#compromised = true;
    const err = new AtomfsError(
      'ENOENT',
      `lock lost: ${why}`,
      { operation: 'lock', path: this.#plan.given },
      { cause, reason: 'compromised' },
    );
    this.#plan.logger.warn({ targetPath: this.#plan.given, operation: 'lock', errorCode: err.code }, LOG_EVENTS.lockCompromised);
    try {
      this.#plan.onCompromised?.(err);
    } catch (e) {
      // Never thrown from a timer: a throwing handler is only logged.
      this.#plan.logger.error({ targetPath: this.#plan.given, operation: 'lock', errorMessage: (e as Error).message }, LOG_EVENTS.onCompromisedThrew);
    }
  }

  /**
   * Releases the lock. Safe to call twice. A lock found compromised at release is
   * reported through `onCompromised`; release itself still resolves.
   *
   * @throws {@link AtomfsError} only for unexpected I/O errors removing the marker (`EIO`,
   *   `EROFS`); for a store's lock, the store's connection errors (its own documentation
   *   lists them) when the store cannot be told (the lock is released all the same: its lease ends at the store).
   * @example
   * ```ts
   * await l.release();
   * ```
   */
  async release(): Promise<void> {
    if (this.#state === 'released') return;
    this.#state = 'released';
    clearInterval(this.#timer);
    if (this.#hold !== undefined) {
      let had: boolean;
      try {
        had = await this.#hold.release();
      } catch (e) {
        // The lock is not ours to use any more either way: its lease ends at the store.
        throw toAtomfsError(e, { operation: 'lock', path: this.#plan.given, syscall: 'release' });
      }
      if (!had && !this.#compromised) this.#compromise('the lock was gone at release (its lease had run out)', undefined);
      return;
    }
    untrack(this);
    try {
      if (this.#plan.blocking) this.#plan.ops.sync.unlink(this.#markerPath);
      else await this.#plan.ops.async.unlink(this.#markerPath);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        this.#compromise('the lock marker was gone at release', e);
        return;
      }
      throw toAtomfsError(e, { operation: 'lock', path: this.#plan.given, syscall: 'unlink' });
    }
  }

  /** Releases the lock (idempotent). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.release();
  }

  /** The marker's path (`atomfs lock` hands its command a descriptor on it); `''` for a store's lock. @internal */
  get _marker(): string {
    return this.#markerPath;
  }

  /**
   * Stops serving the lock without removing its marker: the processes that hold a
   * descriptor on the marker (a command's background children) keep the lock, as with
   * flock(1), until the last of them has exited. @internal
   */
  _leave(): void {
    if (this.#state === 'released') return;
    this.#state = 'released';
    clearInterval(this.#timer);
    untrack(this);
  }

  /** Removes the marker synchronously (process exit). @internal */
  _dropSync(): void {
    if (this.#state === 'released' || this.#hold !== undefined) return;
    this.#state = 'released';
    clearInterval(this.#timer);
    try {
      this.#plan.ops.sync.unlink(this.#markerPath);
    } catch {
      // exiting anyway
    }
  }
}

/** What the acquisition loop asks its driver for: marker work, or a wait. */
type AcquireStep =
  | { readonly kind: 'steps'; readonly steps: Steps<'held' | 'wait'> }
  | { readonly kind: 'watch'; readonly ms: number }
  | { readonly kind: 'sleep'; readonly ms: number };

/**
 * The acquisition loop, once for `lock` and `lockSync`: attempts, and between them a wait
 * (woken by the release where the seam can watch, else a jittered back-off). A driver runs
 * the attempts and the waits, asynchronously or blocking.
 */
function* acquireLoop(plan: LockPlan, a: Attempt, canWatch: boolean): Generator<AcquireStep, void, unknown> {
  const ctx: ErrorContext = { operation: plan.operation, path: plan.given };
  const deadline = plan.timeout === Infinity ? Infinity : Date.now() + plan.timeout;
  let pause = 1;
  for (;;) {
    if (plan.signal?.aborted) throw new AtomfsError('ABORT_ERR', undefined, ctx, { cause: plan.signal.reason });
    if ((yield { kind: 'steps', steps: attempt(plan, a) }) === 'held') return;
    const left = deadline - Date.now();
    if (left <= 0) throw new AtomfsError('ETIMEDOUT', `could not get a${plan.mode === 'exclusive' ? 'n exclusive' : ' shared'} lock within ${plan.timeout} ms`, ctx);
    const timer = a.pause;
    a.pause = undefined;
    if (canWatch && a.waitFor.some((n) => n !== '')) {
      // Woken the moment a marker we wait for goes; the poll (jittered, so waiters do not
      // move in step) remains for what raises no event: a dead holder, another host.
      // (A pause, `timer`, is only ever set with nothing to wait for: see `attempt`.)
      yield { kind: 'watch', ms: Math.min(left, plan.retryInterval * (0.5 + Math.random() * 0.5)) };
      continue;
    }
    if (timer !== undefined) {
      yield { kind: 'sleep', ms: Math.min(left, timer) };
      continue;
    }
    // Nothing to watch: back off from 1 ms up to retryInterval, with jitter.
    const wait = Math.min(left, pause * (0.5 + Math.random() * 0.5));
    pause = Math.min(pause * 2, plan.retryInterval);
    yield { kind: 'sleep', ms: wait };
  }
}

async function acquire(plan: LockPlan): Promise<Lock> {
  const ctx: ErrorContext = { operation: plan.operation, path: plan.given };
  const run = <T>(steps: Steps<T>): Promise<T> | T => (plan.blocking ? runSync(steps, plan.ops) : runAsync(steps, plan.ops));
  const a: Attempt = { waitFor: [], since: Date.now() };
  const loop = acquireLoop(plan, a, plan.ops.watchFile !== undefined);
  try {
    for (let input: unknown; ; ) {
      const r = loop.next(input);
      if (r.done) break;
      const step = r.value;
      input = undefined;
      if (step.kind === 'steps') input = await run(step.steps);
      else if (step.kind === 'watch') a.woken = await waitForRemoval(plan.ops, a.where!.dir, a.waitFor, step.ms, plan.signal);
      else await sleep(timerDelay(step.ms), undefined, { signal: plan.signal }).catch(() => {});
    }
    // With `blocking`, the fencing token is taken when first read (see Lock.token): an
    // acquisition whose token nobody reads costs no token I/O. Otherwise now, off the loop.
    const token = plan.mode === 'exclusive' && !plan.blocking ? await run(nextToken(a.where!)) : undefined;
    return new Lock(madeHere(plan), a.where!, path.join(a.where!.dir, a.marker!), token);
  } catch (e) {
    if (a.where) await run(dropMarker(a.where, a));
    throw toAtomfsError(e, ctx);
  }
}

/** The same loop, blocking: waits are sleeps of the thread (nothing to watch without an event loop). */
function acquireSync(plan: LockPlan): Lock {
  const ctx: ErrorContext = { operation: plan.operation, path: plan.given };
  const a: Attempt = { waitFor: [], since: Date.now() };
  const loop = acquireLoop(plan, a, false);
  try {
    for (let input: unknown; ; ) {
      const r = loop.next(input);
      if (r.done) break;
      const step = r.value;
      input = undefined;
      if (step.kind === 'steps') input = runSync(step.steps, plan.ops);
      else sleepSync(step.ms);
    }
    return new Lock(madeHere(plan), a.where!, path.join(a.where!.dir, a.marker!), undefined);
  } catch (e) {
    if (a.where) runSync(dropMarker(a.where, a), plan.ops);
    throw toAtomfsError(e, ctx);
  }
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

async function acquireFromStore(plan: LockPlan, store: StoreDriver): Promise<Lock> {
  const ctx: ErrorContext = { operation: plan.operation, path: plan.given };
  if (plan.signal?.aborted) throw new AtomfsError('ABORT_ERR', undefined, ctx, { cause: plan.signal.reason });
  let hold: StoreHold;
  try {
    hold = await store.acquire({
      name: plan.given,
      mode: plan.mode,
      timeout: plan.timeout,
      lease: plan.stale,
      retryInterval: plan.retryInterval,
      signal: plan.signal,
      operation: plan.operation,
    });
  } catch (e) {
    throw toAtomfsError(e, ctx);
  }
  return new Lock(madeHere(plan), undefined, '', hold.token, hold);
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
