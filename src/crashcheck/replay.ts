/**
 * Replaying a traced program's file-system calls into the simulated disk of atomfs/testing,
 * keeping a snapshot after every call that changed what could be on disk after a crash.
 *
 * Descriptors are followed per process as the kernel keeps them: a table per process,
 * copied by fork/clone and shared by threads (CLONE_FILES), entries sharing one open file
 * (its offset, its O_APPEND) after dup/dup2/dup3/F_DUPFD and fork, close-on-exec ones
 * dropped at execve. Only files below the traced folder are modelled; a call this model
 * cannot reproduce there (a shared writable mmap, O_DIRECT, io_uring, a copy the kernel
 * makes between descriptors) is refused with a message naming it: a crash check that
 * silently skipped a write would report a broken program clean.
 *
 * @module
 */
import * as path from 'node:path';
import { AtomfsError } from '../errors.js';
import { O } from '../internal/fs-ops.js';
import type { DiskSnapshot, SimulatedDisk } from '../testing/sim-disk.js';
import { AT_FDCWD, fdArg, stringArg, type TracedCall } from './trace.js';

/** One call on a path below the traced folder, as the report shows it. */
export interface ReplayStep {
  /** Its number, from 1: crash point `n` is the moment after this call. */
  readonly n: number;
  readonly pid: number;
  /** The call with the program's paths relative to the folder, e.g. `rename("out.tmp", "out") = 0`. */
  readonly text: string;
}

/** A moment at which the power may go, and the disk then. */
export interface ReplayPoint {
  /** How many steps had completed (0: before the first). */
  readonly after: number;
  readonly snap: DiskSnapshot;
  /** A name (relative to the folder) for every inode the program touched, for reports. */
  readonly names: ReadonlyMap<number, string>;
}

/** What {@link replayTrace} makes of a trace. */
export interface Replay {
  readonly steps: readonly ReplayStep[];
  /** Point 0 and every point after a step that changed the crash states. */
  readonly points: readonly ReplayPoint[];
  /** How many calls the trace held, below the folder or not. */
  readonly tracedCalls: number;
}

/** The system calls to trace (`?`: a name this architecture lacks is no error). */
export const TRACED_CALLS: readonly string[] = [
  'open', 'openat', 'openat2', 'creat', 'read', 'readv', 'lseek',
  'write', 'pwrite64', 'writev', 'pwritev', 'pwritev2', 'ftruncate', 'truncate', 'fallocate',
  'fsync', 'fdatasync', 'sync_file_range', 'sync', 'syncfs',
  'rename', 'renameat', 'renameat2', 'link', 'linkat', 'unlink', 'unlinkat', 'mkdir', 'mkdirat', 'rmdir',
  'symlink', 'symlinkat', 'chmod', 'fchmod', 'fchmodat', 'mknod', 'mknodat',
  'close', 'close_range', 'dup', 'dup2', 'dup3', 'fcntl',
  'execve', 'execveat', 'clone', 'clone3', 'fork', 'vfork', 'chdir', 'fchdir',
  'mmap', 'io_uring_setup', 'copy_file_range', 'sendfile', 'splice',
];

/** An open file: what several descriptors (dup, fork) share. */
interface OpenFile {
  readonly simFd: number;
  readonly rel: string;
  readonly writable: boolean;
  append: boolean;
  pos: number;
  refs: number;
}

interface FdEntry {
  readonly file: OpenFile;
  cloexec: boolean;
}

interface Proc {
  fds: Map<number, FdEntry>;
  cwd: { path: string };
}

const CLONE_FILES = 'CLONE_FILES';
const CLONE_FS = 'CLONE_FS';

/**
 * Replays `calls` (from {@link parseTrace}) into `disk`, which holds the folder's starting
 * content (durable) with the folder at `/`. `root` is the folder's real path, as the kernel
 * prints it.
 *
 * @throws {@link AtomfsError} `ENOTSUP` for a call below the folder that cannot be modelled,
 *   or one the simulated disk cannot replay (the trace and the model disagree).
 */
export function replayTrace(calls: readonly TracedCall[], root: string, disk: SimulatedDisk, firstPid?: number): Replay {
  const r = new Replayer(root, disk);
  return r.run(calls, firstPid);
}

function flagSet(arg: string | undefined): Set<string> {
  return new Set((arg ?? '').split('|').map((f) => f.trim()));
}

function octal(arg: string | undefined): number {
  if (arg === undefined) return 0o666;
  const n = /^0[0-7]*$/.test(arg) ? parseInt(arg, 8) : Number(arg);
  return Number.isFinite(n) ? n : 0o666;
}

class Replayer {
  readonly #root: string;
  readonly #disk: SimulatedDisk;
  readonly #procs = new Map<number, Proc>();
  readonly #children = new Map<number, { parent: number; flags: Set<string> }>();
  readonly #steps: ReplayStep[] = [];
  readonly #points: ReplayPoint[] = [];
  readonly #names = new Map<number, string>();
  #signature = '';
  #call: TracedCall | undefined;

  constructor(root: string, disk: SimulatedDisk) {
    this.#root = root;
    this.#disk = disk;
  }

  run(calls: readonly TracedCall[], firstPid?: number): Replay {
    // Which process made which: the child's first line may come before its parent's clone
    // completes, so the parents are known up front.
    for (const c of calls) {
      if (['clone', 'clone3', 'fork', 'vfork'].includes(c.name) && c.ret !== undefined && c.ret > 0) {
        const flags = c.name === 'clone' ? flagSet(/flags=([^,]*)/.exec(c.args.join(','))?.[1]) : c.name === 'clone3' ? flagSet(/flags=([^,}]*)/.exec(c.args[0] ?? '')?.[1]) : new Set<string>();
        this.#children.set(c.ret, { parent: c.pid, flags });
      }
    }
    if (firstPid !== undefined) this.#procs.set(firstPid, { fds: new Map(), cwd: { path: this.#root } });
    this.#names.set(1, '.');
    this.#collectNames('/');
    this.#point(0, true);
    for (const c of calls) {
      this.#call = c;
      this.#apply(c);
    }
    this.#call = undefined;
    // The end (the program has exited) is always a point of its own.
    const last = this.#points[this.#points.length - 1]!;
    if (last.after !== this.#steps.length) this.#point(this.#steps.length, true);
    return { steps: this.#steps, points: this.#points, tracedCalls: calls.length };
  }

  #collectNames(dir: string): void {
    for (const e of this.#disk.readdir(dir)) {
      const p = path.posix.join(dir, e.name);
      this.#names.set(this.#disk.lstat(p).ino, p.slice(1));
      if (e.isDirectory()) this.#collectNames(p);
    }
  }

  #point(after: number, force = false): void {
    const snap = this.#disk.snapshot();
    const sig = signature(snap);
    if (!force && sig === this.#signature) return;
    this.#signature = sig;
    this.#points.push({ after, snap, names: new Map(this.#names) });
  }

  #proc(pid: number): Proc {
    let p = this.#procs.get(pid);
    if (p) return p;
    const origin = this.#children.get(pid);
    const parent = origin ? this.#procs.get(origin.parent) : undefined;
    if (!parent || !origin) {
      p = { fds: new Map(), cwd: { path: this.#root } };
    } else {
      p = {
        fds: origin.flags.has(CLONE_FILES) ? parent.fds : this.#copyFds(parent.fds),
        cwd: origin.flags.has(CLONE_FS) ? parent.cwd : { path: parent.cwd.path },
      };
    }
    this.#procs.set(pid, p);
    return p;
  }

  #copyFds(fds: Map<number, FdEntry>): Map<number, FdEntry> {
    const out = new Map<number, FdEntry>();
    for (const [fd, e] of fds) {
      e.file.refs++;
      out.set(fd, { file: e.file, cloexec: e.cloexec });
    }
    return out;
  }

  #inside(p: string | undefined): boolean {
    return p !== undefined && (p === this.#root || p.startsWith(this.#root + '/'));
  }

  #rel(p: string): string {
    return p === this.#root ? '.' : p.slice(this.#root.length + 1);
  }

  #sim(p: string): string {
    return p === this.#root ? '/' : '/' + this.#rel(p);
  }

  /** A path argument made absolute: against its dirfd's annotation, else the cwd. */
  #abs(proc: Proc, dirfd: string | undefined, p: string | undefined): string | undefined {
    if (p === undefined) return undefined;
    if (p.startsWith('/')) return path.posix.resolve(p);
    let base = proc.cwd.path;
    if (dirfd !== undefined) {
      const d = fdArg(dirfd);
      if (d?.path !== undefined) base = d.path.replace(/ \(deleted\)$/, '');
      if (d?.fd === AT_FDCWD && d.path !== undefined) proc.cwd.path = d.path;
      else if (d && d.fd !== AT_FDCWD && d.path === undefined) {
        // No annotation: a folder we opened ourselves still has its name; anything else
        // (a pipe, a socket) is no folder below ours.
        const ours = proc.fds.get(d.fd)?.file.rel;
        if (ours === undefined) return undefined;
        base = ours === '.' ? this.#root : path.posix.join(this.#root, ours);
      }
    }
    return path.posix.resolve(base, p);
  }

  #unsupported(what: string): never {
    const c = this.#call;
    throw new AtomfsError('ENOTSUP', `crashcheck cannot model ${what}${c ? ` (trace line ${c.line}, pid ${c.pid})` : ''}`, { operation: 'crashcheck' });
  }

  #step(pid: number, text: string): void {
    this.#steps.push({ n: this.#steps.length + 1, pid, text });
    this.#point(this.#steps.length);
  }

  /** Runs a call on the simulated disk; a refusal there means the model lost track of the program. */
  #onDisk<T>(what: string, fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? 'ERROR';
      return this.#unsupported(`${what}: the simulated disk refused it with ${code}, so the trace and the model disagree`);
    }
  }

  #entry(proc: Proc, fdText: string | undefined): { fd: number; entry: FdEntry | undefined; path: string | undefined } | undefined {
    const a = fdArg(fdText);
    if (!a) return undefined;
    return { fd: a.fd, entry: proc.fds.get(a.fd), path: a.path };
  }

  /** Our open file behind a descriptor argument, or undefined for one outside the folder. */
  #file(proc: Proc, fdText: string | undefined, what: string): OpenFile | undefined {
    const e = this.#entry(proc, fdText);
    if (!e) return undefined;
    if (e.entry) return e.entry.file;
    if (this.#inside(e.path?.replace(/ \(deleted\)$/, ''))) this.#unsupported(`${what} on descriptor ${e.fd} (${this.#rel(e.path!)}), which was opened where the trace cannot show it`);
    return undefined;
  }

  #release(proc: Proc, fd: number): void {
    const e = proc.fds.get(fd);
    if (!e) return;
    proc.fds.delete(fd);
    if (--e.file.refs === 0) this.#disk.close(e.file.simFd);
  }

  #install(proc: Proc, fd: number, file: OpenFile, cloexec: boolean): void {
    this.#release(proc, fd);
    file.refs++;
    proc.fds.set(fd, { file, cloexec });
  }

  #label(file: OpenFile, fd: number): string {
    return `${fd}<${file.rel}>`;
  }

  #apply(c: TracedCall): void {
    const proc = this.#proc(c.pid);
    const ok = c.ret !== undefined && c.ret >= 0;
    const a = c.args;
    const result = c.ret === undefined ? '?' : ok ? String(c.ret) : `-1 ${c.errno ?? ''}`.trim();
    switch (c.name) {
      case 'open':
      case 'creat':
      case 'openat': {
        const at = c.name === 'openat';
        const p = this.#abs(proc, at ? a[0] : undefined, stringArg(a[at ? 1 : 0]));
        if (!this.#inside(p)) {
          // An fd number reused for a file outside replaces whatever we had there.
          if (ok) this.#release(proc, c.ret!);
          return;
        }
        const flags = c.name === 'creat' ? new Set(['O_WRONLY', 'O_CREAT', 'O_TRUNC']) : flagSet(a[at ? 2 : 1]);
        const mode = octal(c.name === 'creat' ? a[1] : a[at ? 3 : 2]);
        if (flags.has('O_DIRECT')) this.#unsupported(`O_DIRECT (${this.#rel(p!)}): direct I/O bypasses the page cache the model is built on`);
        if (flags.has('O_TMPFILE')) this.#unsupported(`O_TMPFILE (${this.#rel(p!)})`);
        const shown = [...flags].filter((f) => f !== 'O_LARGEFILE' && f !== 'O_CLOEXEC').join('|');
        const text = `${c.name}("${this.#rel(p!)}", ${shown}${flags.has('O_CREAT') ? `, 0${mode.toString(8)}` : ''}) = ${ok ? c.ret : result}`;
        if (!ok) return this.#step(c.pid, text);
        let n = 0;
        if (flags.has('O_WRONLY')) n |= O.WRONLY;
        if (flags.has('O_RDWR')) n |= O.RDWR;
        if (flags.has('O_CREAT')) n |= O.CREAT;
        if (flags.has('O_EXCL')) n |= O.EXCL;
        if (flags.has('O_TRUNC')) n |= O.TRUNC;
        if (flags.has('O_DIRECTORY')) n |= O.DIRECTORY;
        if (flags.has('O_NOFOLLOW')) n |= O.NOFOLLOW;
        // O_PATH opens nothing to write; the sim opens it read-only.
        if (flags.has('O_PATH')) n &= ~(O.WRONLY | O.RDWR | O.CREAT | O.TRUNC | O.EXCL);
        const sp = this.#sim(p!);
        const simFd = this.#onDisk(`open of ${this.#rel(p!)}`, () => this.#disk.open(sp, n, mode));
        const ino = this.#disk.inodeOf(simFd);
        if (!this.#names.has(ino)) this.#names.set(ino, this.#rel(p!));
        const writable = flags.has('O_WRONLY') || flags.has('O_RDWR');
        const file: OpenFile = { simFd, rel: this.#rel(p!), writable, append: flags.has('O_APPEND'), pos: 0, refs: 0 };
        this.#install(proc, c.ret!, file, flags.has('O_CLOEXEC'));
        return this.#step(c.pid, text);
      }
      case 'openat2': {
        const p = this.#abs(proc, a[0], stringArg(a[1]));
        if (this.#inside(p)) this.#unsupported(`openat2 (${this.#rel(p!)})`);
        if (ok) this.#release(proc, c.ret!);
        return;
      }
      case 'read':
      case 'readv': {
        const f = this.#entry(proc, a[0])?.entry?.file;
        if (f && ok) f.pos += c.ret!;
        return;
      }
      case 'lseek': {
        const f = this.#entry(proc, a[0])?.entry?.file;
        if (f && ok) f.pos = c.ret!;
        return;
      }
      case 'write':
      case 'writev':
      case 'pwrite64':
      case 'pwritev':
      case 'pwritev2': {
        const e = this.#entry(proc, a[0]);
        const f = this.#file(proc, a[0], c.name);
        if (!f) return;
        const bytes = ok ? c.ret! : 0;
        const positioned = c.name === 'pwrite64' || c.name === 'pwritev' || (c.name === 'pwritev2' && Number(a[3]) !== -1);
        const text = `${c.name}(${this.#label(f, e!.fd)}, ${bytes} bytes${positioned ? ` at ${a[3]}` : ''}) = ${result}`;
        if (!ok || bytes === 0) return this.#step(c.pid, text);
        const data = c.data;
        if (data === undefined || data.length < bytes) this.#unsupported(`${c.name} of ${bytes} bytes to ${f.rel}: strace dumped ${data?.length ?? 0} of them`);
        // O_APPEND puts every write at the end, pwrite's too (as Linux does).
        const at = f.append ? this.#disk.fstat(f.simFd).size : positioned ? Number(a[3]) : f.pos;
        this.#onDisk(`${c.name} to ${f.rel}`, () => this.#disk.pwrite(f.simFd, data.subarray(0, bytes), at));
        if (!positioned) f.pos = at + bytes;
        return this.#step(c.pid, text);
      }
      case 'ftruncate': {
        const e = this.#entry(proc, a[0]);
        const f = this.#file(proc, a[0], 'ftruncate');
        if (!f) return;
        if (ok) this.#onDisk(`ftruncate of ${f.rel}`, () => this.#disk.ftruncate(f.simFd, Number(a[1])));
        return this.#step(c.pid, `ftruncate(${this.#label(f, e!.fd)}, ${a[1]}) = ${result}`);
      }
      case 'truncate': {
        const p = this.#abs(proc, undefined, stringArg(a[0]));
        if (!this.#inside(p)) return;
        if (ok) {
          this.#onDisk(`truncate of ${this.#rel(p!)}`, () => {
            const fd = this.#disk.open(this.#sim(p!), O.WRONLY, 0);
            try {
              this.#disk.ftruncate(fd, Number(a[1]));
            } finally {
              this.#disk.close(fd);
            }
          });
        }
        return this.#step(c.pid, `truncate("${this.#rel(p!)}", ${a[1]}) = ${result}`);
      }
      case 'fallocate': {
        if (this.#file(proc, a[0], 'fallocate') && ok) this.#unsupported('fallocate');
        return;
      }
      case 'fsync':
      case 'fdatasync': {
        const e = this.#entry(proc, a[0]);
        const f = this.#file(proc, a[0], c.name);
        if (!f) return;
        // fdatasync is taken for fsync: it flushes the data and the size, which is all the
        // model keeps apart (it has no separate timestamps to lose).
        if (ok) this.#onDisk(`${c.name} of ${f.rel}`, () => this.#disk.fsync(f.simFd));
        return this.#step(c.pid, `${c.name}(${this.#label(f, e!.fd)}) = ${result}`);
      }
      case 'sync_file_range': {
        const e = this.#entry(proc, a[0]);
        const f = this.#file(proc, a[0], c.name);
        // Starts writeback but promises nothing after a crash (no metadata, no disk cache
        // flush): the model keeps everything pending.
        if (f) this.#step(c.pid, `sync_file_range(${this.#label(f, e!.fd)}, …) = ${result} (promises nothing after a crash)`);
        return;
      }
      case 'sync':
      case 'syncfs': {
        if (c.name === 'syncfs') {
          const e = this.#entry(proc, a[0]);
          if (!e?.entry && !this.#inside(e?.path)) return;
        }
        if (ok) this.#disk.syncAll();
        return this.#step(c.pid, `${c.name}(${c.name === 'syncfs' ? '…' : ''}) = ${result}`);
      }
      case 'rename':
      case 'renameat':
      case 'renameat2': {
        const two = c.name === 'rename';
        const from = this.#abs(proc, two ? undefined : a[0], stringArg(a[two ? 0 : 1]));
        const to = this.#abs(proc, two ? undefined : a[2], stringArg(a[two ? 1 : 3]));
        const inFrom = this.#inside(from);
        const inTo = this.#inside(to);
        if (!inFrom && !inTo) return;
        const flags = c.name === 'renameat2' ? flagSet(a[4]) : new Set<string>();
        if (ok && flags.has('RENAME_EXCHANGE')) this.#unsupported('renameat2 with RENAME_EXCHANGE');
        if (ok && flags.has('RENAME_WHITEOUT')) this.#unsupported('renameat2 with RENAME_WHITEOUT');
        if (ok && !inFrom) this.#unsupported(`a rename into the folder (${to === undefined ? '?' : this.#rel(to)}) from outside it`);
        const fl = [...flags].filter((f) => f !== '0');
        const text = `${c.name}("${inFrom ? this.#rel(from!) : from}", "${inTo ? this.#rel(to!) : to}"${fl.length ? `, ${fl.join('|')}` : ''}) = ${result}`;
        if (ok) {
          if (inTo) {
            const ino = this.#onDisk(`rename of ${this.#rel(from!)}`, () => {
              const i = this.#disk.lstat(this.#sim(from!)).ino;
              this.#disk.rename(this.#sim(from!), this.#sim(to!));
              return i;
            });
            this.#names.set(ino, this.#rel(to!));
          } else {
            // Moved out of the folder: for the folder it is gone.
            this.#onDisk(`rename of ${this.#rel(from!)} out of the folder`, () => {
              const st = this.#disk.lstat(this.#sim(from!));
              if (st.isDirectory()) this.#unsupported(`a rename of the folder ${this.#rel(from!)} out of the folder`);
              this.#disk.unlink(this.#sim(from!));
            });
          }
        }
        return this.#step(c.pid, text);
      }
      case 'link':
      case 'linkat': {
        const two = c.name === 'link';
        const from = this.#abs(proc, two ? undefined : a[0], stringArg(a[two ? 0 : 1]));
        const to = this.#abs(proc, two ? undefined : a[2], stringArg(a[two ? 1 : 3]));
        if (!this.#inside(to)) return;
        if (ok && !this.#inside(from)) this.#unsupported(`a hard link into the folder (${this.#rel(to!)}) to a file outside it`);
        if (ok) this.#onDisk(`link ${this.#rel(to!)}`, () => this.#disk.link(this.#sim(from!), this.#sim(to!)));
        return this.#step(c.pid, `${c.name}("${this.#rel(from!)}", "${this.#rel(to!)}") = ${result}`);
      }
      case 'unlink':
      case 'unlinkat':
      case 'rmdir': {
        const at = c.name === 'unlinkat';
        const p = this.#abs(proc, at ? a[0] : undefined, stringArg(a[at ? 1 : 0]));
        if (!this.#inside(p)) return;
        const dir = c.name === 'rmdir' || (at && flagSet(a[2]).has('AT_REMOVEDIR'));
        if (ok) this.#onDisk(`removal of ${this.#rel(p!)}`, () => (dir ? this.#disk.rmdir(this.#sim(p!)) : this.#disk.unlink(this.#sim(p!))));
        return this.#step(c.pid, `${c.name}("${this.#rel(p!)}"${at && dir ? ', AT_REMOVEDIR' : ''}) = ${result}`);
      }
      case 'mkdir':
      case 'mkdirat': {
        const at = c.name === 'mkdirat';
        const p = this.#abs(proc, at ? a[0] : undefined, stringArg(a[at ? 1 : 0]));
        if (!this.#inside(p)) return;
        const mode = octal(a[at ? 2 : 1]);
        if (ok) {
          this.#onDisk(`mkdir ${this.#rel(p!)}`, () => this.#disk.mkdir(this.#sim(p!), mode));
          this.#names.set(this.#disk.lstat(this.#sim(p!)).ino, this.#rel(p!));
        }
        return this.#step(c.pid, `${c.name}("${this.#rel(p!)}", 0${mode.toString(8)}) = ${result}`);
      }
      case 'symlink':
      case 'symlinkat': {
        const at = c.name === 'symlinkat';
        const target = stringArg(a[0]) ?? '';
        const p = this.#abs(proc, at ? a[1] : undefined, stringArg(a[at ? 2 : 1]));
        if (!this.#inside(p)) return;
        if (ok) {
          this.#onDisk(`symlink ${this.#rel(p!)}`, () => this.#disk.symlink(target, this.#sim(p!)));
          this.#names.set(this.#disk.lstat(this.#sim(p!)).ino, this.#rel(p!));
        }
        return this.#step(c.pid, `${c.name}("${target}", "${this.#rel(p!)}") = ${result}`);
      }
      case 'mknod':
      case 'mknodat': {
        const at = c.name === 'mknodat';
        const p = this.#abs(proc, at ? a[0] : undefined, stringArg(a[at ? 1 : 0]));
        if (this.#inside(p) && ok) this.#unsupported(`${c.name} (${this.#rel(p!)})`);
        return;
      }
      case 'chmod':
      case 'fchmodat': {
        const at = c.name === 'fchmodat';
        const p = this.#abs(proc, at ? a[0] : undefined, stringArg(a[at ? 1 : 0]));
        if (!this.#inside(p)) return;
        const mode = octal(a[at ? 2 : 1]);
        if (ok) this.#onDisk(`chmod of ${this.#rel(p!)}`, () => this.#disk.chmod(this.#sim(p!), mode));
        return this.#step(c.pid, `${c.name}("${this.#rel(p!)}", 0${mode.toString(8)}) = ${result}`);
      }
      case 'fchmod': {
        const e = this.#entry(proc, a[0]);
        const f = this.#file(proc, a[0], 'fchmod');
        if (!f) return;
        const mode = octal(a[1]);
        if (ok) this.#onDisk(`fchmod of ${f.rel}`, () => this.#disk.fchmod(f.simFd, mode));
        return this.#step(c.pid, `fchmod(${this.#label(f, e!.fd)}, 0${mode.toString(8)}) = ${result}`);
      }
      case 'close': {
        const e = this.#entry(proc, a[0]);
        if (!e?.entry) return;
        const label = this.#label(e.entry.file, e.fd);
        // Closed even when close reports an error: Linux frees the descriptor first.
        this.#release(proc, e.fd);
        return this.#step(c.pid, `close(${label}) = ${result}`);
      }
      case 'close_range': {
        if (!ok) return;
        const first = Number(a[0]);
        const last = /^~0/.test(a[1] ?? '') ? Infinity : Number(a[1]);
        const cloexec = flagSet(a[2]).has('CLOSE_RANGE_CLOEXEC');
        for (const [fd, e] of [...proc.fds]) {
          if (fd < first || fd > last) continue;
          if (cloexec) e.cloexec = true;
          else this.#release(proc, fd);
        }
        return;
      }
      case 'dup':
      case 'dup2':
      case 'dup3': {
        if (!ok) return;
        const from = this.#entry(proc, a[0]);
        if (from?.entry) this.#install(proc, c.ret!, from.entry.file, c.name === 'dup3' && flagSet(a[2]).has('O_CLOEXEC'));
        else if (c.ret !== from?.fd) this.#release(proc, c.ret!);
        return;
      }
      case 'fcntl': {
        if (!ok) return;
        const cmd = a[1];
        const e = this.#entry(proc, a[0]);
        if (cmd === 'F_DUPFD' || cmd === 'F_DUPFD_CLOEXEC') {
          if (e?.entry) this.#install(proc, c.ret!, e.entry.file, cmd === 'F_DUPFD_CLOEXEC');
          else this.#release(proc, c.ret!);
        } else if (cmd === 'F_SETFD' && e?.entry) {
          e.entry.cloexec = flagSet(a[2]).has('FD_CLOEXEC');
        } else if (cmd === 'F_SETFL' && e?.entry) {
          e.entry.file.append = flagSet(a[2]).has('O_APPEND');
        }
        return;
      }
      case 'execve':
      case 'execveat': {
        if (!ok) return;
        for (const [fd, e] of [...proc.fds]) if (e.cloexec) this.#release(proc, fd);
        return;
      }
      case 'clone':
      case 'clone3':
      case 'fork':
      case 'vfork': {
        // Make the child's table now (a copy as of the fork), unless its first call came first.
        if (ok && c.ret! > 0) this.#proc(c.ret!);
        return;
      }
      case 'chdir': {
        if (ok) {
          const p = this.#abs(proc, undefined, stringArg(a[0]));
          if (p !== undefined) proc.cwd.path = p;
        }
        return;
      }
      case 'fchdir': {
        const d = fdArg(a[0]);
        if (ok && d?.path !== undefined) proc.cwd.path = d.path;
        return;
      }
      case 'mmap': {
        if (!ok) return;
        const prot = flagSet(a[2]);
        const flags = flagSet(a[3]);
        const f = this.#entry(proc, a[4])?.entry?.file;
        // A shared mapping of a file open for writing: stores to it reach the file without
        // any system call, so nothing of them is in the trace.
        if (f && f.writable && flags.has('MAP_SHARED')) this.#unsupported(`a shared mmap of ${f.rel} (${[...prot].join('|')}): writes through memory are invisible to strace`);
        return;
      }
      case 'io_uring_setup': {
        if (ok) this.#unsupported('io_uring (io_uring_setup): its reads and writes are not system calls strace can show; for Node, UV_USE_IO_URING=0 turns it off');
        return;
      }
      case 'copy_file_range':
      case 'sendfile':
      case 'splice': {
        const outArg = c.name === 'sendfile' ? a[0] : a[2];
        const f = this.#file(proc, outArg, c.name);
        if (f && ok && c.ret! > 0) this.#unsupported(`${c.name} into ${f.rel}: the kernel copies the bytes, the trace does not show them`);
        return;
      }
      default:
        return;
    }
  }
}

/** What distinguishes two snapshots' crash states: the pending changes (sequence numbers are never reused). */
function signature(snap: DiskSnapshot): string {
  const e = snap.pendingEntries.map((op) => `${op.seq}:${op.unsynced.size}`).join(',');
  const d = [...snap.pendingData].map(([ino, ops]) => `${ino}:${ops.length}`).join(',');
  return `${e}|${d}|${snap.durable.size}`;
}
