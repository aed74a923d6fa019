/**
 * VirtualFileHandle, what `vfs.open` returns: one position, calls one at a time, over a
 * backend the VFS makes (a mount's own staged handle, or reads and writes by path).
 *
 * @module
 */
import type { ErrorContext } from '../errors.js';
import type { MountHandle, VirtualMount, VStat } from './mount.js';
import { vErr } from './vfs-errors.js';
import { toBytes, type VfsOpenFlags } from './vfs-options.js';
import { assertMade } from '../internal/made.js';
import { textOf } from '../internal/paths.js';

/** The part of the VFS a handle talks to. @internal */
export interface HandleBackend {
  read(offset: number, length: number): Promise<Uint8Array>;
  write(data: Uint8Array, offset: number | 'end'): Promise<number>;
  stat(): Promise<VStat>;
  close(): Promise<void>;
  /** Closes without publishing (a mount's own handles); absent where writes are already in place. */
  discard?(): Promise<void>;
}

/** A call to a mount, its error in the caller's terms (the VFS's own). @internal */
export type CallIn = <T>(fn: () => Promise<T>, ctx: ErrorContext) => Promise<T>;

/**
 * The backend of a handle on a mount with its own handles (`'handles'`): every call goes
 * to the mount's handle, whose writes are staged until its close. `forget` drops the VFS's
 * record of the open file. @internal
 */
export function stagedBackend(mh: MountHandle, path: string, call: CallIn, forget: () => void): HandleBackend {
  return {
    read: (offset, length) => call(() => mh.read(offset, length), { operation: 'vfs.read', path, syscall: 'read' }),
    write: (data, offset) => call(() => mh.write(data, offset), { operation: 'vfs.write', path, syscall: 'write' }),
    stat: () => call(() => mh.stat(), { operation: 'vfs.stat', path, syscall: 'fstat' }),
    close: async () => {
      forget();
      await call(() => mh.close(), { operation: 'vfs.close', path, syscall: 'close' });
    },
    discard: async () => {
      forget();
      await mh.discard().catch(() => undefined);
    },
  };
}

/** The backend of a handle on any other mount: reads and writes by path, in place. @internal */
export function pathBackend(m: VirtualMount, rel: string, path: string, call: CallIn, forget: () => void): HandleBackend {
  return {
    read: (offset, length) => call(() => m.read(rel, { offset, length }), { operation: 'vfs.read', path, syscall: 'read' }),
    write: async (data, offset) => {
      const wctx: ErrorContext = { operation: 'vfs.write', path, syscall: 'write' };
      const at = offset === 'end' ? (await call(() => m.stat(rel), wctx)).size : offset;
      await call(() => m.write(rel, data, { offset: at }), wctx);
      return at + data.length;
    },
    stat: () => call(() => m.stat(rel), { operation: 'vfs.stat', path, syscall: 'fstat' }),
    close: async () => {
      forget();
    },
  };
}

const DEFAULT_READ = 64 * 1024;

/**
 * An open file of a {@link VirtualFileSystem} (from `vfs.open`): sequential `read` and
 * `write` from a position, `close()` (safe twice) and `await using` support. While it is
 * open the VFS refuses to rename or remove the file (`EBUSY`).
 *
 * @example
 * ```ts
 * await using f = await vfs.open('/mem/data.bin', 'r');
 * for (let chunk = await f.read(); chunk.length > 0; chunk = await f.read()) use(chunk);
 * ```
 */
export class VirtualFileHandle {
  /** The caller's virtual path. */
  readonly path: string;
  /** The flags it was opened with. */
  readonly flags: VfsOpenFlags;
  readonly #canRead: boolean;
  readonly #canWrite: boolean;
  readonly #append: boolean;
  readonly #backend: HandleBackend;
  #position = 0;
  #closed = false;
  // One call at a time, so positions stay consistent when calls are not awaited in turn.
  #tail: Promise<unknown> = Promise.resolve();

  /** @internal Made by `vfs.open`. */
  constructor(path: string, flags: VfsOpenFlags, canRead: boolean, canWrite: boolean, append: boolean, backend: HandleBackend) {
    assertMade(backend, 'VirtualFileHandle', 'vfs.open()');
    this.path = path;
    this.flags = flags;
    this.#canRead = canRead;
    this.#canWrite = canWrite;
    this.#append = append;
    this.#backend = backend;
  }

  /** Where the next read or write happens (bytes from the start). */
  get position(): number {
    return this.#position;
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(fn, fn);
    this.#tail = run.catch(() => undefined);
    return run;
  }

  #check(operation: string, allowed: boolean): void {
    if (this.#closed) throw vErr('EBADF', 'the handle is closed', { operation, path: this.path });
    if (!allowed) throw vErr('EBADF', `not opened for ${operation === 'vfs.read' ? 'reading' : 'writing'} (flags '${this.flags}')`, { operation, path: this.path });
  }

  /**
   * Reads up to `length` bytes from the position and advances it.
   * @param length - Most bytes to read (default 64 KiB).
   * @returns The bytes; empty at the end of the file.
   * @throws `EBADF` (closed or write-only), `EINVAL` (bad length), `ENOENT`, `EACCES`.
   */
  read(length = DEFAULT_READ): Promise<Uint8Array> {
    return this.#serial(async () => {
      this.#check('vfs.read', this.#canRead);
      if (!Number.isSafeInteger(length) || length < 0) {
        throw vErr('EINVAL', `length must be a non-negative integer, got ${textOf(length)}`, { operation: 'vfs.read', path: this.path });
      }
      const bytes = await this.#backend.read(this.#position, length);
      this.#position += bytes.length;
      return bytes;
    });
  }

  /**
   * Writes at the position (at the end with an `a` flag) and advances it.
   * @param data - Bytes, or a string (UTF-8).
   * @returns The number of bytes written.
   * @throws `EBADF` (closed or read-only), `ENOENT`, `ENOSPC`, `EACCES`.
   */
  write(data: string | Uint8Array): Promise<number> {
    return this.#serial(async () => {
      this.#check('vfs.write', this.#canWrite);
      const bytes = toBytes('vfs.write', data, 'utf8', this.path);
      this.#position = await this.#backend.write(bytes, this.#append ? 'end' : this.#position);
      return bytes.length;
    });
  }

  /**
   * The file's current {@link VStat}.
   * @throws `EBADF` (closed), `ENOENT`.
   */
  stat(): Promise<VStat> {
    return this.#serial(async () => {
      this.#check('vfs.stat', true);
      return this.#backend.stat();
    });
  }

  /**
   * Stops tracking the file; on a mount with its own handles (the `'handles'` capability,
   * e.g. `PostgresMount`) this publishes what the handle wrote, all of it or none of it.
   * Safe to call twice.
   * @throws Only on a mount with its own handles: what publishing failed with (the handle is closed either way, and nothing it wrote was published).
   */
  close(): Promise<void> {
    return this.#serial(async () => {
      if (this.#closed) return;
      this.#closed = true;
      await this.#backend.close();
    });
  }

  /**
   * Closes the handle without publishing what it wrote, where that is possible: on a
   * mount with its own handles (the `'handles'` capability, e.g. `PostgresMount`) nothing
   * it wrote is published and a file the open would have created is not made. On other
   * mounts the writes are already in the file, and this is `close()`. For a writer that
   * gives up midway (an interrupt, a failed source). Safe to call twice; never throws on
   * a mount with its own handles.
   * @throws What `close()` throws, on mounts without their own handles.
   * @example
   * ```ts
   * const h = await vfs.open('/pg/upload.bin', 'w');
   * try {
   *   await h.write(new Uint8Array(1024));
   * } catch (e) {
   *   await h.discard(); // nothing of the upload is published
   *   throw e;
   * }
   * await h.close();
   * ```
   */
  discard(): Promise<void> {
    return this.#serial(async () => {
      if (this.#closed) return;
      this.#closed = true;
      await (this.#backend.discard ?? this.#backend.close).call(this.#backend);
    });
  }

  /** `await using` support: the same as `close()`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
