/**
 * Durable folder creation, shared by writers and moves.
 *
 * @module
 */
import * as path from 'node:path';
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

