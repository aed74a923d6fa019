/**
 * AtomicFile: a temp file you stream into, then commit (rename into place) or abort.
 *
 * @module
 */
import { performance } from 'node:perf_hooks';
import { AtomfsError } from '../errors.js';
import { chunkBytes, type Chunk } from '../internal/data-source.js';
import type { PathLike } from '../internal/paths.js';
import { runAsync, type Steps } from '../internal/steps.js';
import { LOG_EVENTS } from '../logger.js';
import { ChunkWriter, discard, failed, prepare, publish, seal, type TempFile, type WritePlan } from './core.js';
import { resolveWritePlan, type WriteFileOptions } from './write-file.js';
import { assertMade, madeHere } from '../internal/made.js';

/** The life of an {@link AtomicFile}. */
export type AtomicFileState = 'open' | 'committing' | 'committed' | 'aborted';

/**
 * A file being written atomically: chunks go to a private temp file; `commit()` makes
 * them the target's content in one step, `abort()` throws them away. Disposing an
 * uncommitted file aborts it, so `await using` never leaves a temp behind.
 *
 * @example
 * ```ts
 * await using f = await openAtomic('out.log');
 * for (const line of lines) await f.write(line + '\n');
 * await f.commit();
 * ```
 */
export class AtomicFile implements AsyncDisposable {
  readonly #plan: WritePlan;
  readonly #tf: TempFile;
  readonly #chunks: ChunkWriter;
  #state: AtomicFileState = 'open';
  // Writes run one after another, in call order.
  #committing: Promise<void> = Promise.resolve();

  /** @internal Use {@link openAtomic}. */
  constructor(plan: WritePlan, tf: TempFile) {
    assertMade(plan, 'AtomicFile', 'openAtomic()');
    this.#plan = plan;
    this.#tf = tf;
    this.#chunks = new ChunkWriter(plan, tf);
  }

  /** The target path, as given. */
  get path(): string {
    return this.#plan.given;
  }

  /** The temp file's path. It stays valid after a failed commit, so the caller may retry. */
  get tempPath(): string {
    return this.#tf.tempPath;
  }

  /** Where the file is in its life. */
  get state(): AtomicFileState {
    return this.#state;
  }

  /** Bytes written so far. */
  get size(): number {
    return this.#tf.size;
  }

  /**
   * Appends a chunk to the temp file (every byte: short writes are continued).
   *
   * @param chunk - Text (in the file's encoding) or bytes.
   * @throws {@link AtomfsError} `EINVAL` after commit/abort or for a bad chunk; `ENOSPC`,
   *   `EIO`: the write failed. After a failed write every later write and `commit()`
   *   reject with the same error (a commit also discards the temp): a file missing a chunk
   *   is never published.
   * @example
   * ```ts
   * await f.write('hello ');
   * ```
   */
  write(chunk: Chunk): Promise<void> {
    if (this.#state !== 'open' || this.#tf.state !== 'open') return Promise.reject(this.#closedError('write'));
    let bytes: Uint8Array;
    try {
      bytes = chunkBytes(chunk, this.#plan.encoding, this.#plan.operation, this.#plan.given);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.#chunks.write(bytes);
  }

  /**
   * Flushes the temp file and renames it over the target, then flushes the folder.
   * If the flush fails, the temp is discarded (a failed fsync is final). If only the
   * rename fails, the file stays usable with `tempPath` intact: fix the cause and commit
   * again, or abort.
   *
   * @throws {@link AtomfsError} `EEXIST` (overwrite false), `ENOSPC`, `EIO`, `EACCES`,
   *   `ABORT_ERR`, or `EINVAL` when already committed or aborted.
   * @example
   * ```ts
   * await f.commit();
   * ```
   */
  commit(): Promise<void> {
    if (this.#state !== 'open') return Promise.reject(this.#closedError('commit'));
    this.#state = 'committing';
    const p = this.#commit();
    this.#committing = p.catch(() => {});
    return p;
  }

  async #commit(): Promise<void> {
    const writeError = await this.#chunks.settle();
    if (writeError !== undefined) {
      const err = failed(this.#plan, writeError, this.#tf.tempPath);
      await runAsync(discard(this.#tf, this.#plan, err), this.#plan.ops, this.#plan.blocking);
      this.#state = 'aborted';
      throw err;
    }
    const steps = this.#commitSteps();
    try {
      await runAsync(steps, this.#plan.ops, this.#plan.blocking);
      this.#state = 'committed';
    } catch (e) {
      const err = failed(this.#plan, e, this.#tf.tempPath);
      if (this.#tf.state === 'published') {
        // Renamed but the folder flush failed: the content is in place, not durable.
        this.#state = 'committed';
      } else if (this.#tf.state === 'sealed') {
        this.#state = 'open';
      } else {
        await runAsync(discard(this.#tf, this.#plan, err), this.#plan.ops, this.#plan.blocking);
        this.#state = 'aborted';
      }
      throw err;
    }
  }

  *#commitSteps(): Steps<void> {
    if (this.#tf.state === 'open') yield* seal(this.#tf, this.#plan);
    yield* publish(this.#tf, this.#plan, true);
    this.#plan.logger.debug(
      { targetPath: this.#plan.given, size: this.#tf.size, duration: performance.now() - this.#tf.started, operation: this.#plan.operation },
      LOG_EVENTS.writeCompleted,
    );
  }

  /**
   * Discards the temp file; the target is untouched. Safe to call more than once and
   * after commit (then it does nothing).
   *
   * @throws Never.
   * @example
   * ```ts
   * await f.abort();
   * ```
   */
  async abort(): Promise<void> {
    if (this.#state === 'committed' || this.#state === 'aborted') return;
    if (this.#state === 'committing') {
      // Let the commit finish or fail first; a commit that succeeded is not undone.
      await this.#committing;
      if ((this.#state as AtomicFileState) !== 'open') return;
    }
    this.#state = 'aborted';
    await this.#chunks.settle();
    await runAsync(discard(this.#tf, this.#plan, undefined), this.#plan.ops, this.#plan.blocking);
  }

  /** Aborts unless committed. Idempotent. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.abort();
  }

  #closedError(what: string): AtomfsError {
    return new AtomfsError('EINVAL', `cannot ${what}: the file is ${this.#state}`, {
      operation: this.#plan.operation,
      path: this.#plan.given,
    });
  }
}

/**
 * Opens an {@link AtomicFile}: creates the private temp file beside the target (and the
 * missing parent folders) and returns a handle to stream into.
 *
 * @param path - The file to replace or create on commit.
 * @param options - See {@link WriteFileOptions}. `overwrite: false` fails early if the
 *   target exists, and again atomically at commit.
 * @returns The open file.
 * @throws {@link AtomfsError} `EINVAL`, `EISDIR`, `ENOTDIR`, `EEXIST`, `EACCES`, `EROFS`,
 *   `ENAMETOOLONG`, `ELOOP`, `ABORT_ERR`.
 * @example
 * ```ts
 * await using f = await openAtomic('big.csv');
 * for await (const row of rows) await f.write(row);
 * await f.commit();
 * ```
 */
export async function openAtomic(path: PathLike, options?: WriteFileOptions): Promise<AtomicFile> {
  const plan = resolveWritePlan('openAtomic', path, options);
  let tf: TempFile;
  try {
    tf = await runAsync(prepare(plan), plan.ops, plan.blocking);
  } catch (e) {
    throw failed(plan, e);
  }
  return new AtomicFile(madeHere(plan), tf);
}
