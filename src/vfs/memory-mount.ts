/**
 * MemoryMount: a mount that keeps a real tree in memory (folder nodes with a map of
 * children), so a rename of a folder of any size moves one node: O(depth), not O(size).
 *
 * @module
 */
import {
  checkCondition,
  checkCreateOptions,
  checkPrecondition,
  checkMountPath,
  checkReadOptions,
  checkSize,
  checkUpdate,
  checkWriteArgs,
  mountError,
  type CreateOptions,
  type MetadataUpdate,
  type MountCapability,
  type MountRenameOptions,
  type ReadOptions,
  type VirtualMount,
  type VStat,
  type WriteOptions,
} from './mount.js';
import { boolOpt, checkOptionsObject, optionNames } from '../options.js';
import { fold, segments } from './vpath.js';
import { textOf } from '../internal/paths.js';

const MEMORY_SET = optionNames(['caseInsensitive']);

/** Options of {@link MemoryMount}. */
export interface MemoryMountOptions {
  /**
   * Compare names case-insensitively (folded with `toLowerCase`), as on macOS or Windows.
   * Names keep the spelling they were created (or last renamed) with. Default `false`.
   */
  readonly caseInsensitive?: boolean | undefined;
}

interface FileNode {
  readonly kind: 'file';
  name: string;
  mtimeMs: number;
  mode: number;
  // From the mount's one sequence, set anew at every change: never the same for two states.
  version: number;
  // A buffer with spare room, so appending chunk by chunk is amortised O(chunk).
  data: Uint8Array;
  size: number;
}

interface DirNode {
  readonly kind: 'dir';
  name: string;
  mtimeMs: number;
  mode: number;
  version: number;
  // Keyed by the (folded, when case-insensitive) name; the node holds the spelling.
  readonly children: Map<string, MemNode>;
}

type MemNode = FileNode | DirNode;

const EMPTY = new Uint8Array(0);
const ALL: ReadonlySet<MountCapability> = new Set<MountCapability>(['rename', 'metadata', 'conditionalWrite']);

/**
 * A {@link VirtualMount} in memory: a tree of nodes with per-file modification time and
 * mode, a native O(1) rename of files and whole folders (the node is moved, nothing is
 * copied), and an optional case-insensitive mode.
 *
 * Modification times follow POSIX: writing or truncating a file updates its time; adding,
 * removing or renaming an entry updates its folder's; a rename keeps the moved entry's.
 * Versions (`stat().version`) come from one counter of the mount, taken anew by every
 * change of an entry (a moved entry and both folders included), so two states of a path
 * never share one. Conditional writes (`ifMatch`, `ifNoneMatch`) are checked and applied
 * in one synchronous step: atomic within the process, which is all that can see the mount.
 *
 * @example
 * ```ts
 * const vfs = new VirtualFileSystem();
 * vfs.mount('/mem', new MemoryMount({ caseInsensitive: true }));
 * await vfs.writeFile('/mem/Readme.md', '# hi');
 * await vfs.rename('/mem/Readme.md', '/mem/README.md'); // a case-only rename
 * ```
 */
export class MemoryMount implements VirtualMount {
  /** `rename`, `metadata` and `conditionalWrite`. */
  readonly capabilities: ReadonlySet<MountCapability> = ALL;
  /** Whether names compare case-insensitively. */
  readonly caseInsensitive: boolean;
  readonly #root: DirNode;
  #visits = 0;
  #seq = 0;

  /**
   * @param options - `caseInsensitive` (default `false`).
   */
  constructor(options?: MemoryMountOptions) {
    const o = checkOptionsObject('MemoryMount', options, undefined, MEMORY_SET);
    this.caseInsensitive = boolOpt('MemoryMount', o, 'caseInsensitive', false);
    this.#root = { kind: 'dir', name: '', mtimeMs: Date.now(), mode: 0o755, version: ++this.#seq, children: new Map() };
  }

  /**
   * How many tree nodes path lookups have visited since the mount was made: a measure of
   * work that does not depend on the machine (tests use it to show a folder rename costs
   * the same whatever the folder holds).
   */
  get nodeVisits(): number {
    return this.#visits;
  }

  // A change of `nodes`: each takes a new version.
  #bump(...nodes: MemNode[]): void {
    for (const n of nodes) n.version = ++this.#seq;
  }

  #key(name: string): string {
    return this.caseInsensitive ? fold(name) : name;
  }

  // Walks to the node at `segs`; ENOENT when a name is missing, ENOTDIR when a file is
  // in the way (as the kernel reports a path through a file).
  #walk(segs: readonly string[], syscall: string, path: string): MemNode {
    let node: MemNode = this.#root;
    this.#visits++;
    for (const seg of segs) {
      if (node.kind !== 'dir') throw mountError('ENOTDIR', syscall, path);
      const next: MemNode | undefined = node.children.get(this.#key(seg));
      this.#visits++;
      if (next === undefined) throw mountError('ENOENT', syscall, path);
      node = next;
    }
    return node;
  }

  #node(path: string, syscall: string): MemNode {
    return this.#walk(segments(checkMountPath(path, syscall)), syscall, path);
  }

  // The folder that holds (or would hold) `path`, and the entry's name.
  #parent(path: string, syscall: string): { dir: DirNode; name: string } {
    const segs = segments(checkMountPath(path, syscall));
    if (segs.length === 0) throw mountError('EBUSY', syscall, path);
    const name = segs.pop()!;
    const dir = this.#walk(segs, syscall, path);
    if (dir.kind !== 'dir') throw mountError('ENOTDIR', syscall, path);
    return { dir, name };
  }

  #file(path: string, syscall: string): FileNode {
    const n = this.#node(path, syscall);
    if (n.kind !== 'file') throw mountError('EISDIR', syscall, path);
    return n;
  }

  /** Creates an empty file or folder. @throws `EEXIST`, `ENOENT`, `ENOTDIR` */
  async create(path: string, options: CreateOptions): Promise<void> {
    checkCreateOptions(options, path);
    const syscall = options.dir ? 'mkdir' : 'open';
    const segs = segments(checkMountPath(path, syscall));
    if (segs.length === 0) throw mountError('EEXIST', syscall, path);
    const { dir, name } = this.#parent(path, syscall);
    const key = this.#key(name);
    if (dir.children.has(key)) throw mountError('EEXIST', syscall, path);
    const now = Date.now();
    const node: MemNode = options.dir
      ? { kind: 'dir', name, mtimeMs: now, mode: options.mode ?? 0o755, version: ++this.#seq, children: new Map() }
      : { kind: 'file', name, mtimeMs: now, mode: options.mode ?? 0o644, version: ++this.#seq, data: EMPTY, size: 0 };
    dir.children.set(key, node);
    dir.mtimeMs = now;
    this.#bump(dir);
  }

  /** Reads a file (a copy of its bytes). @throws `ENOENT`, `EISDIR` */
  async read(path: string, opts?: ReadOptions): Promise<Uint8Array> {
    const options = checkReadOptions(opts, path);
    const f = this.#file(path, 'read');
    const start = Math.min(options.offset ?? 0, f.size);
    const end = options.length === undefined ? f.size : Math.min(f.size, start + options.length);
    return f.data.slice(start, end);
  }

  /** Writes into an existing file at `offset`. @throws `ENOENT`, `EISDIR` */
  async write(path: string, data: Uint8Array, opts?: WriteOptions): Promise<void> {
    const options = checkWriteArgs(data, opts, path);
    const f = this.#file(path, 'write');
    const offset = options.offset ?? 0;
    const end = offset + data.length;
    reserve(f, end);
    // The spare room may hold bytes cut off by an earlier truncate: a gap must read as zeros.
    if (offset > f.size) f.data.fill(0, f.size, offset);
    f.data.set(data, offset);
    if (end > f.size) f.size = end;
    f.mtimeMs = Date.now();
    this.#bump(f);
  }

  /** Removes a file or an empty folder. @throws `ENOENT`, `ENOTEMPTY`, `EBUSY` (the root) */
  async delete(path: string): Promise<void> {
    const { dir, name } = this.#parent(path, 'unlink');
    const key = this.#key(name);
    const node = dir.children.get(key);
    this.#visits++;
    if (node === undefined) throw mountError('ENOENT', 'unlink', path);
    if (node.kind === 'dir' && node.children.size > 0) throw mountError('ENOTEMPTY', 'rmdir', path);
    dir.children.delete(key);
    dir.mtimeMs = Date.now();
    this.#bump(dir);
  }

  /** The names in a folder, as spelled. @throws `ENOENT`, `ENOTDIR` */
  async list(path: string): Promise<string[]> {
    const n = this.#node(path, 'scandir');
    if (n.kind !== 'dir') throw mountError('ENOTDIR', 'scandir', path);
    return Array.from(n.children.values(), (c) => c.name);
  }

  /** Kind, size, modification time, mode and version. @throws `ENOENT`, `ENOTDIR` */
  async stat(path: string): Promise<VStat> {
    const n = this.#node(path, 'stat');
    return { kind: n.kind, size: n.kind === 'file' ? n.size : n.children.size, mtimeMs: n.mtimeMs, mode: n.mode, version: String(n.version) };
  }

  /** Sets a file's length (longer: zero bytes). @throws `ENOENT`, `EISDIR` */
  async truncate(path: string, size: number): Promise<void> {
    checkSize(size, path);
    const f = this.#file(path, 'truncate');
    if (size > f.size) {
      reserve(f, size);
      f.data.fill(0, f.size, size);
    }
    f.size = size;
    f.mtimeMs = Date.now();
    this.#bump(f);
  }

  /** Sets modification time and/or mode. @throws `ENOENT` */
  async setMetadata(path: string, update: MetadataUpdate): Promise<void> {
    checkUpdate(update, path);
    const n = this.#node(path, 'utimes');
    if (update.mtimeMs !== undefined) n.mtimeMs = update.mtimeMs;
    if (update.mode !== undefined) n.mode = update.mode & 0o7777;
    this.#bump(n);
  }

  /**
   * Moves a node: O(depth of the two paths) whatever the size of a moved folder. POSIX
   * semantics: replaces a file, or an empty folder when moving a folder; a case-only
   * rename (same entry, other spelling) just respells the name. A `WriteCondition`
   * (`ifMatch`, `ifNoneMatch`) on the destination is checked in the same synchronous step
   * as the move.
   * @throws `ENOENT`, `EINVAL` (a folder into itself, or a bad condition), `EISDIR`, `ENOTDIR`, `ENOTEMPTY`, `EBUSY` (the root), `ECANCELED`/`ENOENT`/`EEXIST` (the condition failed)
   */
  async rename(oldPath: string, newPath: string, options?: MountRenameOptions): Promise<void> {
    const cond = checkCondition(options, 'rename', textOf(newPath));
    const from = this.#parent(oldPath, 'rename');
    const node = from.dir.children.get(this.#key(from.name));
    this.#visits++;
    if (node === undefined) throw mountError('ENOENT', 'rename', oldPath);
    const newSegs = segments(checkMountPath(newPath, 'rename'));
    if (newSegs.length === 0) throw mountError('EBUSY', 'rename', newPath);
    const newName = newSegs.pop()!;
    // Walk the destination's parents by hand so we notice passing through the moved node:
    // that is a folder being moved into its own subtree.
    let dir: MemNode = this.#root;
    this.#visits++;
    for (const seg of newSegs) {
      if (dir === node) throw mountError('EINVAL', 'rename', oldPath);
      if (dir.kind !== 'dir') throw mountError('ENOTDIR', 'rename', newPath);
      const next: MemNode | undefined = dir.children.get(this.#key(seg));
      this.#visits++;
      if (next === undefined) throw mountError('ENOENT', 'rename', newPath);
      dir = next;
    }
    if (dir === node) throw mountError('EINVAL', 'rename', oldPath);
    if (dir.kind !== 'dir') throw mountError('ENOTDIR', 'rename', newPath);
    const newKey = this.#key(newName);
    const existing = dir.children.get(newKey);
    this.#visits++;
    checkPrecondition(cond, existing === undefined ? undefined : { version: String(existing.version) }, 'rename', newPath);
    if (existing === node) {
      // The same entry: a no-op, or a case-only respelling on a case-insensitive mount.
      if (node.name !== newName) {
        node.name = newName;
        dir.mtimeMs = Date.now();
        this.#bump(node, dir);
      }
      return;
    }
    if (existing !== undefined) {
      if (node.kind === 'file' && existing.kind === 'dir') throw mountError('EISDIR', 'rename', newPath);
      if (node.kind === 'dir' && existing.kind === 'file') throw mountError('ENOTDIR', 'rename', newPath);
      if (existing.kind === 'dir' && existing.children.size > 0) throw mountError('ENOTEMPTY', 'rename', newPath);
    }
    from.dir.children.delete(this.#key(from.name));
    node.name = newName;
    dir.children.set(newKey, node);
    const now = Date.now();
    from.dir.mtimeMs = now;
    dir.mtimeMs = now;
    this.#bump(node, from.dir, dir);
  }
}

// Grows a file's buffer to hold `end` bytes, doubling so repeated appends stay linear.
function reserve(f: FileNode, end: number): void {
  if (end <= f.data.length) return;
  const grown = new Uint8Array(Math.max(end, f.data.length * 2, 64));
  grown.set(f.data.subarray(0, f.size));
  f.data = grown;
}
