/**
 * One description of the steps, two drivers.
 *
 * Every algorithm that must exist both synchronously and asynchronously (writeFile and
 * writeFileSync, …) is written once, as a generator that *yields* the system calls it
 * wants made and receives their results. `runSync` and `runAsync` perform them through an
 * {@link FsOps}. write-file-atomic's sync and async paths were copied and drifted apart;
 * with one generator they cannot.
 *
 * @module
 */
import type { AsyncFsOps, FsOps, OpName, SyncFsOps } from './fs-ops.js';
import { O } from './fs-ops.js';

/** A source of chunks, pulled one at a time by a step list. `null` marks the end. */
export interface ChunkSource {
  /** Synchronous pull; absent for sources that can only be read asynchronously. */
  readonly nextSync?: () => Uint8Array | null;
  readonly next: () => Promise<Uint8Array | null>;
  /** Releases the source early (the step list failed or was aborted). */
  readonly cancel: (reason: unknown) => void;
}

/** What a step list may ask its driver to do. */
export type Step =
  | { readonly kind: 'fs'; readonly name: OpName; readonly args: readonly unknown[]; readonly slow?: true }
  | { readonly kind: 'pull'; readonly source: ChunkSource; readonly signal: AbortSignal | undefined }
  | { readonly kind: 'dirsync'; readonly dir: string }
  | { readonly kind: 'dirsyncs'; readonly dirs: readonly string[] }
  | { readonly kind: 'driver' }
  | { readonly kind: 'await'; readonly run: () => Promise<unknown> };

/** A step list: a generator of steps that returns `T`. */
export type Steps<T> = Generator<Step, T, unknown>;

/** Asks the driver for one system call; `yield*` it to get the typed result. */
export function* call<K extends OpName>(name: K, ...args: Parameters<SyncFsOps[K]>): Steps<ReturnType<SyncFsOps[K]>> {
  return (yield { kind: 'fs', name, args }) as ReturnType<SyncFsOps[K]>;
}

/**
 * Like {@link call}, for a call the step list knows may take long this time although its
 * kind is cheap (see CHEAP_CALLS): the async driver always sends it to the thread pool.
 */
export function* callSlow<K extends OpName>(name: K, ...args: Parameters<SyncFsOps[K]>): Steps<ReturnType<SyncFsOps[K]>> {
  return (yield { kind: 'fs', name, args, slow: true }) as ReturnType<SyncFsOps[K]>;
}

/**
 * Asks the driver for the next chunk of a source. The async driver stops waiting when the
 * signal fires (a stalled stdin must not hold an aborted write open).
 */
export function* pull(source: ChunkSource, signal?: AbortSignal): Steps<Uint8Array | null> {
  return (yield { kind: 'pull', source, signal }) as Uint8Array | null;
}

/**
 * Asks the driver to make a directory's entries durable (fsync of the directory). The
 * async driver groups concurrent requests for one directory into one fsync.
 */
export function* dirSync(dir: string): Steps<void> {
  yield { kind: 'dirsync', dir };
}

/** {@link dirSync} of several folders: the async driver flushes them at once. */
export function* dirSyncs(dirs: readonly string[]): Steps<void> {
  yield { kind: 'dirsyncs', dirs };
}

/**
 * Asks which driver runs the step list: `true` under {@link runSync}. For the rare step
 * whose best form differs between a blocking call and one that may overlap its I/O (a
 * pipelined copy of a big file): everything else is one step list for both.
 */
export function* isSyncDriver(): Steps<boolean> {
  return (yield { kind: 'driver' }) as boolean;
}

/**
 * Asks the async driver to run a piece of work that only exists asynchronously (work with
 * several calls in flight at once) and hand back its result. The sync driver refuses it:
 * a step list yields it only on its async branch (see {@link isSyncDriver}).
 */
export function* awaitTask<T>(run: () => Promise<T>): Steps<T> {
  return (yield { kind: 'await', run }) as T;
}

/** Runs a step list synchronously. */
export function runSync<T>(steps: Steps<T>, ops: FsOps): T {
  const sys = ops.sync;
  let input: unknown;
  let failed = false;
  let error: unknown;
  for (;;) {
    const r = failed ? steps.throw(error) : steps.next(input);
    if (r.done) return r.value;
    failed = false;
    try {
      input = execSync(r.value, sys);
    } catch (e) {
      failed = true;
      error = e;
    }
  }
}

function execSync(step: Step, sys: SyncFsOps): unknown {
  switch (step.kind) {
    case 'fs':
      return (sys[step.name] as (...a: readonly unknown[]) => unknown)(...step.args);
    case 'pull': {
      if (!step.source.nextSync) throw new TypeError('this data source can only be read asynchronously');
      return step.source.nextSync();
    }
    case 'dirsync':
      return fsyncDirSync(sys, step.dir);
    case 'dirsyncs':
      for (const d of step.dirs) fsyncDirSync(sys, d);
      return undefined;
    case 'driver':
      return true;
    case 'await':
      throw new TypeError('this step can only be run asynchronously');
  }
}

// Calls that finish in microseconds on a local disk: with `blocking`, the async driver makes
// them synchronously, because a round trip through libuv's thread pool costs 20-45 µs on a
// virtual machine (more than the call) and queues behind slow fsyncs in the 4-thread pool.
// fsync, reads, listings and copies (unbounded work) always go to the pool; so do writes
// larger than BLOCKING_WRITE_MAX, which could keep the event loop busy, and calls a step
// list marks slow ({@link callSlow}).
const CHEAP_CALLS: ReadonlySet<OpName> = new Set<OpName>([
  'open', 'close', 'write', 'fchmod', 'fchown', 'fstat', 'lstat', 'stat', 'readlink', 'rename', 'link', 'unlink',
  'mkdir', 'rmdir', 'utimes', 'lutimes', 'access', 'symlink', 'chmod', 'lchown', 'umask', 'bootId', 'processStart',
]);
export const BLOCKING_WRITE_MAX = 64 * 1024;

/**
 * At most this many cheap calls are made synchronously in a row, in one turn of the event
 * loop; the next one goes to the thread pool, which lets the loop turn (timers, I/O
 * callbacks, other requests) before the work goes on. Without the bound, removing or copying
 * a tree of 50,000 small files kept the event loop blocked for about a second: every call
 * returned a settled promise, and a chain of them never leaves the microtask queue.
 */
export const BLOCKING_STREAK_MAX = 256;
let streak = 0;
let turnWatched = false;
const newTurn = (): void => {
  turnWatched = false;
  streak = 0;
};

function runsBlocking(name: OpName, args: readonly unknown[]): boolean {
  if (!CHEAP_CALLS.has(name) || (name === 'write' && (args[3] as number) > BLOCKING_WRITE_MAX)) return false;
  if (!turnWatched) {
    // Resets the streak once the event loop has turned (a check-phase callback).
    turnWatched = true;
    setImmediate(newTurn).unref();
  }
  return ++streak <= BLOCKING_STREAK_MAX;
}

/**
 * Runs a step list asynchronously. With `blocking`, the cheap calls (see `runsBlocking`)
 * are made synchronously; fsync and everything that can take long still go to the thread
 * pool.
 */
export async function runAsync<T>(steps: Steps<T>, ops: FsOps, blocking = false): Promise<T> {
  const sys = ops.async;
  let input: unknown;
  let failed = false;
  let error: unknown;
  for (;;) {
    const r = failed ? steps.throw(error) : steps.next(input);
    if (r.done) return r.value;
    failed = false;
    try {
      const step = r.value;
      switch (step.kind) {
        case 'fs':
          if (blocking && step.slow !== true && runsBlocking(step.name, step.args)) {
            input = (ops.sync[step.name] as (...a: readonly unknown[]) => unknown)(...step.args);
          } else {
            input = await (sys[step.name] as (...a: readonly unknown[]) => Promise<unknown>)(...step.args);
          }
          break;
        case 'pull':
          input = await (step.signal ? raceAbort(step.source.next(), step.signal) : step.source.next());
          break;
        case 'dirsync':
          input = await groupDirSync(ops, step.dir, blocking);
          break;
        case 'dirsyncs':
          await Promise.all(step.dirs.map((d) => groupDirSync(ops, d, blocking)));
          input = undefined;
          break;
        case 'driver':
          input = false;
          break;
        case 'await':
          input = await step.run();
          break;
      }
    } catch (e) {
      failed = true;
      error = e;
    }
  }
}

function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

// Some file systems (some FUSE and network ones) refuse fsync on a directory. Nothing
// stronger can be done there; the rename itself still happened. Anything else (EIO) is real.
const DIR_FSYNC_UNSUPPORTED = new Set(['EINVAL', 'ENOTSUP', 'EOPNOTSUPP']);
const DIR_FLAGS = O.RDONLY | O.DIRECTORY | O.CLOEXEC;

function fsyncDirSync(sys: SyncFsOps, dir: string): void {
  const fd = sys.open(dir, DIR_FLAGS, 0);
  try {
    sys.fsync(fd);
  } catch (e) {
    if (!DIR_FSYNC_UNSUPPORTED.has((e as NodeJS.ErrnoException).code ?? '')) throw e;
  } finally {
    sys.close(fd);
  }
}

async function fsyncDirAsync(ops: FsOps, dir: string, blocking: boolean): Promise<void> {
  const sys: AsyncFsOps = ops.async;
  // Opening and closing a folder are cheap; only the fsync waits for the disk.
  const fd = blocking ? ops.sync.open(dir, DIR_FLAGS, 0) : await sys.open(dir, DIR_FLAGS, 0);
  try {
    await sys.fsync(fd);
  } catch (e) {
    if (!DIR_FSYNC_UNSUPPORTED.has((e as NodeJS.ErrnoException).code ?? '')) throw e;
  } finally {
    if (blocking) ops.sync.close(fd);
    else await sys.close(fd);
  }
}

interface DirSyncState {
  running: Promise<void> | null;
  // The batch that starts when `running` ends; everyone who asks while a sync is running
  // joins it, because the running sync may have started before their rename.
  queued: { promise: Promise<void>; resolve: () => void; reject: (e: unknown) => void } | null;
}

// Keyed by the seam's synchronous calls, which every view of one seam shares (blockingView
// makes a new FsOps object around the same `sync`): writes, renames and moves into one
// folder join one another's folder fsyncs.
const dirSyncStates = new WeakMap<SyncFsOps, Map<string, DirSyncState>>();

/**
 * Group commit for directory fsyncs: a request is satisfied by an fsync that *starts*
 * after it was made. While one fsync of `dir` runs, all new requests share the next one,
 * so 64 concurrent writes into one folder cost about two folder fsyncs, not 64.
 */
export function groupDirSync(ops: FsOps, dir: string, blocking = false): Promise<void> {
  let states = dirSyncStates.get(ops.sync);
  if (!states) dirSyncStates.set(ops.sync, (states = new Map()));
  let st = states.get(dir);
  if (!st) states.set(dir, (st = { running: null, queued: null }));
  const state = st;
  const start = (): Promise<void> => {
    const p = fsyncDirAsync(ops, dir, blocking);
    state.running = p;
    const settle = (): void => {
      state.running = null;
      const next = state.queued;
      state.queued = null;
      if (next) start().then(next.resolve, next.reject);
      else states.delete(dir);
    };
    p.then(settle, settle);
    return p;
  };
  if (!state.running) return start();
  if (!state.queued) {
    let resolve!: () => void;
    let reject!: (e: unknown) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    state.queued = { promise, resolve, reject };
  }
  return state.queued.promise;
}

const fastViews = new WeakMap<FsOps, FsOps>();

/**
 * A view of `ops` whose async calls in CHEAP_CALLS run synchronously and return a settled
 * promise (same reasoning as `runAsync`'s `blocking`), for code that calls `ops.async`
 * directly (moves, renames). Cached per seam object.
 */
export function blockingView(ops: FsOps): FsOps {
  let v = fastViews.get(ops);
  if (!v) {
    const asyncOps = { ...ops.async } as Record<string, (...a: unknown[]) => Promise<unknown>>;
    for (const name of CHEAP_CALLS) {
      const f = ops.sync[name] as (...a: unknown[]) => unknown;
      const slow = ops.async[name] as (...a: unknown[]) => Promise<unknown>;
      asyncOps[name] = (...args: unknown[]) => {
        if (!runsBlocking(name, args)) return slow(...args);
        try {
          return Promise.resolve(f(...args));
        } catch (e) {
          return Promise.reject(e);
        }
      };
    }
    v = Object.freeze({ sync: ops.sync, async: asyncOps as unknown as FsOps['async'], watchFile: ops.watchFile });
    fastViews.set(ops, v);
  }
  return v;
}
