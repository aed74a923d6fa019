/**
 * The copy half of a move across devices (or with strategy 'copy'): the whole source built
 * under a temp name in the destination's folder, file by file (one kernel copy or a stream
 * of our own, chooseCopy says which), owners, modes and times kept, every file fsynced and
 * checked, then published at the destination, never over anything without `overwrite`.
 *
 * @module
 * @internal
 */
import * as path from 'node:path';
import { AtomfsError, codeOf } from '../errors.js';
import { throwIfAborted } from '../internal/abort.js';
import { MODE_REFUSED, O, type FileStat } from '../internal/fs-ops.js';
import { awaitTask, call, dirSync, isSyncDriver, runAsync, type Steps } from '../internal/steps.js';
import { LOG_EVENTS } from '../logger.js';
import { chooseCopy } from './choose-copy.js';
import type { Entry, MovePlan } from './move.js';
import { pairCtx, publishNoReplace } from './rename.js';
import { closingSteps, copySequential, CopyMismatch, directIoFits, fsTypeOf, HASH_THREAD_MIN, keptInMemory, STREAM_MIN, streamCopy, type StreamCopyResult } from './stream-copy.js';

/** The effective uid (-1 where there is none). @internal */
export const euid = (): number => process.geteuid?.() ?? -1;

// What copyOneFile needs to know of the destination: its device, the driver, and (asked
// only when a big file is copied) its file system type.
export function* copyTarget(p: MovePlan, sst: FileStat, dev: number | undefined, destDir: string): Steps<CopyTarget> {
  // On one file system (strategy 'copy') the kernel copies best: a reflink or an
  // in-kernel copy_file_range. Across file systems big files are streamed (STREAM_MIN).
  const sameDevice = (dev ?? (yield* call('stat', destDir)).dev) === sst.dev;
  // The destination's file system: whether a durable streamed copy goes by direct I/O
  // there, whether it keeps files in memory (see stream-copy.ts). One statfs, made only
  // when a big file is copied.
  let typeMemo: { type: number | undefined } | undefined;
  function* fsType(): Steps<number | undefined> {
    return (typeMemo ??= { type: yield* fsTypeOf(destDir) }).type;
  }
  return {
    sameDevice,
    sync: yield* isSyncDriver(),
    *direct() {
      return p.fsync && directIoFits(yield* fsType());
    },
    *inMemory() {
      return keptInMemory(yield* fsType());
    },
  };
}

// Builds the whole copy under the temp name. Folders are created owner-only and get their
// real mode and times after their contents. Returns the SHA-256 of the last file copied
// when it was hashed (a single file's).
export function* buildCopy(p: MovePlan, entries: readonly Entry[], temp: string, target: CopyTarget, progress: { bytes: number; files: number }, report: () => void): Steps<string | undefined> {
  let sha256: string | undefined;
  for (const e of entries) {
    throwIfAborted(p.signal, pairCtx(p));
    const to = e.rel === '' ? temp : path.join(temp, e.rel);
    const from = e.rel === '' ? p.src : path.join(p.src, e.rel);
    if (e.kind === 'dir') yield* call('mkdir', to, 0o700);
    else if (e.kind === 'symlink') yield* call('symlink', e.link!, to);
    else sha256 = yield* copyOneFile(p, from, to, e.stat, target, progress, report);
    // A file's owner is set inside copyOneFile, before its fsync. A link keeps its time
    // too: a rerun tells a complete copy by it (see identical).
    if (e.kind === 'symlink') {
      yield* keepOwner(to, e.stat);
      if (p.preserveTimestamps) yield* call('lutimes', to, e.stat.atimeMs, e.stat.mtimeMs);
    }
    if (e.kind === 'file') {
      progress.files++;
      report();
    }
  }
  // Folders deepest first: fsync (their entries), owner, mode, times.
  for (const e of [...entries].reverse()) {
    if (e.kind !== 'dir') continue;
    const to = e.rel === '' ? temp : path.join(temp, e.rel);
    if (p.fsync) yield* dirSync(to);
    // A folder root could not give its owner keeps no set-gid (or set-uid) bit either.
    const owned = yield* keepOwner(to, e.stat);
    yield* chmodKept(to, e.stat.mode & (owned ? 0o7777 : 0o1777));
    if (p.preserveTimestamps) yield* call('utimes', to, e.stat.atimeMs, e.stat.mtimeMs);
  }
  return sha256;
}

// Publishes the complete copy at the destination (never over anything without overwrite).
export function* publishCopy(p: MovePlan, temp: string, published: () => void): Steps<void> {
  // The last moment to abort: after this the copy is published.
  throwIfAborted(p.signal, pairCtx(p));
  if (!p.overwrite) {
    // Never over anything (see renameNoReplace): a file by link (EEXIST atomically if
    // taken; where there are no hard links, over an exclusive placeholder), a folder by
    // rename(2), which can only replace an empty folder.
    const how = yield* publishNoReplace(p, temp, p.dest, yield* call('lstat', temp));
    published();
    if (how === 'linked') {
      // The copy is published; the temp is only its second name now. Both names are in
      // one folder: the fsync below makes the link and the unlink durable together.
      try {
        yield* call('unlink', temp);
      } catch (e) {
        p.logger.warn({ tempPath: temp, cleanupErrorCode: codeOf(e), operation: p.operation }, LOG_EVENTS.tempCleanupFailed);
      }
    }
  } else {
    yield* call('rename', temp, p.dest);
    published();
  }
}

/**
 * Root keeps the owner of what it copies; others cannot and do not try. Returns false when
 * root could not give the copy its owner (the caller then leaves set-id bits off).
 */
export function* keepOwner(to: string, st: FileStat): Steps<boolean> {
  if (euid() !== 0 || (st.uid === 0 && st.gid === 0)) return true;
  try {
    yield* call('lchown', to, st.uid, st.gid);
  } catch (e) {
    // Only a file system that has no owners at all (FAT through FUSE: ENOSYS): the copy
    // stays root's, and so without its set-id bits (a set-id file of root's is never made
    // from another user's). EPERM/EINVAL (root_squash, an unmapped id) fail the move: the
    // source is kept, for its owner might not be able to read a root-owned copy.
    if (OWNER_REFUSED.has(codeOf(e) ?? '')) return false;
    throw e;
  }
  // chown clears set-id bits; put them back (symlinks have no mode of their own).
  if (st.isFile() && st.mode & 0o6000) yield* chmodKept(to, st.mode & 0o7777);
  return true;
}

/** Codes with which lchown says "this file system keeps no owners". */
const OWNER_REFUSED: ReadonlySet<string> = new Set(['ENOSYS', 'ENOTSUP', 'EOPNOTSUPP']);

/** chmod, where a file system that keeps no modes (FAT) may refuse it: the copy keeps the mode it has there. */
export function* chmodKept(to: string, mode: number): Steps<void> {
  try {
    yield* call('chmod', to, mode);
  } catch (e) {
    if (!MODE_REFUSED.has(codeOf(e) ?? '')) throw e;
  }
}

/** Where {@link copyOneFile} copies to. */
export interface CopyTarget {
  /** The destination is on the source's device (strategy 'copy'). */
  readonly sameDevice: boolean;
  /** The step list runs under the blocking driver (see {@link copyOneFile}). */
  readonly sync: boolean;
  /** Whether a durable streamed copy goes by direct I/O there. */
  direct(): Steps<boolean>;
  /** Whether the destination keeps its files in memory (tmpfs). */
  inMemory(): Steps<boolean>;
}

export function* copyOneFile(
  p: MovePlan,
  from: string,
  to: string,
  st: FileStat,
  target: CopyTarget,
  progress: { bytes: number },
  report: () => void,
): Steps<string | undefined> {
  const before = progress.bytes;
  let sha256: string | undefined;
  // Root copying someone else's set-uid/set-gid file: the copy is root's until keepOwner
  // gives it its owner, and must not be a set-id root file meanwhile (anyone who can reach
  // the destination folder could run it). It gets the set-id bits only after the chown, so
  // it goes through our own copy (the kernel's copyFile gives the new file the full mode).
  const setIdLater = euid() === 0 && (st.mode & 0o6000) !== 0 && !(st.uid === 0 && st.gid === 0);
  // Owner (root only) and times, before the file's fsync so that it covers them too.
  function* settle(): Steps<void> {
    yield* keepOwner(to, st);
    if (p.preserveTimestamps) yield* call('utimes', to, st.atimeMs, st.mtimeMs);
  }
  // A small file: one kernel copy (copy_file_range, or sendfile across file systems) in one
  // thread-pool call, fewer round trips than any loop. A big one too on the same file system
  // (a reflink or an in-kernel copy), and into a tmpfs (no disk to keep writing behind the
  // copy; see keptInMemory) when nobody waits for progress or may cancel between chunks. A
  // big file into a disk is streamed (see STREAM_MIN), except by a blocking call, which
  // cannot keep the disk writing behind its reads: one kernel copy is its fastest pass.
  const way = chooseCopy({
    checksum: p.verify === 'checksum',
    setIdLater,
    sync: target.sync,
    small: st.size < STREAM_MIN,
    sameDevice: target.sameDevice,
    quiet: p.signal === undefined && p.onProgress === undefined,
  });
  let kernelCopy = way === 'kernel' || (way === 'kernel-if-in-memory' && (yield* target.inMemory()));
  if (kernelCopy) {
    try {
      yield* call('copyFile', from, to);
    } catch (e) {
      // libuv's copy gives the copy the source's mode and fails where the file system keeps
      // none (FAT through FUSE: ENOSYS; vfat: EPERM for a mode it cannot hold), after
      // removing its copy. Our own copy lets the file system keep its mode.
      if (!MODE_REFUSED.has(codeOf(e) ?? '')) throw e;
      kernelCopy = false;
    }
  }
  if (!kernelCopy) {
    sha256 = yield* streamedCopy(p, from, to, st, target, setIdLater, settle, progress, report);
  } else {
    if (!p.fsync) yield* settle();
    if (p.fsync || p.verify !== 'none') {
      const fd = yield* call('open', to, O.RDONLY | O.CLOEXEC, 0);
      yield* closingSteps(fd, function* () {
        if (p.fsync) {
          yield* settle();
          yield* call('fsync', fd);
        }
        if (p.verify !== 'none') {
          const size = (yield* call('fstat', fd)).size;
          if (size !== st.size) throw verifyError(p, from, `size ${size} != ${st.size}`);
        }
      });
    }
  }
  progress.bytes = before + st.size;
  return sha256;
}

// One pass of our own over one file (see copyOneFile), its SHA-256 when it hashed.
export function* streamedCopy(
  p: MovePlan,
  from: string,
  to: string,
  st: FileStat,
  target: CopyTarget,
  setIdLater: boolean,
  settle: () => Steps<void>,
  progress: { bytes: number },
  report: () => void,
): Steps<string | undefined> {
  // For 'checksum' the source is hashed as read and every chunk is read back from the copy
  // and compared with its bytes.
  const check = p.verify === 'checksum';
  const abortPoint = (): void => throwIfAborted(p.signal, pairCtx(p));
  const mode = st.mode & (setIdLater ? 0o1777 : 0o7777);
  let r: StreamCopyResult;
  try {
    if (target.sync) {
      // A blocking call cannot overlap reads and writes: one chunk after another.
      r = yield* copySequential(from, to, { fsync: p.fsync, check, mode, abortPoint, progress, report, beforeSync: settle });
    } else {
      // Pipelined (see streamCopy), by direct I/O where it fits; its own calls go through
      // the seam's async view, and the owner and times through the same step list.
      const direct = st.size >= STREAM_MIN && (yield* target.direct());
      const hashThread = st.size >= HASH_THREAD_MIN;
      const sys = p.ops.async;
      const beforeSync = (): Promise<void> => runAsync(settle(), p.seam, p.blocking);
      r = yield* awaitTask(() => streamCopy(sys, from, to, { fsync: p.fsync, check, hashThread, mode, direct, abortPoint, progress, report, beforeSync }));
    }
  } catch (e) {
    throw e instanceof CopyMismatch ? verifyError(p, from, e.message) : e;
  }
  if (p.verify !== 'none' && (r.bytes !== st.size || r.size !== st.size)) throw verifyError(p, from, `size ${r.size} != ${st.size}`);
  return r.sha256;
}

export function verifyError(p: MovePlan, file: string, what: string): AtomfsError {
  return new AtomfsError('EIO', `verification failed: ${what}`, { ...pairCtx(p, 'read'), path: file }, { reason: 'verify' });
}
