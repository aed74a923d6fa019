/**
 * Helpers for the VFS tests: the subjects the one conformance suite runs over (every
 * mount kind behind a VirtualFileSystem, plus real node:fs as the oracle), a mount
 * wrapper that hides capabilities, counts calls and fails the Nth one, and tree
 * snapshots taken beside the code under test (never through it).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TestContext } from 'node:test';
import {
  LocalMount,
  MemoryMount,
  ReadOnlyMount,
  VirtualFileSystem,
  type MountCapability,
  type VirtualMount,
  type VStat,
} from '../../src/index.js';
import { tmpDir } from '../helpers/tmp.js';

type HasAfter = TestContext | { after(fn: () => void): void };

/** A tree to seed: `'a/'` is a folder, `'a/f': 'text'` a file. Parents must come first. */
export type Tree = Readonly<Record<string, string | null>>;

/** The file-system calls the conformance suite makes, in VFS terms. */
export interface Api {
  stat(p: string): Promise<VStat>;
  list(p: string): Promise<string[]>;
  mkdir(p: string): Promise<void>;
  readFile(p: string): Promise<string>;
  writeFile(p: string, data: string): Promise<void>;
  remove(p: string): Promise<void>;
  truncate(p: string, size: number): Promise<void>;
  rename(a: string, b: string, opts?: { overwrite?: boolean }): Promise<void>;
}

/** One thing the suite runs against. */
export interface Subject {
  readonly name: string;
  /** Absent for the oracle. */
  readonly vfs: VirtualFileSystem | undefined;
  readonly api: Api;
  /** Where the tests work: `/m` on a VFS, a real folder for the oracle. */
  readonly root: string;
  readonly readOnly: boolean;
  readonly caseInsensitive: boolean;
  /** The real node:fs. */
  readonly oracle: boolean;
  /** The mount checks conditional writes (`ifMatch`, `ifNoneMatch`); without it they are refused (`ENOTSUP`). */
  readonly conditional: boolean;
  /** The mount's handles are staged until close (the `handles` capability): `discard()` publishes nothing. */
  readonly staged: boolean;
  /** A path under the root. */
  p(rel: string): string;
  /** Writes a tree under the root, bypassing read-only wrappers. `mtimes` in whole seconds (ms). */
  seed(tree: Tree, mtimes?: Readonly<Record<string, number>>): Promise<void>;
  /** Everything under the root: `rel kind [content]`, sorted (read beside the VFS). */
  snapshot(): Promise<string[]>;
}

/** A mount wrapper: optionally hides capabilities, counts calls, fails the Nth call, runs a hook before each. */
export class FaultMount implements VirtualMount {
  readonly capabilities: ReadonlySet<MountCapability>;
  readonly caseInsensitive: boolean;
  readonly inner: VirtualMount;
  readonly calls: string[] = [];
  /** Fail the call with this 1-based number. */
  failAt = 0;
  /** Keep failing every call from `failAt` on (a broken backend), not just that one. */
  failFromThenOn = false;
  /** Runs before each call (with its number). */
  before: ((n: number, name: string, args: readonly unknown[]) => void) | undefined;
  rename?: VirtualMount['rename'];
  setMetadata?: VirtualMount['setMetadata'];

  constructor(inner: VirtualMount, hide: readonly MountCapability[] = []) {
    this.inner = inner;
    this.capabilities = new Set([...inner.capabilities].filter((c) => !hide.includes(c)));
    this.caseInsensitive = inner.caseInsensitive === true;
    // The options go through: dropping them would drop a rename's condition silently.
    if (this.capabilities.has('rename')) this.rename = (a, b, o) => this.#go('rename', [a, b], () => (o === undefined ? inner.rename!(a, b) : inner.rename!(a, b, o)));
    if (this.capabilities.has('metadata')) this.setMetadata = (p, u) => this.#go('setMetadata', [p, u], () => inner.setMetadata!(p, u));
  }

  async #go<T>(name: string, args: readonly unknown[], fn: () => Promise<T>): Promise<T> {
    this.calls.push(name);
    const n = this.calls.length;
    this.before?.(n, name, args);
    if (this.failAt > 0 && (n === this.failAt || (this.failFromThenOn && n > this.failAt))) {
      const e = new Error(`EIO: injected, ${name} '${String(args[0])}'`) as NodeJS.ErrnoException;
      e.code = 'EIO';
      e.syscall = name;
      throw e;
    }
    return fn();
  }

  create: VirtualMount['create'] = (p, o) => this.#go('create', [p, o], () => this.inner.create(p, o));
  read: VirtualMount['read'] = (p, o) => this.#go('read', [p, o], () => this.inner.read(p, o));
  write: VirtualMount['write'] = (p, d, o) => this.#go('write', [p, d, o], () => this.inner.write(p, d, o));
  delete: VirtualMount['delete'] = (p) => this.#go('delete', [p], () => this.inner.delete(p));
  list: VirtualMount['list'] = (p) => this.#go('list', [p], () => this.inner.list(p));
  stat: VirtualMount['stat'] = (p) => this.#go('stat', [p], () => this.inner.stat(p));
  truncate: VirtualMount['truncate'] = (p, s) => this.#go('truncate', [p, s], () => this.inner.truncate(p, s));
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Seeds a tree into a mount (mount-relative `base`). */
export async function seedMount(m: VirtualMount, base: string, tree: Tree, mtimes: Readonly<Record<string, number>> = {}): Promise<void> {
  const abs = (rel: string): string => (base === '/' ? '' : base) + '/' + rel.replace(/\/$/, '');
  for (const [rel, content] of Object.entries(tree)) {
    if (content === null) await m.create(abs(rel), { dir: true });
    else {
      await m.create(abs(rel), { dir: false });
      if (content.length > 0) await m.write(abs(rel), enc.encode(content));
    }
  }
  // Times last, deepest first, so adding children does not change them afterwards.
  for (const rel of Object.keys(mtimes).sort().reverse()) await m.setMetadata!(abs(rel), { mtimeMs: mtimes[rel]! });
}

/** Seeds a tree into a real folder. */
export function seedFs(dir: string, tree: Tree, mtimes: Readonly<Record<string, number>> = {}): void {
  for (const [rel, content] of Object.entries(tree)) {
    const p = path.join(dir, rel);
    if (content === null) fs.mkdirSync(p);
    else fs.writeFileSync(p, content);
  }
  for (const rel of Object.keys(mtimes).sort().reverse()) fs.utimesSync(path.join(dir, rel), mtimes[rel]! / 1000, mtimes[rel]! / 1000);
}

/** Everything under a mount folder, sorted: `rel dir` or `rel file content mtime`. */
export async function snapshotMount(m: VirtualMount, base = '/'): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string, sub: string): Promise<void> => {
    for (const name of (await m.list(rel)).sort()) {
      const p = rel === '/' ? `/${name}` : `${rel}/${name}`;
      const s = sub === '' ? name : `${sub}/${name}`;
      const st = await m.stat(p);
      if (st.kind === 'dir') {
        out.push(`${s} dir`);
        await walk(p, s);
      } else out.push(`${s} file ${dec.decode(await m.read(p))} ${st.mtimeMs}`);
    }
  };
  await walk(base, '');
  return out.sort();
}

/** The same for a real folder. */
export function snapshotFs(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, sub: string): void => {
    for (const name of fs.readdirSync(d).sort()) {
      const p = path.join(d, name);
      const s = sub === '' ? name : `${sub}/${name}`;
      const st = fs.lstatSync(p);
      if (st.isSymbolicLink()) out.push(`${s} link ${fs.readlinkSync(p)}`);
      else if (st.isDirectory()) {
        out.push(`${s} dir`);
        walk(p, s);
      } else out.push(`${s} file ${fs.readFileSync(p, 'utf8')} ${st.mtimeMs}`);
    }
  };
  walk(dir, '');
  return out.sort();
}

function vfsApi(vfs: VirtualFileSystem): Api {
  return {
    stat: (p) => vfs.stat(p),
    list: (p) => vfs.list(p),
    mkdir: (p) => vfs.mkdir(p),
    readFile: (p) => vfs.readFile(p, { encoding: 'utf8' }),
    writeFile: (p, d) => vfs.writeFile(p, d),
    remove: (p) => vfs.remove(p),
    truncate: (p, s) => vfs.truncate(p, s),
    rename: (a, b, o) => vfs.rename(a, b, o),
  };
}

// node:fs in the same terms. `rename` always replaces (node has no overwrite option), so
// rows that depend on overwrite: false do not run on the oracle.
const fsApi: Api = {
  stat: async (p) => {
    const st = await fs.promises.stat(p);
    return { kind: st.isDirectory() ? 'dir' : 'file', size: st.size, mtimeMs: st.mtimeMs, mode: st.mode & 0o7777 };
  },
  list: async (p) => (await fs.promises.readdir(p)).sort(),
  mkdir: (p) => fs.promises.mkdir(p),
  readFile: (p) => fs.promises.readFile(p, 'utf8'),
  writeFile: (p, d) => fs.promises.writeFile(p, d),
  remove: async (p) => {
    const st = await fs.promises.lstat(p);
    if (st.isDirectory()) await fs.promises.rmdir(p);
    else await fs.promises.unlink(p);
  },
  truncate: (p, s) => fs.promises.truncate(p, s),
  rename: (a, b) => fs.promises.rename(a, b),
};

export interface Parts {
  readonly name: string;
  readonly mount: VirtualMount;
  readonly mountOptions?: { readOnly: boolean };
  /** Writable view for seeding and snapshots (the inner mount of a wrapper). */
  readonly backing: VirtualMount;
  readonly readOnly: boolean;
}

export function vfsSubject(parts: Parts, realDir?: string): Subject {
  const vfs = new VirtualFileSystem();
  vfs.mount('/m', parts.mount, parts.mountOptions);
  return {
    name: parts.name,
    vfs,
    api: vfsApi(vfs),
    root: '/m',
    readOnly: parts.readOnly,
    caseInsensitive: parts.mount.caseInsensitive === true,
    oracle: false,
    conditional: parts.mount.capabilities.has('conditionalWrite') && (parts.mount.capabilities.has('rename') || parts.mount.capabilities.has('atomicWrite')),
    staged: parts.mount.capabilities.has('handles'),
    p: (rel) => (rel === '' ? '/m' : `/m/${rel}`),
    seed: async (tree, mtimes) => (realDir === undefined ? seedMount(parts.backing, '/', tree, mtimes) : seedFs(realDir, tree, mtimes)),
    snapshot: async () => (realDir === undefined ? snapshotMount(parts.backing) : snapshotFs(realDir)),
  };
}

/** A factory per subject: each test makes a fresh one. */
export interface SubjectFactory {
  readonly name: string;
  /** The real node:fs: rules only a VFS has are not registered for it. */
  readonly oracle?: boolean;
  make(t: HasAfter): Subject;
}

/** Every mount kind, and the oracle. */
export const SUBJECTS: readonly SubjectFactory[] = [
  {
    name: 'MemoryMount',
    make: () => {
      const m = new MemoryMount();
      return vfsSubject({ name: 'MemoryMount', mount: m, backing: m, readOnly: false });
    },
  },
  {
    name: 'MemoryMount (case-insensitive)',
    make: () => {
      const m = new MemoryMount({ caseInsensitive: true });
      return vfsSubject({ name: 'MemoryMount (case-insensitive)', mount: m, backing: m, readOnly: false });
    },
  },
  {
    name: 'MemoryMount without native rename (copy fallback)',
    make: () => {
      const m = new MemoryMount();
      return vfsSubject({ name: 'fallback', mount: new FaultMount(m, ['rename']), backing: m, readOnly: false });
    },
  },
  {
    name: 'MemoryMount (case-insensitive) without native rename',
    make: () => {
      const m = new MemoryMount({ caseInsensitive: true });
      return vfsSubject({ name: 'fallback ci', mount: new FaultMount(m, ['rename']), backing: m, readOnly: false });
    },
  },
  {
    name: 'LocalMount (temp folder)',
    make: (t) => {
      const dir = tmpDir(t);
      const m = new LocalMount(dir);
      return vfsSubject({ name: 'LocalMount', mount: m, backing: m, readOnly: false }, dir);
    },
  },
  {
    name: 'ReadOnlyMount over MemoryMount',
    make: () => {
      const m = new MemoryMount();
      return vfsSubject({ name: 'ReadOnlyMount', mount: new ReadOnlyMount(m), backing: m, readOnly: true });
    },
  },
  {
    name: 'MemoryMount mounted readOnly',
    make: () => {
      const m = new MemoryMount();
      return vfsSubject({ name: 'readOnly option', mount: m, mountOptions: { readOnly: true }, backing: m, readOnly: true });
    },
  },
  {
    name: 'node:fs (oracle)',
    oracle: true,
    make: (t) => {
      const dir = tmpDir(t);
      return {
        name: 'node:fs',
        vfs: undefined,
        api: fsApi,
        root: dir,
        readOnly: false,
        caseInsensitive: false,
        oracle: true,
        conditional: false,
        staged: false,
        p: (rel) => (rel === '' ? dir : path.join(dir, rel)),
        seed: async (tree, mtimes) => seedFs(dir, tree, mtimes),
        snapshot: async () => snapshotFs(dir),
      };
    },
  },
];

/** Awaits `p` and returns its error's code, or 'ok'. */
export async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    return String((e as NodeJS.ErrnoException).code);
  }
}

/** Awaits a rejection and returns the error. */
export async function rejection(p: Promise<unknown>): Promise<NodeJS.ErrnoException & { dest?: string; operation?: string; suppressed?: unknown }> {
  try {
    await p;
  } catch (e) {
    return e as NodeJS.ErrnoException;
  }
  throw new Error('expected a rejection');
}
