/**
 * What the VFS's calls take: their option types, the open flags, and the checks of
 * options and data that run before anything is touched.
 *
 * @module
 */
import { AtomfsError, type ErrorContext } from '../errors.js';
import { describe, textOf } from '../internal/paths.js';
import { BASE_NAMES, optionNames } from '../options.js';
import type { FenceToken } from '../lock/store.js';
import { isFenceToken, isVersion, type VirtualMount, type WriteCondition } from './mount.js';
import { vErr } from './vfs-errors.js';

/** Options of {@link VirtualFileSystem.mount}. */
export interface MountOptions {
  /** Refuse every change under this mount with `EROFS`. Default `false`. */
  readonly readOnly?: boolean | undefined;
}

/** What a `fence` option takes: a {@link Lock} (only an exclusive lock of a lock store carries a token). */
export interface Fenced {
  /** The lock's fencing token and the store that issued it; `undefined` for file locks and shared locks (refused as a fence). */
  readonly fence: FenceToken | undefined;
}

/** Options of {@link VirtualFileSystem.rename}. */
export interface VfsRenameOptions {
  /**
   * Replace an existing destination (a file by a file, an empty folder by a folder).
   * Default `false`: an existing destination fails with `EEXIST`.
   */
  readonly overwrite?: boolean | undefined;
  /**
   * Allow a rename between two mounts, done by copy and delete. It is NOT atomic: the
   * destination fills up while it runs (on a destination mount with native rename it
   * appears at once, but the source disappears afterwards). A failure rolls back. Default
   * `false`: `EXDEV`.
   */
  readonly allowCrossMount?: boolean | undefined;
  /**
   * Cancels a copy-and-delete rename between steps; what was done is rolled back and the
   * call rejects with `ABORT_ERR`. A native rename is one step: checked before it.
   */
  readonly signal?: AbortSignal | undefined;
  /**
   * As {@link VfsWriteFileOptions.fence}: the rename is refused with `ESTALE` (nothing
   * changed) when a newer token was handed out. Only within one mount with the `'fence'`
   * capability (else `ENOTSUP`).
   */
  readonly fence?: Fenced | undefined;
}

/** Options of {@link VirtualFileSystem.writeFile}. */
export interface VfsWriteFileOptions {
  /** Permission bits of the file (mounts that keep modes). Default: the replaced file's, else the mount's default. */
  readonly mode?: number | undefined;
  /** How to encode a string. Default `'utf8'`. */
  readonly encoding?: BufferEncoding | undefined;
  /** Cancels the write before the final rename (`ABORT_ERR`; the temp file is removed). */
  readonly signal?: AbortSignal | undefined;
  /**
   * A held exclusive lock of a lock store (`lock(name, { store: postgresLocks(…) })`): the
   * mount refuses the write with `ESTALE` (nothing written), inside the write's own
   * transaction, when a newer token has been handed out for that lock since, so a holder
   * that paused past its lease cannot overwrite its successor's work. Mounts without the
   * `'fence'` capability refuse the option (`ENOTSUP`).
   */
  readonly fence?: Fenced | undefined;
  /**
   * Write only if the file is still at this version (a `version` from {@link VirtualFileSystem.stat}):
   * a compare-and-swap. The check and the write are one atomic step on every atomfs mount
   * (a `MemoryMount` in-process; a `LocalMount` under the file's atomfs lock, so across
   * processes; a `PostgresMount` in the write's own transaction). Otherwise nothing is
   * written and the call fails with `ECANCELED` (the file changed since) or `ENOENT` (it is
   * gone), both with `reason: 'precondition'`: read it again and retry. Not with
   * `ifNoneMatch`. Mounts without the `'conditionalWrite'` capability refuse it (`ENOTSUP`).
   */
  readonly ifMatch?: string | undefined;
  /**
   * `'*'`: create the file only if nothing is there (checked atomically as `ifMatch`);
   * otherwise `EEXIST` with `reason: 'precondition'`, nothing written. Not with `ifMatch`.
   */
  readonly ifNoneMatch?: '*' | undefined;
}

/** Options of {@link VirtualFileSystem.remove}. */
export interface VfsRemoveOptions {
  /** As {@link VfsWriteFileOptions.fence}: the removal is refused with `ESTALE` when a newer token was handed out. */
  readonly fence?: Fenced | undefined;
}

/** Options of {@link VirtualFileSystem.mkdir}. */
export interface VfsMkdirOptions {
  /** Create missing parents too, and succeed if the folder exists. Default `false`. */
  readonly recursive?: boolean | undefined;
  /** Permission bits of new folders (mounts that keep modes). */
  readonly mode?: number | undefined;
}

/**
 * How {@link VirtualFileSystem.open} opens a file, as Node's flags: `r` read; `r+` read and
 * write; `w` write, created or emptied; `wx` as `w` but the file must not exist; `a`
 * append, created if missing; `ax` as `a` but must not exist; a `+` adds reading.
 */
export type VfsOpenFlags = 'r' | 'r+' | 'w' | 'w+' | 'wx' | 'wx+' | 'a' | 'a+' | 'ax' | 'ax+';

/** What an open flag means. @internal */
export interface ParsedFlags {
  readonly read: boolean;
  readonly write: boolean;
  readonly create: boolean;
  readonly excl: boolean;
  readonly trunc: boolean;
  readonly append: boolean;
}

/** The open flags, parsed. @internal */
export const FLAGS: Readonly<Record<VfsOpenFlags, ParsedFlags>> = {
  r: { read: true, write: false, create: false, excl: false, trunc: false, append: false },
  'r+': { read: true, write: true, create: false, excl: false, trunc: false, append: false },
  w: { read: false, write: true, create: true, excl: false, trunc: true, append: false },
  'w+': { read: true, write: true, create: true, excl: false, trunc: true, append: false },
  wx: { read: false, write: true, create: true, excl: true, trunc: true, append: false },
  'wx+': { read: true, write: true, create: true, excl: true, trunc: true, append: false },
  a: { read: false, write: true, create: true, excl: false, trunc: false, append: true },
  'a+': { read: true, write: true, create: true, excl: false, trunc: false, append: true },
  ax: { read: false, write: true, create: true, excl: true, trunc: false, append: true },
  'ax+': { read: true, write: true, create: true, excl: true, trunc: false, append: true },
};

export const MOUNT_SET = optionNames(['readOnly']);
export const MKDIR_SET = optionNames(['recursive', 'mode']);
export const READ_SET = optionNames(['encoding']);
// resolveBase reads the base options too (a test's seam gives the temp names).
export const WRITE_SET = optionNames(BASE_NAMES, ['mode', 'encoding', 'fence', 'ifMatch', 'ifNoneMatch']);
export const RENAME_SET = optionNames(['overwrite', 'allowCrossMount', 'signal', 'fence']);
export const REMOVE_SET = optionNames(['fence']);

/**
 * The `fence` option: a held exclusive lock of a lock store (anything with a `fence`
 * token). Refused at once (nothing touched) when it carries no token, or when the mount
 * cannot check one: a safety option is never dropped silently. @internal
 */
export function fenceOpt(operation: string, o: Readonly<Record<string, unknown>>, m: VirtualMount | undefined, ctx: ErrorContext): FenceToken | undefined {
  const v = o['fence'];
  if (v === undefined) return undefined;
  const f = typeof v === 'object' && v !== null ? (v as { fence?: unknown }).fence : undefined;
  if (!isFenceToken(f)) {
    throw new AtomfsError('EINVAL', 'fence must be a held exclusive lock of a lock store (lock(name, { store })); file locks and shared locks carry no fence', { operation, path: ctx.path });
  }
  if ((v as { released?: unknown }).released === true) throw new AtomfsError('EINVAL', 'fence: the lock was released', { operation, path: ctx.path });
  if (m !== undefined && !m.capabilities.has('fence')) throw vErr('ENOTSUP', 'this mount cannot check a fence', ctx);
  return f;
}

/** The `ifMatch` / `ifNoneMatch` options: a version string or `'*'`, at most one of them (`EINVAL` otherwise). @internal */
export function conditionOpt(operation: string, o: Readonly<Record<string, unknown>>, path: string): WriteCondition {
  const m = o['ifMatch'];
  const n = o['ifNoneMatch'];
  if (m !== undefined && !isVersion(m)) throw vErr('EINVAL', `ifMatch must be a version string from stat() (1 to 1024 characters, no NUL), got ${describe(m)}`, { operation, path });
  if (n !== undefined && n !== '*') throw vErr('EINVAL', `ifNoneMatch must be '*', got ${textOf(n)}`, { operation, path });
  if (m !== undefined && n !== undefined) throw vErr('EINVAL', 'give ifMatch or ifNoneMatch, not both', { operation, path });
  return m !== undefined ? { ifMatch: m } : n !== undefined ? { ifNoneMatch: '*' } : {};
}

/** What a caller may write (a string in `encoding`, or bytes), as bytes; EINVAL otherwise. @internal */
export function toBytes(operation: string, data: unknown, encoding: BufferEncoding, path: string): Uint8Array {
  if (typeof data === 'string') return Buffer.from(data, encoding);
  if (data instanceof Uint8Array) return data;
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw vErr('EINVAL', `data must be a string or a Uint8Array, got ${describe(data)}`, { operation, path });
}

/** The same bytes as a Buffer, not copied. @internal */
export const asBuffer = (u: Uint8Array): Buffer => Buffer.from(u.buffer, u.byteOffset, u.byteLength);
