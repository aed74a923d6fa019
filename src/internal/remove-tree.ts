/**
 * Recursive removal through the seam, as step lists (see steps.ts): one description for
 * the blocking and the asynchronous callers.
 *
 * @module
 */
import * as path from 'node:path';
import { attachSuppressed, codeOf } from '../errors.js';
import { LOG_EVENTS, type Logger } from '../logger.js';
import type { FileStat, FsOps } from './fs-ops.js';
import { call, callSlow, runAsync, type Steps } from './steps.js';

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
   * Unlink files of this many bytes and more that have no other name as slow calls (the
   * async driver sends them to the thread pool even when it makes cheap calls blocking):
   * freeing a big file's blocks and cached pages is no cheap call (a 1 GiB unlink on ext4:
   * 0.24 s), and it must not block the event loop.
   */
  readonly bigFileMin?: number | undefined;
}

/** rm -r through the seam, never following symlinks (a symlink is unlinked, not entered). */
export function* removeTreeSteps(target: string, options: RemoveTreeOptions = {}): Steps<void> {
  let st: FileStat;
  try {
    st = yield* call('lstat', target);
  } catch (e) {
    if (codeOf(e) === 'ENOENT') return;
    throw e;
  }
  if (!st.isDirectory()) {
    yield* unlinkFile(target, st, options.bigFileMin);
    return;
  }
  if (options.makeWritable && (st.mode & 0o700) !== 0o700) {
    try {
      yield* call('chmod', target, (st.mode & 0o7777) | 0o700);
    } catch {
      // The removal below says what is wrong, if anything is.
    }
  }
  for (const d of yield* call('readdir', target)) yield* removeTreeSteps(path.join(target, d.name), options);
  yield* call('rmdir', target);
}

/** {@link removeTreeSteps} under the async driver. */
export function removeTree(ops: FsOps, target: string, options: RemoveTreeOptions = {}): Promise<void> {
  return runAsync(removeTreeSteps(target, options), ops);
}

/**
 * Unlinks `target` (lstat `st`, not a folder): as a slow call when it is a file of
 * `bigFileMin` bytes and more with no other name, whose blocks and cached pages the unlink
 * frees.
 */
export function* unlinkFile(target: string, st: FileStat, bigFileMin: number | undefined): Steps<void> {
  if (bigFileMin !== undefined && st.isFile() && st.nlink === 1 && st.size >= bigFileMin) yield* callSlow('unlink', target);
  else yield* call('unlink', target);
}

/**
 * Removes a temp file or temp tree this process made, after `err` (the error the caller is
 * about to throw). Folders are made writable first ({@link RemoveTreeOptions.makeWritable}).
 * A removal that still fails never hides `err`: it is logged (`Failed to clean up temp
 * file`) and attached to `err` as `suppressed`. Never throws.
 */
export function* discardTempSteps(temp: string, log: { readonly logger: Logger; readonly operation: string }, err: Error): Steps<void> {
  try {
    yield* removeTreeSteps(temp, { makeWritable: true });
  } catch (e) {
    log.logger.warn({ tempPath: temp, cleanupErrorCode: codeOf(e), operation: log.operation }, LOG_EVENTS.tempCleanupFailed);
    attachSuppressed(err, e);
  }
}

/** {@link discardTempSteps} under the async driver. Never throws. */
export function discardTemp(ops: FsOps, temp: string, log: { readonly logger: Logger; readonly operation: string }, err: Error): Promise<void> {
  return runAsync(discardTempSteps(temp, log, err), ops);
}
