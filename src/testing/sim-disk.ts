/**
 * A simulated disk: an in-memory file system implementing atomfs' file-system seam, which
 * keeps apart what a program sees (the page cache) and what has reached the disk.
 *
 * The persistence model is deliberately pessimistic (ALICE, CrashMonkey):
 *
 * - File data and metadata (writes, truncation, chmod, chown, times) reach the disk only
 *   through `fsync` of that file. Until then, after a crash, the file holds its last
 *   durable content with any prefix of the later changes applied, the next write possibly
 *   only in part.
 * - A change of names (create, mkdir, symlink, link, unlink, rmdir, rename) reaches the disk
 *   only through `fsync` of every folder it changes (a rename between two folders needs
 *   both). Until then it may or may not have reached the disk, independently of the other
 *   pending changes, in any order; a rename is all-or-nothing. For one name, the latest
 *   change that reached the disk decides.
 * - An inode no durable name refers to is gone after the crash.
 *
 * @module
 */
import * as path from 'node:path';
import { O, OP_NAMES, opsFromSync, type DirEntry, type FileStat, type FsOps, type OpName, type SyncFsOps } from '../internal/fs-ops.js';
import { checkOptionsObject, intOpt, optionNames } from '../options.js';

type Kind = 'file' | 'dir' | 'symlink';

const SIM_SET = optionNames(['boot']);

/** What reached the disk of one inode. */
interface DurableInode {
  readonly kind: Kind;
  readonly dev: number;
  mode: number;
  uid: number;
  gid: number;
  mtimeMs: number;
  atimeMs: number;
  data: Uint8Array;
  entries: Map<string, number>;
  target: string;
}

/** A live inode: what programs see. */
interface Inode extends DurableInode {
  readonly ino: number;
  nlink: number;
}

/** A pending change of names: (folder, name) → inode or removed. */
export interface EntryChange {
  readonly dir: number;
  readonly name: string;
  readonly ino: number | null;
}

/** A change of names not yet known to be durable. */
export interface PendingEntryOp {
  readonly seq: number;
  readonly label: string;
  readonly changes: readonly EntryChange[];
  /** Folders still to be fsynced before it is durable. */
  readonly unsynced: Set<number>;
}

/** A change of one inode's data or metadata not yet fsynced. */
export type PendingDataOp =
  | { readonly type: 'write'; readonly offset: number; readonly bytes: Uint8Array }
  | { readonly type: 'truncate'; readonly size: number }
  | { readonly type: 'meta'; readonly mode: number; readonly uid: number; readonly gid: number; readonly mtimeMs: number; readonly atimeMs: number };

/** A frozen picture of the disk between two system calls, from which crash states are built. */
export interface DiskSnapshot {
  readonly durable: ReadonlyMap<number, DurableInode>;
  readonly pendingEntries: readonly PendingEntryOp[];
  readonly pendingData: ReadonlyMap<number, readonly PendingDataOp[]>;
  readonly nextIno: number;
  readonly devices: ReadonlyMap<string, number>;
  readonly boot: number;
  /** Kind, device and mode of every inode ever made (to materialise one a durable name refers to). */
  readonly inodeInfo: ReadonlyMap<number, InodeInfo>;
}

/** What a blank on-disk inode is made from. */
export interface InodeInfo {
  readonly kind: Kind;
  readonly dev: number;
  readonly mode: number;
  readonly target: string;
}

function blank(i: InodeInfo): DurableInode {
  return { kind: i.kind, dev: i.dev, mode: i.mode, uid: 0, gid: 0, mtimeMs: 0, atimeMs: 0, data: new Uint8Array(0), entries: new Map(), target: i.target };
}

interface OpenFile {
  readonly ino: number;
  readonly flags: number;
  pos: number;
}

const ROOT = 1;
const S_IFMT = { file: 0o100000, dir: 0o040000, symlink: 0o120000 } as const;

function errno(code: string, syscall: string, p?: string): NodeJS.ErrnoException {
  const e = new Error(`${code}: simulated, ${syscall}${p === undefined ? '' : ` '${p}'`}`) as NodeJS.ErrnoException;
  e.code = code;
  e.syscall = syscall;
  if (p !== undefined) e.path = p;
  return e;
}

function cloneDurable(i: DurableInode): DurableInode {
  return { ...i, data: i.data, entries: new Map(i.entries) };
}

/** A recorded system call. */
export interface TraceStep {
  /** Its position among the recorded calls, from 0. */
  readonly index: number;
  /** The call with its arguments, e.g. `open("/data/a.json", O_WRONLY|O_CREAT|O_EXCL)`. */
  readonly call: string;
  /** `ok`, the number it returned (a descriptor, a byte count), or the error code. */
  readonly result: string;
}

/**
 * The simulated disk. Use `disk.fs` as the `fs` option of any atomfs call, prepare a
 * starting state with `writeFile`/`mkdir` and `syncAll()`, and read the result with
 * `readFile`/`list`/`exists`.
 *
 * @example
 * ```ts
 * const disk = new SimulatedDisk();
 * disk.mkdir('/data');
 * disk.writeFile('/data/a.json', '{"v":1}');
 * disk.syncAll();
 * await writeFile('/data/a.json', '{"v":2}', { fs: disk.fs });
 * ```
 */
export class SimulatedDisk implements SyncFsOps {
  /** The seam object to pass as `{ fs: disk.fs }`. */
  readonly fs: FsOps;
  readonly #inodes = new Map<number, Inode>();
  #durable = new Map<number, DurableInode>();
  #pendingEntries: PendingEntryOp[] = [];
  readonly #pendingData = new Map<number, PendingDataOp[]>();
  readonly #fds = new Map<number, OpenFile>();
  readonly #devices = new Map<string, number>();
  readonly #info = new Map<number, InodeInfo>();
  #nextIno = ROOT + 1;
  #nextFd = 10;
  #seq = 0;
  #boot: number;
  #clock = 1_700_000_000_000;
  #recorder: ((step: TraceStep, disk: SimulatedDisk) => void) | undefined;
  #steps = 0;
  /** The umask new files get. */
  umaskValue = 0o022;

  constructor(options?: { boot?: number }) {
    const o = checkOptionsObject('SimulatedDisk', options, undefined, SIM_SET);
    this.#boot = intOpt('SimulatedDisk', o, 'boot', 1);
    const root: Inode = { ino: ROOT, kind: 'dir', dev: 1, mode: 0o755, uid: 0, gid: 0, mtimeMs: this.#clock, atimeMs: this.#clock, data: new Uint8Array(0), entries: new Map(), target: '', nlink: 2 };
    this.#inodes.set(ROOT, root);
    this.#durable.set(ROOT, cloneDurable(root));
    this.#devices.set('/', 1);
    this.fs = this.#instrument();
  }

  // ---------------------------------------------------------------------------------------
  // Set-up and inspection helpers (not part of the seam; never recorded).

  /** Makes everything durable: the starting state of an exploration. */
  syncAll(): void {
    for (const op of this.#pendingEntries) op.unsynced.clear();
    this.#pinEntries();
    for (const ino of [...this.#pendingData.keys()]) this.#pinData(ino);
  }

  /** Creates a folder (and its parents) for set-up. */
  mkdirp(p: string): void {
    let cur = '/';
    for (const part of p.split('/').filter(Boolean)) {
      cur = path.posix.join(cur, part);
      if (!this.exists(cur)) this.mkdir(cur, 0o755);
    }
  }

  /**
   * Makes `p` (a new empty folder) the root of a second simulated device: renames across
   * it fail with EXDEV, as between two real file systems.
   */
  addDevice(p: string): void {
    this.mkdirp(path.posix.dirname(p));
    const dev = this.#devices.size + 1;
    const parent = this.#lookupDir(path.posix.dirname(p), 'mkdir');
    const name = path.posix.basename(p);
    if (parent.entries.has(name)) throw errno('EEXIST', 'mkdir', p);
    const ino = this.#newInode('dir', dev, 0o755, '');
    this.#recordEntry(`mount ${p}`, [{ dir: parent.ino, name, ino }]);
    parent.entries.set(name, ino);
    this.#devices.set(p, dev);
  }

  /** Writes a whole file for set-up (creating it), like fs.writeFileSync. */
  writeFile(p: string, data: string | Uint8Array, mode = 0o644): void {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    const fd = this.open(p, O.WRONLY | O.CREAT | O.TRUNC, mode);
    try {
      for (let off = 0; off < bytes.length; ) off += this.write(fd, bytes, off, bytes.length - off);
    } finally {
      this.close(fd);
    }
  }

  /** The content of a file as a program sees it, or `undefined` when there is none. */
  readFile(p: string): Buffer | undefined {
    try {
      const n = this.#resolve(p, true, 'open');
      if (!n || n.kind !== 'file') return undefined;
      return Buffer.from(n.data);
    } catch {
      return undefined;
    }
  }

  /** Whether a name exists (not following a final symlink). */
  exists(p: string): boolean {
    try {
      return this.#resolve(p, false, 'lstat') !== undefined;
    } catch {
      return false;
    }
  }

  /** The names in a folder, sorted. */
  list(p: string): string[] {
    return this.readdir(p).map((d) => d.name).sort();
  }

  /** Every path below `p` (default the root) with its kind and size, for messages. */
  tree(p = '/'): string[] {
    const out: string[] = [];
    const walk = (dir: string, n: Inode): void => {
      for (const [name, ino] of [...n.entries].sort(([a], [b]) => (a < b ? -1 : 1))) {
        const c = this.#inodes.get(ino)!;
        const full = path.posix.join(dir, name);
        if (c.kind === 'dir') {
          out.push(`${full}/`);
          walk(full, c);
        } else if (c.kind === 'symlink') out.push(`${full} -> ${c.target}`);
        else out.push(`${full} (${c.data.length} bytes)`);
      }
    };
    const start = this.#resolve(p, true, 'scandir');
    if (start?.kind === 'dir') walk(p, start);
    return out;
  }

  // ---------------------------------------------------------------------------------------
  // Crash-state machinery.

  /** A frozen picture of durable state and pending changes. @internal */
  snapshot(): DiskSnapshot {
    const durable = new Map<number, DurableInode>();
    for (const [k, v] of this.#durable) durable.set(k, cloneDurable(v));
    const pendingData = new Map<number, PendingDataOp[]>();
    for (const [k, v] of this.#pendingData) pendingData.set(k, [...v]);
    return {
      durable,
      pendingEntries: this.#pendingEntries.map((op) => ({ ...op, unsynced: new Set(op.unsynced) })),
      pendingData,
      nextIno: this.#nextIno,
      devices: new Map(this.#devices),
      boot: this.#boot,
      inodeInfo: new Map(this.#info),
    };
  }

  /**
   * The disk after a crash and restart: the durable state of `snap`, plus the pending
   * changes chosen to have reached the disk. Boots with a new boot id.
   * @internal
   */
  static restart(snap: DiskSnapshot, entriesPersisted: ReadonlySet<number>, dataChoice: ReadonlyMap<number, { readonly ops: number; readonly partial: number }>): SimulatedDisk {
    const d = new SimulatedDisk({ boot: snap.boot + 1 });
    const state = new Map<number, DurableInode>();
    for (const [k, v] of snap.durable) state.set(k, cloneDurable(v));
    // The name changes that reached the disk, in order: per (folder, name), the latest wins.
    applyEntries(state, snap.inodeInfo, snap.pendingEntries.filter((op) => entriesPersisted.has(op.seq)));
    // Data: a prefix of the pending changes, the next write possibly in part.
    for (const [ino, ops] of snap.pendingData) {
      const node = state.get(ino);
      if (!node) continue;
      const choice = dataChoice.get(ino) ?? { ops: 0, partial: 0 };
      for (let i = 0; i < Math.min(choice.ops, ops.length); i++) applyData(node, ops[i]!);
      const next = ops[choice.ops];
      if (choice.partial > 0 && next?.type === 'write') {
        applyData(node, { type: 'write', offset: next.offset, bytes: next.bytes.subarray(0, choice.partial) });
      }
    }
    // Rebuild live inodes from what is reachable from the root.
    d.#inodes.clear();
    const seen = new Set<number>();
    const visit = (ino: number): void => {
      const n = state.get(ino);
      if (!n) return;
      if (seen.has(ino)) {
        d.#inodes.get(ino)!.nlink++;
        return;
      }
      seen.add(ino);
      const live: Inode = { ...cloneDurable(n), ino, nlink: 1 };
      // Names that lead to inodes which never reached the disk are dropped.
      for (const [name, child] of [...live.entries]) if (!state.has(child)) live.entries.delete(name);
      d.#inodes.set(ino, live);
      if (n.kind === 'dir') for (const child of live.entries.values()) visit(child);
    };
    visit(ROOT);
    d.#durable = new Map([...d.#inodes].map(([k, v]) => [k, cloneDurable(v)]));
    d.#nextIno = snap.nextIno;
    for (const [p, dev] of snap.devices) d.#devices.set(p, dev);
    for (const [k, v] of snap.inodeInfo) d.#info.set(k, v);
    return d;
  }

  /** Calls `fn` after every recorded system call. @internal */
  record(fn: ((step: TraceStep, disk: SimulatedDisk) => void) | undefined): void {
    this.#recorder = fn;
    this.#steps = 0;
  }

  #instrument(): FsOps {
    const sync = {} as Record<string, (...a: unknown[]) => unknown>;
    const self = this as unknown as Record<string, (...a: unknown[]) => unknown>;
    for (const name of OP_NAMES) {
      sync[name] = (...args: unknown[]) => {
        let result: unknown;
        let error: unknown;
        try {
          result = self[name]!.apply(this, args);
        } catch (e) {
          error = e;
        }
        if (this.#recorder && RECORDED.has(name)) {
          const step = { index: this.#steps++, call: describeCall(name, args), result: error ? `${(error as NodeJS.ErrnoException).code}` : describeResult(result) };
          this.#recorder(step, this);
        }
        if (error) throw error;
        return result;
      };
    }
    return opsFromSync(sync as unknown as SyncFsOps);
  }

  #recordEntry(label: string, changes: EntryChange[]): void {
    this.#pendingEntries.push({ seq: this.#seq++, label, changes, unsynced: new Set(changes.map((c) => c.dir)) });
  }

  #recordData(ino: number, op: PendingDataOp): void {
    let list = this.#pendingData.get(ino);
    if (!list) this.#pendingData.set(ino, (list = []));
    list.push(op);
  }

  /** Applies to the durable state every pending name change whose folders were all fsynced. */
  #pinEntries(): void {
    applyEntries(this.#durable, this.#info, this.#pendingEntries.filter((op) => op.unsynced.size === 0));
    this.#pendingEntries = this.#pendingEntries.filter((op) => op.unsynced.size > 0);
  }

  #pinData(ino: number): void {
    const node = this.#inodes.get(ino);
    const ops = this.#pendingData.get(ino) ?? [];
    this.#pendingData.delete(ino);
    if (!node) return;
    let d = this.#durable.get(ino);
    if (!d) {
      // Data of an inode whose name is not durable yet: it is kept, ready for when it is.
      d = blank(node);
      this.#durable.set(ino, d);
    }
    for (const op of ops) applyData(d, op);
  }

  // ---------------------------------------------------------------------------------------
  // Path resolution.

  #now(): number {
    return (this.#clock += 1);
  }

  #newInode(kind: Kind, dev: number, mode: number, target: string): number {
    const ino = this.#nextIno++;
    const t = this.#now();
    this.#info.set(ino, { kind, dev, mode, target });
    this.#inodes.set(ino, { ino, kind, dev, mode, uid: 0, gid: 0, mtimeMs: t, atimeMs: t, data: new Uint8Array(0), entries: new Map(), target, nlink: kind === 'dir' ? 2 : 1 });
    return ino;
  }

  /** Walks to the folder holding `p`'s last name, following symlinks on the way. */
  #walk(p: string, syscall: string, hops = { n: 0 }): { parent: Inode; name: string } {
    if (!p.startsWith('/')) throw errno('EINVAL', syscall, p);
    const parts = p.split('/').filter((c) => c !== '' && c !== '.');
    const stack: Inode[] = [this.#inodes.get(ROOT)!];
    const name = parts.pop();
    for (const part of parts) {
      const cur = stack[stack.length - 1]!;
      if (part === '..') {
        if (stack.length > 1) stack.pop();
        continue;
      }
      if (cur.kind !== 'dir') throw errno('ENOTDIR', syscall, p);
      const ino = cur.entries.get(part);
      if (ino === undefined) throw errno('ENOENT', syscall, p);
      let next = this.#inodes.get(ino)!;
      if (next.kind === 'symlink') {
        if (++hops.n > 40) throw errno('ELOOP', syscall, p);
        const base = '/' + stack.slice(1).map((s) => this.#nameIn(stack, s)).join('/');
        const resolved = next.target.startsWith('/') ? next.target : path.posix.join(base, next.target);
        const r = this.#walk(resolved + '/.', syscall, hops);
        next = r.parent;
        stack.length = 0;
        stack.push(...this.#chain(next));
        continue;
      }
      if (next.kind !== 'dir') throw errno('ENOTDIR', syscall, p);
      stack.push(next);
    }
    const parent = stack[stack.length - 1]!;
    if (parent.kind !== 'dir') throw errno('ENOTDIR', syscall, p);
    return { parent, name: name === undefined || name === '..' ? '.' : name };
  }

  #nameIn(stack: Inode[], node: Inode): string {
    const i = stack.indexOf(node);
    const parent = stack[i - 1]!;
    for (const [n, ino] of parent.entries) if (ino === node.ino) return n;
    return '?';
  }

  /** The chain of folders from the root to `target` (for `..` after a symlink). */
  #chain(target: Inode): Inode[] {
    const find = (node: Inode, acc: Inode[]): Inode[] | undefined => {
      if (node === target) return [...acc, node];
      if (node.kind !== 'dir') return undefined;
      for (const ino of node.entries.values()) {
        const c = this.#inodes.get(ino)!;
        if (c.kind !== 'dir') continue;
        const r = find(c, [...acc, node]);
        if (r) return r;
      }
      return undefined;
    };
    return find(this.#inodes.get(ROOT)!, []) ?? [target];
  }

  #resolve(p: string, follow: boolean, syscall: string, hops = { n: 0 }): Inode | undefined {
    const { parent, name } = this.#walk(p, syscall, hops);
    if (name === '.') return parent;
    const ino = parent.entries.get(name);
    if (ino === undefined) return undefined;
    const node = this.#inodes.get(ino)!;
    if (node.kind === 'symlink' && follow) {
      if (++hops.n > 40) throw errno('ELOOP', syscall, p);
      const dir = this.#pathOf(parent);
      return this.#resolve(node.target.startsWith('/') ? node.target : path.posix.join(dir, node.target), true, syscall, hops);
    }
    return node;
  }

  #pathOf(dir: Inode): string {
    const chain = this.#chain(dir);
    const names: string[] = [];
    for (let i = 1; i < chain.length; i++) {
      for (const [n, ino] of chain[i - 1]!.entries) if (ino === chain[i]!.ino) names.push(n);
    }
    return '/' + names.join('/');
  }

  #lookupDir(p: string, syscall: string): Inode {
    const n = this.#resolve(p, true, syscall);
    if (!n) throw errno('ENOENT', syscall, p);
    if (n.kind !== 'dir') throw errno('ENOTDIR', syscall, p);
    return n;
  }

  #must(p: string, follow: boolean, syscall: string): Inode {
    const n = this.#resolve(p, follow, syscall);
    if (!n) throw errno('ENOENT', syscall, p);
    return n;
  }

  #stat(n: Inode): FileStat {
    const kind = n.kind;
    return {
      dev: n.dev,
      ino: n.ino,
      mode: S_IFMT[kind] | n.mode,
      nlink: n.nlink,
      uid: n.uid,
      gid: n.gid,
      size: kind === 'file' ? n.data.length : kind === 'symlink' ? n.target.length : 4096,
      mtimeMs: n.mtimeMs,
      atimeMs: n.atimeMs,
      isFile: () => kind === 'file',
      isDirectory: () => kind === 'dir',
      isSymbolicLink: () => kind === 'symlink',
      isFIFO: () => false,
    };
  }

  #fd(fd: number, syscall: string): OpenFile {
    const f = this.#fds.get(fd);
    if (!f) throw errno('EBADF', syscall);
    return f;
  }

  #dropIfUnlinked(ino: number): void {
    const n = this.#inodes.get(ino);
    if (n && n.nlink <= 0 && ![...this.#fds.values()].some((f) => f.ino === ino)) this.#inodes.delete(ino);
  }

  // ---------------------------------------------------------------------------------------
  // The seam.

  open(p: string, flags: number, mode: number): number {
    const { parent, name } = this.#walk(p, 'open');
    let ino = name === '.' ? parent.ino : parent.entries.get(name);
    if (ino !== undefined) {
      if (flags & O.CREAT && flags & O.EXCL) throw errno('EEXIST', 'open', p);
      let node = this.#inodes.get(ino)!;
      if (node.kind === 'symlink') {
        if (flags & O.NOFOLLOW) throw errno('ELOOP', 'open', p);
        node = this.#must(p, true, 'open');
        ino = node.ino;
      }
      const access = flags & 3;
      if (node.kind === 'dir' && access !== O.RDONLY) throw errno('EISDIR', 'open', p);
      if (flags & O.DIRECTORY && node.kind !== 'dir') throw errno('ENOTDIR', 'open', p);
      if (flags & O.TRUNC && node.kind === 'file' && node.data.length > 0) {
        node.data = new Uint8Array(0);
        this.#recordData(node.ino, { type: 'truncate', size: 0 });
      }
    } else {
      if (!(flags & O.CREAT)) throw errno('ENOENT', 'open', p);
      ino = this.#newInode('file', parent.dev, mode & ~this.umaskValue & 0o7777, '');
      parent.entries.set(name, ino);
      parent.mtimeMs = this.#now();
      this.#recordEntry(`create ${p}`, [{ dir: parent.ino, name, ino }]);
    }
    const fd = this.#nextFd++;
    this.#fds.set(fd, { ino, flags, pos: 0 });
    return fd;
  }

  close(fd: number): void {
    const f = this.#fd(fd, 'close');
    this.#fds.delete(fd);
    this.#dropIfUnlinked(f.ino);
  }

  write(fd: number, buf: Uint8Array, offset: number, length: number): number {
    const f = this.#fd(fd, 'write');
    if ((f.flags & 3) === O.RDONLY) throw errno('EBADF', 'write');
    const n = this.#inodes.get(f.ino)!;
    // O_APPEND: every write goes to the end of the file as it is now, as write(2) does.
    if (f.flags & O.APPEND) f.pos = n.data.length;
    const bytes = Uint8Array.from(buf.subarray(offset, offset + length));
    const end = f.pos + bytes.length;
    const data = new Uint8Array(Math.max(end, n.data.length));
    data.set(n.data);
    data.set(bytes, f.pos);
    n.data = data;
    n.mtimeMs = this.#now();
    this.#recordData(n.ino, { type: 'write', offset: f.pos, bytes });
    f.pos = end;
    return bytes.length;
  }

  /**
   * Writes `buf` at `position` without moving the descriptor's offset, as pwrite(2) does
   * (O_APPEND is not applied: the caller passes the end of the file when it wants that).
   * For replaying recorded calls (`atomfs crashcheck`); not part of the seam, never recorded.
   * @internal
   */
  pwrite(fd: number, buf: Uint8Array, position: number): number {
    const f = this.#fd(fd, 'write');
    if ((f.flags & 3) === O.RDONLY) throw errno('EBADF', 'write');
    const n = this.#inodes.get(f.ino)!;
    if (n.kind !== 'file') throw errno('EISDIR', 'write');
    const bytes = Uint8Array.from(buf);
    const data = new Uint8Array(Math.max(position + bytes.length, n.data.length));
    data.set(n.data);
    data.set(bytes, position);
    n.data = data;
    n.mtimeMs = this.#now();
    this.#recordData(n.ino, { type: 'write', offset: position, bytes });
    return bytes.length;
  }

  /**
   * Sets a file's size, as ftruncate(2) (a longer size adds zero bytes). For replaying
   * recorded calls; not part of the seam, never recorded.
   * @internal
   */
  ftruncate(fd: number, size: number): void {
    const f = this.#fd(fd, 'ftruncate');
    const n = this.#inodes.get(f.ino)!;
    if (n.kind !== 'file') throw errno('EINVAL', 'ftruncate');
    const data = new Uint8Array(size);
    data.set(n.data.subarray(0, size));
    n.data = data;
    n.mtimeMs = this.#now();
    this.#recordData(n.ino, { type: 'truncate', size });
  }

  /** The inode number behind a descriptor (to name a file in reports). @internal */
  inodeOf(fd: number): number {
    return this.#fd(fd, 'fstat').ino;
  }

  read(fd: number, buf: Uint8Array, offset: number, length: number, position: number | null): number {
    const f = this.#fd(fd, 'read');
    const n = this.#inodes.get(f.ino)!;
    if (n.kind === 'dir') throw errno('EISDIR', 'read');
    const pos = position ?? f.pos;
    const chunk = n.data.subarray(pos, pos + length);
    buf.set(chunk, offset);
    if (position === null) f.pos += chunk.length;
    return chunk.length;
  }

  fsync(fd: number): void {
    const f = this.#fd(fd, 'fsync');
    const n = this.#inodes.get(f.ino)!;
    if (n.kind === 'dir') {
      for (const op of this.#pendingEntries) op.unsynced.delete(n.ino);
      this.#pinEntries();
    }
    this.#pinData(n.ino);
  }

  #meta(n: Inode): void {
    this.#recordData(n.ino, { type: 'meta', mode: n.mode, uid: n.uid, gid: n.gid, mtimeMs: n.mtimeMs, atimeMs: n.atimeMs });
  }

  fchmod(fd: number, mode: number): void {
    const n = this.#inodes.get(this.#fd(fd, 'fchmod').ino)!;
    n.mode = mode & 0o7777;
    this.#meta(n);
  }

  fchown(fd: number, uid: number, gid: number): void {
    const n = this.#inodes.get(this.#fd(fd, 'fchown').ino)!;
    n.uid = uid;
    n.gid = gid;
    this.#meta(n);
  }

  fstat(fd: number): FileStat {
    return this.#stat(this.#inodes.get(this.#fd(fd, 'fstat').ino)!);
  }

  lstat(p: string): FileStat {
    return this.#stat(this.#must(p, false, 'lstat'));
  }

  stat(p: string): FileStat {
    return this.#stat(this.#must(p, true, 'stat'));
  }

  readlink(p: string): string {
    const n = this.#must(p, false, 'readlink');
    if (n.kind !== 'symlink') throw errno('EINVAL', 'readlink', p);
    return n.target;
  }

  rename(from: string, to: string): void {
    const a = this.#walk(from, 'rename');
    const b = this.#walk(to, 'rename');
    const ino = a.parent.entries.get(a.name);
    if (ino === undefined) throw errno('ENOENT', 'rename', from);
    const node = this.#inodes.get(ino)!;
    if (node.dev !== b.parent.dev) throw errno('EXDEV', 'rename', from);
    if (a.parent === b.parent && a.name === b.name) return;
    const existing = b.parent.entries.get(b.name);
    if (existing === ino) return; // two names of one inode: POSIX says do nothing
    if (node.kind === 'dir') {
      // A folder into its own subtree.
      for (const c of this.#chain(b.parent)) if (c.ino === ino) throw errno('EINVAL', 'rename', from);
    }
    if (existing !== undefined) {
      const old = this.#inodes.get(existing)!;
      if (old.kind === 'dir' && node.kind !== 'dir') throw errno('EISDIR', 'rename', from);
      if (old.kind !== 'dir' && node.kind === 'dir') throw errno('ENOTDIR', 'rename', from);
      if (old.kind === 'dir' && old.entries.size > 0) throw errno('ENOTEMPTY', 'rename', from);
      old.nlink--;
      this.#dropIfUnlinked(existing);
    }
    a.parent.entries.delete(a.name);
    b.parent.entries.set(b.name, ino);
    a.parent.mtimeMs = b.parent.mtimeMs = this.#now();
    this.#recordEntry(`rename ${from} -> ${to}`, [
      { dir: a.parent.ino, name: a.name, ino: null },
      { dir: b.parent.ino, name: b.name, ino },
    ]);
  }

  link(existing: string, newPath: string): void {
    const node = this.#must(existing, false, 'link');
    const b = this.#walk(newPath, 'link');
    if (b.parent.entries.has(b.name)) throw errno('EEXIST', 'link', newPath);
    if (node.kind === 'dir') throw errno('EPERM', 'link', existing);
    if (node.dev !== b.parent.dev) throw errno('EXDEV', 'link', existing);
    b.parent.entries.set(b.name, node.ino);
    node.nlink++;
    this.#recordEntry(`link ${existing} -> ${newPath}`, [{ dir: b.parent.ino, name: b.name, ino: node.ino }]);
  }

  unlink(p: string): void {
    const { parent, name } = this.#walk(p, 'unlink');
    const ino = parent.entries.get(name);
    if (ino === undefined) throw errno('ENOENT', 'unlink', p);
    const node = this.#inodes.get(ino)!;
    if (node.kind === 'dir') throw errno('EISDIR', 'unlink', p);
    parent.entries.delete(name);
    node.nlink--;
    this.#recordEntry(`unlink ${p}`, [{ dir: parent.ino, name, ino: null }]);
    this.#dropIfUnlinked(ino);
  }

  mkdir(p: string, mode: number): void {
    const { parent, name } = this.#walk(p, 'mkdir');
    if (name === '.' || parent.entries.has(name)) throw errno('EEXIST', 'mkdir', p);
    const ino = this.#newInode('dir', parent.dev, mode & ~this.umaskValue & 0o7777, '');
    parent.entries.set(name, ino);
    this.#recordEntry(`mkdir ${p}`, [{ dir: parent.ino, name, ino }]);
  }

  rmdir(p: string): void {
    const { parent, name } = this.#walk(p, 'rmdir');
    const ino = parent.entries.get(name);
    if (ino === undefined) throw errno('ENOENT', 'rmdir', p);
    const node = this.#inodes.get(ino)!;
    if (node.kind !== 'dir') throw errno('ENOTDIR', 'rmdir', p);
    if (node.entries.size > 0) throw errno('ENOTEMPTY', 'rmdir', p);
    parent.entries.delete(name);
    this.#inodes.delete(ino);
    this.#recordEntry(`rmdir ${p}`, [{ dir: parent.ino, name, ino: null }]);
  }

  readdir(p: string): DirEntry[] {
    const dir = this.#lookupDir(p, 'scandir');
    return [...dir.entries].map(([name, ino]) => {
      const kind = this.#inodes.get(ino)!.kind;
      return { name, isFile: () => kind === 'file', isDirectory: () => kind === 'dir', isSymbolicLink: () => kind === 'symlink' };
    });
  }

  utimes(p: string, atimeMs: number, mtimeMs: number): void {
    const n = this.#must(p, true, 'utime');
    n.atimeMs = atimeMs;
    n.mtimeMs = mtimeMs;
    this.#meta(n);
  }

  lutimes(p: string, atimeMs: number, mtimeMs: number): void {
    const n = this.#must(p, false, 'lutime');
    n.atimeMs = atimeMs;
    n.mtimeMs = mtimeMs;
    this.#meta(n);
  }

  symlink(target: string, p: string): void {
    const { parent, name } = this.#walk(p, 'symlink');
    if (parent.entries.has(name)) throw errno('EEXIST', 'symlink', p);
    const ino = this.#newInode('symlink', parent.dev, 0o777, target);
    parent.entries.set(name, ino);
    this.#recordEntry(`symlink ${p} -> ${target}`, [{ dir: parent.ino, name, ino }]);
  }

  chmod(p: string, mode: number): void {
    const n = this.#must(p, true, 'chmod');
    n.mode = mode & 0o7777;
    this.#meta(n);
  }

  lchown(p: string, uid: number, gid: number): void {
    const n = this.#must(p, false, 'lchown');
    n.uid = uid;
    n.gid = gid;
    this.#meta(n);
  }

  copyFile(src: string, dest: string): void {
    const s = this.#must(src, true, 'copyfile');
    if (s.kind !== 'file') throw errno('EISDIR', 'copyfile', src);
    const fd = this.open(dest, O.WRONLY | O.CREAT | O.EXCL, s.mode);
    try {
      if (s.data.length > 0) this.write(fd, s.data, 0, s.data.length);
      this.fchmod(fd, s.mode);
    } finally {
      this.close(fd);
    }
  }

  /** The simulated disk keeps no permissions: everything that exists may be touched. */
  access(p: string, _mode: number): void {
    this.#must(p, true, 'access');
  }

  realpath(p: string): string {
    const n = this.#must(p, true, 'realpath');
    if (n.kind === 'dir') return this.#pathOf(n);
    const { parent, name } = this.#walk(p, 'realpath');
    return path.posix.join(this.#pathOf(parent), name);
  }

  statfs(): {
    /** The file system's type magic. */
    type: number;
    /** The block size in bytes. */
    bsize: number;
    /** The total number of blocks. */
    blocks: number;
    /** The blocks available. */
    bavail: number;
  } {
    return { type: 0x51_4d_53_44, bsize: 4096, blocks: 1 << 20, bavail: 1 << 19 };
  }

  reflink(src: string): void {
    throw errno('ENOTSUP', 'copyfile', src);
  }

  bootId(): string {
    return `${this.#boot.toString(16).padStart(8, '0')}-sim`;
  }

  processStart(pid: number): number | null {
    return pid === process.pid ? 1 : null;
  }

  /** A simulated disk has no other processes. */
  fileHolders(_path: string): number[] {
    return [];
  }

  umask(): number {
    return this.umaskValue;
  }
}

/**
 * Applies name changes that reached the disk to an on-disk state, in order (so per folder
 * and name the latest wins). Used when folders are fsynced and when a crash state is built.
 */
function applyEntries(state: Map<number, DurableInode>, info: ReadonlyMap<number, InodeInfo>, ops: readonly PendingEntryOp[]): void {
  for (const op of ops) {
    for (const c of op.changes) {
      // The inode a durable name refers to is on disk, blank unless its data reached the
      // disk too (even when the name it was created under did not persist: a rename of it did).
      const made = c.ino === null ? undefined : info.get(c.ino);
      if (c.ino !== null && made && !state.has(c.ino)) state.set(c.ino, blank(made));
      // A folder's entries are durable once it is fsynced, even while the folder's own
      // name is not (then they become reachable when that name is).
      let dir = state.get(c.dir);
      if (!dir) {
        const dirInfo = info.get(c.dir);
        if (!dirInfo) continue;
        state.set(c.dir, (dir = blank(dirInfo)));
      }
      if (dir.kind !== 'dir') continue;
      if (c.ino === null) dir.entries.delete(c.name);
      else dir.entries.set(c.name, c.ino);
    }
  }
}

function applyData(n: DurableInode, op: PendingDataOp): void {
  if (op.type === 'write') {
    const end = op.offset + op.bytes.length;
    const data = new Uint8Array(Math.max(end, n.data.length));
    data.set(n.data);
    data.set(op.bytes, op.offset);
    n.data = data;
  } else if (op.type === 'truncate') {
    // ftruncate(2) to a longer size adds zero bytes.
    if (op.size <= n.data.length) n.data = n.data.subarray(0, op.size);
    else {
      const data = new Uint8Array(op.size);
      data.set(n.data);
      n.data = data;
    }
  } else {
    n.mode = op.mode;
    n.uid = op.uid;
    n.gid = op.gid;
    n.mtimeMs = op.mtimeMs;
    n.atimeMs = op.atimeMs;
  }
}

/** The seam calls worth a crash point (they change state). */
const RECORDED: ReadonlySet<OpName> = new Set<OpName>(['open', 'close', 'write', 'fsync', 'fchmod', 'fchown', 'rename', 'link', 'unlink', 'mkdir', 'rmdir', 'utimes', 'lutimes', 'symlink', 'chmod', 'lchown', 'copyFile']);

function describeCall(name: string, args: readonly unknown[]): string {
  if (name === 'write') return `write(fd ${String(args[0])}, ${String(args[3])} bytes)`;
  if (name === 'open') {
    const f = args[1] as number;
    const flags = [(f & 3) === O.WRONLY ? 'O_WRONLY' : (f & 3) === O.RDWR ? 'O_RDWR' : 'O_RDONLY'];
    if (f & O.CREAT) flags.push('O_CREAT');
    if (f & O.EXCL) flags.push('O_EXCL');
    if (f & O.TRUNC) flags.push('O_TRUNC');
    if (f & O.APPEND) flags.push('O_APPEND');
    if (f & O.DIRECTORY) flags.push('O_DIRECTORY');
    return `open("${String(args[0])}", ${flags.join('|')})`;
  }
  if (name === 'fsync' || name === 'close' || name === 'fchmod' || name === 'fchown') {
    return `${name}(fd ${String(args[0])}${args.length > 1 ? ', ' + args.slice(1).map((a) => (typeof a === 'number' && name === 'fchmod' ? '0' + a.toString(8) : String(a))).join(', ') : ''})`;
  }
  return `${name}(${args.map((a) => (typeof a === 'string' ? `"${a}"` : String(a))).join(', ')})`;
}

function describeResult(r: unknown): string {
  if (r === undefined) return 'ok';
  if (typeof r === 'number') return String(r);
  return 'ok';
}
