/**
 * LocalMount: a folder of the real file system as a mount, confined to its root.
 *
 * Confinement. A mount-relative path can hold no `..` (refused with `EACCES`), but a
 * symlink inside the root can still point out, and someone with access to the real folder
 * can swap a folder for such a symlink between our check and our use. Node has no
 * `openat()`, so each call pins the parent folder instead:
 *
 * 1. `realpath()` the parent (symlinks inside the root are fine) and refuse (`EACCES`)
 *    unless the result is inside the real root;
 * 2. open that folder (`O_DIRECTORY`) and ask the kernel where the descriptor really is
 *    (`readlink /proc/self/fd/N`): a swap after step 1 shows up here, and is refused;
 * 3. reach the entry as `/proc/self/fd/N/<name>`. The kernel resolves that through the
 *    open descriptor, so no later swap of any folder above can redirect it;
 * 4. never follow the final name by accident: entries are `lstat`ed and opened with
 *    `O_NOFOLLOW`; a symlink there is resolved with `realpath()` and followed only when it
 *    leads to a place inside the root (again pinned the same way); times are set through
 *    the open descriptor.
 *
 * Where there is no `/proc` (macOS, BSD) step 2 and 3 are skipped: a folder swapped in
 * the instant between the check and the use is then not detected (documented).
 *
 * Every call is made through the {@link FsOps} seam, never `node:fs`.
 *
 * @module
 */
import * as nodePath from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { NO_HARDLINKS, O, type AsyncFsOps, type FileStat, type FsOps } from '../internal/fs-ops.js';
import { lock } from '../lock/lock.js';
import { validateUserPath } from '../internal/paths.js';
import { boolOpt, checkOptionsObject, optionNames, resolveBase } from '../options.js';
import { cryptoRandom, randomHex, tempNameFor } from '../internal/temp-name.js';
import {
  checkCondition,
  checkCreateOptions,
  checkMountPath,
  checkPrecondition,
  checkReadOptions,
  checkSize,
  checkUpdate,
  checkWriteArgs,
  codeOf,
  isConditional,
  mountError,
  preconditionError,
  type CreateOptions,
  type MetadataUpdate,
  type MountCapability,
  type MountRenameOptions,
  type ReadOptions,
  type WriteCondition,
  type VirtualMount,
  type VStat,
  type WriteOptions,
} from './mount.js';
import { fold, segments } from './vpath.js';
import { AtomfsError } from '../errors.js';

/** Options of {@link LocalMount}. */
export interface LocalMountOptions {
  /** The file-system seam (default: the real `node:fs`). Replace it only to test. */
  readonly fs?: FsOps | undefined;
  /**
   * Make `rename` durable: flush a renamed file's data before the rename and both parent
   * folders after it (what makes `vfs.writeFile` crash-safe here). Default `true`.
   */
  readonly fsync?: boolean | undefined;
  /** Declare the folder's file system case-insensitive (macOS, Windows). Default `false`. */
  readonly caseInsensitive?: boolean | undefined;
  /**
   * Allow changes in place (`write`, `truncate`, `setMetadata`, a VFS handle opened `r+` or
   * `a`) to a file with more than one hard link. Default `false`: `EACCES`, for another name
   * of the file may lie outside the root, and a change through the mount would change it
   * there. (Replacing such a file, as `vfs.writeFile` does, is always allowed: it leaves
   * the other name alone.)
   */
  readonly allowHardLinks?: boolean | undefined;
}

const LOCAL_SET = optionNames(['fs', 'fsync', 'caseInsensitive', 'allowHardLinks']);

const CAPS: ReadonlySet<MountCapability> = new Set<MountCapability>(['rename', 'metadata', 'conditionalWrite']);
const CHUNK = 1 << 20;
// As the kernel's limit on nested symlinks (Linux follows at most 40).
const MAX_LINKS = 40;
// How long a conditional write waits for the file's lock (another conditional writer's
// check-and-publish: a few system calls and fsyncs) before ETIMEDOUT.
const COND_LOCK_TIMEOUT_MS = 30_000;
// Attempts, 1 ms apart, to move a conditional write's temp file past the replaced file's
// status-change time (see #advanceCtime): timestamps tick at the kernel's clock tick
// (a few ms at most), so a handful suffice; the bound keeps a clock stepped back from
// stalling the write (it then publishes without the advance).
const CTIME_TRIES = 200;

// Lock markers of atomfs' file locks, `.<name>.lock-<mode>-<pid>-<host>+<boot>-<start>-<order>`
// (src/lock/markers.ts): a conditional write takes the file's lock, and its markers are the
// lock's business, not entries of the folder. (A token file, `.<name>.lock-token`, is made
// only by a caller reading a lock's token, and kept on purpose: not hidden.)
const LOCK_MARKER_RE = /^\.(.+)\.lock-(?:exclusive|shared|queued)-\d+-[^-]+\+[^-]+-\d+-[0-9a-z]{9}[0-9a-f]{8}$/;

/**
 * A file's version on a real file system: device, inode, size, and modification and
 * status-change times (sub-microsecond as Node reports them).
 *
 * Why this is enough for `vfs.writeFile`: it never changes a file in place; it writes a new
 * temp file and renames it over, so the published file is another inode, whose ino differs
 * from the replaced one's, even for the same size within one timestamp tick. An inode
 * number can be reused once the replaced file is gone, though (A, then B, then A's number
 * again), with the same size in the same tick: that alone could make an old version match.
 * So a conditional write, which holds the file's lock, also makes its file's ctime later than
 * the ctime of the file it replaces (#advanceCtime) before publishing: along the writes that
 * take the lock, ctime only grows, and a version never comes back. What stays as coarse as
 * the timestamps: a file changed in place (a handle's `write`, `truncate`) twice in one tick
 * with the same size, and a folder's version (its mtime and size).
 */
function versionOf(st: FileStat): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs ?? ''}`;
}

/** A pinned folder: a path that reaches it (via /proc when possible), its descriptor and real path. */
interface PinnedDir {
  readonly path: string;
  readonly fd: number;
  readonly real: string;
}

/** A pinned entry: its folder, its name there, and its lstat. */
interface Located {
  readonly dir: PinnedDir;
  readonly name: string;
  readonly at: string;
  readonly st: FileStat;
}

// Errors this module made (already mount-relative); others get wrapped.
const ours = new WeakSet<object>();
function fail(code: string, syscall: string, rel: string, cause?: unknown): NodeJS.ErrnoException {
  const e = mountError(code, syscall, rel, cause);
  ours.add(e);
  return e;
}

/**
 * A {@link VirtualMount} over a real folder, with native (durable) `rename` through the
 * seam. No path can reach outside `root`: not by `..`, not by a symlink inside the root
 * pointing out (refused with `EACCES`), not by a folder swapped for such a symlink during
 * a call (see the module comment for how, and its one platform limit).
 *
 * @remarks
 * `write` at an offset inside a file (rare: streams append) costs a read of the bytes
 * before it, and shortening a file to a non-zero length rewrites it into a temp file that
 * replaces it atomically (new inode): the seam has no `pwrite` or `ftruncate`.
 *
 * @example
 * ```ts
 * const vfs = new VirtualFileSystem();
 * vfs.mount('/srv', new LocalMount('/var/lib/app/files'));
 * await vfs.writeFile('/srv/a.json', '{}'); // temp file + durable rename, inside the root
 * await vfs.readFile('/srv/../../etc/passwd'); // '/etc/passwd': on no mount, ENOENT
 * ```
 */
export class LocalMount implements VirtualMount {
  /** `rename` and `metadata`. */
  readonly capabilities: ReadonlySet<MountCapability> = CAPS;
  /** The root folder, absolute, as given. */
  readonly root: string;
  /** As declared in the options. */
  readonly caseInsensitive: boolean;
  readonly #sys: AsyncFsOps;
  readonly #ops: FsOps;
  readonly #fsync: boolean;
  readonly #allowHardLinks: boolean;
  #realRoot: string | undefined;
  #proc: boolean | undefined;

  /**
   * Does nothing on disk: the root is resolved at the first call.
   * @param root - The real folder to expose.
   * @param options - `fs` (seam), `fsync` (default `true`), `caseInsensitive`, `allowHardLinks`.
   * @throws {@link AtomfsError} `EINVAL` for a root that is not a non-empty path or an option of the wrong type.
   */
  constructor(root: string, options?: LocalMountOptions) {
    // As every entry point: bad input is EINVAL before anything is touched.
    const { given } = validateUserPath('LocalMount', root, 'root');
    const o = checkOptionsObject('LocalMount', options, given, LOCAL_SET);
    this.root = nodePath.resolve(given);
    this.#ops = resolveBase('LocalMount', o, given).ops;
    this.#sys = this.#ops.async;
    this.#fsync = boolOpt('LocalMount', o, 'fsync', true, given);
    this.caseInsensitive = boolOpt('LocalMount', o, 'caseInsensitive', false, given);
    this.#allowHardLinks = boolOpt('LocalMount', o, 'allowHardLinks', false, given);
  }

  // ---- confinement -------------------------------------------------------------------

  async #rootReal(): Promise<string> {
    // Resolved once: the root itself is the caller's choice and trusted; what is inside
    // it is not.
    this.#realRoot ??= await this.#sys.realpath(this.root);
    return this.#realRoot;
  }

  #inside(realRoot: string, p: string): boolean {
    if (p === realRoot) return true;
    const base = realRoot.endsWith(nodePath.sep) ? realRoot : realRoot + nodePath.sep;
    return p.startsWith(base);
  }

  // The mount-relative path of a real path inside the root.
  #relOf(realRoot: string, real: string): string {
    const r = nodePath.relative(realRoot, real);
    return r === '' ? '/' : '/' + r.split(nodePath.sep).join('/');
  }

  /** Opens the folder at mount-relative segments, pinned (steps 1–3 of the module comment). */
  async #pinDir(segs: readonly string[], syscall: string, rel: string): Promise<PinnedDir> {
    const realRoot = await this.#rootReal();
    const real = await this.#sys.realpath(nodePath.join(realRoot, ...segs));
    if (!this.#inside(realRoot, real)) throw fail('EACCES', syscall, rel);
    // O_NOFOLLOW: a canonical path never ends in a symlink, unless one was swapped in.
    const fd = await this.#sys.open(real, O.RDONLY | O.DIRECTORY | O.NOFOLLOW | O.CLOEXEC, 0);
    try {
      if (await this.#procWorks(fd)) {
        // Where the descriptor really is: a folder swapped for a symlink after realpath()
        // sends the open elsewhere, and this is where we notice.
        const where = await this.#sys.readlink(`/proc/self/fd/${fd}`);
        if (!this.#inside(realRoot, where)) throw fail('EACCES', syscall, rel);
        return { path: `/proc/self/fd/${fd}`, fd, real };
      }
      return { path: real, fd, real };
    } catch (e) {
      await this.#sys.close(fd).catch(() => undefined);
      throw e;
    }
  }

  async #procWorks(fd: number): Promise<boolean> {
    if (this.#proc !== undefined) return this.#proc;
    try {
      const where = await this.#sys.readlink(`/proc/self/fd/${fd}`);
      this.#proc = where.startsWith('/');
    } catch (e) {
      // Only a missing /proc means "no /proc"; any other failure is an error, not a
      // reason to drop the protection for the life of the mount.
      if (codeOf(e) !== 'ENOENT') throw e;
      this.#proc = false;
    }
    return this.#proc;
  }

  async #unpin(d: PinnedDir): Promise<void> {
    await this.#sys.close(d.fd).catch(() => undefined);
  }

  /** Runs `fn` with the pinned parent folder of `rel` and the entry's name. */
  async #withParent<T>(rel: string, syscall: string, fn: (dir: PinnedDir, name: string) => Promise<T>): Promise<T> {
    const segs = segments(rel);
    const name = segs.pop()!;
    const dir = await this.#pinDir(segs, syscall, rel);
    try {
      return await fn(dir, name);
    } finally {
      await this.#unpin(dir);
    }
  }

  /**
   * Runs `fn` on the entry at `rel` (lstat'ed in its pinned folder), following a final
   * symlink only when it leads inside the root. The root itself is pinned as its own
   * folder with name '.'.
   */
  async #locate<T>(rel: string, syscall: string, fn: (loc: Located) => Promise<T>, shown = rel, depth = 0): Promise<T> {
    if (depth > MAX_LINKS) throw fail('ELOOP', syscall, shown);
    const segs = segments(rel);
    const name = segs.length === 0 ? '.' : segs.pop()!;
    const dir = await this.#pinDir(segs, syscall, shown);
    let next: string | undefined;
    try {
      const at = `${dir.path}/${name}`;
      const st = await this.#sys.lstat(at);
      if (!st.isSymbolicLink()) return await fn({ dir, name, at, st });
      const realRoot = await this.#rootReal();
      const target = await this.#sys.realpath(at);
      if (!this.#inside(realRoot, target)) throw fail('EACCES', syscall, shown);
      next = this.#relOf(realRoot, target);
    } finally {
      await this.#unpin(dir);
    }
    return this.#locate(next, syscall, fn, shown, depth + 1);
  }

  /** Opens the located entry with O_NOFOLLOW; refuses kinds that could block an open (FIFOs, devices). */
  async #openAt<T>(loc: Located, flags: number, syscall: string, rel: string, fn: (fd: number, st: FileStat) => Promise<T>): Promise<T> {
    if (!loc.st.isFile() && !loc.st.isDirectory()) throw fail('EINVAL', syscall, rel);
    // A change in place to a file with another name, which may be outside the root: refused
    // (see allowHardLinks) before a byte or a bit of it changes, O_TRUNC's included, so asked
    // of the lstat before the open, and again of the open file (a link made in between).
    const guard = ((flags & (O.WRONLY | O.RDWR)) !== 0 || syscall === 'utimes') && !this.#allowHardLinks;
    if (guard && loc.st.isFile() && loc.st.nlink > 1) throw fail('EACCES', syscall, rel);
    const fd = await this.#sys.open(loc.at, flags | O.NOFOLLOW | O.CLOEXEC, 0);
    try {
      const st = await this.#sys.fstat(fd);
      // Not the entry we lstat'ed: something was put there in between. O_NOFOLLOW means it is
      // no symlink, and the pinned folder means it is in this folder, so another entry of the
      // same kind is what an atomic replace (a writer's temp file renamed over it, as every
      // vfs.writeFile does, in any process) leaves: a reader must see the new file then,
      // not fail. Another kind (a folder, a device) is refused rather than guessed at.
      if ((st.ino !== loc.st.ino || st.dev !== loc.st.dev) && !(st.isFile() && loc.st.isFile()) && !(st.isDirectory() && loc.st.isDirectory())) {
        throw fail('EACCES', syscall, rel);
      }
      if (guard && st.isFile() && st.nlink > 1) throw fail('EACCES', syscall, rel);
      return await fn(fd, st);
    } finally {
      await this.#sys.close(fd).catch(() => undefined);
    }
  }

  /** A path that reaches an open descriptor's file itself (for calls that take paths). */
  #fdPath(fd: number, loc: Located): string {
    return this.#proc ? `/proc/self/fd/${fd}` : loc.at;
  }

  async #run<T>(syscall: string, rel: unknown, fn: (rel: string) => Promise<T>): Promise<T> {
    const p = checkMountPath(rel, syscall);
    try {
      return await fn(p);
    } catch (e) {
      if (typeof e === 'object' && e !== null && ours.has(e)) throw e;
      // A failed condition keeps its reason (and is already mount-relative).
      if (e instanceof AtomfsError && e.reason === 'precondition') throw e;
      const s = (e as NodeJS.ErrnoException | null)?.syscall;
      throw fail(codeOf(e) ?? 'EIO', typeof s === 'string' ? s : syscall, p, e);
    }
  }

  // ---- the seven methods ---------------------------------------------------------------

  /** Creates an empty file (exclusively, never through a symlink) or a folder. @throws `EEXIST`, `ENOENT`, `ENOTDIR`, `EACCES` */
  async create(path: string, options: CreateOptions): Promise<void> {
    checkCreateOptions(options, path);
    const syscall = options.dir ? 'mkdir' : 'open';
    return this.#run(syscall, path, async (rel) => {
      if (rel === '/') throw fail('EEXIST', syscall, rel);
      await this.#withParent(rel, syscall, async (dir, name) => {
        const at = `${dir.path}/${name}`;
        if (options.dir) {
          await this.#sys.mkdir(at, options.mode ?? 0o777);
        } else {
          const fd = await this.#sys.open(at, O.WRONLY | O.CREAT | O.EXCL | O.NOFOLLOW | O.CLOEXEC, options.mode ?? 0o666);
          await this.#sys.close(fd);
        }
      });
    });
  }

  /** Reads a file. @throws `ENOENT`, `EISDIR`, `EACCES` */
  async read(path: string, opts?: ReadOptions): Promise<Uint8Array> {
    const options = checkReadOptions(opts, path);
    return this.#run('read', path, (rel) =>
      this.#locate(rel, 'read', (loc) => {
        if (loc.st.isDirectory()) throw fail('EISDIR', 'read', rel);
        return this.#openAt(loc, O.RDONLY, 'read', rel, async (fd, st) => {
          const start = Math.min(options.offset ?? 0, st.size);
          const want = Math.max(0, Math.min(options.length ?? Infinity, st.size - start));
          const out = new Uint8Array(want);
          let got = 0;
          while (got < want) {
            const n = await this.#sys.read(fd, out, got, Math.min(CHUNK, want - got), start + got);
            if (n === 0) break; // shortened meanwhile
            got += n;
          }
          return got === want ? out : out.slice(0, got);
        });
      }),
    );
  }

  /** Writes into an existing file at an offset. @throws `ENOENT`, `EISDIR`, `EACCES`, `ENOSPC` */
  async write(path: string, data: Uint8Array, opts?: WriteOptions): Promise<void> {
    const options = checkWriteArgs(data, opts, path);
    const offset = options.offset ?? 0;
    return this.#run('write', path, (rel) =>
      this.#locate(rel, 'write', async (loc) => {
        if (loc.st.isDirectory()) throw fail('EISDIR', 'write', rel);
        // Appending (the common case: streams) needs no positioning: O_APPEND.
        const appended = await this.#openAt(loc, O.WRONLY | O.APPEND, 'write', rel, async (fd, st) => {
          if (offset < st.size) return false;
          if (offset > st.size) await this.#writeAll(fd, new Uint8Array(offset - st.size), 'write', rel);
          await this.#writeAll(fd, data, 'write', rel);
          return true;
        });
        if (appended) return;
        await this.#openAt(loc, O.RDWR, 'write', rel, async (fd) => {
          // No pwrite in the seam: move the file offset by reading up to `offset`.
          const scratch = new Uint8Array(Math.min(CHUNK, offset));
          let pos = 0;
          while (pos < offset) {
            const n = await this.#sys.read(fd, scratch, 0, Math.min(scratch.length, offset - pos), null);
            if (n === 0) break;
            pos += n;
          }
          if (pos < offset) await this.#writeAll(fd, new Uint8Array(offset - pos), 'write', rel);
          await this.#writeAll(fd, data, 'write', rel);
        });
      }),
    );
  }

  async #writeAll(fd: number, data: Uint8Array, syscall: string, rel: string): Promise<void> {
    let off = 0;
    while (off < data.length) {
      const n = await this.#sys.write(fd, data, off, Math.min(CHUNK, data.length - off));
      if (n === 0) throw fail('ENOSPC', syscall, rel);
      off += n;
    }
  }

  /** Removes a file, a symlink (not what it points to) or an empty folder. @throws `ENOENT`, `ENOTEMPTY`, `EBUSY` (the root), `EACCES` */
  async delete(path: string): Promise<void> {
    return this.#run('unlink', path, async (rel) => {
      if (rel === '/') throw fail('EBUSY', 'rmdir', rel);
      await this.#withParent(rel, 'unlink', async (dir, name) => {
        const at = `${dir.path}/${name}`;
        const st = await this.#sys.lstat(at);
        if (!st.isDirectory()) await this.#sys.unlink(at);
        else {
          try {
            await this.#sys.rmdir(at);
          } catch (e) {
            if (codeOf(e) !== 'ENOTEMPTY' && codeOf(e) !== 'EEXIST') throw e;
            // A folder that list() shows empty may still hold the markers of a conditional
            // writer killed mid-write: reclaim them as the lock would, then try once more.
            if (!(await this.#reclaimMarkers(`${dir.real}/${name}`, at))) throw e;
            await this.#sys.rmdir(at);
          }
        }
      });
    });
  }

  /** The names in a folder. @throws `ENOENT`, `ENOTDIR`, `EACCES` */
  async list(path: string): Promise<string[]> {
    return this.#run('scandir', path, (rel) =>
      this.#locate(rel, 'scandir', (loc) => {
        if (!loc.st.isDirectory()) throw fail('ENOTDIR', 'scandir', rel);
        return this.#openAt(loc, O.RDONLY | O.DIRECTORY, 'scandir', rel, async (fd) => {
          const entries = await this.#sys.readdir(this.#fdPath(fd, loc));
          return entries.map((e) => e.name).filter((n) => !LOCK_MARKER_RE.test(n));
        });
      }),
    );
  }

  /** Kind, size, modification time, mode and version (symlinks inside the root followed). @throws `ENOENT`, `ENOTDIR`, `EACCES`, `EINVAL` (not a file or folder) */
  async stat(path: string): Promise<VStat> {
    return this.#run('stat', path, (rel) =>
      this.#locate(rel, 'stat', async ({ st }) => {
        if (!st.isFile() && !st.isDirectory()) throw fail('EINVAL', 'stat', rel);
        return { kind: st.isDirectory() ? 'dir' : 'file', size: st.size, mtimeMs: st.mtimeMs, mode: st.mode & 0o7777, version: versionOf(st) };
      }),
    );
  }

  /**
   * Sets a file's length. Growing appends zero bytes; shortening to zero truncates in
   * place; shortening to another length writes the kept bytes to a temp file beside it
   * and renames that over it (atomic; a new inode, same mode and owner).
   * @throws `ENOENT`, `EISDIR`, `EACCES`
   */
  async truncate(path: string, size: number): Promise<void> {
    checkSize(size, path);
    return this.#run('truncate', path, (rel) =>
      this.#locate(rel, 'truncate', async (loc) => {
        if (loc.st.isDirectory()) throw fail('EISDIR', 'truncate', rel);
        const cur = loc.st.size;
        if (size >= cur) {
          await this.#openAt(loc, O.WRONLY | O.APPEND, 'truncate', rel, async (fd) => {
            await this.#writeAll(fd, new Uint8Array(size - cur), 'truncate', rel);
          });
        } else if (size === 0) {
          await this.#openAt(loc, O.WRONLY | O.TRUNC, 'truncate', rel, async () => undefined);
        } else {
          await this.#shorten(loc, size, rel);
        }
      }),
    );
  }

  async #shorten(loc: Located, size: number, rel: string): Promise<void> {
    const tmp = `${loc.dir.path}/${tempNameFor(loc.name, randomHex(cryptoRandom))}`;
    await this.#openAt(loc, O.RDONLY, 'truncate', rel, async (src, st) => {
      const out = await this.#sys.open(tmp, O.WRONLY | O.CREAT | O.EXCL | O.NOFOLLOW | O.CLOEXEC, 0o600);
      let published = false;
      try {
        const buf = new Uint8Array(Math.min(CHUNK, size));
        let pos = 0;
        while (pos < size) {
          const n = await this.#sys.read(src, buf, 0, Math.min(buf.length, size - pos), pos);
          if (n === 0) break;
          await this.#writeAll(out, buf.subarray(0, n), 'truncate', rel);
          pos += n;
        }
        await this.#sys.fchmod(out, st.mode & 0o7777);
        try {
          await this.#sys.fchown(out, st.uid, st.gid);
        } catch (e) {
          // Only root may give a file away; a non-root owner already owns the temp.
          if (codeOf(e) !== 'EPERM') throw e;
        }
        if (this.#fsync) await this.#sys.fsync(out);
        await this.#sys.close(out);
        await this.#sys.rename(tmp, loc.at);
        published = true;
        if (this.#fsync) await this.#sys.fsync(loc.dir.fd);
      } finally {
        if (!published) {
          await this.#sys.close(out).catch(() => undefined);
          await this.#sys.unlink(tmp).catch(() => undefined);
        }
      }
    });
  }

  // ---- capabilities ----------------------------------------------------------------------

  /** Sets modification time and/or mode, through an open descriptor (never a symlink's target outside). @throws `ENOENT`, `EACCES` */
  async setMetadata(path: string, update: MetadataUpdate): Promise<void> {
    checkUpdate(update, path);
    return this.#run('utimes', path, (rel) =>
      this.#locate(rel, 'utimes', (loc) =>
        this.#openAt(loc, O.RDONLY, 'utimes', rel, async (fd, st) => {
          if (update.mtimeMs !== undefined) await this.#sys.utimes(this.#fdPath(fd, loc), st.atimeMs, update.mtimeMs);
          if (update.mode !== undefined) await this.#sys.fchmod(fd, update.mode & 0o7777);
        }),
      ),
    );
  }

  /**
   * `rename(2)` inside the root (POSIX semantics: replaces a file, or an empty folder with
   * a folder). With `fsync` (default) a file's data is flushed before and both folders
   * after, so the result survives power loss. Never follows a symlink at either end.
   *
   * With a `WriteCondition` (`ifMatch`, `ifNoneMatch`) on the destination, the check and
   * the rename are made under the destination's atomfs file lock (`lock(file)`: markers
   * beside it, hidden from `list`), so they are one step for every conditional writer of
   * that file in any process; `ifNoneMatch` publishes with `link(2)`, which fails with
   * `EEXIST` atomically even against a writer that takes no lock. An unconditional change
   * of the same file (or one made outside atomfs) takes no lock and may land between the
   * check and the rename, to be replaced: give every writer of a shared file `ifMatch`.
   * @throws `ENOENT`, `EINVAL`, `EISDIR`, `ENOTDIR`, `ENOTEMPTY`, `EXDEV` (another device inside the root), `EBUSY` (the root), `EACCES`,
   * `ECANCELED`/`ENOENT`/`EEXIST` (the condition failed, nothing changed), `ETIMEDOUT` (the file's lock stayed taken)
   */
  async rename(oldPath: string, newPath: string, options?: MountRenameOptions): Promise<void> {
    const to = checkMountPath(newPath, 'rename');
    const cond = checkCondition(options, 'rename', to);
    return this.#run('rename', oldPath, async (from) => {
      if (from === '/' || to === '/') throw fail('EBUSY', 'rename', from === '/' ? from : to);
      if (isConditional(cond)) return this.#renameIf(from, to, cond);
      await this.#withParent(from, 'rename', (a, an) =>
        this.#withParent(to, 'rename', async (b, bn) => {
          const src = `${a.path}/${an}`;
          if (this.#fsync) {
            const st = await this.#sys.lstat(src);
            if (st.isFile()) {
              const fd = await this.#sys.open(src, O.RDONLY | O.NOFOLLOW | O.CLOEXEC, 0);
              try {
                await this.#sys.fsync(fd);
              } finally {
                await this.#sys.close(fd).catch(() => undefined);
              }
            }
          }
          await this.#sys.rename(src, `${b.path}/${bn}`);
          if (this.#fsync) {
            await this.#sys.fsync(b.fd);
            if (a.real !== b.real) await this.#sys.fsync(a.fd);
          }
        }),
      );
    });
  }

  // When a folder holds nothing but lock markers: takes and releases each marked name's lock
  // at once (timeout 0), which removes the markers of dead holders. False when anything else
  // is there or a holder is alive (then the folder is not empty, and is not removed).
  async #reclaimMarkers(real: string, at: string): Promise<boolean> {
    const names = (await this.#sys.readdir(at)).map((e) => e.name);
    const locked = new Set<string>();
    for (const n of names) {
      const m = LOCK_MARKER_RE.exec(n);
      if (m === null) return false;
      locked.add(m[1]!);
    }
    for (const n of locked) {
      try {
        await (await lock(`${real}/${n}`, { fs: this.#ops, timeout: 0 })).release();
      } catch {
        return false;
      }
    }
    return true;
  }

  // The version at `rel` now (a final symlink inside the root followed, as stat does), or
  // undefined when nothing is there.
  async #versionAt(rel: string, syscall: string): Promise<FileStat | undefined> {
    try {
      return await this.#locate(rel, syscall, async ({ st }) => st);
    } catch (e) {
      if (codeOf(e) === 'ENOENT') return undefined;
      throw e;
    }
  }

  // A conditional rename: check and publish under the destination's file lock.
  async #renameIf(from: string, to: string, cond: WriteCondition): Promise<void> {
    await this.#withParent(from, 'rename', (a, an) =>
      this.#withParent(to, 'rename', async (b, bn) => {
        const src = `${a.path}/${an}`;
        const dest = `${b.path}/${bn}`;
        // The lock follows a final symlink (every path to one file is one lock): refuse one
        // that leads out of the root before the lock puts its markers beside its target.
        await this.#versionAt(to, 'rename');
        // The pinned folder's real path: a folder swapped after the pin is caught by the
        // checks below (they go through the pinned descriptor).
        // On a case-insensitive mount every spelling of the name must be one lock.
        const lockName = this.caseInsensitive ? fold(bn) : bn;
        const held = await lock(`${b.real}/${lockName}`, { fs: this.#ops, timeout: COND_LOCK_TIMEOUT_MS });
        try {
          const cur = await this.#versionAt(to, 'rename');
          if (cur !== undefined && !cur.isFile() && !cur.isDirectory()) throw fail('EINVAL', 'rename', to);
          checkPrecondition(cond, cur === undefined ? undefined : { version: versionOf(cur) }, 'rename', to);
          const st = await this.#sys.lstat(src);
          if (st.isFile()) {
            const fd = await this.#sys.open(src, O.RDONLY | O.NOFOLLOW | O.CLOEXEC, 0);
            try {
              if (cur !== undefined) await this.#advanceCtime(fd, cur);
              if (this.#fsync) await this.#sys.fsync(fd);
            } finally {
              await this.#sys.close(fd).catch(() => undefined);
            }
          }
          if (cond.ifNoneMatch !== undefined && st.isFile()) await this.#publishNew(src, dest, to);
          else await this.#sys.rename(src, dest);
          if (this.#fsync) {
            await this.#sys.fsync(b.fd);
            if (a.real !== b.real) await this.#sys.fsync(a.fd);
          }
        } finally {
          await held.release();
        }
      }),
    );
  }

  // The temp file's ctime past the replaced file's (see versionOf): a chmod to the same mode
  // sets ctime to now, so wait for the clock to tick past the old one.
  async #advanceCtime(fd: number, replaced: FileStat): Promise<void> {
    const old = replaced.ctimeMs;
    if (old === undefined) return;
    for (let i = 0; i < CTIME_TRIES; i++) {
      const st = await this.#sys.fstat(fd);
      if (st.ctimeMs === undefined || st.ctimeMs > old) return;
      await sleep(1);
      await this.#sys.fchmod(fd, st.mode & 0o7777);
    }
  }

  // ifNoneMatch: link(2) refuses an existing name atomically, whoever made it.
  async #publishNew(src: string, dest: string, to: string): Promise<void> {
    try {
      await this.#sys.link(src, dest);
    } catch (e) {
      const code = codeOf(e);
      if (code === 'EEXIST') throw preconditionError('EEXIST', 'rename', to, 'ifNoneMatch: an entry exists');
      // No hard links here (FAT, some FUSE): the lock and the check above must do.
      if (code !== undefined && NO_HARDLINKS.has(code)) return this.#sys.rename(src, dest);
      throw e;
    }
    await this.#sys.unlink(src);
  }
}
