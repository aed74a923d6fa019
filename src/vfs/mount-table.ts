/**
 * A VirtualFileSystem's mount table: which mount holds a virtual path (the longest prefix
 * that contains it) and the path inside that mount, and what is above mount points (a
 * read-only skeleton of folders no mount stores).
 *
 * @module
 * @internal
 */
import type { AtomfsErrorCode, ErrorContext } from '../errors.js';
import type { VirtualMount } from './mount.js';
import { vErr } from './vfs-errors.js';
import { ROOT, isStrictlyUnder, parentOf, relativeTo } from './vpath.js';

/** One mount at its prefix. @internal */
export interface MountEntry {
  readonly prefix: string;
  readonly mount: VirtualMount;
  readonly readOnly: boolean;
  readonly ci: boolean;
}

/** A virtual path resolved: its mount and the path inside it. @internal */
export interface Resolved {
  readonly entry: MountEntry;
  readonly rel: string;
}

/** The mounts of one VirtualFileSystem, by normalized prefix. @internal */
export class MountTable {
  readonly #mounts = new Map<string, MountEntry>();

  /** The mount at exactly `prefix`. */
  get(prefix: string): MountEntry | undefined {
    return this.#mounts.get(prefix);
  }

  add(entry: MountEntry): void {
    this.#mounts.set(entry.prefix, entry);
  }

  remove(prefix: string): void {
    this.#mounts.delete(prefix);
  }

  /** The mount holding `p` (longest prefix) and the path inside it; undefined when none does. */
  resolve(p: string): Resolved | undefined {
    for (let cur = p; ; cur = parentOf(cur)) {
      const entry = this.#mounts.get(cur);
      if (entry !== undefined) return { entry, rel: relativeTo(cur, p) };
      if (cur === ROOT) return undefined;
    }
  }

  /** Mount prefixes strictly under `p`. */
  mountsUnder(p: string): string[] {
    return [...this.#mounts.keys()].filter((m) => isStrictlyUnder(p, m));
  }

  /** Whether `p` is on no mount but above one: a folder of the (read-only) skeleton of mount points. */
  isSkeleton(p: string): boolean {
    return this.mountsUnder(p).length > 0;
  }

  /** Resolves a path that must be on a mount: ENOENT (or `skeleton`'s code above mounts) otherwise. */
  need(p: string, ctx: ErrorContext, skeleton: AtomfsErrorCode): Resolved {
    const r = this.resolve(p);
    if (r !== undefined) return r;
    if (this.isSkeleton(p)) throw vErr(skeleton, undefined, ctx);
    throw vErr('ENOENT', undefined, ctx);
  }

  /**
   * Resolves a path where something will be created. On no mount: `skeleton` for a folder
   * above mount points, EROFS just below one (nothing can be stored there), else ENOENT.
   */
  needForCreate(p: string, ctx: ErrorContext, skeleton: AtomfsErrorCode): Resolved {
    const r = this.resolve(p);
    if (r !== undefined) return r;
    if (this.isSkeleton(p)) throw vErr(skeleton, undefined, ctx);
    if (p !== ROOT && (this.isSkeleton(parentOf(p)) || parentOf(p) === ROOT)) throw vErr('EROFS', 'no mount holds this path', ctx);
    throw vErr('ENOENT', undefined, ctx);
  }
}
