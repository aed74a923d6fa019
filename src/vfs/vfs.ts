/**
 * VirtualFileSystem: an instance-owned mount table, path resolution by longest mount
 * prefix, open-handle tracking and the one place where rename rules are checked and
 * mount errors become `AtomfsError`s with the caller's virtual paths.
 *
 * @module
 */
import { attachSuppressed, type AtomfsError, type AtomfsErrorCode, type ErrorContext } from '../errors.js';
import { throwIfAborted } from '../internal/abort.js';
import { madeHere } from '../internal/made.js';
import { describe, textOf } from '../internal/paths.js';
import { boolOpt, checkOptionsObject, encodingOpt, intOpt, resolveBase } from '../options.js';
import { pathBackend, stagedBackend, VirtualFileHandle, type CallIn, type HandleBackend } from './file-handle.js';
import { checkPrecondition, codeOf, hasAtomicWrite, hasConditional, hasHandles, hasRename, isConditional, isVirtualMount } from './mount.js';
import type { VirtualMount, VStat } from './mount.js';
import { CopyRenameFailure, renameByCopy } from './rename-copy.js';
import { MountTable, type Resolved } from './mount-table.js';
import { translate, vErr } from './vfs-errors.js';
import { writeInPlaceOrByTemp } from './vfs-write.js';
import { asBuffer, conditionOpt, fenceOpt, FLAGS, MKDIR_SET, MOUNT_SET, READ_SET, REMOVE_SET, RENAME_SET, toBytes, WRITE_SET } from './vfs-options.js';
import type { MountOptions, VfsMkdirOptions, VfsOpenFlags, VfsRemoveOptions, VfsRenameOptions, VfsWriteFileOptions } from './vfs-options.js';
import { ROOT, isAtOrUnder, isStrictlyUnder, joinPath, normalizeVirtual, parentOf, samePath, segments } from './vpath.js';

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
  readonly #table = new MountTable();
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
    if (this.#table.get(p) !== undefined) throw vErr('EBUSY', 'a mount is already there', { operation, path: prefix });
    this.#table.add({ prefix: p, mount, readOnly, ci: mount.caseInsensitive === true });
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
    const entry = this.#table.get(p);
    if (entry === undefined) throw vErr('EINVAL', 'nothing is mounted there', { operation, path: prefix });
    const inUse = [...this.#handles.values(), ...this.#busy].some((r) => r.entry === entry);
    if (inUse) throw vErr('EBUSY', 'a file on this mount is open or being renamed', { operation, path: prefix });
    this.#table.remove(p);
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
    const r = this.#table.resolve(p);
    const skeleton: VStat = { kind: 'dir', size: 0, mtimeMs: 0 };
    if (r === undefined) {
      if (this.#table.isSkeleton(p)) return skeleton;
      throw vErr('ENOENT', undefined, ctx);
    }
    try {
      return await r.entry.mount.stat(r.rel);
    } catch (e) {
      // A folder the mount lacks but a nested mount point lies under: it exists virtually.
      if (codeOf(e) === 'ENOENT' && this.#table.isSkeleton(p)) return skeleton;
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
    const r = this.#table.resolve(p);
    const names = new Set<string>();
    if (r !== undefined) {
      try {
        for (const n of await r.entry.mount.list(r.rel)) names.add(n);
      } catch (e) {
        if (!(codeOf(e) === 'ENOENT' && this.#table.isSkeleton(p))) throw translate(e, ctx);
      }
    } else if (!this.#table.isSkeleton(p)) throw vErr('ENOENT', undefined, ctx);
    for (const m of this.#table.mountsUnder(p)) names.add(segments(m)[segments(p).length]!);
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
      r = this.#table.needForCreate(p, ctx, 'EEXIST');
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
    const r = this.#table.need(p, ctx, 'EISDIR');
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
    const r = this.#table.needForCreate(p, ctx, 'EISDIR');
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
    await writeInPlaceOrByTemp(m, r.rel, bytes, { existing, mode, cond, random, signal, ctx }, (fn, c) => this.#call(fn, c));
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
    const r = this.#table.need(p, ctx, 'EBUSY');
    this.#writable(r, ctx);
    const fence = fenceOpt(operation, o, r.entry.mount, ctx);
    if (r.rel === ROOT || this.#table.isSkeleton(p)) throw vErr('EBUSY', 'a mount point', ctx);
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
    const r = this.#table.need(p, ctx, 'EISDIR');
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
    const r = f.create ? this.#table.needForCreate(p, ctx, 'EISDIR') : this.#table.need(p, ctx, 'EISDIR');
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
    const forget = (): void => {
      if (handle !== undefined) this.#handles.delete(handle);
    };
    const call: CallIn = (fn, c) => this.#call(fn, c);
    let backend: HandleBackend;
    if (hasHandles(m)) {
      // The mount's own handle: its writes are staged and published at close, and the old
      // content (a `w` flag's truncation included) stays what everyone else sees until then;
      // a file it creates appears only then.
      const how = st === undefined ? { read: f.read, write: f.write, truncate: true, create: true, exclusive: f.excl } : { read: f.read, write: f.write, truncate: f.trunc };
      const mh = await this.#call(() => m.openHandle(r.rel, how), ctx);
      backend = stagedBackend(mh, path, call, forget);
    } else backend = pathBackend(m, r.rel, path, call, forget);
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
    const fence = fenceOpt(operation, o, this.#table.resolve(a)?.entry.mount, ctx);

    // 1. The source exists.
    const src = this.#table.resolve(a);
    if (src === undefined) throw fail(this.#table.isSkeleton(a) ? 'EBUSY' : 'ENOENT', this.#table.isSkeleton(a) ? 'the source holds mount points' : undefined);
    const srcStat = await this.#call(() => src.entry.mount.stat(src.rel), ctx, true);
    // 2. One mount (or allowCrossMount).
    const dst = this.#table.resolve(b);
    const sameMount = dst !== undefined && dst.entry === src.entry;
    if (!sameMount && !allowCrossMount) throw fail('EXDEV');
    // 3. Writable mounts. The skeleton of folders above mount points stores nothing.
    if (dst === undefined) throw fail(this.#table.isSkeleton(b) ? 'EBUSY' : 'EROFS', 'no mount holds the destination');
    if (src.entry.readOnly || dst.entry.readOnly) throw fail('EROFS');
    // 4. Nothing under the source open (or being renamed).
    if (this.#busyAt(src, true)) throw fail('EBUSY', 'the source or a file under it is open or being renamed');
    // 5. Mount points stay where they are.
    if (src.rel === ROOT || this.#table.isSkeleton(a)) throw fail('EBUSY', 'the source is or holds a mount point');
    if (dst.rel === ROOT || this.#table.isSkeleton(b)) throw fail('EBUSY', 'the destination is or holds a mount point');
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
