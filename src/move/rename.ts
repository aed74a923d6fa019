/**
 * rename(): one atomic, durable rename. Never copies.
 *
 * @module
 */
import * as path from 'node:path';
import { AtomfsError, codeOf, toAtomfsError, type ErrorContext } from '../errors.js';
import { throwIfAborted } from '../internal/abort.js';
import { mkdirpDurable, renameOverPlaceholder } from '../internal/durable.js';
import { NO_HARDLINKS, type AsyncFsOps, type FileStat } from '../internal/fs-ops.js';
import { validateUserPath, type PathLike } from '../internal/paths.js';
import { blockingView, call, dirSync, dirSyncs, runAsync, runSync, type Steps } from '../internal/steps.js';
import { LOG_EVENTS } from '../logger.js';
import { BASE_NAMES, type BaseOptions, type BlockingOptions, boolOpt, checkOptionsObject, DURABILITY_NAMES, type DurabilityOptions, optionNames, resolveBase, type ResolvedBase } from '../options.js';

/** Options of {@link rename}. */
export interface RenameOptions extends BaseOptions, BlockingOptions, DurabilityOptions {
  /**
   * Replace an existing destination (atomically: it exists, old or new, at every instant).
   * `false`: fail with `EEXIST`, without a race window. Default `true`.
   */
  readonly overwrite?: boolean | undefined;
  /** Create the destination's missing parent folders, durably. Default `true`. */
  readonly mkdirp?: boolean | undefined;
}

/** Two validated paths and the shared options of a two-path operation. @internal */
export interface PathPair extends ResolvedBase {
  readonly operation: string;
  readonly src: string;
  readonly dest: string;
  readonly srcGiven: string;
  readonly destGiven: string;
  readonly fsync: boolean;
  readonly mkdirp: boolean;
  readonly overwrite: boolean;
  /** The seam's async calls, all through the thread pool, even with `blocking` (for calls known to be slow). */
  readonly pool: AsyncFsOps;
}

/** Error context of a two-path operation. @internal */
export function pairCtx(p: PathPair, syscall?: string): ErrorContext {
  return { operation: p.operation, path: p.srcGiven, dest: p.destGiven, syscall };
}

/** Whether `child` lies strictly inside the folder `parent` (by spelling). @internal */
export function isInside(parent: string, child: string): boolean {
  const rel = path.relative(parent, child);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

/** Whether two stats are the same inode. @internal */
export const sameFile = (a: FileStat, b: FileStat): boolean => a.dev === b.dev && a.ino === b.ino;

/**
 * How `dest` relates to `src` when both lead to one inode:
 * - `'same'`: one directory entry under two spellings (through `..` after a real folder, or
 *   through a symlinked folder): the same parent folder and the same name. Nothing to do.
 * - `'respell'`: one entry that a case-insensitive file system finds under both names
 *   (their folder lists only one of them): renaming changes its spelling.
 * - `'other'`: two entries of one inode (two hard links of a file, or a bind mount).
 * Only called when both exist and `sameFile` holds (rare): it stats both parent folders.
 * @internal
 */
export function* entryRelation(src: string, dest: string): Steps<'same' | 'respell' | 'other'> {
  const srcDir = path.dirname(src);
  const a = yield* call('stat', srcDir);
  const b = yield* call('stat', path.dirname(dest));
  if (!sameFile(a, b)) return 'other';
  const srcName = path.basename(src);
  const destName = path.basename(dest);
  if (srcName === destName) return 'same';
  const names = new Set((yield* call('readdir', srcDir)).map((d) => d.name));
  return names.has(srcName) && names.has(destName) ? 'other' : 'respell';
}

/** Runs `fn`; if it fails with ENOENT because the destination's parent is missing, creates it (durably) and runs it again. */
function* withDestParent<T>(p: PathPair, dest: string, fn: () => Steps<T>): Steps<T> {
  try {
    return yield* fn();
  } catch (e) {
    if (codeOf(e) !== 'ENOENT' || !p.mkdirp) throw e;
    const parent = path.dirname(dest);
    try {
      yield* call('stat', parent);
    } catch (statErr) {
      if (codeOf(statErr) !== 'ENOENT') throw e;
      yield* mkdirpDurable(parent, p.fsync);
      return yield* fn();
    }
    throw e; // the parent exists: the source is what is missing
  }
}

/**
 * Renames `src` to `dest` without ever replacing an existing `dest`, race-free:
 * files and symlinks by link + unlink (link fails with EEXIST atomically); folders by a
 * plain rename, which can only ever replace an EMPTY folder (that holds nothing). `dest`
 * that is `src`'s own entry spelled another way is a no-op; a case-only rename on a
 * case-insensitive file system is a plain rename. Returns what {@link publishNoReplace}
 * did: after `'linked'`, `dest`'s folder is already fsynced (pass `true` as `destSynced`
 * to {@link syncBoth}).
 * @internal
 */
export function* renameNoReplace(p: PathPair, src: string, dest: string, sst: FileStat): Steps<'linked' | 'renamed' | 'unchanged'> {
  const how = yield* publishNoReplace(p, src, dest, sst);
  if (how !== 'linked') return how;
  // The new name must be durable before the old one goes: otherwise a crash could keep
  // the unlink and lose the link, and the file would have no name at all.
  if (p.fsync) yield* dirSync(path.dirname(dest));
  yield* call('unlink', src);
  return how;
}

/**
 * The publishing half of {@link renameNoReplace}: gives `src` the name `dest` without ever
 * replacing anything there. Returns `'linked'` when `dest` is a new hard link and `src`
 * still has its name (the caller removes it), `'renamed'` when `src`'s name is gone,
 * `'unchanged'` when `dest` is `src`'s own entry spelled another way (nothing done).
 * @internal
 */
export function* publishNoReplace(p: PathPair, src: string, dest: string, sst: FileStat): Steps<'linked' | 'renamed' | 'unchanged'> {
  let dst: FileStat | undefined;
  try {
    dst = yield* call('lstat', dest);
  } catch (e) {
    if (codeOf(e) !== 'ENOENT') throw e;
  }
  if (dst) {
    if (sameFile(dst, sst) && src !== dest) {
      // One inode under both names: the same entry spelled another way (nothing to do), or
      // one entry of a case-insensitive file system (renaming changes the spelling and never
      // deletes the file). Two hard links are two entries: the name is taken.
      const rel = yield* entryRelation(src, dest);
      if (rel === 'same') return 'unchanged';
      if (rel === 'respell') {
        yield* call('rename', src, dest);
        return 'renamed';
      }
    }
    if (!(sst.isDirectory() && (yield* isEmptyDir(dest, dst)))) throw new AtomfsError('EEXIST', undefined, pairCtx(p, 'rename'));
  }
  if (sst.isDirectory()) {
    // rename(2) onto a name that is missing or an EMPTY folder succeeds, and onto anything
    // else fails (ENOTEMPTY, ENOTDIR): no data can ever be replaced. An empty folder holds
    // nothing to lose, so it counts as free; no placeholder is needed (one would survive a
    // crash as an empty folder, and race with other movers).
    try {
      yield* withDestParent(p, dest, () => call('rename', src, dest));
    } catch (e) {
      throw codeOf(e) === 'ENOTEMPTY' || codeOf(e) === 'EEXIST' || codeOf(e) === 'ENOTDIR'
        ? new AtomfsError('EEXIST', undefined, pairCtx(p, 'rename'), { cause: e })
        : e;
    }
    return 'renamed';
  }
  try {
    yield* withDestParent(p, dest, () => call('link', src, dest));
  } catch (e) {
    if (!NO_HARDLINKS.has(codeOf(e) ?? '')) throw e;
    // No hard links here (FAT, some FUSE): over an exclusive placeholder.
    yield* renameOverPlaceholder(src, dest);
    return 'renamed';
  }
  return 'linked';
}

/** Whether a path is a folder with no entries. @internal */
export function* isEmptyDir(p: string, st: FileStat): Steps<boolean> {
  return st.isDirectory() && (yield* call('readdir', p)).length === 0;
}

/** The option names of rename (move adds its own). @internal */
export const RENAME_NAMES: readonly string[] = [...BASE_NAMES, ...DURABILITY_NAMES, 'overwrite', 'mkdirp', 'blocking'];
const RENAME_SET = optionNames(RENAME_NAMES);

/** Validates the two paths and the options shared by rename and move. @internal */
export function resolvePair(operation: string, src: unknown, dest: unknown, options: unknown, overwriteDefault: boolean, known: ReadonlySet<string>): PathPair & { readonly raw: Readonly<Record<string, unknown>> } {
  const s = validateUserPath(operation, src, 'source path');
  const d = validateUserPath(operation, dest, 'destination path');
  const raw = checkOptionsObject(operation, options, s.given, known);
  const b = resolveBase(operation, raw, s.given);
  // With `blocking` (the default, as for writeFile and lock), the cheap metadata calls of a
  // rename or move (lstat, link, unlink, rename, open...) run synchronously: a thread-pool
  // round trip costs more than the call (docs/benchmarks.md, move-same). Copies and fsyncs
  // stay in the thread pool.
  const blocking = boolOpt(operation, raw, 'blocking', true, s.given);
  // No spread: an object literal with a spread and more properties costs ~8 µs on Node 20.
  return {
    signal: b.signal,
    logger: b.logger,
    ops: blocking ? blockingView(b.ops) : b.ops,
    pool: b.ops.async,
    random: b.random,
    operation,
    src: stripSep(s.abs),
    dest: stripSep(d.abs),
    srcGiven: s.given,
    destGiven: d.given,
    fsync: boolOpt(operation, raw, 'fsync', true, s.given),
    mkdirp: boolOpt(operation, raw, 'mkdirp', true, s.given),
    overwrite: boolOpt(operation, raw, 'overwrite', overwriteDefault, s.given),
    raw,
  };
}

const stripSep = (p: string): string => (p.length > 1 && p.endsWith(path.sep) ? p.slice(0, -1) : p);

/**
 * The folder fsyncs after a rename: the destination's folder, and the source's if different.
 * `destSynced`: the destination's folder was fsynced since its last change (a no-replace
 * publish by link fsyncs it before it unlinks the source), so only the source's folder is
 * left, unless it is the same folder (it then holds the unlink).
 * @internal
 */
export function* syncBoth(p: PathPair, src: string, dest: string, destSynced = false): Steps<void> {
  if (!p.fsync) return;
  const a = path.dirname(dest);
  const b = path.dirname(src);
  if (a === b) yield* dirSync(a);
  else if (destSynced) yield* dirSync(b);
  else yield* dirSyncs([a, b]);
}

/**
 * Renames a file, folder or symlink in one atomic step and makes it durable (both parent
 * folders fsynced). Never copies: across devices it fails with `EXDEV` (use {@link move}).
 *
 * @param src - What to rename.
 * @param dest - The new name.
 * @param options - `overwrite` (default `true`), `mkdirp` (default `true`), `fsync`, `blocking` (default `true`), `signal`, `logger`.
 * @returns Resolves when the new name is visible and (unless `fsync: false`) durable.
 * @throws {@link AtomfsError} `ENOENT` the source is missing (or `dest`'s parent, with
 *   `mkdirp: false`); `EEXIST` the destination exists and `overwrite` is false; `EXDEV`
 *   different devices; `EISDIR` a file onto a folder; `ENOTDIR` a folder onto a file;
 *   `ENOTEMPTY` a folder onto a non-empty folder; `EINVAL` a folder into its own subtree
 *   or bad input; `EACCES`, `EPERM`, `EROFS`, `EBUSY`; `ABORT_ERR`.
 * @remarks Same path, however spelled (`..` after a real folder, a symlinked folder): a
 *   no-op. With `overwrite: false`, files are published by link then unlink: after a crash
 *   between the two, both names exist (never neither).
 * @example
 * ```ts
 * await rename('report.tmp.pdf', 'report.pdf');
 * await rename('incoming/job', 'claimed/job', { overwrite: false });
 * ```
 */
export async function rename(src: PathLike, dest: PathLike, options?: RenameOptions): Promise<void> {
  const p = resolvePair('rename', src, dest, options, true, RENAME_SET);
  try {
    await runAsync(renameSteps(p), p.ops);
  } catch (e) {
    throw failedRename(p, e);
  }
}

/**
 * {@link rename}, blocking: the same steps under the synchronous driver (fs-extra's and
 * move-file's users call `renameSync`/`moveSync` today). `blocking` has no effect here.
 *
 * @param src - What to rename.
 * @param dest - The new name.
 * @param options - As {@link rename}.
 * @throws {@link AtomfsError} Every code of {@link rename}.
 * @example
 * ```ts
 * renameSync('state.json.new', 'state.json');
 * ```
 */
export function renameSync(src: PathLike, dest: PathLike, options?: RenameOptions): void {
  const p = resolvePair('renameSync', src, dest, options, true, RENAME_SET);
  try {
    runSync(renameSteps(p), p.ops);
  } catch (e) {
    throw failedRename(p, e);
  }
}

function failedRename(p: PathPair, e: unknown): AtomfsError {
  const err = toAtomfsError(e, pairCtx(p));
  p.logger.error({ targetPath: p.destGiven, sourcePath: p.srcGiven, errorCode: err.code, operation: p.operation }, LOG_EVENTS.renameFailed);
  return err;
}

function* renameSteps(p: PathPair): Steps<void> {
  throwIfAborted(p.signal, pairCtx(p));
  let sst: FileStat;
  try {
    sst = yield* call('lstat', p.src);
  } catch (e) {
    throw toAtomfsError(e, pairCtx(p, 'lstat'));
  }
  if (p.src === p.dest) return;
  if (sst.isDirectory() && isInside(p.src, p.dest)) {
    throw new AtomfsError('EINVAL', 'cannot move a folder into its own subtree', pairCtx(p, 'rename'));
  }
  let linked = false;
  try {
    if (p.overwrite) yield* withDestParent(p, p.dest, () => call('rename', p.src, p.dest));
    else linked = (yield* renameNoReplace(p, p.src, p.dest, sst)) === 'linked';
  } catch (e) {
    throw toAtomfsError(e, pairCtx(p, (e as NodeJS.ErrnoException).syscall ?? 'rename'));
  }
  p.logger.debug({ targetPath: p.destGiven, sourcePath: p.srcGiven, operation: p.operation }, LOG_EVENTS.pathRenamed);
  try {
    yield* syncBoth(p, p.src, p.dest, linked);
  } catch (e) {
    throw toAtomfsError(e, pairCtx(p, 'fsync'));
  }
}
