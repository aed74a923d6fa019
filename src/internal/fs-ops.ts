/**
 * The file-system seam. This is the ONLY module that imports `node:fs`; every algorithm in
 * atomfs receives an {@link FsOps} and calls the system through it, so tests can script a
 * failure at any step and the crash simulator can run the real algorithms on a simulated
 * disk.
 *
 * The operations are deliberately low level (file descriptors, single system calls) so
 * that a step list written once can be driven synchronously or asynchronously (see
 * `steps.ts`) and a simulated disk can model exactly what reaches the platter.
 *
 * @module
 */
import * as fs from 'node:fs';

/** The part of `fs.Stats` atomfs reads. */
export interface FileStat {
  /** The device the file lives on. */
  readonly dev: number;
  /** The inode number. */
  readonly ino: number;
  /** File type and permission bits. */
  readonly mode: number;
  /** The number of hard links. */
  readonly nlink: number;
  /** The owner's user id. */
  readonly uid: number;
  /** The owner's group id. */
  readonly gid: number;
  /** The size in bytes. */
  readonly size: number;
  /** Last modification, in milliseconds since the epoch. */
  readonly mtimeMs: number;
  /** Last access, in milliseconds since the epoch. */
  readonly atimeMs: number;
  /** Last status change (contents, mode, links, a rename), in milliseconds since the epoch, when the seam reports it. */
  readonly ctimeMs?: number | undefined;
  /** Whether it is a regular file. */
  isFile(): boolean;
  /** Whether it is a folder. */
  isDirectory(): boolean;
  /** Whether it is a symbolic link (only `lstat` can say so). */
  isSymbolicLink(): boolean;
  /** Whether it is a named pipe. */
  isFIFO(): boolean;
}

/** A directory entry: its name and what kind of entry it is. */
export interface DirEntry {
  /** The entry's name within its folder. */
  readonly name: string;
  /** Whether it is a regular file. */
  isFile(): boolean;
  /** Whether it is a folder. */
  isDirectory(): boolean;
  /** Whether it is a symbolic link. */
  isSymbolicLink(): boolean;
}

/** Synchronous system calls. Each throws a Node-style error (`code`, `syscall`, `path`). */
export interface SyncFsOps {
  /** `open(2)` with `fs.constants` flags: a file descriptor. */
  open(path: string, flags: number, mode: number): number;
  /** `close(2)`: may report a deferred write error (NFS). */
  close(fd: number): void;
  /** One `write(2)`: may write fewer bytes than asked (a full disk does that). */
  write(fd: number, buf: Uint8Array, offset: number, length: number): number;
  /** One `read(2)` (at `position`, or the file offset when `null`): the bytes read, 0 at the end. */
  read(fd: number, buf: Uint8Array, offset: number, length: number, position: number | null): number;
  /** `fsync(2)`: the file's data and metadata reach the disk. */
  fsync(fd: number): void;
  /** `fchmod(2)`: sets the mode of an open file. */
  fchmod(fd: number, mode: number): void;
  /** `fchown(2)`: sets the owner of an open file. */
  fchown(fd: number, uid: number, gid: number): void;
  /** `fstat(2)` of an open file. */
  fstat(fd: number): FileStat;
  /** `lstat(2)`: a symlink itself, not its target. */
  lstat(path: string): FileStat;
  /** `stat(2)`: follows symlinks. */
  stat(path: string): FileStat;
  /** `readlink(2)`: a symlink's target. */
  readlink(path: string): string;
  /** `rename(2)`: atomically replaces `to`. */
  rename(from: string, to: string): void;
  /** `link(2)`: a new hard link; fails with `EEXIST` when `newPath` exists. */
  link(existing: string, newPath: string): void;
  /** `unlink(2)`: removes a file or symlink. */
  unlink(path: string): void;
  /** `mkdir(2)`: one folder (not its parents). */
  mkdir(path: string, mode: number): void;
  /** `rmdir(2)`: removes an empty folder. */
  rmdir(path: string): void;
  /** A folder's entries, without `.` and `..`. */
  readdir(path: string): DirEntry[];
  /** `utimes(2)`: sets access and modification times, following symlinks. */
  utimes(path: string, atimeMs: number, mtimeMs: number): void;
  /** utimes of a symlink itself (a copied link keeps its time). */
  lutimes(path: string, atimeMs: number, mtimeMs: number): void;
  /** `symlink(2)`: a symlink at `path` pointing to `target`. */
  symlink(target: string, path: string): void;
  /** `chmod(2)`: sets a mode, following symlinks. */
  chmod(path: string, mode: number): void;
  /** `lchown(2)`: sets the owner of a symlink itself. */
  lchown(path: string, uid: number, gid: number): void;
  /**
   * Copies a whole file into a NEW file (exclusive create: never truncates an existing
   * one), with the kernel's fastest way: a reflink where the file system has them, else
   * copy_file_range/sendfile. The new file gets the source's mode.
   */
  copyFile(src: string, dest: string): void;
  /** The canonical path (symlinks, `.` and `..` resolved by the kernel). */
  realpath(path: string): string;
  /** Whether this process may `mode` (`fs.constants.W_OK`, …) the path, as the kernel judges. */
  access(path: string, mode: number): void;
  /** File-system facts: type magic, block size, total and available blocks. */
  statfs(path: string): {
    /** The file system's type magic (`statfs(2)` `f_type`). */
    readonly type: number;
    /** The block size in bytes. */
    readonly bsize: number;
    /** The total number of blocks. */
    readonly blocks: number;
    /** The blocks available to an unprivileged user. */
    readonly bavail: number;
  };
  /** A copy that must share blocks with the source (a reflink), or fail (ENOTSUP, EXDEV, EOPNOTSUPP). */
  reflink(src: string, dest: string): void;
  /** An id of the current boot (Linux: /proc/sys/kernel/random/boot_id), or '' where unknown. */
  bootId(): string;
  /**
   * The start time of a process on this host, in clock ticks since boot (Linux
   * /proc/<pid>/stat field 22): `null` when no such process exists, `0` when alive but the
   * start time is unknown (no /proc).
   */
  processStart(pid: number): number | null;
  /**
   * The processes of this host that hold the file `path` open (Linux: a descriptor under
   * /proc/<pid>/fd on the same inode), other than this one; `[]` where that cannot be seen
   * (no /proc, or only other users' processes). A slow call: it looks at every process.
   */
  fileHolders(path: string): number[];
  /** The process umask, read without changing it. */
  umask(): number;
}

/** The same calls as {@link SyncFsOps}, returning promises. */
export type AsyncFsOps = {
  readonly [K in keyof SyncFsOps]: SyncFsOps[K] extends (...args: infer A) => infer R ? (...args: A) => Promise<R> : never;
};

/**
 * The seam: one object holding both forms of every call. Replace it (option `fs`) to run
 * atomfs against a scripted or simulated file system.
 */
export interface FsOps {
  /** The synchronous calls (the `*Sync` functions and the synchronous steps use them). */
  readonly sync: SyncFsOps;
  /** The same calls returning promises (the async functions use them). */
  readonly async: AsyncFsOps;
  /**
   * Optional: calls `onGone()` when the file at `path` is removed or renamed away, until the
   * returned watch is closed; throws (`ENOENT`) when there is no such file. Used by lock
   * waiters to wake up the moment the marker they wait for goes, instead of at their next
   * poll; a seam without it just means polling. Best effort: waiters always poll too.
   */
  readonly watchFile?: ((path: string, onGone: () => void) => FileWatch) | undefined;
}

/** A watch from {@link FsOps.watchFile}. */
export interface FileWatch {
  /** Stops watching and releases the watch. */
  close(): void;
}

/** The names of the calls in the seam. */
export type OpName = keyof SyncFsOps;

/**
 * Codes with which chmod/fchmod says "this file system keeps no such mode" on a file this
 * process just created and owns: FAT through FUSE (ENOSYS), vfat for a mode it cannot
 * represent (EPERM), CIFS without noperm (EPERM), others (ENOTSUP, EINVAL). The file keeps
 * the mode the file system gives it, as with fs.writeFile, which never calls chmod.
 * @internal
 */
export const MODE_REFUSED: ReadonlySet<string> = new Set(['EPERM', 'EINVAL', 'ENOSYS', 'ENOTSUP', 'EOPNOTSUPP']);

/** Codes with which link(2) says "this file system has no hard links" (FAT, some FUSE). @internal */
export const NO_HARDLINKS: ReadonlySet<string> = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EMLINK']);

/** Open flags atomfs uses, from the platform. */
export const O = Object.freeze({
  RDONLY: fs.constants.O_RDONLY,
  WRONLY: fs.constants.O_WRONLY,
  RDWR: fs.constants.O_RDWR,
  CREAT: fs.constants.O_CREAT,
  EXCL: fs.constants.O_EXCL,
  TRUNC: fs.constants.O_TRUNC,
  APPEND: fs.constants.O_APPEND,
  NOFOLLOW: fs.constants.O_NOFOLLOW ?? 0,
  DIRECTORY: fs.constants.O_DIRECTORY ?? 0,
  // Opening a FIFO without a writer returns at once instead of waiting for one.
  NONBLOCK: fs.constants.O_NONBLOCK ?? 0,
  // Direct I/O past the page cache (Linux); 0 where there is none.
  DIRECT: (fs.constants as Record<string, number>)['O_DIRECT'] ?? 0,
  // Not exported by node on every platform; on Linux x86-64/arm64 it is 0o2000000.
  CLOEXEC: (fs.constants as Record<string, number>)['O_CLOEXEC'] ?? (process.platform === 'linux' ? 0o2000000 : 0),
});

// EXCL: a fresh file, never an existing one truncated (which on ext4 also forces a flush of
// the whole file at close). FICLONE: a reflink where possible, falling back to a copy.
const COPY_FLAGS = fs.constants.COPYFILE_EXCL | fs.constants.COPYFILE_FICLONE;

let bootIdCache: string | undefined;
function readBootId(): string {
  if (bootIdCache === undefined) {
    try {
      bootIdCache = fs.readFileSync('/proc/sys/kernel/random/boot_id', 'latin1').trim();
    } catch {
      bootIdCache = '';
    }
  }
  return bootIdCache;
}

// /proc/<pid>/stat is one short line (well under 1 KiB, the command name being at most
// 64 bytes), and what we need of /proc/self/status is in its first lines: one open, one
// read, one close, into a reused buffer.
const procBuf = Buffer.alloc(4096);

/** The start of a small /proc file, with one open, one read and one close. */
function readProcFile(file: string): string {
  const fd = fs.openSync(file, 'r');
  try {
    const n = fs.readSync(fd, procBuf, 0, procBuf.length, 0);
    return procBuf.toString('latin1', 0, n);
  } finally {
    fs.closeSync(fd);
  }
}

// Whether this system has /proc (a fact of the system, not of a pid): found out once.
let hasProcCache: boolean | undefined;
function hasProc(): boolean {
  return (hasProcCache ??= fs.existsSync('/proc/self/stat'));
}

function readProcessStart(pid: number): number | null {
  try {
    const stat = readProcFile(`/proc/${pid}/stat`);
    // The command name (field 2) may contain spaces and parentheses: count from the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z' || fields[0] === 'X') return null; // a zombie holds nothing
    return Number(fields[19]) || 0;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      // No /proc at all, or no such process: tell them apart.
      if (hasProc()) return null;
      try {
        process.kill(pid, 0);
        return 0;
      } catch (k) {
        return (k as NodeJS.ErrnoException).code === 'EPERM' ? 0 : null;
      }
    }
    return 0;
  }
}

function readFileHolders(target: string): number[] {
  let want: fs.Stats;
  try {
    want = fs.statSync(target);
  } catch {
    return [];
  }
  const out: number[] = [];
  let pids: string[];
  try {
    pids = fs.readdirSync('/proc');
  } catch {
    return out;
  }
  for (const p of pids) {
    const c = p.charCodeAt(0);
    if (c < 48 || c > 57 || Number(p) === process.pid) continue;
    let fds: string[];
    try {
      fds = fs.readdirSync(`/proc/${p}/fd`);
    } catch {
      continue; // gone, or another user's (EACCES)
    }
    for (const fd of fds) {
      try {
        const st = fs.statSync(`/proc/${p}/fd/${fd}`);
        if (st.ino === want.ino && st.dev === want.dev) {
          out.push(Number(p));
          break;
        }
      } catch {
        // closed meanwhile
      }
    }
  }
  return out;
}

const REFLINK_FLAGS = fs.constants.COPYFILE_EXCL | fs.constants.COPYFILE_FICLONE_FORCE;

function readUmask(): number {
  // process.umask() with no argument sets the umask to 0 and back: a thread of the
  // libuv pool creating a file in that instant would get mode bits it should not. Linux
  // exposes the umask read-only in /proc, so read it there when we can: one open, one read
  // and one close per new file (readFileSync makes five calls). The Umask line is among the
  // first of the file, well inside the first 4 KiB.
  if (process.platform === 'linux') {
    try {
      const status = readProcFile('/proc/self/status');
      const m = /^Umask:\s*([0-7]+)$/m.exec(status);
      if (m) return parseInt(m[1]!, 8);
    } catch {
      // /proc not mounted: fall through.
    }
  }
  return process.umask();
}

/**
 * ms → the seconds Node's utimes takes. libuv keeps whole microseconds, cutting off the
 * rest, and `ms / 1000` as a double may fall just below the intended value (at today's
 * epoch doubles of seconds are 0.24 µs apart): a time 0.1 µs past a millisecond came back
 * a millisecond early. Aim at the middle of the intended microsecond instead, so the time
 * set is the given one cut to whole microseconds: never in an earlier millisecond, nor a
 * later one.
 */
function toSeconds(ms: number): number {
  let us = Math.floor(ms * 1000);
  if (us / 1000 > ms) us--; // ms * 1000 itself rounded up to the next whole microsecond
  return (us + 0.5) / 1e6;
}

const realSync: SyncFsOps = {
  open: (p, flags, mode) => fs.openSync(p, flags, mode),
  close: (fd) => fs.closeSync(fd),
  write: (fd, buf, off, len) => fs.writeSync(fd, buf, off, len, null),
  read: (fd, buf, off, len, pos) => fs.readSync(fd, buf, off, len, pos),
  fsync: (fd) => fs.fsyncSync(fd),
  fchmod: (fd, mode) => fs.fchmodSync(fd, mode),
  fchown: (fd, uid, gid) => fs.fchownSync(fd, uid, gid),
  fstat: (fd) => fs.fstatSync(fd),
  lstat: (p) => fs.lstatSync(p),
  stat: (p) => fs.statSync(p),
  readlink: (p) => fs.readlinkSync(p),
  rename: (a, b) => fs.renameSync(a, b),
  link: (a, b) => fs.linkSync(a, b),
  unlink: (p) => fs.unlinkSync(p),
  mkdir: (p, mode) => void fs.mkdirSync(p, { mode }),
  rmdir: (p) => fs.rmdirSync(p),
  readdir: (p) => fs.readdirSync(p, { withFileTypes: true }),
  utimes: (p, a, m) => fs.utimesSync(p, toSeconds(a), toSeconds(m)),
  lutimes: (p, a, m) => fs.lutimesSync(p, toSeconds(a), toSeconds(m)),
  symlink: (target, p) => fs.symlinkSync(target, p),
  chmod: (p, mode) => fs.chmodSync(p, mode),
  lchown: (p, uid, gid) => fs.lchownSync(p, uid, gid),
  copyFile: (src, dest) => fs.copyFileSync(src, dest, COPY_FLAGS),
  realpath: (p) => fs.realpathSync.native(p),
  access: (p, mode) => fs.accessSync(p, mode),
  statfs: (p) => fs.statfsSync(p),
  reflink: (src, dest) => fs.copyFileSync(src, dest, REFLINK_FLAGS),
  bootId: readBootId,
  processStart: readProcessStart,
  fileHolders: readFileHolders,
  umask: readUmask,
};

// Callback APIs with plain fds: lighter than fs.promises' FileHandle objects.
function cb<T>(fn: (done: (err: NodeJS.ErrnoException | null, v?: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v as T))));
}

const realAsync: AsyncFsOps = {
  open: (p, flags, mode) => cb((d) => fs.open(p, flags, mode, d)),
  close: (fd) => cb((d) => fs.close(fd, d)),
  write: (fd, buf, off, len) => cb((d) => fs.write(fd, buf, off, len, null, d)),
  read: (fd, buf, off, len, pos) => cb((d) => fs.read(fd, buf, off, len, pos, d)),
  fsync: (fd) => cb((d) => fs.fsync(fd, d)),
  fchmod: (fd, mode) => cb((d) => fs.fchmod(fd, mode, d)),
  fchown: (fd, uid, gid) => cb((d) => fs.fchown(fd, uid, gid, d)),
  fstat: (fd) => cb((d) => fs.fstat(fd, d)),
  lstat: (p) => cb((d) => fs.lstat(p, d)),
  stat: (p) => cb((d) => fs.stat(p, d)),
  readlink: (p) => cb((d) => fs.readlink(p, d)),
  rename: (a, b) => cb((d) => fs.rename(a, b, d)),
  link: (a, b) => cb((d) => fs.link(a, b, d)),
  unlink: (p) => cb((d) => fs.unlink(p, d)),
  mkdir: (p, mode) => cb<void>((d) => fs.mkdir(p, { mode }, (e) => d(e))),
  rmdir: (p) => cb((d) => fs.rmdir(p, d)),
  readdir: (p) => cb((d) => fs.readdir(p, { withFileTypes: true }, d)),
  utimes: (p, a, m) => cb((d) => fs.utimes(p, toSeconds(a), toSeconds(m), d)),
  lutimes: (p, a, m) => cb((d) => fs.lutimes(p, toSeconds(a), toSeconds(m), d)),
  symlink: (target, p) => cb((d) => fs.symlink(target, p, d)),
  chmod: (p, mode) => cb((d) => fs.chmod(p, mode, d)),
  lchown: (p, uid, gid) => cb((d) => fs.lchown(p, uid, gid, d)),
  copyFile: (src, dest) => cb((d) => fs.copyFile(src, dest, COPY_FLAGS, d)),
  realpath: (p) => cb((d) => fs.realpath.native(p, d)),
  access: (p, mode) => cb((d) => fs.access(p, mode, d)),
  statfs: (p) => cb((d) => fs.statfs(p, d)),
  reflink: (src, dest) => cb((d) => fs.copyFile(src, dest, REFLINK_FLAGS, d)),
  // /proc reads never wait for a disk: done synchronously.
  bootId: async () => readBootId(),
  processStart: async (pid) => readProcessStart(pid),
  fileHolders: async (p) => readFileHolders(p),
  umask: async () => readUmask(),
};

/**
 * The real file system (`node:fs`).
 */
export const realOps: FsOps = Object.freeze({ sync: Object.freeze(realSync), async: Object.freeze(realAsync), watchFile });

function watchFile(file: string, onGone: () => void): FileWatch {
  // inotify on Linux, on the file itself: only its own changes reach us, not every other
  // entry of its folder. 'rename' is its deletion or its move; 'change' (a lease refresh,
  // the link-count change before a deletion) is not. Not persistent: a watch never keeps
  // the process alive by itself.
  const w = fs.watch(file, { persistent: false }, (type) => {
    if (type === 'rename') onGone();
  });
  // An error ends the watch; waking the waiter makes it look again (and poll from then on).
  w.on('error', () => {
    w.close();
    onGone();
  });
  return w;
}

/**
 * Builds an {@link FsOps} whose async calls run the given sync calls (for simulated disks,
 * where nothing blocks).
 */
export function opsFromSync(sync: SyncFsOps): FsOps {
  const asyncOps = {} as Record<string, (...a: unknown[]) => Promise<unknown>>;
  for (const name of Object.keys(realSync) as OpName[]) {
    const f = sync[name] as (...a: unknown[]) => unknown;
    asyncOps[name] = (...args: unknown[]) => {
      try {
        return Promise.resolve(f.apply(sync, args));
      } catch (e) {
        return Promise.reject(e);
      }
    };
  }
  return Object.freeze({ sync, async: asyncOps as unknown as AsyncFsOps });
}

/** All call names, in a fixed order (for wrappers that intercept every call). */
/** `access` modes (the only node:fs constants the rest of atomfs needs besides `O`). */
export const ACCESS = Object.freeze({ W_OK: fs.constants.W_OK, X_OK: fs.constants.X_OK });

export const OP_NAMES: readonly OpName[] = Object.freeze(Object.keys(realSync) as OpName[]);

