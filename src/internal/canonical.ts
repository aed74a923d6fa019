/**
 * One name per file: the path a lock is keyed on.
 *
 * Two spellings of one file (a symlink to it, a symlink in a parent folder, `..` after a
 * symlink) must find the same lock markers, or two processes can each hold "the" lock of
 * one file. `writeFile`'s `symlinks: 'follow'` writes through exactly these links, so a lock
 * resolves the path the same way: the parent folder through `realpath`, then the last
 * component hop by hop, a dangling link to the file it would create.
 *
 * @module
 */
import * as path from 'node:path';
import { AtomfsError, type ErrorContext } from '../errors.js';
import { absolute } from './paths.js';
import { call, type Steps } from './steps.js';

// The kernel's own limit (MAXSYMLINKS) for one lookup.
const MAX_SYMLINK_HOPS = 40;

const code = (e: unknown): string | undefined => (e as NodeJS.ErrnoException | undefined)?.code;

/**
 * The canonical absolute path of `abs`: no symlink in it, the last component followed
 * through any chain of links. A missing parent keeps its spelling (there is nothing to
 * resolve yet, and the caller's own call will report it); a missing last component is the
 * name it would be created under.
 *
 * @throws AtomfsError `ELOOP` after 40 links; the seam's errors of `realpath`/`lstat`/
 *   `readlink` other than `ENOENT`/`ENOTDIR` pass through as they are.
 */
export function* canonicalPath(abs: string, ctx: ErrorContext): Steps<string> {
  let cur = abs;
  for (let hops = 0; ; hops++) {
    const parent = path.dirname(cur);
    let dir: string;
    try {
      dir = parent === cur ? cur : yield* call('realpath', parent);
    } catch (e) {
      if (code(e) === 'ENOENT' || code(e) === 'ENOTDIR') return cur;
      throw e;
    }
    if (parent === cur) return cur; // the root
    cur = path.join(dir, path.basename(cur));
    let isLink: boolean;
    try {
      isLink = (yield* call('lstat', cur)).isSymbolicLink();
    } catch (e) {
      if (code(e) === 'ENOENT' || code(e) === 'ENOTDIR') return cur;
      throw e;
    }
    if (!isLink) return cur;
    if (hops >= MAX_SYMLINK_HOPS) throw new AtomfsError('ELOOP', undefined, { ...ctx, syscall: 'readlink' });
    // Relative to the link's folder, `..` after any symlink in the target left to the next
    // round's realpath, as the kernel does.
    cur = absolute(yield* call('readlink', cur), dir);
  }
}
