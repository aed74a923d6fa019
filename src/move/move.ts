/**
 * move(): files, folders and symlinks, on one device (rename) or across devices
 * (a verified copy published by rename), never losing data at any instant.
 *
 * Across devices:
 *   copy into a temp name inside the destination folder → fsync every file and folder of
 *   the copy → verify → rename into place → fsync the destination folder → only then
 *   remove the source (a folder is first renamed to a temp name, so it vanishes from its
 *   name in one step) → fsync the source folder.
 * At every instant the complete content exists at the source or at the destination, and
 * the destination name never holds a partial copy.
 *
 * @module
 */
import * as path from 'node:path';
import { AtomfsError, codeOf, toAtomfsError } from '../errors.js';
import { throwIfAborted } from '../internal/abort.js';
import { mkdirpDurable } from '../internal/durable.js';
import { ACCESS, NO_HARDLINKS, O, type FileStat, type FsOps } from '../internal/fs-ops.js';
import { describe, type PathLike } from '../internal/paths.js';
import { discardTempSteps, removeTreeSteps, unlinkFile } from '../internal/remove-tree.js';
import { call, dirSync, runAsync, runSync, type Steps } from '../internal/steps.js';
import { randomHex, tempNameFor } from '../internal/temp-name.js';
import { LOG_EVENTS } from '../logger.js';
import { type BaseOptions, type BlockingOptions, boolOpt, type DurabilityOptions, enumOpt, optionNames } from '../options.js';
import { buildCopy, copyTarget, euid, publishCopy } from './copy-tree.js';
import { CHUNK, closingSteps, STREAM_MIN } from './stream-copy.js';
import { entryRelation, isEmptyDir, isInside, pairCtx, RENAME_NAMES, renameNoReplace, resolvePair, sameFile, syncBoth, type PathPair } from './rename.js';
import { trackTemp, untrackTemp } from '../internal/live-temps.js';

const MOVE_SET = optionNames(RENAME_NAMES, ['strategy', 'verify', 'preserveTimestamps', 'onProgress', 'cleanupOnExit']);

/** How {@link move} moves. */
export type MoveStrategy = 'auto' | 'hardlink' | 'copy';
/** How {@link move} checks a copy before publishing it. */
export type MoveVerify = 'size' | 'checksum' | 'none';

/** A progress snapshot (read-only; do not keep it). */
export interface MoveProgress {
  /** Bytes copied so far. */
  readonly bytes: number;
  /** Bytes to copy in all. */
  readonly totalBytes: number;
  /** Files completed so far. */
  readonly files: number;
  /** Files to copy in all. */
  readonly totalFiles: number;
}

/** Options of {@link move}. */
export interface MoveOptions extends BaseOptions, BlockingOptions, DurabilityOptions {
  /**
   * `'auto'` (default): rename, and across devices a verified copy. `'hardlink'`: files are
   * linked to the new name then unlinked (seed 000 `prefer_hardlinks`); falls back as auto
   * where hard links are impossible. `'copy'`: always copy, even on one device.
   */
  readonly strategy?: MoveStrategy | undefined;
  /**
   * How a copy is checked before it is published: `'size'` (default), `'checksum'` (SHA-256
   * of the source as read against the copy read back), `'none'`.
   */
  readonly verify?: MoveVerify | undefined;
  /** Replace an existing destination (atomically for files). Default `false`: `EEXIST`. */
  readonly overwrite?: boolean | undefined;
  /** Keep access and modification times on copies. Default `true`. */
  readonly preserveTimestamps?: boolean | undefined;
  /**
   * Remove the partial copy if the process is ended by SIGINT, SIGTERM or SIGHUP (or exits)
   * mid-copy; when the application listens for the signal itself, only at exit. Default `true`.
   */
  readonly cleanupOnExit?: boolean | undefined;
  /** Create the destination's missing parent folders, durably. Default `true`. */
  readonly mkdirp?: boolean | undefined;
  /** Called synchronously with a snapshot as a copy progresses; never awaited. */
  readonly onProgress?: ((progress: MoveProgress) => void) | undefined;
}

/** What {@link move} did. */
export interface MoveResult {
  /** How it was moved: one rename, a hard link, or a copy. */
  readonly strategy: 'rename' | 'hardlink' | 'copy';
  /** Bytes copied (0 for a rename or a link). */
  readonly bytes: number;
  /** Files moved (regular files; a tree counts each). */
  readonly files: number;
  /** `true` when an interrupted earlier move was found complete and only the source was removed. */
  readonly resumed?: boolean;
  /**
   * SHA-256 (hex) of the file's bytes, for a single file copied with `verify: 'checksum'`
   * (hashed as read from the source; every byte of the copy was read back and compared).
   */
  readonly sha256?: string;
}

/** A move's validated paths and options. @internal */
export interface MovePlan extends PathPair {
  readonly strategy: MoveStrategy;
  readonly verify: MoveVerify;
  readonly preserveTimestamps: boolean;
  readonly cleanupOnExit: boolean;
  readonly onProgress: ((p: MoveProgress) => void) | undefined;
  /** The seam itself (not the blocking view in `ops`), which the drivers run the step list over. */
  readonly seam: FsOps;
  /** Whether the async driver makes cheap calls synchronously. */
  readonly blocking: boolean;
}

/** One entry of a source tree, in pre-order (a folder before its contents). @internal */
export interface Entry {
  readonly rel: string;
  readonly kind: 'file' | 'dir' | 'symlink';
  readonly stat: FileStat;
  readonly link?: string;
}


function resolveMove(operation: 'move' | 'moveSync', src: unknown, dest: unknown, options: unknown): MovePlan {
  const p = resolvePair(operation, src, dest, options, false, MOVE_SET);
  const o = p.raw;
  const onProgress = o['onProgress'];
  if (onProgress !== undefined && typeof onProgress !== 'function') {
    throw new AtomfsError('EINVAL', `onProgress must be a function, got ${describe(onProgress)}`, pairCtx(p));
  }
  if (operation === 'moveSync' && isAsyncFunction(onProgress)) {
    // Nothing an async callback awaits could run before moveSync returns: every report
    // would reach it after the move is over.
    throw new AtomfsError('EINVAL', 'onProgress of moveSync must be a synchronous function (an async one would only run after the move)', pairCtx(p));
  }
  // resolvePair gives a view of the seam that makes cheap calls blocking; the step lists
  // are driven over the seam itself, with the driver's `blocking`, so that a call marked
  // slow (the unlink of a big file) still goes to the thread pool.
  const blocking = p.ops.async !== p.pool;
  const seam: FsOps = blocking ? { sync: p.ops.sync, async: p.pool, watchFile: p.ops.watchFile } : p.ops;
  return Object.assign(p, {
    strategy: enumOpt<MoveStrategy>(operation, o, 'strategy', ['auto', 'hardlink', 'copy'], 'auto', p.srcGiven),
    verify: enumOpt<MoveVerify>(operation, o, 'verify', ['size', 'checksum', 'none'], 'size', p.srcGiven),
    preserveTimestamps: boolOpt(operation, o, 'preserveTimestamps', true, p.srcGiven),
    cleanupOnExit: boolOpt(operation, o, 'cleanupOnExit', true, p.srcGiven),
    onProgress: onProgress as MovePlan['onProgress'],
    seam,
    blocking,
  });
}

const isAsyncFunction = (f: unknown): boolean => typeof f === 'function' && f.constructor.name === 'AsyncFunction';

/**
 * Moves a file, a folder tree or a symlink so that no data is ever lost: on one device by
 * one atomic rename; across devices by a copy into a temp name in the destination folder,
 * flushed and verified, renamed into place, and only then is the source removed.
 *
 * Running the same move again after a crash finishes it: when the destination holds exactly
 * what this move would have made (every entry's kind, bytes or target, mode, modification
 * time, and owner as root) only the source is removed (`resumed: true`); anything less alike
 * is `EEXIST`. With `preserveTimestamps: false` nothing can be told apart: always `EEXIST`.
 *
 * @param src - The file, folder or symlink to move.
 * @param dest - Its new path (not a folder to move into).
 * @param options - See {@link MoveOptions}.
 * @returns What was done: {@link MoveResult}.
 * @throws {@link AtomfsError} `ENOENT` no source; `EEXIST` the destination exists (without
 *   `overwrite`); `EISDIR` a file onto a folder; `ENOTDIR` a folder onto a file;
 *   `ENOTEMPTY` a folder onto a non-empty folder; `EINVAL` a folder into its own subtree, a
 *   special file (FIFO, socket, device) or bad input; `EACCES` the source cannot be read;
 *   `EACCES`/`EPERM`/`EROFS` with reason `source-not-removable`: a cross-device move could
 *   not remove its source afterwards (a read-only folder, another user's entry in a sticky
 *   folder), said before anything is copied;
 *   `ENOSPC` the destination is full; `EIO` a verification failed; `ABORT_ERR` (the source is
 *   intact and the temp removed). If removing the source fails after the destination is
 *   complete, the error says so and both exist: run the move again.
 * @remarks A cross-device move is a copy then a delete, not one atomic step: for a moment
 *   the content exists in both places, never in neither. Hard links inside a tree are
 *   copied as separate files; symlinks keep their text (relative ones stay relative).
 * @example
 * ```ts
 * const r = await move('/mnt/cache/film.mkv', '/mnt/array/films/film.mkv', { verify: 'checksum' });
 * console.log(r.strategy, r.bytes);
 * ```
 */
export async function move(src: PathLike, dest: PathLike, options?: MoveOptions): Promise<MoveResult> {
  const p = resolveMove('move', src, dest, options);
  try {
    return await runAsync(moveSteps(p), p.seam, p.blocking);
  } catch (e) {
    throw failedMove(p, e);
  }
}

/**
 * {@link move}, blocking: the same step list under the synchronous driver, for fs-extra's
 * and move-file's `moveSync` users. On one device one rename; across devices the same
 * verified copy into a temp in the destination folder, fsynced, published without replacing
 * (or over the destination with `overwrite`), the folders fsynced, and only then is the
 * source removed; a rerun after a crash resumes as {@link move} does.
 *
 * @param src - The file, folder or symlink to move.
 * @param dest - Its new path (not a folder to move into).
 * @param options - As {@link MoveOptions}, with these differences, since the call holds the
 *   thread until it returns: `onProgress` is called synchronously as for {@link move}, but
 *   must not be an `async` function (`EINVAL`: nothing it awaits could run before the move
 *   is over); `signal` is checked before each step, so an abort made before the call or from
 *   inside `onProgress` stops the move (`ABORT_ERR`), while a timer (`AbortSignal.timeout`)
 *   cannot fire during it; `blocking` has no effect. A big file is copied by the kernel
 *   (`copy_file_range`/`sendfile`) in one call, or with `verify: 'checksum'` chunk by chunk
 *   (read, hash, write, read back, compare); no direct I/O and no hashing thread. With
 *   `cleanupOnExit` (default), SIGINT, SIGTERM and SIGHUP are held while the move runs (Node
 *   delivers a signal that has a listener between calls, not during one): the process ends
 *   after the move has finished or failed and removed its temp (at the next turn of the event
 *   loop), never mid-copy.
 * @returns What was done: {@link MoveResult}.
 * @throws {@link AtomfsError} Every code of {@link move}: `ENOENT`, `EEXIST`, `EISDIR`,
 *   `ENOTDIR`, `ENOTEMPTY`, `EINVAL` (also an `async` `onProgress`), `EACCES`, `EPERM`,
 *   `EROFS`, `ENOSPC`, `EIO`, `ABORT_ERR`. Across devices a copy is made, as by {@link move}.
 * @example
 * ```ts
 * const r = moveSync('/tmp/upload.bin', '/srv/files/upload.bin', { overwrite: true });
 * console.log(r.strategy); // 'rename' on one device, 'copy' across devices
 * ```
 */
export function moveSync(src: PathLike, dest: PathLike, options?: MoveOptions): MoveResult {
  const p = resolveMove('moveSync', src, dest, options);
  try {
    return runSync(moveSteps(p), p.seam);
  } catch (e) {
    throw failedMove(p, e);
  }
}

function failedMove(p: MovePlan, e: unknown): AtomfsError {
  const err = toAtomfsError(e, pairCtx(p));
  p.logger.error({ targetPath: p.destGiven, sourcePath: p.srcGiven, errorCode: err.code, operation: p.operation }, LOG_EVENTS.moveFailed);
  return err;
}

/** Rethrows `e` as an AtomfsError of the move, named after its own syscall or `syscall`. */
function moveError(p: MovePlan, e: unknown, syscall?: string): AtomfsError {
  return toAtomfsError(e, pairCtx(p, (e as NodeJS.ErrnoException).syscall ?? syscall));
}

function* moveSteps(p: MovePlan): Steps<MoveResult> {
  throwIfAborted(p.signal, pairCtx(p));
  let sst: FileStat;
  try {
    sst = yield* call('lstat', p.src);
  } catch (e) {
    throw toAtomfsError(e, pairCtx(p, 'lstat'));
  }
  const isDir = sst.isDirectory();
  if (p.src === p.dest) return { strategy: 'rename', bytes: 0, files: 0 };
  if (isDir && isInside(p.src, p.dest)) throw new AtomfsError('EINVAL', 'cannot move a folder into its own subtree', pairCtx(p, 'rename'));
  if (!isDir && !sst.isFile() && !sst.isSymbolicLink()) {
    throw new AtomfsError('EINVAL', 'cannot move a special file (FIFO, socket or device)', pairCtx(p, 'rename'));
  }

  let dst: FileStat | undefined;
  try {
    dst = yield* call('lstat', p.dest);
  } catch (e) {
    if (codeOf(e) !== 'ENOENT') throw toAtomfsError(e, pairCtx(p, 'lstat'));
  }
  if (dst) {
    if (sameFile(dst, sst)) {
      try {
        return yield* sameInode(p, sst);
      } catch (e) {
        throw moveError(p, e, 'stat');
      }
    }
    if (isDir && !dst.isDirectory()) throw new AtomfsError('ENOTDIR', undefined, pairCtx(p, 'rename'));
    if (!isDir && dst.isDirectory()) throw new AtomfsError('EISDIR', undefined, pairCtx(p, 'rename'));
    // A complete copy from an interrupted move: only the source is left to remove.
    if (yield* identical(p.src, p.dest, sst, dst, p)) {
      yield* removeSource(p, sst);
      return { strategy: 'copy', bytes: 0, files: yield* countFiles(p.dest, dst), resumed: true };
    }
    // An empty folder is free for a folder (see renameNoReplace); anything else is taken.
    // With overwrite, a folder still replaces only an empty folder (as rename(2)): say so
    // now, before anything is copied.
    if (!(isDir && (yield* isEmptyDir(p.dest, dst)))) {
      if (!p.overwrite) throw new AtomfsError('EEXIST', undefined, pairCtx(p, 'rename'));
      if (isDir) throw new AtomfsError('ENOTEMPTY', undefined, pairCtx(p, 'rename'));
    }
  }

  const files = isDir ? -1 : sst.isFile() ? 1 : 0;
  if (p.strategy === 'hardlink' && sst.isFile()) {
    const r = yield* tryHardlink(p, sst);
    if (r) return r;
  }
  if (p.strategy === 'copy') return yield* copyMove(p, sst, { dev: undefined, exists: false });
  const where = yield* destFolder(p);
  if (where.dev === undefined || where.dev === sst.dev) {
    try {
      yield* ensureParent(p, where.exists);
      let linked = false;
      if (p.overwrite) yield* call('rename', p.src, p.dest);
      else linked = (yield* renameNoReplace(p, p.src, p.dest, sst)) === 'linked';
      yield* syncBoth(p, p.src, p.dest, linked);
      return { strategy: 'rename', bytes: 0, files: files >= 0 ? files : yield* countFiles(p.dest, sst) };
    } catch (e) {
      if (codeOf(e) !== 'EXDEV') throw moveError(p, e, 'rename');
    }
    return yield* copyMove(p, sst, { dev: where.dev, exists: true });
  }
  return yield* copyMove(p, sst, where);
}

/**
 * The destination is the source's own inode. The same entry spelled another way (`..`
 * after a real folder, a symlinked folder) is a no-op; one entry of a case-insensitive file
 * system under another case is renamed. Two entries can only be a hard-link move that was
 * interrupted, and only for a file with two links or more: then only the source's name is
 * removed. Anything else (a folder, a file with one link: a bind mount) is refused, for
 * removing the "source" would delete the only copy.
 */
function* sameInode(p: MovePlan, sst: FileStat): Steps<MoveResult> {
  const isDir = sst.isDirectory();
  const rel = yield* entryRelation(p.src, p.dest);
  if (rel === 'same') return { strategy: 'rename', bytes: 0, files: 0 };
  if (rel === 'respell') {
    yield* call('rename', p.src, p.dest);
    yield* syncBoth(p, p.src, p.dest);
    return { strategy: 'rename', bytes: 0, files: isDir ? 0 : 1 };
  }
  if (!sst.isFile() || sst.nlink < 2) {
    throw new AtomfsError('EINVAL', 'the destination is the source itself under another name', pairCtx(p, 'rename'));
  }
  // Two names of one file: a hard-link move that was interrupted. Finish it.
  yield* removeSource(p, sst);
  return { strategy: 'hardlink', bytes: 0, files: 1, resumed: true };
}

/**
 * The device of the destination's folder, or of its nearest existing ancestor (`dev`:
 * `undefined` when none could be stat'ed), and whether that folder itself exists as a
 * folder. Another device means a rename cannot work (and trying it first would only leave
 * a claimed name behind for a moment).
 */
function* destFolder(p: MovePlan): Steps<{ dev: number | undefined; exists: boolean }> {
  const parent = path.dirname(p.dest);
  for (let dir = parent; ; dir = path.dirname(dir)) {
    try {
      const st = yield* call('stat', dir);
      return { dev: st.dev, exists: dir === parent && st.isDirectory() };
    } catch (e) {
      if (codeOf(e) !== 'ENOENT' || dir === path.dirname(dir)) return { dev: undefined, exists: false };
    }
  }
}

/** Creates the destination's folder (durably) when `mkdirp` and it is missing; `known` skips the look. */
function* ensureParent(p: MovePlan, known = false): Steps<void> {
  if (!p.mkdirp || known) return;
  const parent = path.dirname(p.dest);
  try {
    const st = yield* call('stat', parent);
    if (st.isDirectory()) return;
  } catch (e) {
    if (codeOf(e) !== 'ENOENT') throw e;
  }
  yield* mkdirpDurable(parent, p.fsync);
}

/** {@link ensureParent}, its failure named as the move's mkdir. */
function* ensureParentOrFail(p: MovePlan, known = false): Steps<void> {
  try {
    yield* ensureParent(p, known);
  } catch (e) {
    throw toAtomfsError(e, pairCtx(p, 'mkdir'));
  }
}

/** Link to the new name, then unlink the old: the content always has at least one name. */
function* tryHardlink(p: MovePlan, sst: FileStat): Steps<MoveResult | undefined> {
  yield* ensureParentOrFail(p);
  const destDir = path.dirname(p.dest);
  // With overwrite, link to a temp name first and rename it over the destination, so the
  // destination exists (old or new) at every instant.
  const linkName = p.overwrite ? path.join(destDir, tempNameFor(path.basename(p.dest), randomHex(p.random))) : p.dest;
  try {
    yield* call('link', p.src, linkName);
  } catch (e) {
    // No hard links here, or another device: fall back as auto.
    if (NO_HARDLINKS.has(codeOf(e) ?? '') || codeOf(e) === 'EXDEV') return undefined;
    throw toAtomfsError(e, pairCtx(p, 'link'));
  }
  try {
    if (p.overwrite) yield* call('rename', linkName, p.dest);
  } catch (e) {
    const err = toAtomfsError(e, pairCtx(p, 'rename'));
    yield* discardTempSteps(linkName, p, err);
    throw err;
  }
  if (p.fsync) yield* dirSync(destDir);
  yield* removeSource(p, sst);
  return { strategy: 'hardlink', bytes: 0, files: 1 };
}

/**
 * Refuses to copy a folder into its own subtree, which the spelling check (`isInside`)
 * misses when the destination is reached through a symlink: the copy would be published
 * inside the source and deleted with it. Compares real paths (the destination's nearest
 * existing folder against the source).
 */
function* refuseOwnSubtree(p: MovePlan): Steps<void> {
  let destReal: string | undefined;
  for (let dir = path.dirname(p.dest); destReal === undefined; dir = path.dirname(dir)) {
    try {
      destReal = yield* call('realpath', dir);
    } catch (e) {
      if (codeOf(e) !== 'ENOENT') throw e;
      if (dir === path.dirname(dir)) return;
    }
  }
  const srcReal = yield* call('realpath', p.src);
  if (destReal === srcReal || isInside(srcReal, destReal)) {
    throw new AtomfsError('EINVAL', 'cannot move a folder into its own subtree', pairCtx(p, 'rename'));
  }
}

/** Walks a tree in pre-order, never following symlinks. Special files are refused. */
function* walk(root: string, rootStat: FileStat, p: MovePlan): Steps<Entry[]> {
  const out: Entry[] = [];
  function* visit(rel: string, st: FileStat): Steps<void> {
    const full = rel === '' ? root : path.join(root, rel);
    if (st.isSymbolicLink()) out.push({ rel, kind: 'symlink', stat: st, link: yield* call('readlink', full) });
    else if (st.isFile()) out.push({ rel, kind: 'file', stat: st });
    else if (st.isDirectory()) {
      out.push({ rel, kind: 'dir', stat: st });
      const names = (yield* call('readdir', full)).map((d) => d.name).sort();
      for (const name of names) {
        const childRel = rel === '' ? name : path.join(rel, name);
        yield* visit(childRel, yield* call('lstat', path.join(root, childRel)));
      }
    } else {
      throw new AtomfsError('EINVAL', 'cannot copy a special file (FIFO, socket or device)', { ...pairCtx(p, 'lstat'), path: full });
    }
  }
  yield* visit('', rootStat);
  return out;
}

/**
 * Fails, before anything is copied, a move whose source could not be removed afterwards:
 * it would publish a copy and then fail, leaving the content twice. The kernel's own rules
 * for unlink/rmdir, asked ahead: every folder an entry is removed from must be writable and
 * searchable (`access`, which also says EROFS and, for root, an immutable folder), and in a
 * sticky folder only the entry's owner, the folder's owner or root may remove it (EPERM, as
 * unlink says). As root, a file `access` refuses to write is immutable (EPERM). An
 * append-only file, or an immutable one for others than root, cannot be seen this way
 * (its flags need an ioctl): that move still fails after its copy, as before, keeping both.
 */
const { W_OK, X_OK } = ACCESS;

function* checkRemovable(p: MovePlan, entries: readonly Entry[]): Steps<void> {
  const me = euid();
  // The caller's paths stay the error's paths; the entry in the way is named in the message.
  const refuse = (code: string, what: string, at: string, cause?: unknown): never => {
    throw new AtomfsError(code, `the source cannot be removed after the copy (${what}: '${at}'): nothing was copied`, pairCtx(p, code === 'EPERM' ? 'unlink' : 'access'), cause === undefined ? { reason: 'source-not-removable' } : { cause, reason: 'source-not-removable' });
  };
  const dirStats = new Map<string, FileStat>();
  function* canEmpty(dir: string, st?: FileStat): Steps<FileStat> {
    const known = dirStats.get(dir);
    if (known) return known;
    try {
      yield* call('access', dir, W_OK | X_OK);
    } catch (e) {
      const code = codeOf(e) ?? 'EACCES';
      refuse(code, code === 'EROFS' ? 'a read-only file system' : 'its folder is not writable', dir, e);
    }
    const s = st ?? (yield* call('stat', dir));
    dirStats.set(dir, s);
    return s;
  }
  for (const e of entries) {
    const full = e.rel === '' ? p.src : path.join(p.src, e.rel);
    const parent = path.dirname(full);
    const parentSt = yield* canEmpty(parent);
    if (parentSt.mode & 0o1000 && me !== 0 && me !== e.stat.uid && me !== parentSt.uid) refuse('EPERM', 'another user’s entry in a sticky folder', full);
    if (e.kind === 'dir') yield* canEmpty(full, e.stat);
    else if (e.kind === 'file' && me === 0) {
      try {
        yield* call('access', full, W_OK);
      } catch (err) {
        const code = codeOf(err);
        if (code === 'EPERM' || code === 'EACCES') refuse('EPERM', 'an immutable file', full, err);
        if (code !== 'EROFS') throw err;
      }
    }
  }
}

function* countFiles(p: string, st: FileStat): Steps<number> {
  if (!st.isDirectory()) return st.isFile() ? 1 : 0;
  let n = 0;
  for (const d of yield* call('readdir', p)) {
    const child = path.join(p, d.name);
    n += yield* countFiles(child, yield* call('lstat', child));
  }
  return n;
}

/**
 * The cross-device path: copy into a temp beside the destination, verify, publish, then
 * remove the source. `where`: what {@link destFolder} found (the destination folder's device,
 * or its nearest existing ancestor's, and whether the folder exists), or nothing known yet.
 */
function* copyMove(p: MovePlan, sst: FileStat, where: { readonly dev: number | undefined; readonly exists: boolean }): Steps<MoveResult> {
  if (sst.isDirectory()) yield* refuseOwnSubtree(p);
  let entries: Entry[];
  try {
    entries = yield* walk(p.src, sst, p);
  } catch (e) {
    throw moveError(p, e, 'scandir');
  }
  yield* checkRemovable(p, entries);
  const totalBytes = entries.reduce((n, e) => n + (e.kind === 'file' ? e.stat.size : 0), 0);
  const totalFiles = entries.filter((e) => e.kind === 'file').length;
  const progress = { bytes: 0, totalBytes, files: 0, totalFiles };
  const report = (): void => {
    try {
      p.onProgress?.({ ...progress });
    } catch {
      // A throwing progress callback must not break the move.
    }
  };

  yield* ensureParentOrFail(p, where.exists);
  const destDir = path.dirname(p.dest);
  const temp = path.join(destDir, tempNameFor(path.basename(p.dest), randomHex(p.random)));
  let published = false;
  let sha256: string | undefined;
  // A signal that ends the process mid-copy takes the partial copy with it (live-temps.ts).
  if (p.cleanupOnExit) trackTemp(temp, p.ops.sync, sst.isDirectory());
  try {
    const target = yield* copyTarget(p, sst, where.dev, destDir);
    sha256 = yield* buildCopy(p, entries, temp, target, progress, report);
    yield* publishCopy(p, temp, () => {
      published = true;
    });
    if (p.fsync) yield* dirSync(destDir);
  } catch (e) {
    // Whatever step failed (even inside the copy of the first file), the temp goes; a
    // temp that was never created is simply not found.
    const err = moveError(p, e);
    if (!published) yield* discardTempSteps(temp, p, err);
    throw err;
  } finally {
    untrackTemp(temp);
  }
  p.logger.debug({ targetPath: p.destGiven, sourcePath: p.srcGiven, size: progress.bytes, operation: p.operation }, LOG_EVENTS.moveCopied);
  yield* removeSource(p, sst);
  // The SHA-256 is reported for a single file only (a tree has one per file).
  return sst.isFile() && sha256 !== undefined ? { strategy: 'copy', bytes: progress.bytes, files: totalFiles, sha256 } : { strategy: 'copy', bytes: progress.bytes, files: totalFiles };
}

/**
 * Whether `b` is exactly what this move would have made of `a`, so that an interrupted move
 * may be finished by removing the source. Every entry must match in kind, modification time
 * (to the microsecond: the copy keeps it, cut to whole microseconds as utimes does), mode,
 * owner when the move keeps owners (as root), and content: a file's bytes, a symlink's
 * target, a folder's names, recursively. It must never say yes wrongly: resemblance is no
 * licence to delete. Without `preserveTimestamps` a copy's times are new, so no destination
 * can be told from an unrelated one: the answer is always no (`EEXIST`).
 */
function* identical(a: string, b: string, sa: FileStat, sb: FileStat, p: MovePlan): Steps<boolean> {
  if (!p.preserveTimestamps || !sameMeta(sa, sb)) return false;
  if (sa.isSymbolicLink()) return (yield* call('readlink', a)) === (yield* call('readlink', b));
  if (sa.isFile()) return sa.size === sb.size && (yield* sameBytes(a, b));
  if (!sa.isDirectory()) return false;
  const na = (yield* call('readdir', a)).map((d) => d.name).sort();
  const nb = (yield* call('readdir', b)).map((d) => d.name).sort();
  if (na.length !== nb.length || na.some((n, i) => n !== nb[i])) return false;
  for (const n of na) {
    const ca = path.join(a, n);
    const cb = path.join(b, n);
    if (!(yield* identical(ca, cb, yield* call('lstat', ca), yield* call('lstat', cb), p))) return false;
  }
  return true;
}

/**
 * Kind, mode, owner (root's copies keep it) and modification time of two entries agree.
 * A time is compared in microseconds: a copy's is its source's cut to a whole microsecond,
 * and an `mtimeMs` double at today's epoch is itself only good to about 0.25 µs, so two
 * times agree when they lie less than 1.5 µs apart.
 */
function sameMeta(sa: FileStat, sb: FileStat): boolean {
  const kind = (s: FileStat): number => (s.isSymbolicLink() ? 1 : s.isFile() ? 2 : s.isDirectory() ? 3 : 0);
  if (kind(sa) !== kind(sb) || kind(sa) === 0) return false;
  // A symlink's mode is always 0777 on Linux and means nothing.
  if (!sa.isSymbolicLink() && (sa.mode & 0o7777) !== (sb.mode & 0o7777)) return false;
  if (euid() === 0 && (sa.uid !== sb.uid || sa.gid !== sb.gid)) return false;
  return Math.abs(sa.mtimeMs - sb.mtimeMs) * 1000 < 1.5;
}

/** Whether two files hold the same bytes, compared chunk by chunk. */
function* sameBytes(a: string, b: string): Steps<boolean> {
  const fa = yield* call('open', a, O.RDONLY | O.CLOEXEC, 0);
  return yield* closingSteps(fa, function* () {
    const fb = yield* call('open', b, O.RDONLY | O.CLOEXEC, 0);
    return yield* closingSteps(fb, function* () {
      const ba = Buffer.allocUnsafe(CHUNK);
      const bb = Buffer.allocUnsafe(CHUNK);
      for (let pos = 0; ; ) {
        const na = yield* call('read', fa, ba, 0, ba.length, pos);
        const nb = yield* call('read', fb, bb, 0, bb.length, pos);
        if (na !== nb || !ba.subarray(0, na).equals(bb.subarray(0, na))) return false;
        if (na === 0) return true;
        pos += na;
      }
    });
  });
}

/**
 * Removes the source once the destination is complete and durable. A folder is first
 * renamed to a temp name beside it (one atomic step), so a crash during the recursive
 * delete leaves a recognisable leftover, not a half-deleted source that looks real.
 */
function* removeSource(p: MovePlan, sst: FileStat): Steps<void> {
  // Freeing a big file's blocks and cached pages is no cheap call (a 1 GiB unlink on ext4:
  // 0.24 s): it goes to the thread pool, never blocking the event loop. In a tree, file by
  // file (the small ones and the folders stay synchronous with `blocking`).
  const bigFileMin = STREAM_MIN;
  const srcDir = path.dirname(p.src);
  try {
    if (sst.isDirectory()) {
      const trash = path.join(srcDir, tempNameFor(path.basename(p.src), randomHex(p.random)));
      yield* call('rename', p.src, trash);
      if (p.fsync) yield* dirSync(srcDir);
      yield* removeTreeSteps(trash, { bigFileMin });
    } else {
      yield* unlinkFile(p.src, sst, bigFileMin);
      if (p.fsync) yield* dirSync(srcDir);
    }
  } catch (e) {
    throw new AtomfsError(
      codeOf(e) ?? 'EIO',
      `the destination is complete but the source could not be removed (${(e as Error).message}); run the move again`,
      pairCtx(p, (e as NodeJS.ErrnoException).syscall ?? 'unlink'),
      { cause: e, reason: 'source-not-removed' },
    );
  }
}
