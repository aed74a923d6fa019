/**
 * ReadOnlyMount: a wrapper that makes any mount read-only (afero's read-only layer, with
 * `EROFS` and the path instead of a bare `EPERM`).
 *
 * @module
 */
import { AtomfsError } from '../errors.js';
import { describe } from '../internal/paths.js';
import {
  checkCreateOptions,
  checkMountPath,
  isVirtualMount,
  mountError,
  type CreateOptions,
  type MetadataUpdate,
  type MountCapability,
  type ReadOptions,
  type VirtualMount,
  type VStat,
  type WriteOptions,
} from './mount.js';

/**
 * Wraps a {@link VirtualMount} so every change fails with `EROFS` (and the path) while
 * reads, listings and stats pass through. It sets `readOnly`, so a `VirtualFileSystem`
 * reports `EROFS` in its rule order without calling the mount.
 *
 * The wrapper is only a view: whoever holds the inner mount can still change it, and a
 * reader through the wrapper sees those changes.
 *
 * @example
 * ```ts
 * const data = new MemoryMount();
 * const vfs = new VirtualFileSystem();
 * vfs.mount('/ro', new ReadOnlyMount(data));
 * await vfs.writeFile('/ro/x', 'no'); // rejects: EROFS, path '/ro/x'
 * ```
 */
export class ReadOnlyMount implements VirtualMount {
  /** The inner mount's capabilities (its rename, metadata and conditional-write calls fail with `EROFS`). */
  readonly capabilities: ReadonlySet<MountCapability>;
  /** Always `true`. */
  readonly readOnly = true;
  /** As the inner mount. */
  readonly caseInsensitive: boolean;
  readonly #inner: VirtualMount;

  /**
   * @param inner - The mount to expose read-only.
   */
  constructor(inner: VirtualMount) {
    if (!isVirtualMount(inner)) throw new AtomfsError('EINVAL', `inner must be a VirtualMount, got ${describe(inner)}`, { operation: 'ReadOnlyMount' });
    this.#inner = inner;
    this.capabilities = inner.capabilities;
    this.caseInsensitive = inner.caseInsensitive === true;
  }

  /** Passes through. */
  read(path: string, options?: ReadOptions): Promise<Uint8Array> {
    return this.#inner.read(path, options);
  }

  /** Passes through. */
  list(path: string): Promise<string[]> {
    return this.#inner.list(path);
  }

  /** Passes through (the inner mount's `version` included). */
  stat(path: string): Promise<VStat> {
    return this.#inner.stat(path);
  }

  /** @throws `EROFS` always. */
  async create(path: string, options: CreateOptions): Promise<void> {
    throw refuse(checkCreateOptions(options, path).dir ? 'mkdir' : 'open', path);
  }

  /** @throws `EROFS` always. */
  async write(path: string, _data: Uint8Array, _options?: WriteOptions): Promise<void> {
    throw refuse('write', path);
  }

  /** @throws `EROFS` always. */
  async delete(path: string): Promise<void> {
    throw refuse('unlink', path);
  }

  /** @throws `EROFS` always. */
  async truncate(path: string, _size: number): Promise<void> {
    throw refuse('truncate', path);
  }

  /** @throws `EROFS` always. */
  async rename(oldPath: string, _newPath: string): Promise<void> {
    throw refuse('rename', oldPath);
  }

  /** @throws `EROFS` always. */
  async setMetadata(path: string, _update: MetadataUpdate): Promise<void> {
    throw refuse('utimes', path);
  }
}

function refuse(syscall: string, path: string): NodeJS.ErrnoException {
  // A malformed path is still reported as such, not as EROFS.
  checkMountPath(path, syscall);
  return mountError('EROFS', syscall, path);
}
