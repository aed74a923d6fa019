/**
 * VirtualFileSystem: an instance-owned mount table, path resolution by longest mount
 * prefix, open-handle tracking and the one place where rename rules are checked and
 * mount errors become `AtomfsError`s with the caller's virtual paths.
 *
 * @module
 */
import { AtomfsError, attachSuppressed, toAtomfsError, type AtomfsErrorCode, type ErrorContext } from '../errors.js';
import { throwIfAborted } from '../internal/abort.js';
import { describe, textOf } from '../internal/paths.js';
import { BASE_NAMES, boolOpt, checkOptionsObject, encodingOpt, intOpt, optionNames, resolveBase } from '../options.js';
import {
  checkPrecondition,
  codeOf,
  hasAtomicWrite,
  hasConditional,
  hasHandles,
  hasMetadata,
  hasRename,
  isConditional,
  isFenceToken,
  isVersion,
  isVirtualMount,
  type VirtualMount,
  type VStat,
  type WriteCondition,
} from './mount.js';
import type { FenceToken } from '../lock/store.js';
import { CopyRenameFailure, createTemp, renameByCopy } from './rename-copy.js';
import {
  ROOT,
  isAtOrUnder,
  isStrictlyUnder,
  joinPath,
  normalizeVirtual,
  parentOf,
  relativeTo,
  samePath,
  segments,
} from './vpath.js';
import { assertMade, madeHere } from '../internal/made.js';

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

interface ParsedFlags {
  readonly read: boolean;
  readonly write: boolean;
  readonly create: boolean;
  readonly excl: boolean;
  readonly trunc: boolean;
  readonly append: boolean;
}

const FLAGS: Readonly<Record<VfsOpenFlags, ParsedFlags>> = {
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

interface MountEntry {
  readonly prefix: string;
  readonly mount: VirtualMount;
  readonly readOnly: boolean;
  readonly ci: boolean;
}

interface Resolved {
  readonly entry: MountEntry;
  readonly rel: string;
}

/** The part of the VFS a handle talks to. @internal */
export interface HandleBackend {
  read(offset: number, length: number): Promise<Uint8Array>;
  write(data: Uint8Array, offset: number | 'end'): Promise<number>;
  stat(): Promise<VStat>;
  close(): Promise<void>;
  /** Closes without publishing (a mount's own handles); absent where writes are already in place. */
  discard?(): Promise<void>;
}

const DEFAULT_READ = 64 * 1024;

// Errors the VFS itself made (already in the caller's terms): never wrapped again.
const own = new WeakSet<AtomfsError>();

const MOUNT_SET = optionNames(['readOnly']);
const MKDIR_SET = optionNames(['recursive', 'mode']);
const READ_SET = optionNames(['encoding']);
// resolveBase reads the base options too (a test's seam gives the temp names).
const WRITE_SET = optionNames(BASE_NAMES, ['mode', 'encoding', 'fence', 'ifMatch', 'ifNoneMatch']);
const RENAME_SET = optionNames(['overwrite', 'allowCrossMount', 'signal', 'fence']);
const REMOVE_SET = optionNames(['fence']);

/**
 * The `fence` option: a held exclusive lock of a lock store (anything with a `fence`
 * token). Refused at once (nothing touched) when it carries no token, or when the mount
 * cannot check one: a safety option is never dropped silently.
 */
function fenceOpt(operation: string, o: Readonly<Record<string, unknown>>, m: VirtualMount | undefined, ctx: ErrorContext): FenceToken | undefined {
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

/** The `ifMatch` / `ifNoneMatch` options: a version string or `'*'`, at most one of them (`EINVAL` otherwise). */
function conditionOpt(operation: string, o: Readonly<Record<string, unknown>>, path: string): WriteCondition {
  const m = o['ifMatch'];
  const n = o['ifNoneMatch'];
  if (m !== undefined && !isVersion(m)) throw vErr('EINVAL', `ifMatch must be a version string from stat() (1 to 1024 characters, no NUL), got ${describe(m)}`, { operation, path });
  if (n !== undefined && n !== '*') throw vErr('EINVAL', `ifNoneMatch must be '*', got ${textOf(n)}`, { operation, path });
  if (m !== undefined && n !== undefined) throw vErr('EINVAL', 'give ifMatch or ifNoneMatch, not both', { operation, path });
  return m !== undefined ? { ifMatch: m } : n !== undefined ? { ifNoneMatch: '*' } : {};
}

function vErr(code: AtomfsErrorCode, detail: string | undefined, ctx: ErrorContext, cause?: unknown): AtomfsError {
  const e = new AtomfsError(code, detail, ctx, cause === undefined ? {} : { cause });
  own.add(e);
  return e;
}

/**
 * A mount's error in the caller's terms: same code, the caller's virtual path(s), the
 * mount's error as `cause`. With `force`, the syscall is the context's (rename reports
 * `rename` whichever mount call found the problem).
 */
function translate(e: unknown, ctx: ErrorContext, force = false): AtomfsError {
  if (e instanceof AtomfsError && own.has(e)) return e;
  const s = (e as { syscall?: unknown } | null)?.syscall;
  const syscall = force || typeof s !== 'string' ? ctx.syscall : s;
  let out: AtomfsError;
  // An abort keeps the signal's reason as its cause, as everywhere in atomfs.
  if (e instanceof AtomfsError && e.code === 'ABORT_ERR') out = new AtomfsError('ABORT_ERR', undefined, { ...ctx, syscall }, { cause: e.cause });
  else if (e instanceof AtomfsError) out = new AtomfsError(e.code, undefined, { ...ctx, syscall }, e.reason === undefined ? { cause: e } : { cause: e, reason: e.reason });
  else out = toAtomfsError(e, { ...ctx, syscall });
  own.add(out);
  return out;
}

function toBytes(operation: string, data: unknown, encoding: BufferEncoding, path: string): Uint8Array {
  if (typeof data === 'string') return Buffer.from(data, encoding);
  if (data instanceof Uint8Array) return data;
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw vErr('EINVAL', `data must be a string or a Uint8Array, got ${describe(data)}`, { operation, path });
}

const asBuffer = (u: Uint8Array): Buffer => Buffer.from(u.buffer, u.byteOffset, u.byteLength);

/**
 * A virtual file system: mounts (`MemoryMount`, `LocalMount`, `ReadOnlyMount` or your own
 * `VirtualMount`) at virtual prefixes, one API over all of them, and a checked rename.
 *
 * Each instance owns its mount table: nothing is global and importing atomfs does nothing.
 * A path goes to the mount with the longest prefix that contains it. Virtual paths are
 * absolute and POSIX-style; `.` and `..` are resolved by spelling and a trailing `/` is
 * ignored. Every error is an `AtomfsError` with the caller's paths, never a mount's own.
 *
 * @remarks
 * **Rename rules**, checked in this order, each with its code: source missing (`ENOENT`,
 * `ENOTDIR` through a file); another mount (`EXDEV`, unless `allowCrossMount`); a read-only
 * mount (`EROFS`); the source or anything under it open, or being renamed (`EBUSY`); the
 * source or destination is or holds a mount point (`EBUSY`); the destination's parent
 * missing (`ENOENT`) or a file (`ENOTDIR`); the same path: a no-op (a case-only rename on a
 * case-insensitive mount proceeds); destination exists (`EEXIST`, unless `overwrite`); a
 * folder into its own subtree (`EINVAL`); a file onto a folder (`EISDIR`), a folder onto a
 * file (`ENOTDIR`), onto a non-empty folder (`ENOTEMPTY`); an open file replaced (`EBUSY`).
 * A mount with the `rename` capability then renames natively (atomic, O(1) in
 * `MemoryMount`); otherwise the rename is a copy and delete that rolls back on failure.
 *
 * @example
 * ```ts
 * const vfs = new VirtualFileSystem();
 * vfs.mount('/mem', new MemoryMount());
 * vfs.mount('/disk', new LocalMount('/srv/data'));
 * await vfs.mkdir('/mem/a');
 * await vfs.writeFile('/mem/a/f.txt', 'hello');
 * await vfs.rename('/mem/a', '/mem/b');                                  // native, O(1)
 * await vfs.rename('/mem/b', '/disk/b', { allowCrossMount: true });      // copy + delete
 * ```
 */
export class VirtualFileSystem {
  readonly #mounts = new Map<string, MountEntry>();
  readonly #handles = new Map<VirtualFileHandle, Resolved>();
  // Trees a copy-and-delete rename is working on: other changes there are refused.
  readonly #busy = new Set<Resolved>();
  // Renames run one at a time, so two copy-renames cannot both pass their checks.
  #renameTail: Promise<void> = Promise.resolve();

  /**
   * Mounts `mount` at `prefix`. A prefix may sit inside another mount (it then hides
   * whatever that mount has there).
   *
   * @param prefix - An absolute virtual path, e.g. `/data`.
   * @param mount - Any {@link VirtualMount}.
   * @param options - `readOnly` (default `false`).
   * @throws `EINVAL` for a bad prefix, mount or option; `EBUSY` when something is already mounted there.
   * @example
   * ```ts
   * vfs.mount('/cache', new MemoryMount(), { readOnly: false });
   * ```
   */
  mount(prefix: string, mount: VirtualMount, options: MountOptions = {}): void {
    const operation = 'vfs.mount';
    const p = normalizeVirtual(operation, prefix, 'prefix');
    if (!isVirtualMount(mount)) throw vErr('EINVAL', `mount must be a VirtualMount, got ${describe(mount)}`, { operation, path: prefix });
    const o = checkOptionsObject(operation, options, prefix, MOUNT_SET);
    const readOnly = boolOpt(operation, o, 'readOnly', false, prefix) || mount.readOnly === true;
    if (this.#mounts.has(p)) throw vErr('EBUSY', 'a mount is already there', { operation, path: prefix });
    this.#mounts.set(p, { prefix: p, mount, readOnly, ci: mount.caseInsensitive === true });
  }

  /**
   * Removes the mount at `prefix` (the mount object itself is untouched).
   *
   * @param prefix - Where it was mounted.
   * @throws `EINVAL` when nothing is mounted there; `EBUSY` while a file on it is open or a rename is running on it.
   * @example
   * ```ts
   * vfs.unmount('/cache');
   * ```
   */
  unmount(prefix: string): void {
    const operation = 'vfs.unmount';
    const p = normalizeVirtual(operation, prefix, 'prefix');
    const entry = this.#mounts.get(p);
    if (entry === undefined) throw vErr('EINVAL', 'nothing is mounted there', { operation, path: prefix });
    const inUse = [...this.#handles.values(), ...this.#busy].some((r) => r.entry === entry);
    if (inUse) throw vErr('EBUSY', 'a file on this mount is open or being renamed', { operation, path: prefix });
    this.#mounts.delete(p);
  }

  /** The mount holding `p` (longest prefix) and the path inside it; undefined when none does. */
  #resolve(p: string): Resolved | undefined {
    for (let cur = p; ; cur = parentOf(cur)) {
      const entry = this.#mounts.get(cur);
      if (entry !== undefined) return { entry, rel: relativeTo(cur, p) };
      if (cur === ROOT) return undefined;
    }
  }

  /** Mount prefixes strictly under `p`. */
  #mountsUnder(p: string): string[] {
    return [...this.#mounts.keys()].filter((m) => isStrictlyUnder(p, m));
  }

  /** Whether `p` is on no mount but above one: a folder of the (read-only) skeleton of mount points. */
  #isSkeleton(p: string): boolean {
    return this.#mountsUnder(p).length > 0;
  }

  /** Whether an open handle (`handles`) or a running copy-rename touches the tree at `r`. */
  #busyAt(r: Resolved, handles: boolean): boolean {
    if (handles) {
      for (const h of this.#handles.values()) if (h.entry === r.entry && isAtOrUnder(r.rel, h.rel, r.entry.ci)) return true;
    }
    for (const b of this.#busy) {
      if (b.entry === r.entry && (isAtOrUnder(b.rel, r.rel, r.entry.ci) || isAtOrUnder(r.rel, b.rel, r.entry.ci))) return true;
    }
    return false;
  }

  /** Resolves a path that must be on a mount: ENOENT (or `skeleton`'s code above mounts) otherwise. */
  #need(p: string, ctx: ErrorContext, skeleton: AtomfsErrorCode): Resolved {
    const r = this.#resolve(p);
    if (r !== undefined) return r;
    if (this.#isSkeleton(p)) throw vErr(skeleton, undefined, ctx);
    throw vErr('ENOENT', undefined, ctx);
  }

  /**
   * Resolves a path where something will be created. On no mount: `skeleton` for a folder
   * above mount points, EROFS just below one (nothing can be stored there), else ENOENT.
   */
  #needForCreate(p: string, ctx: ErrorContext, skeleton: AtomfsErrorCode): Resolved {
    const r = this.#resolve(p);
    if (r !== undefined) return r;
    if (this.#isSkeleton(p)) throw vErr(skeleton, undefined, ctx);
    if (p !== ROOT && (this.#isSkeleton(parentOf(p)) || parentOf(p) === ROOT)) throw vErr('EROFS', 'no mount holds this path', ctx);
    throw vErr('ENOENT', undefined, ctx);
  }

  #writable(r: Resolved, ctx: ErrorContext): void {
    if (r.entry.readOnly) throw vErr('EROFS', undefined, ctx);
  }

  async #call<T>(fn: () => Promise<T>, ctx: ErrorContext, force = false): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw translate(e, ctx, force);
    }
  }

  async #statOrUndefined(r: Resolved, ctx: ErrorContext, force = false): Promise<VStat | undefined> {
    try {
      return await r.entry.mount.stat(r.rel);
    } catch (e) {
      if (codeOf(e) === 'ENOENT') return undefined;
      throw translate(e, ctx, force);
    }
  }

  /**
   * What is at `path`: `kind` (`'file'` or `'dir'`), `size`, `mtimeMs`, `mode`, and the
   * `version` a conditional write can name (`ifMatch`; every atomfs mount reports one). A
   * folder above mount points that no mount holds is reported as an empty-time folder
   * (without a version).
   *
   * @param path - A virtual path.
   * @returns The entry's {@link VStat}.
   * @throws `ENOENT`, `ENOTDIR` (through a file), `EACCES` (a `LocalMount` symlink leading out), `EINVAL` (bad path).
   * @example
   * ```ts
   * const st = await vfs.stat('/mem/a');
   * if (st.kind === 'dir') console.log('folder');
   * ```
   */
  async stat(path: string): Promise<VStat> {
    const operation = 'vfs.stat';
    const p = normalizeVirtual(operation, path);
    const ctx: ErrorContext = { operation, path, syscall: 'stat' };
    const r = this.#resolve(p);
    const skeleton: VStat = { kind: 'dir', size: 0, mtimeMs: 0 };
    if (r === undefined) {
      if (this.#isSkeleton(p)) return skeleton;
      throw vErr('ENOENT', undefined, ctx);
    }
    try {
      return await r.entry.mount.stat(r.rel);
    } catch (e) {
      // A folder the mount lacks but a nested mount point lies under: it exists virtually.
      if (codeOf(e) === 'ENOENT' && this.#isSkeleton(p)) return skeleton;
      throw translate(e, ctx);
    }
  }

  /**
   * The names in a folder, sorted, including mount points directly inside it.
   *
   * @param path - A virtual folder.
   * @returns Names (not paths).
   * @throws `ENOENT`, `ENOTDIR`, `EACCES`, `EINVAL`.
   * @example
   * ```ts
   * for (const name of await vfs.list('/mem')) console.log(name);
   * ```
   */
  async list(path: string): Promise<string[]> {
    const operation = 'vfs.list';
    const p = normalizeVirtual(operation, path);
    const ctx: ErrorContext = { operation, path, syscall: 'scandir' };
    const r = this.#resolve(p);
    const names = new Set<string>();
    if (r !== undefined) {
      try {
        for (const n of await r.entry.mount.list(r.rel)) names.add(n);
      } catch (e) {
        if (!(codeOf(e) === 'ENOENT' && this.#isSkeleton(p))) throw translate(e, ctx);
      }
    } else if (!this.#isSkeleton(p)) throw vErr('ENOENT', undefined, ctx);
    for (const m of this.#mountsUnder(p)) names.add(segments(m)[segments(p).length]!);
    return [...names].sort();
  }

  /**
   * Creates a folder.
   *
   * @param path - A virtual path.
   * @param options - `recursive` (create parents; no error if it exists), `mode`.
   * @throws `EEXIST`, `ENOENT` (parent missing), `ENOTDIR`, `EROFS`, `EACCES`, `EINVAL`.
   * @example
   * ```ts
   * await vfs.mkdir('/mem/a/b/c', { recursive: true });
   * ```
   */
  async mkdir(path: string, options: VfsMkdirOptions = {}): Promise<void> {
    const operation = 'vfs.mkdir';
    const p = normalizeVirtual(operation, path);
    const o = checkOptionsObject(operation, options, path, MKDIR_SET);
    const recursive = boolOpt(operation, o, 'recursive', false, path);
    const mode = o['mode'] === undefined ? undefined : intOpt(operation, o, 'mode', 0, path, 0o7777);
    const ctx: ErrorContext = { operation, path, syscall: 'mkdir' };
    let r: Resolved;
    try {
      r = this.#needForCreate(p, ctx, 'EEXIST');
    } catch (e) {
      if (recursive && codeOf(e) === 'EEXIST') return;
      throw e;
    }
    if (r.rel === ROOT) {
      if (recursive) return;
      throw vErr('EEXIST', undefined, ctx);
    }
    this.#writable(r, ctx);
    const m = r.entry.mount;
    if (!recursive) {
      await this.#call(() => m.create(r.rel, { dir: true, mode }), ctx);
      return;
    }
    let cur = ROOT;
    for (const seg of segments(r.rel)) {
      cur = joinPath(cur, seg);
      const here = cur;
      const st = await this.#statOrUndefined({ entry: r.entry, rel: here }, ctx);
      if (st?.kind === 'dir') continue;
      if (st?.kind === 'file') throw vErr(here === r.rel ? 'EEXIST' : 'ENOTDIR', undefined, ctx);
      try {
        await m.create(here, { dir: true, mode });
      } catch (e) {
        // Someone made it meanwhile: fine if it is a folder.
        if (codeOf(e) !== 'EEXIST' || (await this.#statOrUndefined({ entry: r.entry, rel: here }, ctx))?.kind !== 'dir') {
          throw translate(e, ctx);
        }
      }
    }
  }

  /**
   * Reads a whole file as bytes.
   *
   * @param path - A virtual path.
   * @returns The bytes (a Buffer).
   * @throws `ENOENT`, `EISDIR`, `EACCES`, `EINVAL`.
   * @example
   * ```ts
   * const bytes = await vfs.readFile('/mem/a.bin');
   * ```
   */
  async readFile(path: string): Promise<Buffer>;
  /**
   * Reads a whole file as text.
   *
   * @param path - A virtual path.
   * @param options - `encoding` of the text.
   * @returns The text.
   * @throws `ENOENT`, `EISDIR`, `EACCES`, `EINVAL`.
   * @example
   * ```ts
   * const text = await vfs.readFile('/mem/a.txt', { encoding: 'utf8' });
   * ```
   */
  async readFile(path: string, options: { readonly encoding: BufferEncoding }): Promise<string>;
  /**
   * Reads a whole file.
   *
   * @param path - A virtual path.
   * @param options - `encoding` to get a string.
   * @returns The bytes (a Buffer), or a string with `encoding`.
   * @throws `ENOENT`, `EISDIR`, `EACCES`, `EINVAL`.
   */
  async readFile(path: string, options?: { readonly encoding?: BufferEncoding | undefined }): Promise<Buffer | string>;
  async readFile(path: string, options: { readonly encoding?: BufferEncoding | undefined } = {}): Promise<Buffer | string> {
    const operation = 'vfs.readFile';
    const p = normalizeVirtual(operation, path);
    const o = checkOptionsObject(operation, options, path, READ_SET);
    const encoding = encodingOpt(operation, o, undefined, path);
    const ctx: ErrorContext = { operation, path, syscall: 'read' };
    const r = this.#need(p, ctx, 'EISDIR');
    const bytes = asBuffer(await this.#call(() => r.entry.mount.read(r.rel), ctx));
    return encoding === undefined ? bytes : bytes.toString(encoding);
  }

  /**
   * Replaces a file's content atomically: the data goes to a temp file beside it
   * (`.<name>.<16 hex>.tmp`), which a native rename then puts in place, so a reader sees
   * the old content or the new, never a mix. On a `LocalMount` the rename is durable.
   *
   * @remarks
   * On a mount without the `rename` capability there is no atomic way to replace a file:
   * the file is then emptied and rewritten in place (not atomic).
   *
   * @param path - A virtual path; its folder must exist.
   * @param data - A string (encoded with `encoding`) or bytes.
   * @param options - `mode`, `encoding`, `signal`, `fence`, `ifMatch` / `ifNoneMatch` (a conditional write, see {@link VfsWriteFileOptions}).
   * @throws `ENOENT` (folder missing; with `ifMatch`, the file is gone), `EISDIR`, `ENOTDIR`, `EROFS`, `EBUSY` (the file is open or being renamed), `EACCES`, `EINVAL`, `ABORT_ERR`,
   * `ECANCELED` (`ifMatch`: the file is at another version; nothing written), `EEXIST` (`ifNoneMatch`: the file exists; nothing written),
   * `ESTALE` (fenced), `ENOTSUP` (a fence or a condition the mount cannot check).
   * @example
   * ```ts
   * await vfs.writeFile('/disk/config.json', JSON.stringify(config));
   * // Compare-and-swap: retry on ECANCELED.
   * const { version } = await vfs.stat('/disk/n');
   * const n = Number(await vfs.readFile('/disk/n', { encoding: 'utf8' }));
   * await vfs.writeFile('/disk/n', String(n + 1), { ifMatch: version });
   * ```
   */
  async writeFile(path: string, data: string | Uint8Array, options: VfsWriteFileOptions = {}): Promise<void> {
    const operation = 'vfs.writeFile';
    const p = normalizeVirtual(operation, path);
    const o = checkOptionsObject(operation, options, path, WRITE_SET);
    const { signal, random } = resolveBase(operation, o, path);
    const mode = o['mode'] === undefined ? undefined : intOpt(operation, o, 'mode', 0, path, 0o7777);
    const encoding = encodingOpt(operation, o, 'utf8', path) ?? 'utf8';
    const bytes = toBytes(operation, data, encoding, path);
    const cond = conditionOpt(operation, o, path);
    const conditional = isConditional(cond);
    const ctx: ErrorContext = { operation, path, syscall: 'open' };
    throwIfAborted(signal, ctx);
    const r = this.#needForCreate(p, ctx, 'EISDIR');
    if (r.rel === ROOT) throw vErr('EISDIR', undefined, ctx);
    this.#writable(r, ctx);
    const fence = fenceOpt(operation, o, r.entry.mount, ctx);
    // As a fence: a condition the mount cannot check atomically is refused, never dropped.
    if (conditional && !hasConditional(r.entry.mount)) throw vErr('ENOTSUP', 'this mount cannot make a conditional write (no conditionalWrite capability)', ctx);
    if (this.#busyAt(r, true)) throw vErr('EBUSY', 'the file is open or being renamed', ctx);
    const m = r.entry.mount;
    if (hasAtomicWrite(m)) {
      // One step on the backend (a transaction): no temp entry another client could see,
      // and no look beforehand (the mount checks for a folder and the condition itself, in
      // that step; a look would cost a round trip to a database mount for nothing).
      await this.#call(() => m.writeFile(r.rel, bytes, { mode, ...(fence === undefined ? {} : { fence }), ...cond }), ctx);
      return;
    }
    if (fence !== undefined) throw vErr('ENOTSUP', 'this mount cannot check a fence', ctx);
    const existing = await this.#statOrUndefined(r, ctx);
    if (existing?.kind === 'dir') throw vErr('EISDIR', undefined, ctx);
    // A mismatch seen now fails before a temp file is made; the mount checks again, in the
    // same atomic step as the write, which is the check that counts.
    if (conditional) {
      try {
        checkPrecondition(cond, existing, 'open', r.rel);
      } catch (e) {
        throw translate(e, ctx);
      }
    }
    const keepMode = mode ?? existing?.mode;

    if (!hasRename(m)) {
      await this.#call(async () => {
        if (existing === undefined) await m.create(r.rel, { dir: false, mode });
        else await m.truncate(r.rel, 0);
        if (bytes.length > 0) await m.write(r.rel, bytes, { offset: 0 });
        if (mode !== undefined && hasMetadata(m)) await m.setMetadata(r.rel, { mode });
      }, ctx);
      return;
    }

    const tmp = await this.#call(() => createTemp(m, r.rel, { dir: false, mode: keepMode }, random, signal, ctx), ctx);
    try {
      if (bytes.length > 0) await m.write(tmp, bytes, { offset: 0 });
      // The mode is set explicitly too: `create` may apply a umask.
      if (keepMode !== undefined && hasMetadata(m)) await m.setMetadata(tmp, { mode: keepMode });
      // Last chance to cancel: after the rename the write has happened.
      throwIfAborted(signal, ctx);
      // A condition goes with the publishing rename, which checks it atomically.
      if (conditional) await m.rename(tmp, r.rel, cond);
      else await m.rename(tmp, r.rel);
    } catch (e) {
      const err = translate(e, ctx);
      let cleanup: unknown;
      try {
        await m.delete(tmp);
      } catch (c) {
        cleanup = c;
      }
      throw attachSuppressed(err, cleanup);
    }
  }

  /**
   * Removes a file or an empty folder.
   *
   * @param path - A virtual path.
   * @param options - `fence` (see {@link VfsRemoveOptions}).
   * @throws `ENOENT`, `ENOTEMPTY`, `EROFS`, `EBUSY` (open, being renamed, or a mount point), `EACCES`, `EINVAL`, `ESTALE` (fenced), `ENOTSUP` (a fence the mount cannot check).
   * @example
   * ```ts
   * await vfs.remove('/mem/old.txt');
   * ```
   */
  async remove(path: string, options: VfsRemoveOptions = {}): Promise<void> {
    const operation = 'vfs.remove';
    const p = normalizeVirtual(operation, path);
    const o = checkOptionsObject(operation, options, path, REMOVE_SET);
    const ctx: ErrorContext = { operation, path, syscall: 'unlink' };
    const r = this.#need(p, ctx, 'EBUSY');
    this.#writable(r, ctx);
    const fence = fenceOpt(operation, o, r.entry.mount, ctx);
    if (r.rel === ROOT || this.#isSkeleton(p)) throw vErr('EBUSY', 'a mount point', ctx);
    if (this.#busyAt(r, true)) throw vErr('EBUSY', 'open or being renamed', ctx);
    await this.#call(() => (fence === undefined ? r.entry.mount.delete(r.rel) : r.entry.mount.delete(r.rel, { fence })), ctx);
  }

  /**
   * Sets a file's length (longer: zero bytes).
   *
   * @param path - A virtual path.
   * @param size - The new length in bytes.
   * @throws `ENOENT`, `EISDIR`, `EROFS`, `EBUSY` (being renamed), `EACCES`, `EINVAL`.
   * @example
   * ```ts
   * await vfs.truncate('/mem/log.txt', 0);
   * ```
   */
  async truncate(path: string, size = 0): Promise<void> {
    const operation = 'vfs.truncate';
    const p = normalizeVirtual(operation, path);
    const ctx: ErrorContext = { operation, path, syscall: 'truncate' };
    if (!Number.isSafeInteger(size) || size < 0) throw vErr('EINVAL', `size must be a non-negative integer, got ${textOf(size)}`, ctx);
    const r = this.#need(p, ctx, 'EISDIR');
    this.#writable(r, ctx);
    if (this.#busyAt(r, false)) throw vErr('EBUSY', 'being renamed', ctx);
    await this.#call(() => r.entry.mount.truncate(r.rel, size), ctx);
  }

  /**
   * Opens a file and returns a handle the VFS tracks until it is closed: while it is
   * open, renaming or removing the file (or a folder above it) fails with `EBUSY`. On a
   * mount with the `'handles'` capability (PostgresMount) the writes are staged until
   * `close()`, and a file the open creates appears only then, with its content (`x` flags
   * check again at the close that no file was made there meanwhile).
   *
   * @param path - A virtual path.
   * @param flags - Node-style flags (default `'r'`), see {@link VfsOpenFlags}.
   * @returns A {@link VirtualFileHandle}.
   * @throws `ENOENT`, `EEXIST` (`x` flags), `EISDIR` (a folder), `EROFS` (writing on a read-only mount), `EBUSY` (being renamed), `EACCES`, `EINVAL`.
   * @example
   * ```ts
   * await using f = await vfs.open('/mem/log.txt', 'a');
   * await f.write('one line\n');
   * ```
   */
  async open(path: string, flags: VfsOpenFlags = 'r'): Promise<VirtualFileHandle> {
    const operation = 'vfs.open';
    const p = normalizeVirtual(operation, path);
    const ctx: ErrorContext = { operation, path, syscall: 'open' };
    const f = typeof flags === 'string' && Object.hasOwn(FLAGS, flags) ? FLAGS[flags] : undefined;
    if (f === undefined) throw vErr('EINVAL', `flags must be one of ${Object.keys(FLAGS).join(', ')}, got ${textOf(flags)}`, ctx);
    const r = f.create ? this.#needForCreate(p, ctx, 'EISDIR') : this.#need(p, ctx, 'EISDIR');
    if (f.write) this.#writable(r, ctx);
    if (this.#busyAt(r, false)) throw vErr('EBUSY', 'being renamed', ctx);
    const m = r.entry.mount;
    const st = await this.#statOrUndefined(r, ctx);
    if (st !== undefined && f.excl) throw vErr('EEXIST', undefined, ctx);
    if (st?.kind === 'dir' || r.rel === ROOT) throw vErr('EISDIR', undefined, ctx);
    if (st === undefined) {
      if (!f.create) throw vErr('ENOENT', undefined, ctx);
      // A mount with its own handles makes the file at close, with its content.
      if (!hasHandles(m)) await this.#call(() => m.create(r.rel, { dir: false }), ctx);
    } else if (f.trunc && st.size > 0 && !hasHandles(m)) {
      await this.#call(() => m.truncate(r.rel, 0), ctx);
    }
    let handle: VirtualFileHandle | undefined;
    if (hasHandles(m)) {
      // The mount's own handle: its writes are staged and published at close, and the old
      // content (a `w` flag's truncation included) stays what everyone else sees until then;
      // a file it creates appears only then.
      const how = st === undefined ? { read: f.read, write: f.write, truncate: true, create: true, exclusive: f.excl } : { read: f.read, write: f.write, truncate: f.trunc };
      const mh = await this.#call(() => m.openHandle(r.rel, how), ctx);
      const staged: HandleBackend = {
        read: (offset, length) => this.#call(() => mh.read(offset, length), { operation: 'vfs.read', path, syscall: 'read' }),
        write: (data, offset) => this.#call(() => mh.write(data, offset), { operation: 'vfs.write', path, syscall: 'write' }),
        stat: () => this.#call(() => mh.stat(), { operation: 'vfs.stat', path, syscall: 'fstat' }),
        close: async () => {
          if (handle !== undefined) this.#handles.delete(handle);
          await this.#call(() => mh.close(), { operation: 'vfs.close', path, syscall: 'close' });
        },
        discard: async () => {
          if (handle !== undefined) this.#handles.delete(handle);
          await mh.discard().catch(() => undefined);
        },
      };
      handle = new VirtualFileHandle(path, flags, f.read, f.write, f.append, madeHere(staged));
      this.#handles.set(handle, r);
      return handle;
    }
    const backend: HandleBackend = {
      read: (offset, length) => this.#call(() => m.read(r.rel, { offset, length }), { operation: 'vfs.read', path, syscall: 'read' }),
      write: async (data, offset) => {
        const wctx: ErrorContext = { operation: 'vfs.write', path, syscall: 'write' };
        const at = offset === 'end' ? (await this.#call(() => m.stat(r.rel), wctx)).size : offset;
        await this.#call(() => m.write(r.rel, data, { offset: at }), wctx);
        return at + data.length;
      },
      stat: () => this.#call(() => m.stat(r.rel), { operation: 'vfs.stat', path, syscall: 'fstat' }),
      close: async () => {
        if (handle !== undefined) this.#handles.delete(handle);
      },
    };
    handle = new VirtualFileHandle(path, flags, f.read, f.write, f.append, madeHere(backend));
    this.#handles.set(handle, r);
    return handle;
  }

  /**
   * Renames a file or a folder, checking seed 003's rules in a fixed order (see the class
   * remarks), each failure an `AtomfsError` with `path` = `oldPath` and `dest` = `newPath`.
   * A mount with native rename (the `rename` capability) does it atomically; otherwise,
   * and across mounts with `allowCrossMount`, it is a copy then delete that keeps
   * modification times and rolls back on failure: the source intact, no destination.
   *
   * @param oldPath - The virtual path to rename.
   * @param newPath - The new virtual path (its parent folder must exist).
   * @param options - `overwrite` (default `false`), `allowCrossMount` (default `false`), `signal`.
   * @throws `ENOENT`, `ENOTDIR`, `EXDEV`, `EROFS`, `EBUSY`, `EEXIST`, `EINVAL`, `EISDIR`, `ENOTEMPTY`, `EACCES`, `ABORT_ERR`;
   * after a failed rollback the error's non-enumerable `suppressed` holds the rollback's error.
   * @example
   * ```ts
   * await vfs.rename('/mem/draft.txt', '/mem/final.txt');
   * await vfs.rename('/mem/big', '/disk/big', { allowCrossMount: true, signal: AbortSignal.timeout(60_000) });
   * ```
   */
  async rename(oldPath: string, newPath: string, options: VfsRenameOptions = {}): Promise<void> {
    const prev = this.#renameTail;
    let release!: () => void;
    this.#renameTail = new Promise<void>((resolve) => (release = resolve));
    try {
      await prev;
      await this.#rename(oldPath, newPath, options);
    } finally {
      release();
    }
  }

  async #rename(oldPath: string, newPath: string, options: VfsRenameOptions): Promise<void> {
    const operation = 'vfs.rename';
    const a = normalizeVirtual(operation, oldPath, 'oldPath');
    const b = normalizeVirtual(operation, newPath, 'newPath');
    const o = checkOptionsObject(operation, options, oldPath, RENAME_SET);
    const overwrite = boolOpt(operation, o, 'overwrite', false, oldPath);
    const allowCrossMount = boolOpt(operation, o, 'allowCrossMount', false, oldPath);
    const { signal, random } = resolveBase(operation, o, oldPath);
    const ctx: ErrorContext = { operation, path: oldPath, dest: newPath, syscall: 'rename' };
    const fail = (code: AtomfsErrorCode, detail?: string): AtomfsError => vErr(code, detail, ctx);
    throwIfAborted(signal, ctx);
    const fence = fenceOpt(operation, o, this.#resolve(a)?.entry.mount, ctx);

    // 1. The source exists.
    const src = this.#resolve(a);
    if (src === undefined) throw fail(this.#isSkeleton(a) ? 'EBUSY' : 'ENOENT', this.#isSkeleton(a) ? 'the source holds mount points' : undefined);
    const srcStat = await this.#call(() => src.entry.mount.stat(src.rel), ctx, true);
    // 2. One mount (or allowCrossMount).
    const dst = this.#resolve(b);
    const sameMount = dst !== undefined && dst.entry === src.entry;
    if (!sameMount && !allowCrossMount) throw fail('EXDEV');
    // 3. Writable mounts. The skeleton of folders above mount points stores nothing.
    if (dst === undefined) throw fail(this.#isSkeleton(b) ? 'EBUSY' : 'EROFS', 'no mount holds the destination');
    if (src.entry.readOnly || dst.entry.readOnly) throw fail('EROFS');
    // 4. Nothing under the source open (or being renamed).
    if (this.#busyAt(src, true)) throw fail('EBUSY', 'the source or a file under it is open or being renamed');
    // 5. Mount points stay where they are.
    if (src.rel === ROOT || this.#isSkeleton(a)) throw fail('EBUSY', 'the source is or holds a mount point');
    if (dst.rel === ROOT || this.#isSkeleton(b)) throw fail('EBUSY', 'the destination is or holds a mount point');
    // 6. The destination's folder exists.
    const parent = await this.#call(() => dst.entry.mount.stat(parentOf(dst.rel)), ctx, true);
    if (parent.kind !== 'dir') throw fail('ENOTDIR');
    // 7. Same path: nothing to do. Same entry spelled differently: a case-only rename.
    if (sameMount && src.rel === dst.rel) return;
    const caseOnly = sameMount && src.entry.ci && samePath(src.rel, dst.rel, true);
    const dstStat = caseOnly ? undefined : await this.#statOrUndefined(dst, ctx, true);
    // 8. An existing destination needs overwrite.
    if (dstStat !== undefined && !overwrite) throw fail('EEXIST');
    // 9. Not a folder into itself.
    if (sameMount && srcStat.kind === 'dir' && isStrictlyUnder(src.rel, dst.rel, src.entry.ci)) throw fail('EINVAL');
    // 10. Kinds must agree; a replaced folder must be empty and a replaced file closed.
    if (dstStat !== undefined) {
      if (srcStat.kind === 'file' && dstStat.kind === 'dir') throw fail('EISDIR');
      if (srcStat.kind === 'dir' && dstStat.kind === 'file') throw fail('ENOTDIR');
      if (dstStat.kind === 'dir' && (await this.#call(() => dst.entry.mount.list(dst.rel), ctx, true)).length > 0) throw fail('ENOTEMPTY');
      if (this.#busyAt(dst, true)) throw fail('EBUSY', 'the destination is open');
    }
    throwIfAborted(signal, ctx);

    const m = src.entry.mount;
    if (fence !== undefined && !(sameMount && hasRename(m))) throw fail('ENOTSUP', 'a fenced rename must be one native rename within one mount');
    if (sameMount && hasRename(m)) {
      try {
        // A shared backend re-checks "no destination" inside its own transaction: another
        // client may have created it since the checks above.
        await m.rename(src.rel, dst.rel, fence === undefined ? { replace: overwrite } : { replace: overwrite, fence });
        return;
      } catch (e) {
        // EXDEV inside one mount (a LocalMount whose root holds another device): the
        // caller asked for a same-mount rename, so fall back to copying.
        if (codeOf(e) !== 'EXDEV' || fence !== undefined) throw translate(e, ctx, true);
      }
    }
    const regions: Resolved[] = [src, dst];
    for (const region of regions) this.#busy.add(region);
    try {
      await renameByCopy(
        { mount: m, rel: src.rel },
        { mount: dst.entry.mount, rel: dst.rel },
        { replace: dstStat, caseOnly, signal, ctx, random },
      );
    } catch (e) {
      if (!(e instanceof CopyRenameFailure)) throw translate(e, ctx, true);
      const err = translate(e.error, ctx, true);
      throw attachSuppressed(err, e.rollbackError);
    } finally {
      for (const region of regions) this.#busy.delete(region);
    }
  }
}

/**
 * An open file of a {@link VirtualFileSystem} (from `vfs.open`): sequential `read` and
 * `write` from a position, `close()` (safe twice) and `await using` support. While it is
 * open the VFS refuses to rename or remove the file (`EBUSY`).
 *
 * @example
 * ```ts
 * await using f = await vfs.open('/mem/data.bin', 'r');
 * for (let chunk = await f.read(); chunk.length > 0; chunk = await f.read()) use(chunk);
 * ```
 */
export class VirtualFileHandle {
  /** The caller's virtual path. */
  readonly path: string;
  /** The flags it was opened with. */
  readonly flags: VfsOpenFlags;
  readonly #canRead: boolean;
  readonly #canWrite: boolean;
  readonly #append: boolean;
  readonly #backend: HandleBackend;
  #position = 0;
  #closed = false;
  // One call at a time, so positions stay consistent when calls are not awaited in turn.
  #tail: Promise<unknown> = Promise.resolve();

  /** @internal Made by `vfs.open`. */
  constructor(path: string, flags: VfsOpenFlags, canRead: boolean, canWrite: boolean, append: boolean, backend: HandleBackend) {
    assertMade(backend, 'VirtualFileHandle', 'vfs.open()');
    this.path = path;
    this.flags = flags;
    this.#canRead = canRead;
    this.#canWrite = canWrite;
    this.#append = append;
    this.#backend = backend;
  }

  /** Where the next read or write happens (bytes from the start). */
  get position(): number {
    return this.#position;
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(fn, fn);
    this.#tail = run.catch(() => undefined);
    return run;
  }

  #check(operation: string, allowed: boolean): void {
    if (this.#closed) throw vErr('EBADF', 'the handle is closed', { operation, path: this.path });
    if (!allowed) throw vErr('EBADF', `not opened for ${operation === 'vfs.read' ? 'reading' : 'writing'} (flags '${this.flags}')`, { operation, path: this.path });
  }

  /**
   * Reads up to `length` bytes from the position and advances it.
   * @param length - Most bytes to read (default 64 KiB).
   * @returns The bytes; empty at the end of the file.
   * @throws `EBADF` (closed or write-only), `EINVAL` (bad length), `ENOENT`, `EACCES`.
   */
  read(length = DEFAULT_READ): Promise<Uint8Array> {
    return this.#serial(async () => {
      this.#check('vfs.read', this.#canRead);
      if (!Number.isSafeInteger(length) || length < 0) {
        throw vErr('EINVAL', `length must be a non-negative integer, got ${textOf(length)}`, { operation: 'vfs.read', path: this.path });
      }
      const bytes = await this.#backend.read(this.#position, length);
      this.#position += bytes.length;
      return bytes;
    });
  }

  /**
   * Writes at the position (at the end with an `a` flag) and advances it.
   * @param data - Bytes, or a string (UTF-8).
   * @returns The number of bytes written.
   * @throws `EBADF` (closed or read-only), `ENOENT`, `ENOSPC`, `EACCES`.
   */
  write(data: string | Uint8Array): Promise<number> {
    return this.#serial(async () => {
      this.#check('vfs.write', this.#canWrite);
      const bytes = toBytes('vfs.write', data, 'utf8', this.path);
      this.#position = await this.#backend.write(bytes, this.#append ? 'end' : this.#position);
      return bytes.length;
    });
  }

  /**
   * The file's current {@link VStat}.
   * @throws `EBADF` (closed), `ENOENT`.
   */
  stat(): Promise<VStat> {
    return this.#serial(async () => {
      this.#check('vfs.stat', true);
      return this.#backend.stat();
    });
  }

  /**
   * Stops tracking the file; on a mount with its own handles (the `'handles'` capability,
   * e.g. `PostgresMount`) this publishes what the handle wrote, all of it or none of it.
   * Safe to call twice.
   * @throws Only on a mount with its own handles: what publishing failed with (the handle is closed either way, and nothing it wrote was published).
   */
  close(): Promise<void> {
    return this.#serial(async () => {
      if (this.#closed) return;
      this.#closed = true;
      await this.#backend.close();
    });
  }

  /**
   * Closes the handle without publishing what it wrote, where that is possible: on a
   * mount with its own handles (the `'handles'` capability, e.g. `PostgresMount`) nothing
   * it wrote is published and a file the open would have created is not made. On other
   * mounts the writes are already in the file, and this is `close()`. For a writer that
   * gives up midway (an interrupt, a failed source). Safe to call twice; never throws on
   * a mount with its own handles.
   * @throws What `close()` throws, on mounts without their own handles.
   * @example
   * ```ts
   * const h = await vfs.open('/pg/upload.bin', 'w');
   * try {
   *   await h.write(new Uint8Array(1024));
   * } catch (e) {
   *   await h.discard(); // nothing of the upload is published
   *   throw e;
   * }
   * await h.close();
   * ```
   */
  discard(): Promise<void> {
    return this.#serial(async () => {
      if (this.#closed) return;
      this.#closed = true;
      await (this.#backend.discard ?? this.#backend.close).call(this.#backend);
    });
  }

  /** `await using` support: the same as `close()`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
