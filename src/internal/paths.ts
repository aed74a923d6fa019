/**
 * Checks on the caller's paths, made before any system call.
 *
 * @module
 */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AtomfsError, isRevoked } from '../errors.js';

export { isRevoked };

/** What a caller may pass as a path. */
export type PathLike = string | URL;

/**
 * Validates a user path and returns it absolute: a non-empty string (or `file:` URL)
 * without NUL bytes. Throws `EINVAL` otherwise, before anything is touched.
 */
export function validateUserPath(operation: string, p: unknown, what = 'path'): { readonly given: string; readonly abs: string } {
  let given: string;
  if (typeof p === 'string') given = p;
  else if (!isRevoked(p) && p instanceof URL) {
    if (p.protocol !== 'file:') throw new AtomfsError('EINVAL', `${what} must be a file: URL`, { operation, path: p.href });
    given = fileURLToPath(p);
  } else {
    throw new AtomfsError('EINVAL', `${what} must be a string or a file: URL, got ${describe(p)}`, { operation });
  }
  if (given.length === 0) throw new AtomfsError('EINVAL', `${what} must not be empty`, { operation, path: given });
  if (given.includes('\0')) throw new AtomfsError('EINVAL', `${what} must not contain a NUL byte`, { operation, path: given });
  return { given, abs: absolute(given) };
}

/**
 * Makes a path absolute WITHOUT normalising it. `path.resolve('d/link/../f')` gives `d/f`,
 * but the kernel resolves `link` first and then `..` from the link's target: a write would
 * go to another file than `fs.writeFile` writes. Only `.` components and repeated
 * separators, which mean the same to the kernel, are cleaned.
 */
// A `.` or `..` component, a doubled separator, or a trailing one.
const NEEDS_CLEANING = /\/\.{1,2}(?:\/|$)|\/\/|.\/$/;

export function absolute(p: string, base?: string): string {
  // Fast path (every call of a hot write loop takes it): an absolute POSIX path with no
  // `.`/`..` components, no doubled or trailing separator is already what we want.
  if (path.sep === '/' && p.charCodeAt(0) === 47 && !NEEDS_CLEANING.test(p)) return p;
  const joined = path.isAbsolute(p) ? p : (base ?? process.cwd()) + path.sep + p;
  if (!joined.includes('..')) return path.normalize(joined);
  const parts = joined.split(path.sep).filter((c, i) => i === 0 || (c !== '' && c !== '.'));
  return parts.join(path.sep) || path.sep;
}

/** Whether a path names a folder by its spelling (ends in a separator). */
export function hasTrailingSep(p: string): boolean {
  return p.endsWith('/') || (path.sep === '\\' && p.endsWith('\\'));
}

/** A short description of a value's type for error messages. */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (isRevoked(v)) return 'a revoked Proxy';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? (v.constructor?.name ?? 'object') : typeof v;
}

/** A value as text for an error's path: a string as it is, anything else by its type. */
export function textOf(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint' || v === undefined) return String(v);
  return describe(v);
}
