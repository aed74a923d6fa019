/**
 * DirectoryLocker: seed 002's interface over {@link lock}.
 *
 * @module
 */
import { AtomfsError, isAtomfsError } from '../errors.js';
import { validateUserPath, type PathLike } from '../internal/paths.js';
import { lock, type Lock, type LockOptions } from './lock.js';
import { BASE_NAMES, checkOptionsObject, optionNames } from '../options.js';

const LOCKER_SET = optionNames(BASE_NAMES, ['retryInterval', 'stale', 'onCompromised', 'leaseOnly', 'blocking']);

/**
 * Seed 002's DirectoryLocker: shared and exclusive locks on one folder, with a boolean
 * result on timeout instead of an error. Holds at most one lock at a time.
 *
 * @example
 * ```ts
 * const locker = new DirectoryLocker('registry/');
 * if (await locker.acquireExclusive(5_000)) {
 *   try { await update(); } finally { await locker.release(); }
 * }
 * ```
 */
export class DirectoryLocker {
  readonly #dir: string;
  readonly #options: LockOptions;
  #held: Lock | undefined;
  #acquiring = false;

  /**
   * @param dir - The folder to lock (markers live inside it).
   * @param options - Lock options other than `mode` and `timeout`.
   * @throws {@link AtomfsError} `EINVAL` for a bad path, options that are not an object, or
   *   an option name it does not know (`mode` and `timeout` included: they are the methods').
   */
  constructor(dir: PathLike, options?: Omit<LockOptions, 'mode' | 'timeout'>) {
    this.#dir = validateUserPath('DirectoryLocker', dir).given;
    this.#options = checkOptionsObject('DirectoryLocker', options, this.#dir, LOCKER_SET) as Omit<LockOptions, 'mode' | 'timeout'>;
  }

  /** The lock held now, if any. */
  get lock(): Lock | undefined {
    return this.#held;
  }

  /**
   * Takes the exclusive lock.
   * @param timeout - How long to wait (ms). Default 10,000.
   * @returns `true` when acquired, `false` when the time ran out.
   * @throws {@link AtomfsError} `EINVAL` when this locker already holds a lock; `EROFS`,
   *   `EACCES`, `ENOENT` and the other codes of {@link lock} except `ETIMEDOUT`.
   * @example
   * ```ts
   * if (!(await locker.acquireExclusive(1_000))) console.log('busy');
   * ```
   */
  acquireExclusive(timeout = 10_000): Promise<boolean> {
    return this.#acquire('exclusive', timeout);
  }

  /**
   * Takes a shared lock (many readers at once, never with a writer).
   * @param timeout - How long to wait (ms). Default 10,000.
   * @returns `true` when acquired, `false` when the time ran out.
   * @throws {@link AtomfsError} as {@link DirectoryLocker.acquireExclusive}.
   * @example
   * ```ts
   * await locker.acquireShared();
   * ```
   */
  acquireShared(timeout = 10_000): Promise<boolean> {
    return this.#acquire('shared', timeout);
  }

  async #acquire(mode: 'exclusive' | 'shared', timeout: number): Promise<boolean> {
    // An acquisition under way counts as held: two concurrent calls must not both take a
    // lock, or the first one would never be released.
    if (this.#acquiring || (this.#held && !this.#held.released)) {
      throw new AtomfsError('EINVAL', 'this locker already holds (or is acquiring) a lock; release it first', { operation: 'DirectoryLocker', path: this.#dir });
    }
    this.#acquiring = true;
    try {
      this.#held = await lock(this.#dir, { ...this.#options, mode, timeout });
      return true;
    } catch (e) {
      if (isAtomfsError(e, 'ETIMEDOUT')) return false;
      throw e;
    } finally {
      this.#acquiring = false;
    }
  }

  /**
   * Releases the held lock; does nothing when none is held.
   * @throws {@link AtomfsError} only for unexpected I/O errors.
   * @example
   * ```ts
   * await locker.release();
   * ```
   */
  async release(): Promise<void> {
    const l = this.#held;
    this.#held = undefined;
    await l?.release();
  }
}
