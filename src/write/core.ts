/**
 * The write path, written once as step lists (see `internal/steps.ts`) and shared by
 * writeFile, writeFileSync, writeFiles, openAtomic and createWriteStream:
 *
 *   resolve target → open temp (O_CREAT|O_EXCL|O_NOFOLLOW, 0600) → write every byte →
 *   fchown/fchmod → fsync → close → rename (or link+unlink for no-overwrite) → fsync folder
 *
 * and, on any failure before the rename, close + unlink the temp.
 *
 * @module
 */
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { AtomfsError, attachSuppressed, toAtomfsError, type ErrorContext } from '../errors.js';
import { throwIfAborted } from '../internal/abort.js';
import { absolute } from '../internal/paths.js';
import type { FileStat } from '../internal/fs-ops.js';
import { MODE_REFUSED, NO_HARDLINKS, O } from '../internal/fs-ops.js';
import { mkdirpDurable, renameOverPlaceholder } from '../internal/durable.js';
import { BLOCKING_WRITE_MAX, call, callSlow, dirSync, pull, runAsync, type ChunkSource, type Steps } from '../internal/steps.js';
import { randomHex, tempNameFor } from '../internal/temp-name.js';
import { LOG_EVENTS } from '../logger.js';
import type { ResolvedBase } from '../options.js';
import { trackTemp, untrackTemp } from '../internal/live-temps.js';

/** How a target that is a symlink is treated. */
export type SymlinkPolicy = 'follow' | 'replace';

/** Everything a write needs, validated and with defaults filled in. */
export interface WritePlan extends ResolvedBase {
  readonly operation: string;
  /** The caller's path, as given (used in errors and logs). */
  readonly given: string;
  /** The caller's path, absolute. */
  readonly abs: string;
  readonly fsync: boolean;
  readonly overwrite: boolean;
  readonly mkdirp: boolean;
  /** Mode for a new file, before the umask. */
  readonly mode: number;
  readonly chown: { readonly uid: number; readonly gid: number } | undefined;
  readonly symlinks: SymlinkPolicy;
  readonly encoding: BufferEncoding;
  /** Make cheap metadata calls synchronously (see `runAsync`). */
  readonly blocking: boolean;
  /** Remove the temp if a signal ends the process mid-write (see live-temps.ts). */
  readonly cleanupOnExit: boolean;
}

/** A temp file being written. Its state lives in one field. */
export interface TempFile {
  fd: number;
  readonly tempPath: string;
  /** The path that will be replaced (symlinks resolved under 'follow'). */
  readonly target: string;
  readonly dir: string;
  readonly finalMode: number;
  /** Owner to set, or undefined to leave the temp's (the process') own. */
  readonly owner: { readonly uid: number; readonly gid: number; readonly explicit: boolean } | undefined;
  size: number;
  readonly started: number;
  state: 'open' | 'sealed' | 'published' | 'discarded';
}

const TEMP_FLAGS = O.WRONLY | O.CREAT | O.EXCL | O.NOFOLLOW | O.CLOEXEC;
// The temp is private until its final mode is set: an existing 0600 file's new content
// must never be readable by others, not even for a moment.
const TEMP_MODE = 0o600;
const MAX_SYMLINK_HOPS = 40;
const MAX_NAME_ATTEMPTS = 16;

function ctxOf(plan: WritePlan, syscall?: string): ErrorContext {
  return { operation: plan.operation, path: plan.given, syscall };
}

/** Follows the target's symlinks (under 'follow') with one lstat per hop. */
function* resolveTarget(plan: WritePlan): Steps<{ target: string; stat: FileStat | undefined }> {
  let cur = plan.abs;
  for (let hops = 0; ; hops++) {
    let st: FileStat;
    try {
      st = yield* call('lstat', cur);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { target: cur, stat: undefined };
      throw toAtomfsError(e, ctxOf(plan, 'lstat'));
    }
    if (st.isSymbolicLink() && plan.symlinks === 'follow') {
      if (hops >= MAX_SYMLINK_HOPS) throw new AtomfsError('ELOOP', undefined, ctxOf(plan, 'open'));
      const link = yield* call('readlink', cur);
      // As the kernel does: relative to the link's folder, `..` after any symlink in it.
      cur = absolute(link, path.dirname(cur));
      continue;
    }
    if (st.isDirectory()) throw new AtomfsError('EISDIR', undefined, ctxOf(plan, 'open'));
    if (!st.isFile() && !st.isSymbolicLink()) {
      throw new AtomfsError('EINVAL', 'target is not a regular file (a FIFO, socket or device)', ctxOf(plan, 'open'));
    }
    return { target: cur, stat: st };
  }
}

const euid = (): number => process.geteuid?.() ?? -1;
const egid = (): number => process.getegid?.() ?? -1;

/** Resolves the target, decides mode and owner, and creates the temp file exclusively. */
export function* prepare(plan: WritePlan): Steps<TempFile> {
  throwIfAborted(plan.signal, ctxOf(plan));
  const { target, stat } = yield* resolveTarget(plan);
  if (stat && !plan.overwrite) throw new AtomfsError('EEXIST', undefined, ctxOf(plan, 'open'));

  let finalMode: number;
  let owner: TempFile['owner'];
  if (stat?.isFile()) {
    // An existing file keeps its mode and, where we may chown, its owner.
    finalMode = stat.mode & 0o7777;
    if (stat.uid !== euid() || stat.gid !== egid()) owner = { uid: stat.uid, gid: stat.gid, explicit: false };
  } else {
    // Exactly what fs.writeFile(path, data, {mode}) would give a new file: the umask, and
    // for a process without CAP_FSETID (approximated: not root) the kernel's clearing of
    // set-id bits on the first write: set-user-id always, set-group-id when group-execute
    // is set (without it, set-group-id marks mandatory locking and is kept).
    finalMode = plan.mode & ~(yield* call('umask')) & 0o7777;
    if (euid() !== 0) finalMode &= finalMode & 0o010 ? ~0o6000 : ~0o4000;
  }
  if (plan.chown) owner = { ...plan.chown, explicit: true };

  const dir = path.dirname(target);
  const base = path.basename(target);
  let madeDirs = false;
  for (let attempt = 1; ; attempt++) {
    const tempPath = path.join(dir, tempNameFor(base, randomHex(plan.random)));
    try {
      const fd = yield* call('open', tempPath, TEMP_FLAGS, TEMP_MODE);
      if (plan.cleanupOnExit) trackTemp(tempPath, plan.ops.sync);
      plan.logger.debug({ targetPath: plan.given, tempPath, operation: plan.operation }, LOG_EVENTS.writeStarted);
      return { fd, tempPath, target, dir, finalMode, owner, size: 0, started: performance.now(), state: 'open' };
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // Someone holds this random name: draw another. Never open an existing file.
      if (code === 'EEXIST' && attempt < MAX_NAME_ATTEMPTS) continue;
      if (code === 'ENOENT' && plan.mkdirp && !madeDirs) {
        try {
          yield* mkdirpDurable(dir, plan.fsync);
        } catch (e2) {
          throw toAtomfsError(e2, ctxOf(plan, (e2 as NodeJS.ErrnoException).syscall ?? 'mkdir'));
        }
        madeDirs = true;
        continue;
      }
      throw toAtomfsError(e, ctxOf(plan, 'open'));
    }
  }
}

/**
 * Writes every byte of `buf`. Linux answers a write on a full disk with a short count, not
 * ENOSPC: we loop, and a write that makes no progress is ENOSPC. Ignoring the count is how
 * write-file-atomic and atomically rename a truncated file over a good one.
 */
export function* writeAll(tf: TempFile, buf: Uint8Array, plan: WritePlan): Steps<void> {
  let off = 0;
  while (off < buf.length) {
    let n: number;
    try {
      n = yield* call('write', tf.fd, buf, off, buf.length - off);
    } catch (e) {
      throw toAtomfsError(e, ctxOf(plan, 'write'));
    }
    if (n <= 0) throw new AtomfsError('ENOSPC', undefined, ctxOf(plan, 'write'));
    off += n;
    tf.size += n;
  }
}

/** Writes a whole source, checking the signal between chunks. */
export function* writeSource(tf: TempFile, data: Uint8Array | ChunkSource, plan: WritePlan): Steps<void> {
  if (data instanceof Uint8Array) return yield* writeAll(tf, data, plan);
  for (;;) {
    throwIfAborted(plan.signal, ctxOf(plan));
    let chunk: Uint8Array | null;
    try {
      chunk = yield* pull(data, plan.signal);
    } catch (e) {
      throwIfAborted(plan.signal, ctxOf(plan));
      throw e;
    }
    if (chunk === null) return;
    if (chunk.length > 0) yield* writeAll(tf, chunk, plan);
  }
}

// Harmless chown failures when atomfs only tries to keep an owner it may not be allowed to
// set (write-file-atomic's isChownErrOk): not root, or a file system without owners.
const CHOWN_OK = new Set(['EPERM', 'EINVAL', 'ENOSYS', 'ENOTSUP', 'EOPNOTSUPP']);

/** Owner, mode, fsync, close. A failed fsync is final: the caller discards the temp. */
export function* seal(tf: TempFile, plan: WritePlan): Steps<void> {
  const t0 = performance.now();
  let mode = tf.finalMode;
  if (tf.owner) {
    try {
      yield* call('fchown', tf.fd, tf.owner.uid, tf.owner.gid);
    } catch (e) {
      if (tf.owner.explicit || !CHOWN_OK.has((e as NodeJS.ErrnoException).code ?? '')) throw toAtomfsError(e, ctxOf(plan, 'fchown'));
      // The file stays ours, not its owner's: never with the owner's set-id bits.
      mode &= ~0o6000;
    }
  }
  // After chown, which clears set-id bits. A file system that keeps no modes (FAT) refuses
  // it: the file keeps the mode it was given there, as with fs.writeFile.
  try {
    yield* call('fchmod', tf.fd, mode);
  } catch (e) {
    if (!MODE_REFUSED.has((e as NodeJS.ErrnoException).code ?? '')) throw toAtomfsError(e, ctxOf(plan, 'fchmod'));
  }
  if (plan.fsync) {
    try {
      yield* call('fsync', tf.fd);
    } catch (e) {
      // Never retried: after a failed fsync the kernel may have dropped the dirty pages
      // and a second fsync would report success for data that is gone.
      throw toAtomfsError(e, ctxOf(plan, 'fsync'));
    }
  }
  const fd = tf.fd;
  tf.fd = -1;
  try {
    // close can report a deferred write error (NFS): that is a failed write too.
    yield* call('close', fd);
  } catch (e) {
    throw toAtomfsError(e, ctxOf(plan, 'close'));
  }
  tf.state = 'sealed';
  plan.logger.debug(
    { tempPath: tf.tempPath, size: tf.size, duration: performance.now() - t0, operation: 'writeFile' },
    LOG_EVENTS.tempWritten,
  );
}

/**
 * The commit point: rename the temp over the target (or link it, for no-overwrite), then
 * make the folder entry durable. The signal is checked for the last time before the
 * rename; after it the write completes.
 */
export function* publish(tf: TempFile, plan: WritePlan, syncFolder: boolean): Steps<void> {
  throwIfAborted(plan.signal, ctxOf(plan));
  const t0 = performance.now();
  if (plan.overwrite) {
    try {
      // Replacing a file with one whose data was NOT fsynced makes ext4 (auto_da_alloc)
      // start writing that data back inside rename(2): for a big temp that takes a
      // millisecond or more, so that rename goes to the thread pool. A small one's writeback
      // is one small request (0.2-0.3 ms inside rename on the bench disk, where a round trip
      // through an idle thread pool took 2-6 ms): it stays synchronous with `blocking`.
      if (!plan.fsync && tf.size > BLOCKING_WRITE_MAX) yield* callSlow('rename', tf.tempPath, tf.target);
      else yield* call('rename', tf.tempPath, tf.target);
    } catch (e) {
      throw toAtomfsError(e, ctxOf(plan, 'rename'));
    }
    tf.state = 'published';
    untrackTemp(tf.tempPath);
  } else {
    // link(2) fails with EEXIST if the name exists, atomically: no window between a check
    // and the rename in which another process could create the target.
    let linked = true;
    try {
      yield* call('link', tf.tempPath, tf.target);
    } catch (e) {
      if (!NO_HARDLINKS.has((e as NodeJS.ErrnoException).code ?? '')) throw toAtomfsError(e, ctxOf(plan, 'link'));
      // No hard links here (FAT, exFAT): over an exclusive placeholder, which takes the temp's name away.
      try {
        yield* renameOverPlaceholder(tf.tempPath, tf.target);
      } catch (e2) {
        throw toAtomfsError(e2, ctxOf(plan, (e2 as NodeJS.ErrnoException).syscall ?? 'rename'));
      }
      linked = false;
    }
    tf.state = 'published';
    if (!linked) untrackTemp(tf.tempPath);
    if (linked) {
      try {
        yield* call('unlink', tf.tempPath);
        untrackTemp(tf.tempPath);
      } catch (e) {
        untrackTemp(tf.tempPath);
        // The target is complete; the extra name is a temp name cleanupOrphans recognises.
        plan.logger.warn({ tempPath: tf.tempPath, cleanupErrorCode: (e as NodeJS.ErrnoException).code }, LOG_EVENTS.tempCleanupFailed);
      }
    }
  }
  plan.logger.debug(
    { tempPath: tf.tempPath, targetPath: plan.given, duration: performance.now() - t0, operation: 'rename' },
    LOG_EVENTS.renamed,
  );
  if (syncFolder) yield* syncDir(tf, plan);
}

/** The folder fsync after a rename (skipped with `fsync: false`). */
export function* syncDir(tf: TempFile, plan: WritePlan): Steps<void> {
  if (!plan.fsync) return;
  try {
    yield* dirSync(tf.dir);
  } catch (e) {
    throw toAtomfsError(e, ctxOf(plan, 'fsync'));
  }
}

/** Closes and removes an unpublished temp. Never throws: a cleanup failure is logged. */
export function* discard(tf: TempFile, plan: WritePlan, cause: AtomfsError | undefined): Steps<void> {
  if (tf.fd >= 0) {
    const fd = tf.fd;
    tf.fd = -1;
    try {
      yield* call('close', fd);
    } catch {
      // The descriptor is released even when close reports an error.
    }
  }
  if (tf.state === 'published' || tf.state === 'discarded') return;
  tf.state = 'discarded';
  try {
    yield* call('unlink', tf.tempPath);
    untrackTemp(tf.tempPath);
    plan.logger.debug({ tempPath: tf.tempPath, operation: 'cleanup' }, LOG_EVENTS.tempCleaned);
  } catch (e) {
    untrackTemp(tf.tempPath);
    plan.logger.warn({ tempPath: tf.tempPath, cleanupErrorCode: (e as NodeJS.ErrnoException).code }, LOG_EVENTS.tempCleanupFailed);
    if (cause) attachSuppressed(cause, e);
  }
}

/** Logs the failure and returns the error to throw. */
export function failed(plan: WritePlan, e: unknown, tempPath?: string): AtomfsError {
  const err = toAtomfsError(e, ctxOf(plan));
  plan.logger.error(
    { targetPath: plan.given, tempPath, errorCode: err.code, errorMessage: err.message, operation: plan.operation },
    LOG_EVENTS.writeFailed,
  );
  return err;
}

/** The whole write of one file. */
export function* writeSteps(plan: WritePlan, data: Uint8Array | ChunkSource): Steps<void> {
  let tf: TempFile | undefined;
  try {
    tf = yield* prepare(plan);
    yield* writeSource(tf, data, plan);
    yield* seal(tf, plan);
    yield* publish(tf, plan, true);
  } catch (e) {
    const err = failed(plan, e, tf?.tempPath);
    if (!(data instanceof Uint8Array)) data.cancel(err);
    if (tf) yield* discard(tf, plan, err);
    throw err;
  }
  plan.logger.debug(
    { targetPath: plan.given, size: tf.size, duration: performance.now() - tf.started, operation: plan.operation },
    LOG_EVENTS.writeCompleted,
  );
}

/**
 * Ordered chunk writes into a temp file, shared by the streaming writers (AtomicFile,
 * StagedFile). Writes run one after another in call order; the first failed write
 * poisons the file: every later write rejects with that error, and `settle()` reports it,
 * so content missing a chunk is never published.
 */
export class ChunkWriter {
  #tail: Promise<void> = Promise.resolve();
  #error: unknown;

  constructor(
    private readonly plan: WritePlan,
    private readonly tf: TempFile,
  ) {}

  /** Queues one chunk. */
  write(bytes: Uint8Array): Promise<void> {
    const p = this.#tail.then(() => {
      if (this.#error !== undefined) throw this.#error;
      return runAsync(writeAll(this.tf, bytes, this.plan), this.plan.ops, this.plan.blocking).catch((e: unknown) => {
        this.#error ??= e;
        throw e;
      });
    });
    this.#tail = p.catch(() => {});
    return p;
  }

  /** Waits for the queued writes; resolves with the first write error, if any. */
  async settle(): Promise<unknown> {
    await this.#tail;
    return this.#error;
  }
}
