/**
 * cleanupOrphans: removes temp files left behind by killed processes.
 *
 * @module
 */
import * as path from 'node:path';
import { toAtomfsError } from '../errors.js';
import { throwIfAborted } from '../internal/abort.js';
import { validateUserPath, type PathLike } from '../internal/paths.js';
import { removeTree } from '../internal/remove-tree.js';
import { TEMP_NAME_RE } from '../internal/temp-name.js';
import { LOG_EVENTS } from '../logger.js';
import { BASE_NAMES, type BaseOptions, boolOpt, checkOptionsObject, intOpt, optionNames, resolveBase, type ResolvedBase } from '../options.js';

const CLEANUP_SET = optionNames(BASE_NAMES, ['olderThan', 'recursive', 'dryRun']);

/** Options of {@link cleanupOrphans}. */
export interface CleanupOptions extends BaseOptions {
  /** Only temp files last modified longer ago than this are removed (ms). Default 3,600,000 (1 h). */
  readonly olderThan?: number | undefined;
  /** Descend into sub-folders (never through a symlink). Default `false`. */
  readonly recursive?: boolean | undefined;
  /** Report what would be removed without removing anything. Default `false`. */
  readonly dryRun?: boolean | undefined;
}

/** What {@link cleanupOrphans} removed (or, with `dryRun`, would remove). */
export interface CleanupResult {
  /** Absolute paths removed (or that would be). */
  readonly removed: string[];
  /** Temp-named files left in place: younger than `olderThan`, or that could not be removed. */
  readonly kept: number;
}

/**
 * Removes atomfs temp files (names that {@link isTempFile} recognises) older than
 * `olderThan` from a folder, and temp-named folders (a cross-device move's unfinished copy,
 * or a moved source whose deletion was interrupted) with their contents. Never removes
 * anything else and never follows a symlink (a temp-named symlink — a moved symlink's
 * copy — is unlinked itself, its target untouched; a symlinked folder is never entered),
 * and never touches a young temp a live writer may still use.
 *
 * @param dir - The folder to clean.
 * @param options - `olderThan` (ms, default 1 h), `recursive`, `dryRun`, `signal`.
 * @returns The removed paths and the number of temp files kept.
 * @throws {@link AtomfsError} `ENOENT`/`ENOTDIR` when `dir` is not a folder, `EACCES`,
 *   `EINVAL` bad input, `ABORT_ERR`.
 * @example
 * ```ts
 * const { removed } = await cleanupOrphans('/var/lib/app', { olderThan: 10 * 60_000 });
 * ```
 */
export async function cleanupOrphans(dir: PathLike, options?: CleanupOptions): Promise<CleanupResult> {
  const operation = 'cleanupOrphans';
  const { given, abs } = validateUserPath(operation, dir);
  const o = checkOptionsObject(operation, options, given, CLEANUP_SET);
  return cleanupDir(resolveBase(operation, o, given), abs, given, {
    olderThan: intOpt(operation, o, 'olderThan', 3_600_000, given),
    recursive: boolOpt(operation, o, 'recursive', false, given),
    dryRun: boolOpt(operation, o, 'dryRun', false, given),
  });
}

/**
 * cleanupOrphans on validated input, with a predicate for paths to leave alone (the live
 * temps of this process' staging area). @internal
 */
export async function cleanupDir(
  base: ResolvedBase,
  abs: string,
  given: string,
  opts: { readonly olderThan: number; readonly recursive: boolean; readonly dryRun: boolean },
  skip: (path: string) => boolean = () => false,
): Promise<CleanupResult> {
  const operation = 'cleanupOrphans';
  const { olderThan, recursive, dryRun } = opts;
  const sys = base.ops.async;
  const cutoff = Date.now() - olderThan;
  const removed: string[] = [];
  let kept = 0;

  const visit = async (folder: string, top: boolean): Promise<void> => {
    throwIfAborted(base.signal, { operation, path: given });
    let entries;
    try {
      entries = await sys.readdir(folder);
    } catch (e) {
      // A sub-folder that vanished meanwhile is not an error; the folder asked for is.
      if (!top && (e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw toAtomfsError(e, { operation, path: top ? given : folder, syscall: 'scandir' });
    }
    for (const ent of entries) {
      const full = path.join(folder, ent.name);
      const isTemp = TEMP_NAME_RE.test(ent.name);
      if (ent.isDirectory() && !isTemp) {
        if (recursive) await visit(full, false);
        continue;
      }
      // Temp names are files (writes), folders (a tree being copied by a move, or a moved
      // source being deleted) or symlinks (a moved symlink's copy). Removing a symlink
      // unlinks the link itself: its target is never touched.
      if (!(ent.isFile() || ent.isDirectory() || ent.isSymbolicLink()) || !isTemp) continue;
      let st;
      try {
        st = await sys.lstat(full);
      } catch {
        continue; // gone meanwhile
      }
      // A folder's own mtime does not change while a file inside it grows (a move copying
      // a large file): judge it by the newest entry in it.
      const newest = st.isDirectory() ? await newestMtime(sys, full, st.mtimeMs) : st.mtimeMs;
      // Whole milliseconds: Date.now() has no fraction, file times do.
      if (!(st.isFile() || st.isDirectory() || st.isSymbolicLink()) || Math.trunc(newest) > cutoff || skip(full)) {
        kept++;
        continue;
      }
      if (dryRun) {
        removed.push(full);
        continue;
      }
      try {
        // Already lstat'ed: a file or symlink is unlinked at once; only a folder needs the
        // walk (which lstats it again). A move killed after it gave the copy's folders their
        // modes leaves read-only folders in its temp tree: they are made writable first.
        if (st.isDirectory()) await removeTree(base.ops, full, { makeWritable: true });
        else await sys.unlink(full);
        removed.push(full);
        base.logger.debug({ tempPath: full, operation: 'cleanup' }, LOG_EVENTS.tempCleaned);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
        kept++;
        base.logger.warn({ tempPath: full, cleanupErrorCode: (e as NodeJS.ErrnoException).code }, LOG_EVENTS.tempCleanupFailed);
      }
    }
  };
  await visit(abs, true);
  return { removed, kept };
}

/** The newest modification time in a tree (never following symlinks). */
async function newestMtime(sys: ResolvedBase['ops']['async'], dir: string, own: number): Promise<number> {
  let newest = own;
  let entries;
  try {
    entries = await sys.readdir(dir);
  } catch {
    return newest;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    try {
      const st = await sys.lstat(p);
      newest = Math.max(newest, st.isDirectory() ? await newestMtime(sys, p, st.mtimeMs) : st.mtimeMs);
    } catch {
      // vanished meanwhile
    }
  }
  return newest;
}
