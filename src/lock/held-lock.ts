/**
 * A held lock: its heartbeat (or a store's renewals), its fencing token, its release, and
 * the news when it is lost.
 *
 * @module
 */
import { AtomfsError, toAtomfsError } from '../errors.js';
import { timerDelay } from '../internal/abort.js';
import { assertMade } from '../internal/made.js';
import { runSync } from '../internal/steps.js';
import { LOG_EVENTS } from '../logger.js';
import type { LockMode } from './markers.js';
import type { Where } from './place.js';
import type { LockPlan } from './plan.js';
import type { FenceToken, StoreHold } from './store.js';
import { nextToken } from './token.js';

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
