/**
 * Virtual paths: POSIX-style, absolute, normalised lexically. A virtual file system has no
 * symlinks of its own, so `..` can be resolved by spelling (a mount that has symlinks, such
 * as `LocalMount`, refuses any that would lead out of its root).
 *
 * Two kinds of path appear in `src/vfs`: the caller's *virtual* path (`/data/a/b`) and a
 * *mount-relative* path (`/a/b` inside the mount at `/data`). Both have the same normal
 * form: a leading `/`, no empty, `.` or `..` segments, no trailing `/` (except the root `/`).
 *
 * @module
 */
import { AtomfsError } from '../errors.js';
import { describe } from '../internal/paths.js';

/** The root, in both virtual and mount-relative form. */
export const ROOT = '/';

/**
 * Validates a caller's virtual path and returns its normal form. `EINVAL` for a non-string,
 * an empty path, a NUL byte or a relative path (a virtual file system has no working
 * folder). `..` above the root stays at the root, as in POSIX.
 */
export function normalizeVirtual(operation: string, p: unknown, what = 'path'): string {
  if (typeof p !== 'string') throw new AtomfsError('EINVAL', `${what} must be a string, got ${describe(p)}`, { operation });
  if (p.length === 0) throw new AtomfsError('EINVAL', `${what} must not be empty`, { operation, path: p });
  if (p.includes('\0')) throw new AtomfsError('EINVAL', `${what} must not contain a NUL byte`, { operation, path: p });
  if (!p.startsWith('/')) throw new AtomfsError('EINVAL', `${what} must be absolute (start with '/')`, { operation, path: p });
  const out: string[] = [];
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') out.pop();
    else out.push(seg);
  }
  return '/' + out.join('/');
}

/** The segments of a normal path (`[]` for the root). */
export function segments(p: string): string[] {
  return p === ROOT ? [] : p.slice(1).split('/');
}

/** The parent of a normal path (the root is its own parent). */
export function parentOf(p: string): string {
  const i = p.lastIndexOf('/');
  return i <= 0 ? ROOT : p.slice(0, i);
}

/** The last segment of a normal path (`''` for the root). */
export function baseName(p: string): string {
  return p.slice(p.lastIndexOf('/') + 1);
}

/** Joins a normal path and one name or a normal relative path. */
export function joinPath(base: string, rel: string): string {
  if (rel === ROOT || rel === '') return base;
  const tail = rel.startsWith('/') ? rel : '/' + rel;
  return base === ROOT ? tail : base + tail;
}

/** The path of `p` inside the folder `base` (`/` when equal); `p` must be at or under `base`. */
export function relativeTo(base: string, p: string): string {
  if (base === ROOT) return p;
  return p.length === base.length ? ROOT : p.slice(base.length);
}

/**
 * Case folding for case-insensitive mounts: `String.prototype.toLowerCase`, which is
 * locale-independent (no Turkish dotless i surprises). Names keep their spelling; only
 * comparisons fold.
 */
export function fold(name: string): string {
  return name.toLowerCase();
}

/**
 * Whether `child` is `parent` or lies under it. Compared segment-wise (a trailing-separator
 * check), so `/ab` is not under `/a`; folded when `caseInsensitive`.
 */
export function isAtOrUnder(parent: string, child: string, caseInsensitive = false): boolean {
  const a = caseInsensitive ? fold(parent) : parent;
  const b = caseInsensitive ? fold(child) : child;
  if (a === ROOT || a === b) return true;
  return b.startsWith(a + '/');
}

/** Whether `child` lies strictly under `parent`. */
export function isStrictlyUnder(parent: string, child: string, caseInsensitive = false): boolean {
  return isAtOrUnder(parent, child, caseInsensitive) && !samePath(parent, child, caseInsensitive);
}

/** Whether two normal paths name the same entry (folded when `caseInsensitive`). */
export function samePath(a: string, b: string, caseInsensitive = false): boolean {
  return caseInsensitive ? fold(a) === fold(b) : a === b;
}
