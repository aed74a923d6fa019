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
import { ACCESS, MODE_REFUSED, NO_HARDLINKS, O, type AsyncFsOps, type FileStat } from '../internal/fs-ops.js';
import { describe, type PathLike } from '../internal/paths.js';
import { discardTemp, removeTree, unlinkFile } from '../internal/remove-tree.js';
import { groupDirSync, runAsync } from '../internal/steps.js';
import { randomHex, tempNameFor } from '../internal/temp-name.js';
import { LOG_EVENTS } from '../logger.js';
import { type BaseOptions, boolOpt, type DurabilityOptions, enumOpt, optionNames } from '../options.js';
import { CHUNK, closing, CopyMismatch, directIoFits, fsTypeOf, HASH_THREAD_MIN, keptInMemory, STREAM_MIN, streamCopy } from './stream-copy.js';
import { entryRelation, isEmptyDir, isInside, pairCtx, publishNoReplace, RENAME_NAMES, renameNoReplace, resolvePair, sameFile, syncBoth, type PathPair } from './rename.js';
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
export interface MoveOptions extends BaseOptions, DurabilityOptions {
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
  /**
   * Make the cheap metadata calls of the move (lstat, stat, rename, link, unlink, mkdir,
   * chmod, utimes, open and close, small writes) synchronously: a few microseconds each on a
   * local disk, much faster than a thread-pool round trip. Copies, reads, listings, fsyncs
   * and the removal of each copied file of 8 MiB or more always run in the thread pool. Set `false` on a file system that may hang (a
   * network mount), so the event loop never waits for it. Default `true`.
   */
  readonly blocking?: boolean | undefined;
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

interface MovePlan extends PathPair {
  readonly strategy: MoveStrategy;
  readonly verify: MoveVerify;
  readonly preserveTimestamps: boolean;
  readonly cleanupOnExit: boolean;
  readonly onProgress: ((p: MoveProgress) => void) | undefined;
}

/** One entry of a source tree, in pre-order (a folder before its contents). */
interface Entry {
  readonly rel: string;
  readonly kind: 'file' | 'dir' | 'symlink';
  readonly stat: FileStat;
  readonly link?: string;
}

const euid = (): number => process.geteuid?.() ?? -1;

function resolveMove(src: unknown, dest: unknown, options: unknown): MovePlan {
  const p = resolvePair('move', src, dest, options, false, MOVE_SET);
  const o = p.raw;
  const onProgress = o['onProgress'];
  if (onProgress !== undefined && typeof onProgress !== 'function') {
    throw new AtomfsError('EINVAL', `onProgress must be a function, got ${describe(onProgress)}`, pairCtx(p));
  }
  return Object.assign(p, {
    strategy: enumOpt<MoveStrategy>('move', o, 'strategy', ['auto', 'hardlink', 'copy'], 'auto', p.srcGiven),
    verify: enumOpt<MoveVerify>('move', o, 'verify', ['size', 'checksum', 'none'], 'size', p.srcGiven),
    preserveTimestamps: boolOpt('move', o, 'preserveTimestamps', true, p.srcGiven),
    cleanupOnExit: boolOpt('move', o, 'cleanupOnExit', true, p.srcGiven),
    onProgress: onProgress as MovePlan['onProgress'],
  });
}

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
  const p = resolveMove(src, dest, options);
  try {
    return await moveInner(p);
  } catch (e) {
    const err = toAtomfsError(e, pairCtx(p));
    p.logger.error({ targetPath: p.destGiven, sourcePath: p.srcGiven, errorCode: err.code, operation: 'move' }, 'Move failed');
    throw err;
  }
}

async function moveInner(p: MovePlan): Promise<MoveResult> {
  const sys = p.ops.async;
  throwIfAborted(p.signal, pairCtx(p));
  const sst = await sys.lstat(p.src).catch((e: unknown) => {
    throw toAtomfsError(e, pairCtx(p, 'lstat'));
  });
  const isDir = sst.isDirectory();
  if (p.src === p.dest) return { strategy: 'rename', bytes: 0, files: 0 };
  if (isDir && isInside(p.src, p.dest)) throw new AtomfsError('EINVAL', 'cannot move a folder into its own subtree', pairCtx(p, 'rename'));
  if (!isDir && !sst.isFile() && !sst.isSymbolicLink()) {
    throw new AtomfsError('EINVAL', 'cannot move a special file (FIFO, socket or device)', pairCtx(p, 'rename'));
  }

  let dst: FileStat | undefined;
  try {
    dst = await sys.lstat(p.dest);
  } catch (e) {
    if (codeOf(e) !== 'ENOENT') throw toAtomfsError(e, pairCtx(p, 'lstat'));
  }
  if (dst) {
    if (sameFile(dst, sst)) {
      return await sameInode(p, sst).catch((e: unknown) => {
        throw toAtomfsError(e, pairCtx(p, (e as NodeJS.ErrnoException).syscall ?? 'stat'));
      });
    }
    if (isDir && !dst.isDirectory()) throw new AtomfsError('ENOTDIR', undefined, pairCtx(p, 'rename'));
    if (!isDir && dst.isDirectory()) throw new AtomfsError('EISDIR', undefined, pairCtx(p, 'rename'));
    // A complete copy from an interrupted move: only the source is left to remove.
    if (await identical(sys, p.src, p.dest, sst, dst, p)) {
      await removeSource(p, sst);
      return { strategy: 'copy', bytes: 0, files: await countFiles(sys, p.dest, dst), resumed: true };
    }
    // An empty folder is free for a folder (see renameNoReplace); anything else is taken.
    // With overwrite, a folder still replaces only an empty folder (as rename(2)): say so
    // now, before anything is copied.
    if (!(isDir && (await runAsync(isEmptyDir(p.dest, dst), p.ops)))) {
      if (!p.overwrite) throw new AtomfsError('EEXIST', undefined, pairCtx(p, 'rename'));
      if (isDir) throw new AtomfsError('ENOTEMPTY', undefined, pairCtx(p, 'rename'));
    }
  }

  const files = isDir ? -1 : sst.isFile() ? 1 : 0;
  if (p.strategy === 'hardlink' && sst.isFile()) {
    const r = await tryHardlink(p, sst);
    if (r) return r;
  }
  if (p.strategy === 'copy') return copyMove(p, sst, { dev: undefined, exists: false });
  const where = await destFolder(p);
  if (where.dev === undefined || where.dev === sst.dev) {
    try {
      await ensureParent(p, where.exists);
      let linked = false;
      if (p.overwrite) await sys.rename(p.src, p.dest);
      else linked = (await runAsync(renameNoReplace(p, p.src, p.dest, sst), p.ops)) === 'linked';
      await runAsync(syncBoth(p, p.src, p.dest, linked), p.ops);
      return { strategy: 'rename', bytes: 0, files: files >= 0 ? files : await countFiles(sys, p.dest, sst) };
    } catch (e) {
      if (codeOf(e) !== 'EXDEV') throw toAtomfsError(e, pairCtx(p, (e as NodeJS.ErrnoException).syscall ?? 'rename'));
    }
    return copyMove(p, sst, { dev: where.dev, exists: true });
  }
  return copyMove(p, sst, where);
}

/**
 * The destination is the source's own inode. The same entry spelled another way (`..`
 * after a real folder, a symlinked folder) is a no-op; one entry of a case-insensitive file
 * system under another case is renamed. Two entries can only be a hard-link move that was
 * interrupted, and only for a file with two links or more: then only the source's name is
 * removed. Anything else (a folder, a file with one link: a bind mount) is refused, for
 * removing the "source" would delete the only copy.
 */
async function sameInode(p: MovePlan, sst: FileStat): Promise<MoveResult> {
  const isDir = sst.isDirectory();
  const rel = await runAsync(entryRelation(p.src, p.dest), p.ops);
  if (rel === 'same') return { strategy: 'rename', bytes: 0, files: 0 };
  if (rel === 'respell') {
    await p.ops.async.rename(p.src, p.dest);
    await runAsync(syncBoth(p, p.src, p.dest), p.ops);
    return { strategy: 'rename', bytes: 0, files: isDir ? 0 : 1 };
  }
  if (!sst.isFile() || sst.nlink < 2) {
    throw new AtomfsError('EINVAL', 'the destination is the source itself under another name', pairCtx(p, 'rename'));
  }
  // Two names of one file: a hard-link move that was interrupted. Finish it.
  await removeSource(p, sst);
  return { strategy: 'hardlink', bytes: 0, files: 1, resumed: true };
}

/**
 * The device of the destination's folder, or of its nearest existing ancestor (`dev`:
 * `undefined` when none could be stat'ed), and whether that folder itself exists as a
 * folder. Another device means a rename cannot work (and trying it first would only leave
 * a claimed name behind for a moment).
 */
async function destFolder(p: MovePlan): Promise<{ dev: number | undefined; exists: boolean }> {
  const parent = path.dirname(p.dest);
  for (let dir = parent; ; dir = path.dirname(dir)) {
    try {
      const st = await p.ops.async.stat(dir);
      return { dev: st.dev, exists: dir === parent && st.isDirectory() };
    } catch (e) {
      if (codeOf(e) !== 'ENOENT' || dir === path.dirname(dir)) return { dev: undefined, exists: false };
    }
  }
}

/** Creates the destination's folder (durably) when `mkdirp` and it is missing; `known` skips the look. */
async function ensureParent(p: MovePlan, known = false): Promise<void> {
  if (!p.mkdirp || known) return;
  const parent = path.dirname(p.dest);
  try {
    const st = await p.ops.async.stat(parent);
    if (st.isDirectory()) return;
  } catch (e) {
    if (codeOf(e) !== 'ENOENT') throw e;
  }
  await runAsync(mkdirpDurable(parent, p.fsync), p.ops);
}

/** Link to the new name, then unlink the old: the content always has at least one name. */
async function tryHardlink(p: MovePlan, sst: FileStat): Promise<MoveResult | undefined> {
  const sys = p.ops.async;
  await ensureParent(p).catch((e: unknown) => {
    throw toAtomfsError(e, pairCtx(p, 'mkdir'));
  });
  const destDir = path.dirname(p.dest);
  // With overwrite, link to a temp name first and rename it over the destination, so the
  // destination exists (old or new) at every instant.
  const linkName = p.overwrite ? path.join(destDir, tempNameFor(path.basename(p.dest), randomHex(p.random))) : p.dest;
  try {
    await sys.link(p.src, linkName);
  } catch (e) {
    // No hard links here, or another device: fall back as auto.
    if (NO_HARDLINKS.has(codeOf(e) ?? '') || codeOf(e) === 'EXDEV') return undefined;
    throw toAtomfsError(e, pairCtx(p, 'link'));
  }
  try {
    if (p.overwrite) await sys.rename(linkName, p.dest);
  } catch (e) {
    const err = toAtomfsError(e, pairCtx(p, 'rename'));
    await discardTemp(sys, linkName, p, err);
    throw err;
  }
  if (p.fsync) await groupDirSync(p.ops, destDir);
  await removeSource(p, sst);
  return { strategy: 'hardlink', bytes: 0, files: 1 };
}

/**
 * Refuses to copy a folder into its own subtree, which the spelling check (`isInside`)
 * misses when the destination is reached through a symlink: the copy would be published
 * inside the source and deleted with it. Compares real paths (the destination's nearest
 * existing folder against the source).
 */
async function refuseOwnSubtree(p: MovePlan): Promise<void> {
  const sys = p.ops.async;
  let destReal: string | undefined;
  for (let dir = path.dirname(p.dest); destReal === undefined; dir = path.dirname(dir)) {
    try {
      destReal = await sys.realpath(dir);
    } catch (e) {
      if (codeOf(e) !== 'ENOENT') throw e;
      if (dir === path.dirname(dir)) return;
    }
  }
  const srcReal = await sys.realpath(p.src);
  if (destReal === srcReal || isInside(srcReal, destReal)) {
    throw new AtomfsError('EINVAL', 'cannot move a folder into its own subtree', pairCtx(p, 'rename'));
  }
}

/** Walks a tree in pre-order, never following symlinks. Special files are refused. */
async function walk(sys: AsyncFsOps, root: string, rootStat: FileStat, p: MovePlan): Promise<Entry[]> {
  const out: Entry[] = [];
  const visit = async (rel: string, st: FileStat): Promise<void> => {
    const full = rel === '' ? root : path.join(root, rel);
    if (st.isSymbolicLink()) out.push({ rel, kind: 'symlink', stat: st, link: await sys.readlink(full) });
    else if (st.isFile()) out.push({ rel, kind: 'file', stat: st });
    else if (st.isDirectory()) {
      out.push({ rel, kind: 'dir', stat: st });
      const names = (await sys.readdir(full)).map((d) => d.name).sort();
      for (const name of names) {
        const childRel = rel === '' ? name : path.join(rel, name);
        await visit(childRel, await sys.lstat(path.join(root, childRel)));
      }
    } else {
      throw new AtomfsError('EINVAL', 'cannot copy a special file (FIFO, socket or device)', { ...pairCtx(p, 'lstat'), path: full });
    }
  };
  await visit('', rootStat);
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

async function checkRemovable(p: MovePlan, entries: readonly Entry[]): Promise<void> {
  const sys = p.ops.async;
  const me = euid();
  // The caller's paths stay the error's paths; the entry in the way is named in the message.
  const refuse = (code: string, what: string, at: string, cause?: unknown): never => {
    throw new AtomfsError(code, `the source cannot be removed after the copy (${what}: '${at}'): nothing was copied`, pairCtx(p, code === 'EPERM' ? 'unlink' : 'access'), cause === undefined ? { reason: 'source-not-removable' } : { cause, reason: 'source-not-removable' });
  };
  const dirStats = new Map<string, FileStat>();
  const canEmpty = async (dir: string, st?: FileStat): Promise<FileStat> => {
    const known = dirStats.get(dir);
    if (known) return known;
    try {
      await sys.access(dir, W_OK | X_OK);
    } catch (e) {
      const code = codeOf(e) ?? 'EACCES';
      refuse(code, code === 'EROFS' ? 'a read-only file system' : 'its folder is not writable', dir, e);
    }
    const s = st ?? (await sys.stat(dir));
    dirStats.set(dir, s);
    return s;
  };
  for (const e of entries) {
    const full = e.rel === '' ? p.src : path.join(p.src, e.rel);
    const parent = path.dirname(full);
    const parentSt = await canEmpty(parent);
    if (parentSt.mode & 0o1000 && me !== 0 && me !== e.stat.uid && me !== parentSt.uid) refuse('EPERM', 'another user’s entry in a sticky folder', full);
    if (e.kind === 'dir') await canEmpty(full, e.stat);
    else if (e.kind === 'file' && me === 0) {
      try {
        await sys.access(full, W_OK);
      } catch (err) {
        const code = codeOf(err);
        if (code === 'EPERM' || code === 'EACCES') refuse('EPERM', 'an immutable file', full, err);
        if (code !== 'EROFS') throw err;
      }
    }
  }
}

async function countFiles(sys: AsyncFsOps, p: string, st: FileStat): Promise<number> {
  if (!st.isDirectory()) return st.isFile() ? 1 : 0;
  let n = 0;
  for (const d of await sys.readdir(p)) {
    const child = path.join(p, d.name);
    n += await countFiles(sys, child, await sys.lstat(child));
  }
  return n;
}

/**
 * The cross-device path: copy into a temp beside the destination, verify, publish, then
 * remove the source. `where`: what {@link destFolder} found (the destination folder's device,
 * or its nearest existing ancestor's, and whether the folder exists), or nothing known yet.
 */
async function copyMove(p: MovePlan, sst: FileStat, where: { readonly dev: number | undefined; readonly exists: boolean }): Promise<MoveResult> {
  const sys = p.ops.async;
  if (sst.isDirectory()) await refuseOwnSubtree(p);
  const entries = await walk(sys, p.src, sst, p).catch((e: unknown) => {
    throw toAtomfsError(e, pairCtx(p, (e as NodeJS.ErrnoException).syscall ?? 'scandir'));
  });
  await checkRemovable(p, entries);
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

  await ensureParent(p, where.exists).catch((e: unknown) => {
    throw toAtomfsError(e, pairCtx(p, 'mkdir'));
  });
  const destDir = path.dirname(p.dest);
  const temp = path.join(destDir, tempNameFor(path.basename(p.dest), randomHex(p.random)));
  let published = false;
  let sha256: string | undefined;
  // A signal that ends the process mid-copy takes the partial copy with it (live-temps.ts).
  if (p.cleanupOnExit) trackTemp(temp, p.ops.sync, sst.isDirectory());
  try {
    // On one file system (strategy 'copy') the kernel copies best: a reflink or an
    // in-kernel copy_file_range. Across file systems big files are streamed (STREAM_MIN).
    const sameDevice = (where.dev ?? (await sys.stat(destDir)).dev) === sst.dev;
    // The destination's file system: whether a durable streamed copy goes by direct I/O
    // there, whether it keeps files in memory (see stream-copy.ts). One statfs, made only
    // when a big file is copied.
    let typeMemo: Promise<number | undefined> | undefined;
    const fsType = (): Promise<number | undefined> => (typeMemo ??= fsTypeOf(sys, destDir));
    const target: CopyTarget = {
      sameDevice,
      direct: async () => p.fsync && directIoFits(await fsType()),
      inMemory: async () => keptInMemory(await fsType()),
    };
    // Build the whole copy under the temp name. Folders are created owner-only and get
    // their real mode and times after their contents.
    for (const e of entries) {
      throwIfAborted(p.signal, pairCtx(p));
      const to = e.rel === '' ? temp : path.join(temp, e.rel);
      const from = e.rel === '' ? p.src : path.join(p.src, e.rel);
      if (e.kind === 'dir') await sys.mkdir(to, 0o700);
      else if (e.kind === 'symlink') await sys.symlink(e.link!, to);
      else sha256 = await copyOneFile(p, from, to, e.stat, target, progress, report);
      // A file's owner is set inside copyOneFile, before its fsync. A link keeps its time
      // too: a rerun tells a complete copy by it (see identical).
      if (e.kind === 'symlink') {
        await keepOwner(sys, to, e.stat);
        if (p.preserveTimestamps) await sys.lutimes(to, e.stat.atimeMs, e.stat.mtimeMs);
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
      if (p.fsync) await groupDirSync(p.ops, to);
      // A folder root could not give its owner keeps no set-gid (or set-uid) bit either.
      const owned = await keepOwner(sys, to, e.stat);
      await chmodKept(sys, to, e.stat.mode & (owned ? 0o7777 : 0o1777));
      if (p.preserveTimestamps) await sys.utimes(to, e.stat.atimeMs, e.stat.mtimeMs);
    }
    // The last moment to abort: after this the copy is published.
    throwIfAborted(p.signal, pairCtx(p));
    if (!p.overwrite) {
      // Never over anything (see renameNoReplace): a file by link (EEXIST atomically if
      // taken; where there are no hard links, over an exclusive placeholder), a folder by
      // rename(2), which can only replace an empty folder.
      const how = await runAsync(publishNoReplace(p, temp, p.dest, await sys.lstat(temp)), p.ops);
      published = true;
      if (how === 'linked') {
        // The copy is published; the temp is only its second name now. Both names are in
        // one folder: the fsync below makes the link and the unlink durable together.
        await sys.unlink(temp).catch((e: unknown) => {
          p.logger.warn({ tempPath: temp, cleanupErrorCode: codeOf(e), operation: p.operation }, LOG_EVENTS.tempCleanupFailed);
        });
      }
    } else {
      await sys.rename(temp, p.dest);
      published = true;
    }
    if (p.fsync) await groupDirSync(p.ops, destDir);
  } catch (e) {
    // Whatever step failed (even inside the copy of the first file), the temp goes; a
    // temp that was never created is simply not found.
    const err = toAtomfsError(e, pairCtx(p, (e as NodeJS.ErrnoException).syscall));
    if (!published) await discardTemp(sys, temp, p, err);
    throw err;
  } finally {
    untrackTemp(temp);
  }
  p.logger.debug({ targetPath: p.destGiven, sourcePath: p.srcGiven, size: progress.bytes, operation: 'move' }, 'Copied and published');
  await removeSource(p, sst);
  // The SHA-256 is reported for a single file only (a tree has one per file).
  return sst.isFile() && sha256 !== undefined ? { strategy: 'copy', bytes: progress.bytes, files: totalFiles, sha256 } : { strategy: 'copy', bytes: progress.bytes, files: totalFiles };
}

/**
 * Root keeps the owner of what it copies; others cannot and do not try. Returns false when
 * root could not give the copy its owner (the caller then leaves set-id bits off).
 */
async function keepOwner(sys: AsyncFsOps, to: string, st: FileStat): Promise<boolean> {
  if (euid() !== 0 || (st.uid === 0 && st.gid === 0)) return true;
  try {
    await sys.lchown(to, st.uid, st.gid);
  } catch (e) {
    // Only a file system that has no owners at all (FAT through FUSE: ENOSYS): the copy
    // stays root's, and so without its set-id bits (a set-id file of root's is never made
    // from another user's). EPERM/EINVAL (root_squash, an unmapped id) fail the move: the
    // source is kept, for its owner might not be able to read a root-owned copy.
    if (OWNER_REFUSED.has(codeOf(e) ?? '')) return false;
    throw e;
  }
  // chown clears set-id bits; put them back (symlinks have no mode of their own).
  if (st.isFile() && st.mode & 0o6000) await chmodKept(sys, to, st.mode & 0o7777);
  return true;
}

/** Codes with which lchown says "this file system keeps no owners". */
const OWNER_REFUSED: ReadonlySet<string> = new Set(['ENOSYS', 'ENOTSUP', 'EOPNOTSUPP']);

/** chmod, where a file system that keeps no modes (FAT) may refuse it: the copy keeps the mode it has there. */
async function chmodKept(sys: AsyncFsOps, to: string, mode: number): Promise<void> {
  try {
    await sys.chmod(to, mode);
  } catch (e) {
    if (!MODE_REFUSED.has(codeOf(e) ?? '')) throw e;
  }
}

/** Where {@link copyOneFile} copies to. */
interface CopyTarget {
  /** The destination is on the source's device (strategy 'copy'). */
  readonly sameDevice: boolean;
  /** Whether a durable streamed copy goes by direct I/O there. */
  direct(): Promise<boolean>;
  /** Whether the destination keeps its files in memory (tmpfs). */
  inMemory(): Promise<boolean>;
}

async function copyOneFile(
  p: MovePlan,
  from: string,
  to: string,
  st: FileStat,
  target: CopyTarget,
  progress: { bytes: number },
  report: () => void,
): Promise<string | undefined> {
  const sys = p.ops.async;
  const before = progress.bytes;
  let sha256: string | undefined;
  // Root copying someone else's set-uid/set-gid file: the copy is root's until keepOwner
  // gives it its owner, and must not be a set-id root file meanwhile (anyone who can reach
  // the destination folder could run it). It gets the set-id bits only after the chown, so
  // it goes through our own copy (the kernel's copyFile gives the new file the full mode).
  const setIdLater = euid() === 0 && (st.mode & 0o6000) !== 0 && !(st.uid === 0 && st.gid === 0);
  // Owner (root only) and times, before the file's fsync so that it covers them too.
  const settle = async (): Promise<void> => {
    await keepOwner(sys, to, st);
    if (p.preserveTimestamps) await sys.utimes(to, st.atimeMs, st.mtimeMs);
  };
  const streamed = async (): Promise<void> => {
    // One pipelined pass of our own (see streamCopy). For 'checksum' the source is hashed
    // as read and every chunk is read back from the copy and compared with its bytes.
    const check = p.verify === 'checksum';
    const abortPoint = (): void => throwIfAborted(p.signal, pairCtx(p));
    const direct = st.size >= STREAM_MIN && (await target.direct());
    const mode = st.mode & (setIdLater ? 0o1777 : 0o7777);
    const hashThread = st.size >= HASH_THREAD_MIN;
    const r = await streamCopy(sys, from, to, { fsync: p.fsync, check, hashThread, mode, direct, abortPoint, progress, report, beforeSync: settle }).catch((e: unknown) => {
      throw e instanceof CopyMismatch ? verifyError(p, from, e.message) : e;
    });
    if (p.verify !== 'none' && (r.bytes !== st.size || r.size !== st.size)) throw verifyError(p, from, `size ${r.size} != ${st.size}`);
    sha256 = r.sha256;
  };
  // A small file: one kernel copy (copy_file_range, or sendfile across file systems) in one
  // thread-pool call, fewer round trips than any loop. A big one too on the same file system
  // (a reflink or an in-kernel copy), and into a tmpfs (no disk to keep writing behind the
  // copy; see keptInMemory) when nobody waits for progress or may cancel between chunks. A
  // big file into a disk is streamed (see STREAM_MIN).
  const quiet = p.signal === undefined && p.onProgress === undefined;
  let kernelCopy =
    p.verify !== 'checksum' && !setIdLater && (st.size < STREAM_MIN || target.sameDevice || (quiet && (await target.inMemory())));
  if (kernelCopy) {
    try {
      await sys.copyFile(from, to);
    } catch (e) {
      // libuv's copy gives the copy the source's mode and fails where the file system keeps
      // none (FAT through FUSE: ENOSYS; vfat: EPERM for a mode it cannot hold), after
      // removing its copy. Our own copy lets the file system keep its mode.
      if (!MODE_REFUSED.has(codeOf(e) ?? '')) throw e;
      kernelCopy = false;
    }
  }
  if (!kernelCopy) {
    await streamed();
  } else {
    if (!p.fsync) await settle();
    if (p.fsync || p.verify !== 'none') {
      const fd = await sys.open(to, O.RDONLY | O.CLOEXEC, 0);
      await closing(sys, fd, async () => {
        if (p.fsync) {
          await settle();
          await sys.fsync(fd);
        }
        if (p.verify !== 'none') {
          const size = (await sys.fstat(fd)).size;
          if (size !== st.size) throw verifyError(p, from, `size ${size} != ${st.size}`);
        }
      });
    }
  }
  progress.bytes = before + st.size;
  return sha256;
}

function verifyError(p: MovePlan, file: string, what: string): AtomfsError {
  return new AtomfsError('EIO', `verification failed: ${what}`, { ...pairCtx(p, 'read'), path: file }, { reason: 'verify' });
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
async function identical(sys: AsyncFsOps, a: string, b: string, sa: FileStat, sb: FileStat, p: MovePlan): Promise<boolean> {
  if (!p.preserveTimestamps || !sameMeta(sa, sb)) return false;
  if (sa.isSymbolicLink()) return (await sys.readlink(a)) === (await sys.readlink(b));
  if (sa.isFile()) return sa.size === sb.size && sameBytes(sys, a, b);
  if (!sa.isDirectory()) return false;
  const na = (await sys.readdir(a)).map((d) => d.name).sort();
  const nb = (await sys.readdir(b)).map((d) => d.name).sort();
  if (na.length !== nb.length || na.some((n, i) => n !== nb[i])) return false;
  for (const n of na) {
    const ca = path.join(a, n);
    const cb = path.join(b, n);
    if (!(await identical(sys, ca, cb, await sys.lstat(ca), await sys.lstat(cb), p))) return false;
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

async function sameBytes(sys: AsyncFsOps, a: string, b: string): Promise<boolean> {
  const fa = await sys.open(a, O.RDONLY | O.CLOEXEC, 0);
  return closing(sys, fa, async () => {
    const fb = await sys.open(b, O.RDONLY | O.CLOEXEC, 0);
    return closing(sys, fb, async () => {
      const ba = Buffer.allocUnsafe(CHUNK);
      const bb = Buffer.allocUnsafe(CHUNK);
      for (let pos = 0; ; ) {
        // Both reads settle before either result is used: no read is left in flight on a
        // descriptor about to be closed.
        const [ra, rb] = await Promise.allSettled([sys.read(fa, ba, 0, ba.length, pos), sys.read(fb, bb, 0, bb.length, pos)]);
        if (ra.status === 'rejected') throw ra.reason;
        if (rb.status === 'rejected') throw rb.reason;
        const na = ra.value;
        if (na !== rb.value || !ba.subarray(0, na).equals(bb.subarray(0, na))) return false;
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
async function removeSource(p: MovePlan, sst: FileStat): Promise<void> {
  const sys = p.ops.async;
  // Freeing a big file's blocks and cached pages is no cheap call (a 1 GiB unlink on ext4:
  // 0.24 s): it goes to the thread pool, never blocking the event loop. In a tree, file by
  // file (the small ones and the folders stay synchronous with `blocking`).
  const bigFiles = { ops: p.pool, minSize: STREAM_MIN };
  const srcDir = path.dirname(p.src);
  try {
    if (sst.isDirectory()) {
      const trash = path.join(srcDir, tempNameFor(path.basename(p.src), randomHex(p.random)));
      await sys.rename(p.src, trash);
      if (p.fsync) await groupDirSync(p.ops, srcDir);
      await removeTree(sys, trash, { bigFiles });
    } else {
      await unlinkFile(sys, p.src, sst, bigFiles);
      if (p.fsync) await groupDirSync(p.ops, srcDir);
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
