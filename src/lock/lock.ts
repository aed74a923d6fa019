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
import { O } from '../internal/fs-ops.js';
import { validateUserPath, type PathLike } from '../internal/paths.js';
import { call, dirSync, runAsync, runSync, type Steps } from '../internal/steps.js';
import { randomHex } from '../internal/temp-name.js';
import { boolOpt, checkOptionsObject, enumOpt, resolveBase, type BaseOptions, type ResolvedBase } from '../options.js';
import { markerName, orderKey, parseMarker, shortBoot, thisHost, type LockMode, type Marker } from './markers.js';

export type { LockMode } from './markers.js';

/** Options of {@link lock} and {@link withLock}. */
export interface LockOptions extends BaseOptions {
  /** `'exclusive'` (default): one holder. `'shared'`: many holders, no exclusive one. */
  readonly mode?: LockMode | undefined;
  /** Give up after this long (ms) with `ETIMEDOUT`. `Infinity` waits forever. Default 10,000. */
  readonly timeout?: number | undefined;
  /** The longest pause between two attempts while waiting (ms). Default 25. */
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
   * Make the marker system calls synchronously (each a single metadata call, a few
   * microseconds on a local disk: much faster than a thread-pool round trip). Set `false`
   * where the file system may hang (a network mount). Default `true`.
   */
  readonly blocking?: boolean | undefined;
}

interface LockPlan extends ResolvedBase {
  readonly given: string;
  readonly abs: string;
  readonly mode: LockMode;
  readonly timeout: number;
  readonly retryInterval: number;
  readonly stale: number;
  readonly onCompromised: ((e: AtomfsError) => void) | undefined;
  readonly leaseOnly: boolean;
  readonly blocking: boolean;
}

interface Where {
  /** Where our marker is created. */
  readonly dir: string;
  readonly prefix: string;
  /**
   * Other places whose markers count too. A folder's markers live inside it, but a path
   * locked before it existed (as a file) has its markers beside it: a folder lock also
   * lists those, or two holders could each see a clear place of their own.
   */
  readonly also: readonly { readonly dir: string; readonly prefix: string }[];
}

/** Where a path's markers live: inside it when it is a folder, beside it otherwise. */
function* locate(plan: LockPlan): Steps<Where> {
  const beside = { dir: path.dirname(plan.abs), prefix: `.${path.basename(plan.abs)}.lock-` };
  try {
    const st = yield* call('stat', plan.abs);
    if (st.isDirectory()) return { dir: plan.abs, prefix: '.lock-', also: [beside] };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  return { ...beside, also: [] };
}

let selfStart: number | undefined;

interface Attempt {
  where?: Where;
  marker?: string;
  order?: string;
}

function* isDead(plan: LockPlan, where: { readonly dir: string }, m: Marker, myBoot: string): Steps<boolean> {
  if (!plan.leaseOnly && m.hostName === thisHost()) {
    // Same host: the process decides, at once.
    if (m.boot !== myBoot && myBoot !== '0' && m.boot !== '0') return true;
    const start = yield* call('processStart', m.pid);
    if (start === null) return true;
    return start !== 0 && m.start !== 0 && start !== m.start;
  }
  try {
    const st = yield* call('lstat', path.join(where.dir, m.name));
    return Date.now() - st.mtimeMs > plan.stale;
  } catch {
    return true; // gone already
  }
}

function* reclaim(plan: LockPlan, where: { readonly dir: string; readonly prefix: string }, m: Marker): Steps<void> {
  // Rename to a private name first: of several reclaimers exactly one succeeds, the others
  // see ENOENT. Marker names are unique per acquisition, so this can only ever remove the
  // dead holder's marker, never a live one that took its place.
  const privateName = path.join(where.dir, `${where.prefix}reclaim-${randomHex(plan.random)}`);
  try {
    yield* call('rename', path.join(where.dir, m.name), privateName);
  } catch {
    return;
  }
  plan.logger.warn({ targetPath: plan.given, operation: 'lock', holderPid: m.pid, holderHost: m.hostName }, 'Reclaimed a stale lock');
  try {
    yield* call('unlink', privateName);
  } catch {
    // A leftover reclaim file is not a marker and blocks nobody.
  }
}

/** One attempt: make sure our marker exists (and its lease is fresh), list, decide. */
function* attempt(plan: LockPlan, a: Attempt): Steps<'held' | 'wait'> {
  const where = (a.where ??= yield* locate(plan));
  const myBoot = shortBoot(yield* call('bootId'));
  if (a.marker) {
    // A waiting marker is a lease too: refresh it, or after `stale` others would reclaim
    // it and we would lose our place (and hold with a lease already expired).
    const now = Date.now();
    try {
      yield* call('utimes', path.join(where.dir, a.marker), now, now);
    } catch {
      a.marker = undefined; // reclaimed: make a new one, keeping our order key
    }
  }
  if (!a.marker) {
    selfStart ??= (yield* call('processStart', process.pid)) ?? 0;
    // The first order key is kept across withdrawals: writers are served first come,
    // first served, not whoever happens to retry at the right moment.
    a.order ??= orderKey(Date.now(), randomHex(plan.random).slice(0, 8));
    const name = markerName(where.prefix, {
      mode: plan.mode,
      pid: process.pid,
      hostName: thisHost(),
      boot: myBoot,
      start: selfStart,
      order: a.order,
    });
    const fd = yield* call('open', path.join(where.dir, name), O.WRONLY | O.CREAT | O.EXCL | O.CLOEXEC, 0o644);
    a.marker = name;
    yield* call('close', fd);
  }
  let blocked = false;
  let withdraw = false;
  let mine = false;
  for (const place of [where, ...where.also]) {
    let entries;
    try {
      entries = yield* call('readdir', place.dir);
    } catch (e) {
      if (place !== where) continue; // the other place is optional
      throw e;
    }
    for (const e of entries) {
      const m = parseMarker(place.prefix, e.name);
      if (!m) continue;
      if (place === where && m.name === a.marker) {
        mine = true;
        continue;
      }
      if (plan.mode === 'shared' && m.mode === 'shared') continue;
      if (yield* isDead(plan, place, m, myBoot)) {
        yield* reclaim(plan, place, m);
        continue;
      }
      blocked = true;
      if (plan.mode === 'shared') withdraw = true; // a writer is in or waiting: let it go first
      else if (m.mode === 'exclusive' && m.order < a.order!) withdraw = true; // an earlier writer
    }
  }
  // Our own marker must still be there: if it was reclaimed meanwhile, we hold nothing.
  if (!mine) {
    a.marker = undefined;
    return 'wait';
  }
  if (!blocked) return 'held';
  if (withdraw) yield* dropMarker(where, a);
  return 'wait';
}

function* dropMarker(where: Where, a: Attempt): Steps<void> {
  const name = a.marker;
  if (!name) return;
  a.marker = undefined;
  try {
    yield* call('unlink', path.join(where.dir, name));
  } catch {
    // Already gone (reclaimed): nothing to drop.
  }
}

const TOKEN_RECORD = 64;
// Tokens reserved per durable write of the high-water mark: one fsync per 1,024 exclusive
// acquisitions instead of one per acquisition.
const TOKEN_RESERVE = 1024;

/**
 * The fencing token: one more than the last exclusive holder's. The counter file holds
 * `<last> <boot> <high-water mark>`: `last` is written without fsync (the page cache is
 * shared by every process of the host), the high-water mark durably, ahead of every token
 * handed out. After a reboot (another boot id) counting resumes above the high-water mark,
 * so a token never goes back, even if the last write of `last` was lost with the power.
 */
function* nextToken(where: Where): Steps<number> {
  const file = path.join(where.dir, `${where.prefix}token`);
  const boot = (yield* call('bootId')) || '-';
  let fd: number;
  let created = false;
  try {
    fd = yield* call('open', file, O.RDWR | O.CLOEXEC | O.NOFOLLOW, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    fd = yield* call('open', file, O.RDWR | O.CREAT | O.EXCL | O.CLOEXEC | O.NOFOLLOW, 0o644);
    created = true;
  }
  try {
    const buf = Buffer.alloc(TOKEN_RECORD);
    const n = yield* call('read', fd, buf, 0, TOKEN_RECORD, 0);
    const [curS, bootS, hwmS] = buf.toString('latin1', 0, n).trim().split(/\s+/);
    const cur = Number(curS) || 0;
    const hwm = Number(hwmS) || 0;
    const next = (bootS === boot && boot !== '-' ? cur : Math.max(cur, hwm)) + 1;
    const durable = next > hwm;
    const record = Buffer.from(`${next} ${boot} ${durable ? next + TOKEN_RESERVE : hwm}`.padEnd(TOKEN_RECORD - 1) + '\n', 'latin1');
    for (let off = 0; off < record.length; ) {
      const w = yield* call('write', fd, record, off, record.length - off);
      if (w <= 0) throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC', syscall: 'write' });
      off += w;
    }
    if (durable) yield* call('fsync', fd);
    if (created) yield* dirSync(where.dir);
    return next;
  } finally {
    yield* call('close', fd);
  }
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
  readonly #markerPath: string;
  readonly #token: number | undefined;
  #state: 'held' | 'released' = 'held';
  #compromised = false;
  #timer: NodeJS.Timeout | undefined;
  #lastBeat = Date.now();

  /** @internal Use {@link lock}. */
  constructor(plan: LockPlan, markerPath: string, token: number | undefined) {
    this.#plan = plan;
    this.#markerPath = markerPath;
    this.#token = token;
    track(this);
    const every = Math.max(20, Math.floor(plan.stale / 2));
    this.#timer = setInterval(() => void this.#beat(), every);
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
   * The fencing token of an exclusive lock: larger than every earlier exclusive holder's
   * of this path, durably (also across reboots). `undefined` for a shared lock.
   */
  get token(): number | undefined {
    return this.#token;
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

  #compromise(why: string, cause: unknown): void {
    if (this.#compromised) return;
    this.#compromised = true;
    const err = new AtomfsError(
      'ENOENT',
      `lock lost: ${why}`,
      { operation: 'lock', path: this.#plan.given },
      { cause, reason: 'compromised' },
    );
    this.#plan.logger.warn({ targetPath: this.#plan.given, operation: 'lock', errorCode: err.code }, 'Lock compromised');
    try {
      this.#plan.onCompromised?.(err);
    } catch (e) {
      // Never thrown from a timer: a throwing handler is only logged.
      this.#plan.logger.error({ targetPath: this.#plan.given, operation: 'lock', errorMessage: (e as Error).message }, 'onCompromised threw');
    }
  }

  /**
   * Releases the lock. Safe to call twice. A lock found compromised at release is
   * reported through `onCompromised`; release itself still resolves.
   *
   * @throws {@link AtomfsError} only for unexpected I/O errors removing the marker (`EIO`, `EROFS`).
   * @example
   * ```ts
   * await l.release();
   * ```
   */
  async release(): Promise<void> {
    if (this.#state === 'released') return;
    this.#state = 'released';
    clearInterval(this.#timer);
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

  /** Removes the marker synchronously (process exit). @internal */
  _dropSync(): void {
    if (this.#state === 'released') return;
    this.#state = 'released';
    clearInterval(this.#timer);
    try {
      this.#plan.ops.sync.unlink(this.#markerPath);
    } catch {
      // exiting anyway
    }
  }
}

function numOpt(operation: string, o: Readonly<Record<string, unknown>>, key: string, dflt: number, min: number, given: string, allowInfinity = false): number {
  const v = o[key];
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || Number.isNaN(v) || v < min || (!allowInfinity && !Number.isFinite(v))) {
    throw new AtomfsError('EINVAL', `${key} must be a number of ms >= ${min}${allowInfinity ? ' (or Infinity)' : ''}, got ${String(v)}`, { operation, path: given });
  }
  return v;
}

function resolveLock(operation: string, p: unknown, options: unknown): LockPlan {
  const { given, abs } = validateUserPath(operation, p);
  const o = checkOptionsObject(operation, options, given);
  const onCompromised = o['onCompromised'];
  if (onCompromised !== undefined && typeof onCompromised !== 'function') {
    throw new AtomfsError('EINVAL', 'onCompromised must be a function', { operation, path: given });
  }
  const b = resolveBase(operation, o, given);
  // No spread: an object literal with a spread and more properties costs ~8 µs on Node 20.
  return {
    signal: b.signal,
    logger: b.logger,
    ops: b.ops,
    random: b.random,
    given,
    abs,
    mode: enumOpt<LockMode>(operation, o, 'mode', ['exclusive', 'shared'], 'exclusive', given),
    timeout: numOpt(operation, o, 'timeout', 10_000, 0, given, true),
    retryInterval: numOpt(operation, o, 'retryInterval', 25, 1, given),
    stale: numOpt(operation, o, 'stale', 10_000, 100, given),
    onCompromised: onCompromised as LockPlan['onCompromised'],
    leaseOnly: boolOpt(operation, o, 'leaseOnly', false, given),
    blocking: boolOpt(operation, o, 'blocking', true, given),
  };
}

async function acquire(plan: LockPlan): Promise<Lock> {
  const ctx: ErrorContext = { operation: 'lock', path: plan.given };
  const run = <T>(steps: Steps<T>): Promise<T> | T => (plan.blocking ? runSync(steps, plan.ops) : runAsync(steps, plan.ops));
  const a: Attempt = {};
  const deadline = plan.timeout === Infinity ? Infinity : Date.now() + plan.timeout;
  let pause = 1;
  try {
    for (;;) {
      if (plan.signal?.aborted) throw new AtomfsError('ABORT_ERR', undefined, ctx, { cause: plan.signal.reason });
      if ((await run(attempt(plan, a))) === 'held') break;
      const left = deadline - Date.now();
      if (left <= 0) throw new AtomfsError('ETIMEDOUT', `could not get a${plan.mode === 'exclusive' ? 'n exclusive' : ' shared'} lock within ${plan.timeout} ms`, ctx);
      // Back off from 1 ms up to retryInterval, with jitter so waiters do not move in step.
      const wait = Math.min(left, pause * (0.5 + Math.random() * 0.5));
      pause = Math.min(pause * 2, plan.retryInterval);
      await sleep(wait, undefined, { signal: plan.signal }).catch(() => {});
    }
    const token = plan.mode === 'exclusive' ? await run(nextToken(a.where!)) : undefined;
    return new Lock(plan, path.join(a.where!.dir, a.marker!), token);
  } catch (e) {
    if (a.where) await run(dropMarker(a.where, a));
    throw toAtomfsError(e, ctx);
  }
}

/**
 * Takes a lock on a folder (markers inside it) or a file (markers beside it, named after
 * it; the file need not exist), shared or exclusive, across processes and hosts. Waits
 * (polling with back-off) up to `timeout`. A holder on this host whose process died is
 * reclaimed at once; one on another host when its lease is older than `stale`.
 *
 * @param path - The folder or file to lock. A path that does not exist is locked as a file.
 * @param options - See {@link LockOptions}.
 * @returns The held {@link Lock}; exclusive locks carry a fencing `token`.
 * @throws {@link AtomfsError} `ETIMEDOUT` not acquired in time; `ABORT_ERR` the signal fired;
 *   `EROFS`/`EACCES` markers cannot be created (at once, never a hang); `ENOENT`/`ENOTDIR`
 *   the folder is missing; `EINVAL` bad input.
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
  return acquire(resolveLock('lock', path, options));
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
  if (typeof fn !== 'function') throw new AtomfsError('EINVAL', 'fn must be a function', { operation: 'withLock', path: String(path) });
  const l = await lock(path, options);
  try {
    return await fn(l);
  } finally {
    await l.release();
  }
}
