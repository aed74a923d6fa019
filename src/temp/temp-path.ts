/**
 * tempPath and isTempFile.
 *
 * @module
 */
import * as path from 'node:path';
import { AtomfsError } from '../errors.js';
import { validateUserPath, type PathLike } from '../internal/paths.js';
import { checkOptionsObject, optionNames } from '../options.js';
import { cryptoRandom, randomHex, tempNameFor, TEMP_NAME_RE } from '../internal/temp-name.js';

const PREFIX_SET = optionNames(['prefix']);

/** Options of {@link tempPath}. */
export interface TempPathOptions {
  /** Text placed after the leading dot, before the target's name (no `/`, no NUL). */
  readonly prefix?: string | undefined;
}

/**
 * A fresh temp path beside `target`, in atomfs' temp-name pattern
 * (`.<prefix><basename>.<16 random hex>.tmp`, at most 255 bytes), so `cleanupOrphans`
 * recognises it. Random (crypto-strong), not guessable. Nothing is created.
 *
 * @param target - The file the temp is for.
 * @param options - `prefix`.
 * @returns An absolute path in the target's folder.
 * @throws {@link AtomfsError} `EINVAL` for an empty path, a NUL byte or a bad prefix.
 * @example
 * ```ts
 * const tmp = tempPath('/data/report.pdf'); // '/data/.report.pdf.3f9a0c1d2b4e5f60.tmp'
 * ```
 */
export function tempPath(target: PathLike, options?: TempPathOptions): string {
  const operation = 'tempPath';
  const { given, abs } = validateUserPath(operation, target);
  const prefix = checkOptionsObject(operation, options, given, PREFIX_SET)['prefix'] ?? '';
  if (typeof prefix !== 'string' || prefix.includes('/') || prefix.includes('\0') || prefix.includes(path.sep)) {
    throw new AtomfsError('EINVAL', 'prefix must be a string without path separators or NUL', { operation, path: given });
  }
  return path.join(path.dirname(abs), tempNameFor(path.basename(abs), randomHex(cryptoRandom), prefix));
}

/**
 * Whether a file name (or path: only its last part is read) is an atomfs temp name.
 *
 * @param name - A name or path.
 * @returns `true` for names matching `.<anything>.<16 lowercase hex>.tmp`.
 * @throws Never.
 * @example
 * ```ts
 * isTempFile('.a.json.0123456789abcdef.tmp'); // true
 * isTempFile('a.json'); // false
 * ```
 */
export function isTempFile(name: string): boolean {
  return typeof name === 'string' && TEMP_NAME_RE.test(path.basename(name));
}
