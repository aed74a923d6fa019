/**
 * Durable folder creation, and the no-replace publish where there are no hard links,
 * shared by writers and moves.
 *
 * @module
 */
import * as path from 'node:path';
import { O, type FileStat } from './fs-ops.js';
import { call, dirSync, type Steps } from './steps.js';

/**
 * Creates missing folders, each made durable by an fsync of its parent. The deepest one is
 * fsynced later, after the rename into it.
 */
export function* mkdirpDurable(dir: string, fsync: boolean): Steps<void> {
  try {
    yield* call('mkdir', dir, 0o777);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return yield* expectDir(dir, e);
    const parent = path.dirname(dir);
    if (code !== 'ENOENT' || parent === dir) throw e;
    yield* mkdirpDurable(parent, fsync);
    try {
      yield* call('mkdir', dir, 0o777);
    } catch (e2) {
      if ((e2 as NodeJS.ErrnoException).code === 'EEXIST') return yield* expectDir(dir, e2);
      throw e2;
    }
  }
  if (fsync) yield* dirSync(path.dirname(dir));
}

function* expectDir(dir: string, original: unknown): Steps<void> {
  const st = yield* call('stat', dir);
  if (!st.isDirectory()) {
    const err = new Error(`ENOTDIR: not a directory, mkdir '${dir}'`) as NodeJS.ErrnoException;
    err.code = 'ENOTDIR';
    err.syscall = 'mkdir';
    err.path = dir;
    (err as { cause?: unknown }).cause = original;
    throw err;
  }
}


/**
 * Renames `src` to `dest` without ever replacing a file there, where link(2) is refused
 * (no hard links: FAT, exFAT, some FUSE): `dest` is claimed with an exclusive empty file
 * (EEXIST atomically if the name is taken), then `src` is renamed over that placeholder.
 * Until the rename, other programs see an empty file at `dest`, and a writer that replaces
 * `dest` in that moment is replaced in turn. If anything fails, the placeholder is removed,
 * but only while the name still leads to it (another process may have put its own file
 * there). Throws the failing call's error.
 */
export function* renameOverPlaceholder(src: string, dest: string): Steps<void> {
  const fd = yield* call('open', dest, O.WRONLY | O.CREAT | O.EXCL | O.NOFOLLOW | O.CLOEXEC, 0o600);
  let mine: FileStat | undefined;
  try {
    try {
      mine = yield* call('fstat', fd);
    } finally {
      yield* call('close', fd);
    }
    yield* call('rename', src, dest);
  } catch (e) {
    try {
      const now = yield* call('lstat', dest);
      if (mine === undefined || (now.dev === mine.dev && now.ino === mine.ino)) yield* call('unlink', dest);
    } catch {
      // Never hides the first error.
    }
    throw e;
  }
}
