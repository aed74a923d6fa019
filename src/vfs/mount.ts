/**
 * The mount interface of the virtual file system: seed 003's seven methods (create, read,
 * write, delete, list, stat, truncate), plus optional capabilities a mount advertises in
 * `capabilities` and implements as extra methods.
 *
 * A mount receives *validated, mount-relative* paths (`/` is the mount's root, `/a/b` an
 * entry; never `.`, `..`, empty segments or a trailing `/`) and throws errors whose `code`
 * is a Node error code (`ENOENT`, `EEXIST`, …; atomfs' own mounts throw `AtomfsError`s with
 * the mount-relative path). Only the `VirtualFileSystem` knows where a mount is mounted, so
 * only it turns those into `AtomfsError`s carrying the caller's virtual paths.
 *
 * @module
 */
import { AtomfsError } from '../errors.js';
import { isRevoked, textOf } from '../internal/paths.js';
import type { FenceToken } from '../lock/store.js';

/**
 * What a mount can do beyond the seven methods:
 * - `'rename'`: it has {@link VirtualMount.rename}, an atomic rename of files and whole
 *   folders. Without it the VFS renames by copy and delete, with rollback.
 * - `'metadata'`: it has {@link VirtualMount.setMetadata}, so a copy can keep the
 *   modification time and mode of what it copies.
 * - `'atomicWrite'`: it has {@link VirtualMount.writeFile}, which creates or replaces a
 *   file's whole content in one atomic step (a database transaction), so `vfs.writeFile`
 *   needs no temp entry beside the file.
 * - `'fence'`: its `writeFile`, `rename` and `delete` take a `fence` (a lock store's
 *   {@link FenceToken}) and refuse the change, inside the change's own transaction, when a
 *   newer token has been handed out for that lock (`ESTALE`).
 * - `'handles'`: it has {@link VirtualMount.openHandle}, so `vfs.open` handles are the
 *   mount's own: their writes are staged and published at `close()` in one step (a
 *   database transaction), never seen in part by anyone else.
 * - `'conditionalWrite'`: its `rename` (and its `writeFile`, with `'atomicWrite'`) take a
 *   {@link WriteCondition} on the destination (`ifMatch`, `ifNoneMatch`) and check it
 *   atomically with the change, also against other processes that share the storage: a
 *   mismatch changes nothing and fails with `ECANCELED` (`ifMatch`: another version),
 *   `ENOENT` (`ifMatch`: nothing there) or `EEXIST` (`ifNoneMatch`), reason
 *   `'precondition'`. Its `stat` reports a `version`. Without it, `vfs.writeFile` refuses
 *   a condition (`ENOTSUP`): a check that is not atomic would not be one.
 */
export type MountCapability = 'rename' | 'metadata' | 'atomicWrite' | 'fence' | 'handles' | 'conditionalWrite';

/** What {@link VirtualMount.stat} reports. */
export interface VStat {
  /** A file or a folder (a mount has no other kinds). */
  readonly kind: 'file' | 'dir';
  /** Bytes, for a file. For a folder the value is mount-specific and means nothing. */
  readonly size: number;
  /** Last modification, in milliseconds since the epoch. */
  readonly mtimeMs: number;
  /** Permission bits (`0o644`), when the mount keeps them. */
  readonly mode?: number | undefined;
  /**
   * An opaque string that changes with every change of the entry (content, metadata, or
   * for a folder its list of names; an entry renamed onto the name, or removed and made
   * again, has another), when the mount keeps one. Compare it for equality only, and only
   * with versions of the same path on the same mount: what it is made of is the mount's
   * business. Give it back as `ifMatch` to write only if nothing changed meanwhile.
   */
  readonly version?: string | undefined;
}

/**
 * A condition on the entry a write or rename replaces, checked atomically with the change
 * by mounts with the `'conditionalWrite'` capability (HTTP's and S3's `If-Match` and
 * `If-None-Match: *`). Give at most one.
 */
export interface WriteCondition {
  /**
   * Change only if the entry is still at this {@link VStat.version}. Otherwise nothing
   * changes and the call fails with `ECANCELED` (another version) or `ENOENT` (nothing is
   * there any more), reason `'precondition'`.
   */
  readonly ifMatch?: string | undefined;
  /** `'*'`: change only if nothing is there; otherwise `EEXIST`, reason `'precondition'`, nothing changed. */
  readonly ifNoneMatch?: '*' | undefined;
}

/** Options of {@link VirtualMount.rename}. `ifMatch`/`ifNoneMatch` are conditions on the destination (mounts with `'conditionalWrite'`). */
export interface MountRenameOptions extends WriteCondition {
  /**
   * Replace an existing destination (POSIX `rename(2)`). Default `true`. With `false` an
   * existing destination fails with `EEXIST`, checked atomically with the rename by mounts
   * that other processes share (a database); the VFS passes its `overwrite` here.
   */
  readonly replace?: boolean | undefined;
  /** Reject the rename (`ESTALE`, nothing changed) when a newer token than this one has been handed out (mounts with the `'fence'` capability). */
  readonly fence?: FenceToken | undefined;
}

/** Options of {@link VirtualMount.delete}. */
export interface DeleteOptions {
  /** Reject the removal (`ESTALE`, nothing changed) when a newer token than this one has been handed out (mounts with the `'fence'` capability). */
  readonly fence?: FenceToken | undefined;
}

/** Options of {@link VirtualMount.writeFile}. `ifMatch`/`ifNoneMatch`: see {@link WriteCondition} (mounts with `'conditionalWrite'`). */
export interface AtomicWriteOptions extends WriteCondition {
  /** Permission bits for a new file (an existing file keeps its own unless given). */
  readonly mode?: number | undefined;
  /** Reject the write (`ESTALE`, nothing written) when a newer token than this one has been handed out (mounts with the `'fence'` capability). */
  readonly fence?: FenceToken | undefined;
}

/** How {@link VirtualMount.openHandle} opens a file (the VFS has made sure it is a file, or, with `create`, that there is none). */
export interface MountOpenOptions {
  /** The handle reads. */
  readonly read: boolean;
  /** The handle writes. */
  readonly write: boolean;
  /** The content starts empty (`w` flags): the old content stays visible to others until `close()`. */
  readonly truncate: boolean;
  /**
   * There is no file at the path (its folder exists): the handle creates it at `close()`,
   * in the step that publishes its content, so nobody sees the file before, and a writer
   * that dies leaves nothing at the path. A file that another client made there meanwhile
   * is replaced (or, with `exclusive`, fails the close with `EEXIST`).
   */
  readonly create?: boolean;
  /** With `create` (`x` flags): a file made at the path before `close()` fails it with `EEXIST`. */
  readonly exclusive?: boolean;
}

/**
 * A file opened by {@link VirtualMount.openHandle}. The VFS calls one method at a time and
 * never after `close()`.
 */
export interface MountHandle {
  /** Up to `length` bytes from `offset` (the handle's own writes included). */
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Writes at `offset` (at the handle's end for `'end'`); resolves with the position after the bytes. */
  write(data: Uint8Array, offset: number | 'end'): Promise<number>;
  /** The file's {@link VStat}, with the size the handle sees. */
  stat(): Promise<VStat>;
  /** Publishes what was written (all of it, or none of it on failure) and releases the handle. */
  close(): Promise<void>;
  /** Releases the handle and publishes nothing it wrote (never throws: what it staged is cleaned up now or when its lease ends). */
  discard(): Promise<void>;
}

/** Options of {@link VirtualMount.create}. */
export interface CreateOptions {
  /** Create a folder (`true`) or an empty file (`false`). */
  readonly dir: boolean;
  /** Permission bits for the new entry, when the mount keeps them. */
  readonly mode?: number | undefined;
}

/** Options of {@link VirtualMount.read}. */
export interface ReadOptions {
  /** First byte to read. Default 0. */
  readonly offset?: number | undefined;
  /** Most bytes to read. Default: to the end of the file. */
  readonly length?: number | undefined;
}

/** Options of {@link VirtualMount.write}. */
export interface WriteOptions {
  /** Where the data goes. Default 0. Past the end, the gap reads as zero bytes. */
  readonly offset?: number | undefined;
}

/** Metadata {@link VirtualMount.setMetadata} sets; absent fields are left alone. */
export interface MetadataUpdate {
  /** The modification time to set, in milliseconds since the epoch. */
  readonly mtimeMs?: number | undefined;
  /** The permission bits to set (`0o644`). */
  readonly mode?: number | undefined;
}

/**
 * A storage backend of the virtual file system. Every method is async and takes
 * mount-relative paths (see the module comment). Errors carry Node's codes:
 *
 * | method | succeeds when | fails with |
 * | --- | --- | --- |
 * | `create(p, {dir})` | nothing is at `p` and its parent is a folder | `EEXIST`, `ENOENT` (parent missing), `ENOTDIR` (parent is a file) |
 * | `read(p, {offset, length})` | `p` is a file | `ENOENT`, `EISDIR` |
 * | `write(p, data, {offset})` | `p` is a file (never creates; never shortens) | `ENOENT`, `EISDIR` |
 * | `delete(p)` | `p` is a file or an empty folder | `ENOENT`, `ENOTEMPTY`, `EBUSY` (the mount's root) |
 * | `list(p)` | `p` is a folder: its names, in no particular order | `ENOENT`, `ENOTDIR` |
 * | `stat(p)` | `p` exists | `ENOENT`, `ENOTDIR` (a parent is a file) |
 * | `truncate(p, size)` | `p` is a file; longer reads as zero bytes | `ENOENT`, `EISDIR` |
 * | `rename(a, b)` | as POSIX `rename(2)`: replaces a file `b`, or an empty folder `b` when `a` is a folder | `ENOENT`, `EINVAL`, `EISDIR`, `ENOTDIR`, `ENOTEMPTY`; with a {@link WriteCondition} on `b`: `ECANCELED`, `ENOENT`, `EEXIST` |
 * | `setMetadata(p, m)` | `p` exists | `ENOENT` |
 * | `writeFile(p, data)` | `p` is a file or absent, its parent a folder | `ENOENT`, `ENOTDIR`, `EISDIR` |
 *
 * A read-only mount fails every change with `EROFS` and sets `readOnly`, so the VFS can
 * report `EROFS` in its fixed rule order without trying.
 *
 * @example
 * ```ts
 * const mount: VirtualMount = new MemoryMount();
 * await mount.create('/notes', { dir: true });
 * await mount.create('/notes/a.txt', { dir: false });
 * await mount.write('/notes/a.txt', new TextEncoder().encode('hi'));
 * if (mount.capabilities.has('rename')) await mount.rename?.('/notes/a.txt', '/notes/b.txt');
 * ```
 */
export interface VirtualMount {
  /** What the mount can do beyond the seven methods. */
  readonly capabilities: ReadonlySet<MountCapability>;
  /** Names compare case-insensitively (they keep their spelling). Default `false`. */
  readonly caseInsensitive?: boolean | undefined;
  /** Every change fails with `EROFS`. Default `false`. */
  readonly readOnly?: boolean | undefined;

  /** Creates an empty file or a folder where nothing is; its parent must be a folder. */
  create(path: string, options: CreateOptions): Promise<void>;
  /** Reads a file's bytes, from `offset` for at most `length`. */
  read(path: string, options?: ReadOptions): Promise<Uint8Array>;
  /** Writes bytes into an existing file at `offset`: never creates it, never shortens it. */
  write(path: string, data: Uint8Array, options?: WriteOptions): Promise<void>;
  /** Removes a file or an empty folder (refused with `ESTALE` when its `fence` is stale, on mounts with `'fence'`). */
  delete(path: string, options?: DeleteOptions): Promise<void>;
  /** The names in a folder, in no particular order. */
  list(path: string): Promise<string[]>;
  /** What is at `path`: its kind, size, time and, where kept, mode and version. */
  stat(path: string): Promise<VStat>;
  /** Sets a file's size: cuts it, or extends it with zero bytes. */
  truncate(path: string, size: number): Promise<void>;
  /** Present when `capabilities` has `'rename'`: an atomic rename (files and folders). */
  rename?(oldPath: string, newPath: string, options?: MountRenameOptions): Promise<void>;
  /**
   * Present when `capabilities` has `'atomicWrite'`: creates `path` (its parent must be a
   * folder) or replaces a file's whole content, in one atomic step.
   */
  writeFile?(path: string, data: Uint8Array, options?: AtomicWriteOptions): Promise<void>;
  /** Present when `capabilities` has `'metadata'`. */
  setMetadata?(path: string, update: MetadataUpdate): Promise<void>;
  /** Present when `capabilities` has `'handles'`: a handle on the file at `path` (or, with `create`, on a file made at `close()`) whose writes are staged until its `close()`. */
  openHandle?(path: string, options: MountOpenOptions): Promise<MountHandle>;
}

/** A mount that has the rename capability. @internal */
export type RenamingMount = VirtualMount & { rename(oldPath: string, newPath: string, options?: MountRenameOptions): Promise<void> };

/** Whether a mount advertises, and has, a native rename. @internal */
export function hasRename(m: VirtualMount): m is RenamingMount {
  return m.capabilities.has('rename') && typeof m.rename === 'function';
}

/** Whether a mount advertises, and has, an atomic whole-file write. @internal */
export function hasAtomicWrite(m: VirtualMount): m is VirtualMount & { writeFile(path: string, data: Uint8Array, options?: AtomicWriteOptions): Promise<void> } {
  return m.capabilities.has('atomicWrite') && typeof m.writeFile === 'function';
}

/** Whether a mount advertises, and has, its own handles. @internal */
export function hasHandles(m: VirtualMount): m is VirtualMount & { openHandle(path: string, options: MountOpenOptions): Promise<MountHandle> } {
  return m.capabilities.has('handles') && typeof m.openHandle === 'function';
}

/** Whether a mount advertises conditional writes (and has a call that can carry one). @internal */
export function hasConditional(m: VirtualMount): boolean {
  return m.capabilities.has('conditionalWrite') && (hasRename(m) || hasAtomicWrite(m));
}

/** Whether a mount advertises, and has, `setMetadata`. @internal */
export function hasMetadata(m: VirtualMount): m is VirtualMount & { setMetadata(path: string, update: MetadataUpdate): Promise<void> } {
  return m.capabilities.has('metadata') && typeof m.setMetadata === 'function';
}

const MOUNT_METHODS = ['create', 'read', 'write', 'delete', 'list', 'stat', 'truncate'] as const;

/** Whether `v` looks like a {@link VirtualMount} (the seven methods and a capability set). @internal */
export function isVirtualMount(v: unknown): v is VirtualMount {
  if (typeof v !== 'object' || v === null || isRevoked(v)) return false;
  const m = v as Record<string, unknown>;
  const caps = m['capabilities'] as { has?: unknown } | undefined;
  return MOUNT_METHODS.every((k) => typeof m[k] === 'function') && typeof caps?.has === 'function';
}

/**
 * The error a mount throws: an {@link AtomfsError} (operation `mount`) with Node's `code`,
 * `syscall` and the mount-relative `path` (the VFS replaces it with the caller's virtual
 * path). A mount used directly fails as every atomfs call does.
 * @internal
 */
export function mountError(code: string, syscall: string, path: string, cause?: unknown): AtomfsError {
  return new AtomfsError(code, undefined, { operation: 'mount', path, syscall }, cause === undefined ? {} : { cause });
}

/** The code of a caught error, if it has one (one helper for all of atomfs). @internal */
export { codeOf } from '../errors.js';

/**
 * Validates a mount-relative path for a mount used directly (without a VFS): a string in
 * normal form. A `..` segment is `EACCES` (it could only lead out); anything else not in
 * normal form is `EINVAL`. @internal
 */
export function checkMountPath(p: unknown, syscall: string): string {
  if (typeof p !== 'string' || p.includes('\0')) throw mountError('EINVAL', syscall, textOf(p));
  if (!p.startsWith('/')) throw mountError('EINVAL', syscall, p);
  if (p === '/') return p;
  const segs = p.slice(1).split('/');
  if (segs.includes('..')) throw mountError('EACCES', syscall, p);
  if (segs.some((s) => s === '' || s === '.')) throw mountError('EINVAL', syscall, p);
  return p;
}

// The arguments of a mount used directly (the VFS validates its own before it calls one):
// bad input is EINVAL before anything is touched, as everywhere in atomfs. @internal
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !isRevoked(v);
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isMode = (v: unknown): boolean => v === undefined || (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0o7777);

/** Validates {@link CreateOptions}. @internal */
export function checkCreateOptions(o: unknown, path: unknown): CreateOptions {
  if (!isObj(o) || typeof o['dir'] !== 'boolean' || !isMode(o['mode'])) throw mountError('EINVAL', 'open', textOf(path));
  return o as unknown as CreateOptions;
}

/** Validates {@link ReadOptions}: offset and length whole numbers >= 0. @internal */
export function checkReadOptions(o: unknown, path: unknown): ReadOptions {
  if (o === undefined) return {};
  if (!isObj(o) || (o['offset'] !== undefined && !isCount(o['offset'])) || (o['length'] !== undefined && !isCount(o['length']))) throw mountError('EINVAL', 'read', textOf(path));
  return o as ReadOptions;
}

/** Validates a write's data (a Uint8Array) and {@link WriteOptions}. @internal */
export function checkWriteArgs(data: unknown, o: unknown, path: unknown): WriteOptions {
  if (isRevoked(data) || !(data instanceof Uint8Array)) throw mountError('EINVAL', 'write', textOf(path));
  if (o === undefined) return {};
  if (!isObj(o) || (o['offset'] !== undefined && !isCount(o['offset']))) throw mountError('EINVAL', 'write', textOf(path));
  return o as WriteOptions;
}

/** Whether `v` is a {@link FenceToken}. @internal */
export function isFenceToken(v: unknown): v is FenceToken {
  if (!isObj(v)) return false;
  const t = v['token'];
  return typeof v['store'] === 'string' && typeof v['namespace'] === 'string' && typeof v['name'] === 'string' && typeof t === 'number' && Number.isSafeInteger(t) && t > 0;
}

/** Validates a mount call's `fence` option: absent, or a {@link FenceToken}. @internal */
export function checkFence(o: unknown, syscall: string, path: string): FenceToken | undefined {
  if (o === undefined) return undefined;
  if (!isObj(o)) throw mountError('EINVAL', syscall, path);
  const f = o['fence'];
  if (f === undefined) return undefined;
  if (!isFenceToken(f)) throw mountError('EINVAL', syscall, path);
  return f;
}

/** Validates a truncate's size: a whole number >= 0. @internal */
export function checkSize(size: unknown, path: unknown): number {
  if (!isCount(size)) throw mountError('EINVAL', 'truncate', textOf(path));
  return size;
}

/** Validates a {@link MetadataUpdate}: a finite mtime, a mode of permission bits. @internal */
export function checkUpdate(u: unknown, path: unknown): MetadataUpdate {
  const t = isObj(u) ? u['mtimeMs'] : undefined;
  if (!isObj(u) || (t !== undefined && (typeof t !== 'number' || !Number.isFinite(t))) || !isMode(u['mode'])) throw mountError('EINVAL', 'utimes', textOf(path));
  return u as MetadataUpdate;
}


// A version is an opaque token a mount made; a bound keeps a hostile one from costing much.
const VERSION_MAX = 1024;

/** Whether `v` may be an `ifMatch` version: a non-empty string without NUL, at most 1,024 characters. @internal */
export function isVersion(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= VERSION_MAX && !v.includes('\0');
}

/**
 * Validates a {@link WriteCondition} inside a mount call's options: `ifMatch` a version
 * string, `ifNoneMatch` `'*'`, not both; `EINVAL` otherwise (before anything is touched).
 * @internal
 */
export function checkCondition(o: unknown, syscall: string, path: string): WriteCondition {
  if (o === undefined) return {};
  if (!isObj(o)) throw mountError('EINVAL', syscall, path);
  const m = o['ifMatch'];
  const n = o['ifNoneMatch'];
  if (m !== undefined && !isVersion(m)) throw mountError('EINVAL', syscall, path);
  if (n !== undefined && n !== '*') throw mountError('EINVAL', syscall, path);
  if (m !== undefined && n !== undefined) throw mountError('EINVAL', syscall, path);
  return m !== undefined ? { ifMatch: m } : n !== undefined ? { ifNoneMatch: '*' } : {};
}

/** Whether a condition asks for anything. @internal */
export function isConditional(c: WriteCondition): boolean {
  return c.ifMatch !== undefined || c.ifNoneMatch !== undefined;
}

/**
 * Checks a condition against what is at the destination now (`undefined`: nothing, else its
 * version), throwing the documented code with reason `'precondition'` on a mismatch. The
 * caller makes this check and its change one atomic step. @internal
 */
export function checkPrecondition(c: WriteCondition, current: { version?: string | undefined } | undefined, syscall: string, path: string): void {
  if (c.ifNoneMatch !== undefined && current !== undefined) throw preconditionError('EEXIST', syscall, path, 'ifNoneMatch: an entry exists');
  if (c.ifMatch === undefined) return;
  if (current === undefined) throw preconditionError('ENOENT', syscall, path, 'ifMatch: no entry is there any more');
  if (current.version !== c.ifMatch) throw preconditionError('ECANCELED', syscall, path, 'ifMatch: the entry changed (its version is not the one given)');
}

/** A failed precondition: the code, reason `'precondition'`, operation `mount`. @internal */
export function preconditionError(code: 'EEXIST' | 'ENOENT' | 'ECANCELED', syscall: string, path: string, detail: string): AtomfsError {
  return new AtomfsError(code, detail, { operation: 'mount', path, syscall }, { reason: 'precondition' });
}
