/**
 * `atomfs vfs`'s mount table, from the shell: `--mount PREFIX=URL[:ro]` (repeatable, or the
 * ATOMFS_VFS_MOUNTS variable) into a VirtualFileSystem. The PostgreSQL driver is loaded only
 * when a `postgres://` mount is given: it is an optional peer dependency, and a run over
 * local folders must not pay for it (nor fail without it).
 *
 * @module
 */
import { fileURLToPath } from 'node:url';
import { isAtomfsError } from '../errors.js';
import { LocalMount } from '../vfs/local-mount.js';
import { MemoryMount } from '../vfs/memory-mount.js';
import type { VirtualMount } from '../vfs/mount.js';
import { ReadOnlyMount } from '../vfs/read-only-mount.js';
import { VirtualFileSystem } from '../vfs/vfs.js';
import { normalizeVirtual } from '../vfs/vpath.js';
import { UsageError } from './util.js';

/** The environment variable read when no `--mount` is given: specs separated by whitespace. */
export const MOUNTS_ENV = 'ATOMFS_VFS_MOUNTS';

/** One `--mount` spec, parsed and checked (nothing is connected or touched yet). */
export interface MountSpec {
  /** The virtual prefix, normalized (`/shared`). */
  readonly prefix: string;
  /** `file`, `memory` or `postgres`. */
  readonly kind: 'file' | 'memory' | 'postgres';
  /** The folder of a `file:` mount, or the connection URL of a `postgres:` one. */
  readonly target: string;
  /** A trailing `:ro`, or `--read-only`: the mount is a ReadOnlyMount. */
  readonly readOnly: boolean;
}

const SCHEMES = "file:///PATH, postgres://… (or postgresql://…) or memory:";

/**
 * Parses `PREFIX=URL[:ro]`. A trailing `:ro` (after the URL) makes the mount read-only: a
 * folder or database name that really ends in `:ro` is written percent-encoded (`%3Aro`).
 */
export function parseMountSpec(spec: string, readOnlyAll: boolean): MountSpec {
  const eq = spec.indexOf('=');
  if (eq <= 0) throw new UsageError(`--mount takes PREFIX=URL (e.g. /shared=postgres://host/db), got '${spec}'`);
  const rawPrefix = spec.slice(0, eq);
  let url = spec.slice(eq + 1);
  let readOnly = readOnlyAll;
  if (url.endsWith(':ro')) {
    readOnly = true;
    url = url.slice(0, -3);
  }
  if (!rawPrefix.startsWith('/')) throw new UsageError(`a mount's PREFIX must be an absolute virtual path like /shared, got '${rawPrefix}'`);
  let prefix: string;
  try {
    prefix = normalizeVirtual('vfs.mount', rawPrefix, 'prefix');
  } catch (e) {
    throw new UsageError(`bad mount PREFIX '${rawPrefix}': ${(e as Error).message}`);
  }
  if (url === 'memory:') return { prefix, kind: 'memory', target: '', readOnly };
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UsageError(`--mount ${rawPrefix}= takes a URL: ${SCHEMES}; got '${url}'`);
  }
  if (u.protocol === 'memory:') throw new UsageError(`a memory mount is just 'memory:' (nothing after it), got '${url}'`);
  if (u.protocol === 'file:') {
    // file:relative and file://host/path name no local folder of ours.
    if (!/^file:\/\/(localhost)?\//i.test(url)) throw new UsageError(`a file mount takes an absolute URL, file:///srv/data, got '${url}'`);
    if (u.search !== '' || u.hash !== '') throw new UsageError(`a file mount takes no query or fragment, got '${url}'`);
    return { prefix, kind: 'file', target: fileURLToPath(u), readOnly };
  }
  if (u.protocol === 'postgres:' || u.protocol === 'postgresql:') return { prefix, kind: 'postgres', target: url, readOnly };
  throw new UsageError(`unknown mount URL scheme '${u.protocol}' in '${url}': use ${SCHEMES}`);
}

/** The mounted file system and what must be closed when the command is done. */
export interface MountedVfs {
  readonly vfs: VirtualFileSystem;
  readonly specs: readonly MountSpec[];
  /** Whether the mount holding virtual path `p` has its own handles, staged until close (the `handles` capability). */
  stagedAt(p: string): boolean;
  /** Ends the PostgreSQL pools (idempotent). */
  close(): Promise<void>;
}

/** What {@link mountAll} takes. */
export interface MountAllOptions {
  /** The `--mount` values; when empty, ATOMFS_VFS_MOUNTS' are used. */
  readonly mounts: readonly string[];
  /** The environment (ATOMFS_VFS_MOUNTS). */
  readonly env: NodeJS.ProcessEnv;
  /** `--read-only`: every mount read-only. */
  readonly readOnly: boolean;
  /** `--schema` of every postgres:// mount. */
  readonly schema: string | undefined;
}

/**
 * Parses every spec first (a bad one is bad usage before anything is made), then builds the
 * mounts. Nothing connects here: a PostgresMount connects at its first call.
 */
export async function mountAll(o: MountAllOptions): Promise<MountedVfs> {
  const given = o.mounts.length > 0 ? o.mounts : (o.env[MOUNTS_ENV] ?? '').split(/\s+/).filter((s) => s !== '');
  if (given.length === 0) throw new UsageError(`vfs needs at least one --mount PREFIX=URL (or ${MOUNTS_ENV})`);
  const specs = given.map((s) => parseMountSpec(s, o.readOnly));
  const seen = new Set<string>();
  for (const s of specs) {
    if (seen.has(s.prefix)) throw new UsageError(`two mounts at '${s.prefix}'`);
    seen.add(s.prefix);
  }
  if (o.schema !== undefined && !specs.some((s) => s.kind === 'postgres')) throw new UsageError('--schema is for postgres:// mounts, and none is given');
  const closers: Array<() => Promise<void>> = [];
  const vfs = new VirtualFileSystem();
  const byPrefix = new Map<string, VirtualMount>();
  try {
    // Loaded only now, and only for a postgres:// mount: the driver is an optional peer.
    const pgModule = specs.some((s) => s.kind === 'postgres') ? await import('../postgres/index.js') : undefined;
    for (const s of specs) {
      let m: VirtualMount;
      if (s.kind === 'memory') m = new MemoryMount();
      else if (s.kind === 'file') m = new LocalMount(s.target);
      else {
        const pgm = new pgModule!.PostgresMount({ connectionString: s.target, ...(o.schema === undefined ? {} : { schema: o.schema }) });
        closers.push(() => pgm.close());
        m = pgm;
      }
      const mounted = s.readOnly ? new ReadOnlyMount(m) : m;
      byPrefix.set(s.prefix, mounted);
      vfs.mount(s.prefix, mounted);
    }
  } catch (e) {
    await Promise.all(closers.map((c) => c().catch(() => undefined)));
    // A value the mount refuses (a schema name, say) is the caller's mistake: bad usage.
    if (isAtomfsError(e, 'EINVAL')) throw new UsageError(e.message);
    throw e;
  }
  let closed = false;
  return {
    vfs,
    specs,
    stagedAt(p) {
      const at = mountOf(specs, p);
      return at !== undefined && byPrefix.get(at)?.capabilities.has('handles') === true;
    },
    async close() {
      if (closed) return;
      closed = true;
      await Promise.all(closers.map((c) => c().catch(() => undefined)));
    },
  };
}

/** The prefix of the mount that holds virtual path `p` (longest prefix), if any. */
export function mountOf(specs: readonly MountSpec[], p: string): string | undefined {
  let best: string | undefined;
  for (const s of specs) {
    const under = s.prefix === '/' || p === s.prefix || p.startsWith(s.prefix + '/');
    if (under && (best === undefined || s.prefix.length > best.length)) best = s.prefix;
  }
  return best;
}
