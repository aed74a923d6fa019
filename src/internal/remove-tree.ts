/**
 * Recursive removal through the seam.
 *
 * @module
 */
import * as path from 'node:path';
import { attachSuppressed, codeOf } from '../errors.js';
import { LOG_EVENTS, type Logger } from '../logger.js';
import type { AsyncFsOps, FileStat } from './fs-ops.js';

/** Options of {@link removeTree}. */
export interface RemoveTreeOptions {
  /**
   * Give each folder owner read, write and search permission (`u+rwx`) before emptying it,
   * ignoring a chmod that fails. For trees this process made itself (a temp copy whose
   * folders already carry their final, perhaps read-only, modes): without it a process that
   * is not root cannot remove the entries of a folder it may not write.
   */
  readonly makeWritable?: boolean | undefined;
  /**
   * Unlink files of `minSize` bytes and more that have no other name through `ops` (the
   * thread pool): freeing a big file's blocks and cached pages is no cheap call (a 1 GiB
   * unlink on ext4: 0.24 s), and it must not block the event loop when `sys` is synchronous.
   */
  readonly bigFiles?: { readonly ops: AsyncFsOps; readonly minSize: number } | undefined;
}

/** rm -r through the seam, never following symlinks (a symlink is unlinked, not entered). */
export async function removeTree(sys: AsyncFsOps, target: string, options: RemoveTreeOptions = {}): Promise<void> {
  let st: FileStat;
  try {
    st = await sys.lstat(target);
  } catch (e) {
    if (codeOf(e) === 'ENOENT') return;
    throw e;
  }
  if (!st.isDirectory()) {
    await unlinkFile(sys, target, st, options.bigFiles);
    return;
  }
  if (options.makeWritable && (st.mode & 0o700) !== 0o700) await sys.chmod(target, (st.mode & 0o7777) | 0o700).catch(() => {});
  for (const d of await sys.readdir(target)) await removeTree(sys, path.join(target, d.name), options);
  await sys.rmdir(target);
}

/**
 * Unlinks `target` (lstat `st`, not a folder): through `big.ops` (the thread pool) when it is
 * a file of `big.minSize` bytes and more with no other name, whose blocks and cached pages
 * the unlink frees; through `sys` otherwise.
 */
export async function unlinkFile(sys: AsyncFsOps, target: string, st: FileStat, big: RemoveTreeOptions['bigFiles']): Promise<void> {
  await (big && st.isFile() && st.nlink === 1 && st.size >= big.minSize ? big.ops : sys).unlink(target);
}

/**
 * Removes a temp file or temp tree this process made, after `err` (the error the caller is
 * about to throw). Folders are made writable first ({@link RemoveTreeOptions.makeWritable}).
 * A removal that still fails never hides `err`: it is logged (`Failed to clean up temp
 * file`) and attached to `err` as `suppressed`. Never throws.
 */
export async function discardTemp(sys: AsyncFsOps, temp: string, log: { readonly logger: Logger; readonly operation: string }, err: Error): Promise<void> {
  try {
    await removeTree(sys, temp, { makeWritable: true });
  } catch (e) {
    log.logger.warn({ tempPath: temp, cleanupErrorCode: codeOf(e), operation: log.operation }, LOG_EVENTS.tempCleanupFailed);
    attachSuppressed(err, e);
  }
}
