/**
 * The staging area (seed 001): producers write into a staging folder; a file appears in the
 * final folder only when it is complete, flushed and checked. A consumer of the final folder
 * (`rsync --remove-source-files`, a watcher) never sees a partial file and needs no delay.
 *
 * @module
 */
import * as path from 'node:path';
import { AtomfsError, codeOf, toAtomfsError } from '../errors.js';
import { throwIfAborted, timerDelay } from '../internal/abort.js';
import { chunkBytes, toSource, type Chunk, type WriteData } from '../internal/data-source.js';
import { mkdirpDurable } from '../internal/durable.js';
import { O } from '../internal/fs-ops.js';
import { describe, validateUserPath, type PathLike } from '../internal/paths.js';
import { discardTemp } from '../internal/remove-tree.js';
import { groupDirSync, runAsync, type ChunkSource } from '../internal/steps.js';
import { randomHex, tempNameFor, TEMP_NAME_RE } from '../internal/temp-name.js';
import { LOG_EVENTS } from '../logger.js';
import { publishNoReplace, type PathPair } from '../move/rename.js';
import { BASE_NAMES, type BaseOptions, boolOpt, checkOptionsObject, DURABILITY_NAMES, type DurabilityOptions, intOpt, optionNames, resolveBase, type ResolvedBase } from '../options.js';
import { cleanupDir, type CleanupResult } from '../temp/cleanup-orphans.js';
import { validateFile, type ValidateFileOptions } from '../temp/validate-file.js';
import { ChunkWriter, discard, failed, prepare, seal, writeSource, type TempFile, type WritePlan } from '../write/core.js';
import { resolveWritePlan } from '../write/write-file.js';
import { assertMade, madeHere } from '../internal/made.js';
import { untrackTemp } from '../internal/live-temps.js';

/** Options of {@link createStagingArea}. */
export interface StagingAreaOptions extends BaseOptions, DurabilityOptions {
  /** Where files are written while incomplete. Created (durably) if missing. */
  readonly stagingDir: PathLike;
  /** Where complete files are published. Created (durably) if missing. */
  readonly finalDir: PathLike;
  /** Staging leftovers older than this are removed by `cleanup()` (ms). Default 3,600,000 (1 h). */
  readonly orphanAge?: number | undefined;
  /** Run `cleanup()` this often (ms) on an unref'd timer; errors go to the logger. Default: never. */
  readonly cleanupInterval?: number | undefined;
  /**
   * Allow the two folders on different devices; publishing then copies into a temp name
   * inside `finalDir` and renames it. Default `false` (`EXDEV`).
   */
  readonly allowCrossDevice?: boolean | undefined;
}

/**
 * A check run on the complete, flushed staging file before it is published: the options
 * of {@link validateFile}, or a function that returns `false` or a reason string to reject.
 */
export type StagingValidator =
  | ValidateFileOptions
  | ((tempPath: string, info: { readonly name: string; readonly size: number }) => boolean | string | void | Promise<boolean | string | void>);

/** Options of {@link StagingArea.write} and {@link StagingArea.open}. */
export interface StagingWriteOptions {
  /** Checked before publishing; a rejection fails with `EINVAL` and nothing is published. */
  readonly validate?: StagingValidator | undefined;
  /** The exact size the data must have, in bytes (checked before publishing). */
  readonly size?: number | undefined;
  /** Encoding of string data. Default `'utf8'`. */
  readonly encoding?: BufferEncoding | undefined;
  /** Cancels before the publish. */
  readonly signal?: AbortSignal | undefined;
}

/** A published file. */
export interface PublishResult {
  /** Its name in the final folder. */
  readonly name: string;
  /** Its path in the final folder. */
  readonly path: string;
  /** Its size in bytes. */
  readonly size: number;
}

interface AreaConfig extends ResolvedBase {
  readonly stagingDir: string;
  readonly finalDir: string;
  readonly fsync: boolean;
  readonly orphanAge: number;
  readonly crossDevice: boolean;
}

function checkName(op: string, name: unknown): string {
  if (typeof name !== 'string') throw new AtomfsError('EINVAL', `name must be a string, got ${describe(name)}`, { operation: op });
  const bad =
    name === '' ? 'must not be empty'
    : name.includes('/') || name.includes('\\') ? 'must not contain a path separator'
    : name.includes('\0') ? 'must not contain a NUL byte'
    : name === '.' || name === '..' ? "must not be '.' or '..'"
    : TEMP_NAME_RE.test(name) ? 'must not look like an atomfs temp name'
    : Buffer.byteLength(name) > 255 ? 'is longer than 255 bytes'
    : undefined;
  if (bad) throw new AtomfsError('EINVAL', `file name ${bad}`, { operation: op, path: name });
  return name;
}

/**
 * A file being written into a staging area: stream chunks, then `commit()` publishes it,
 * `abort()` (or dispose) discards it.
 *
 * @example
 * ```ts
 * await using f = await area.open('clip-0001.mp4');
 * for await (const chunk of camera) await f.write(chunk);
 * await f.commit();
 * ```
 */
export class StagedFile implements AsyncDisposable {
  readonly #area: StagingArea;
  readonly #plan: WritePlan;
  readonly #tf: TempFile;
  readonly #opts: StagingWriteOptions;
  readonly #chunks: ChunkWriter;
  #state: 'open' | 'committing' | 'committed' | 'aborted' = 'open';

  /** @internal Use {@link StagingArea.open}. */
  constructor(
    area: StagingArea,
    plan: WritePlan,
    tf: TempFile,
    opts: StagingWriteOptions,
    /** The file's name: the one it gets in the final folder. */
    readonly name: string,
  ) {
    assertMade(plan, 'StagedFile', 'area.write()');
    this.#area = area;
    this.#plan = plan;
    this.#tf = tf;
    this.#opts = opts;
    this.#chunks = new ChunkWriter(plan, tf);
  }

  /** The staging temp file's path. */
  get tempPath(): string {
    return this.#tf.tempPath;
  }

  /**
   * Appends a chunk.
   * @throws {@link AtomfsError} `EINVAL` after commit or abort; `ENOSPC`, `EIO`.
   * @example
   * ```ts
   * await f.write(chunk);
   * ```
   */
  write(chunk: Chunk): Promise<void> {
    if (this.#state !== 'open') return Promise.reject(new AtomfsError('EINVAL', `cannot write: the file is ${this.#state}`, { operation: 'StagedFile.write', path: this.name }));
    let bytes: Uint8Array;
    try {
      bytes = chunkBytes(chunk, this.#plan.encoding, this.#plan.operation, this.name);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.#chunks.write(bytes);
  }

  /**
   * Flushes, checks and publishes the file into the final folder (never over an existing
   * name). On any failure the staging file is discarded.
   * @throws {@link AtomfsError} `EEXIST` the name is taken in the final folder; `EINVAL`
   *   the size or the validator rejected it; `ENOSPC`, `EIO`, `ABORT_ERR`.
   * @example
   * ```ts
   * const { path } = await f.commit();
   * ```
   */
  async commit(): Promise<PublishResult> {
    if (this.#state !== 'open') throw new AtomfsError('EINVAL', `cannot commit: the file is ${this.#state}`, { operation: 'StagedFile.commit', path: this.name });
    this.#state = 'committing';
    const writeError = await this.#chunks.settle();
    if (writeError !== undefined) {
      const err = failed(this.#plan, writeError, this.#tf.tempPath);
      this.#state = 'aborted';
      await this.#area._discard(this.#plan, this.#tf, err);
      throw err;
    }
    try {
      const r = await this.#area._finish(this.#plan, this.#tf, this.name, this.#opts);
      this.#state = 'committed';
      return r;
    } finally {
      if (this.#state !== 'committed') this.#state = 'aborted';
    }
  }

  /**
   * Discards the staging file. Safe twice and after commit.
   * @throws Never.
   * @example
   * ```ts
   * await f.abort();
   * ```
   */
  async abort(): Promise<void> {
    if (this.#state !== 'open') return;
    this.#state = 'aborted';
    await this.#chunks.settle();
    await this.#area._discard(this.#plan, this.#tf, undefined);
  }

  /** Aborts unless committed. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.abort();
  }
}

/**
 * A pair of folders: incomplete files live in `stagingDir`; `finalDir` only ever holds
 * complete, flushed, checked files. Create it with {@link createStagingArea}.
 *
 * @example
 * ```ts
 * const area = await createStagingArea({ stagingDir: 'rec/.staging', finalDir: 'rec/out' });
 * await area.write('clip-0001.mp4', bytes, { validate: { minSize: 1 } });
 * ```
 */
export class StagingArea implements AsyncDisposable {
  readonly #cfg: AreaConfig;
  readonly #live = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;

  /** @internal Use {@link createStagingArea}. */
  constructor(cfg: AreaConfig, cleanupInterval: number | undefined) {
    assertMade(cfg, 'StagingArea', 'createStagingArea()');
    this.#cfg = cfg;
    if (cleanupInterval !== undefined) {
      this.#timer = setInterval(() => {
        if (this.#running) return; // the previous run is still going: never two at once
        this.#running = this.cleanup()
          .then(
            () => {},
            (e: unknown) => {
              // Never thrown from a timer: a failed background cleanup is only logged.
              cfg.logger.warn({ operation: 'stagingCleanup', errorCode: (e as AtomfsError).code, errorMessage: (e as Error).message }, LOG_EVENTS.stagingCleanupFailed);
            },
          )
          .finally(() => {
            this.#running = undefined;
          });
      }, timerDelay(cleanupInterval));
      // The timer is housekeeping: it must not keep the process alive on its own.
      this.#timer.unref();
    }
  }

  /** The staging folder (absolute). */
  get stagingDir(): string {
    return this.#cfg.stagingDir;
  }

  /** The final folder (absolute). */
  get finalDir(): string {
    return this.#cfg.finalDir;
  }

  /** Whether publishing copies across devices. */
  get crossDevice(): boolean {
    return this.#cfg.crossDevice;
  }

  #plan(op: string, name: string, opts: StagingWriteOptions): WritePlan {
    const c = this.#cfg;
    const plan = resolveWritePlan(op, path.join(c.stagingDir, name), {
      fsync: c.fsync,
      logger: c.logger,
      fs: c.ops,
      signal: opts.signal,
      encoding: opts.encoding,
      mkdirp: false,
      symlinks: 'replace',
    });
    // Errors name the caller's file, not a staging path that never exists.
    return Object.freeze({ ...plan, given: name });
  }

  /**
   * Writes a whole file into the staging folder, flushes and checks it, then publishes it
   * into the final folder under `name`, never over an existing file.
   *
   * @param name - A plain file name (no `/`, `..`, NUL; not empty).
   * @param data - Text, bytes, an (async) iterable of chunks or a stream.
   * @param options - `validate`, `size`, `encoding`, `signal`.
   * @returns The published file.
   * @throws {@link AtomfsError} `EINVAL` bad name or a rejected check; `EEXIST` the name is
   *   taken in the final folder; `ENOSPC`, `EIO`, `EACCES`, `ABORT_ERR`. Nothing is
   *   published and no staging file is left on any failure.
   * @example
   * ```ts
   * await area.write('report.json', JSON.stringify(r), { validate: { json: true } });
   * ```
   */
  async write(name: string, data: WriteData, options: StagingWriteOptions = {}): Promise<PublishResult> {
    checkName('StagingArea.write', name);
    checkWriteOptions(options, name);
    const plan = this.#plan('StagingArea.write', name, options);
    const source: Uint8Array | ChunkSource = toSource(data, plan.encoding, plan.operation, name);
    let tf: TempFile | undefined;
    try {
      tf = await runAsync(prepare(plan), plan.ops, plan.blocking);
      this.#live.add(tf.tempPath);
      await runAsync(writeSource(tf, source, plan), plan.ops, plan.blocking);
    } catch (e) {
      const err = failed(plan, e, tf?.tempPath);
      if (!(source instanceof Uint8Array)) source.cancel(err);
      if (tf) await this._discard(plan, tf, err);
      throw err;
    }
    return this._finish(plan, tf, name, options);
  }

  /**
   * Opens a staged file to stream into; `commit()` publishes it.
   *
   * @param name - A plain file name.
   * @param options - `validate`, `size`, `encoding`, `signal`.
   * @returns The open {@link StagedFile}.
   * @throws {@link AtomfsError} `EINVAL` bad name; `EACCES`, `ENOSPC`, `ABORT_ERR`.
   * @example
   * ```ts
   * const f = await area.open('clip.mp4');
   * ```
   */
  async open(name: string, options: StagingWriteOptions = {}): Promise<StagedFile> {
    checkName('StagingArea.open', name);
    checkWriteOptions(options, name);
    const plan = this.#plan('StagingArea.open', name, options);
    let tf: TempFile;
    try {
      tf = await runAsync(prepare(plan), plan.ops, plan.blocking);
    } catch (e) {
      throw failed(plan, e);
    }
    this.#live.add(tf.tempPath);
    return new StagedFile(this, madeHere(plan), tf, options, name);
  }

  /** Seal, check, publish. @internal */
  async _finish(plan: WritePlan, tf: TempFile, name: string, opts: StagingWriteOptions): Promise<PublishResult> {
    const c = this.#cfg;
    const finalPath = path.join(c.finalDir, name);
    try {
      if (tf.state === 'open') await runAsync(seal(tf, plan), plan.ops, plan.blocking);
      if (opts.size !== undefined && tf.size !== opts.size) {
        throw new AtomfsError('EINVAL', `size ${tf.size} differs from the expected ${opts.size}`, { operation: plan.operation, path: name });
      }
      await this.#check(tf, name, opts.validate, plan);
      throwIfAborted(plan.signal, { operation: plan.operation, path: name });
      await this.#publish(tf, finalPath, plan);
    } catch (e) {
      const err = toAtomfsError(e, { operation: plan.operation, path: name });
      failed(plan, err, tf.tempPath);
      await this._discard(plan, tf, err);
      throw err;
    }
    this.#live.delete(tf.tempPath);
    untrackTemp(tf.tempPath);
    return { name, path: finalPath, size: tf.size };
  }

  /** Discard a staging temp. @internal */
  async _discard(plan: WritePlan, tf: TempFile, cause: AtomfsError | undefined): Promise<void> {
    await runAsync(discard(tf, plan, cause), plan.ops, plan.blocking);
    this.#live.delete(tf.tempPath);
  }

  async #check(tf: TempFile, name: string, v: StagingValidator | undefined, plan: WritePlan): Promise<void> {
    if (v === undefined) return;
    let verdict: boolean | string | void;
    if (typeof v === 'function') {
      verdict = await v(tf.tempPath, { name, size: tf.size });
    } else {
      const r = await validateFile(tf.tempPath, { ...v, fs: plan.ops });
      verdict = r.valid || (r.reason ?? 'invalid');
    }
    if (verdict === false || typeof verdict === 'string') {
      const why = typeof verdict === 'string' ? verdict : 'the validator rejected it';
      throw new AtomfsError('EINVAL', `validation failed: ${why}`, { operation: plan.operation, path: name }, { reason: 'validation' });
    }
  }

  async #publish(tf: TempFile, finalPath: string, plan: WritePlan): Promise<void> {
    const c = this.#cfg;
    const sys = c.ops.async;
    const pair: PathPair = {
      ...c,
      operation: plan.operation,
      src: tf.tempPath,
      dest: finalPath,
      // Errors name the caller's file name and the final path, not the temp.
      srcGiven: path.basename(finalPath),
      destGiven: finalPath,
      mkdirp: false,
      overwrite: false,
      pool: sys,
    };
    // A name that could not be removed once the file is published is only a leftover
    // temp name (cleanup() removes it): a warning, as for writeFile, never a failure.
    const dropName = (p: string): Promise<void> =>
      sys.unlink(p).catch((e: unknown) => {
        plan.logger.warn({ tempPath: p, targetPath: finalPath, cleanupErrorCode: codeOf(e), operation: plan.operation }, LOG_EVENTS.tempCleanupFailed);
      });
    if (!c.crossDevice) {
      // link + unlink: EEXIST atomically if the name is taken (over an exclusive
      // placeholder where there are no hard links). Published from that moment.
      const how = await runAsync(publishNoReplace(pair, tf.tempPath, finalPath, await sys.lstat(tf.tempPath)), pair.ops);
      tf.state = 'published';
      if (how === 'linked') {
        // The final name is made durable before the staging name goes: the file never
        // depends on a name that a crash could take back. If that flush fails the call
        // fails, and the staging name still goes (no litter).
        try {
          if (c.fsync) await groupDirSync(c.ops, c.finalDir);
        } finally {
          await dropName(tf.tempPath);
        }
        if (c.fsync) await groupDirSync(c.ops, c.stagingDir);
      } else if (c.fsync) {
        await Promise.all([groupDirSync(c.ops, c.finalDir), groupDirSync(c.ops, c.stagingDir)]);
      }
      return;
    }
    // Across devices: copy into a temp name inside finalDir (never the final name), flush,
    // verify, then publish that by link + unlink. Only then is the staging file removed.
    const finalTemp = path.join(c.finalDir, tempNameFor(path.basename(finalPath), randomHex(c.random)));
    this.#live.add(finalTemp);
    try {
      await sys.copyFile(tf.tempPath, finalTemp);
      const fd = await sys.open(finalTemp, O.RDONLY | O.CLOEXEC, 0);
      let size: number;
      try {
        if (c.fsync) await sys.fsync(fd);
        size = (await sys.fstat(fd)).size;
      } catch (e) {
        await sys.close(fd).catch(() => {}); // never hides the first error
        throw e;
      }
      await sys.close(fd);
      if (size !== tf.size) throw new AtomfsError('EIO', `copy has ${size} of ${tf.size} bytes`, { operation: plan.operation, path: finalPath });
      const how = await runAsync(publishNoReplace({ ...pair, src: finalTemp }, finalTemp, finalPath, await sys.lstat(finalTemp)), pair.ops);
      tf.state = 'published';
      if (how === 'linked') await dropName(finalTemp);
    } catch (e) {
      const err = toAtomfsError(e, { operation: plan.operation, path: path.basename(finalPath) });
      await discardTemp(c.ops, finalTemp, plan, err);
      throw err;
    } finally {
      this.#live.delete(finalTemp);
    }
    if (c.fsync) await groupDirSync(c.ops, c.finalDir);
    await dropName(tf.tempPath);
    if (c.fsync) await groupDirSync(c.ops, c.stagingDir);
  }

  /**
   * Removes staging leftovers (temp names) older than `orphanAge` from both folders, never
   * a file this process is still writing. Files other processes are writing are protected
   * by their age: every write refreshes a file's modification time.
   *
   * @returns What was removed.
   * @throws {@link AtomfsError} `EACCES`, `ENOENT` when a folder vanished.
   * @example
   * ```ts
   * const { removed } = await area.cleanup();
   * ```
   */
  async cleanup(): Promise<CleanupResult> {
    const c = this.#cfg;
    const opts = { olderThan: c.orphanAge, recursive: false, dryRun: false };
    const skip = (p: string): boolean => this.#live.has(p);
    const a = await cleanupDir(c, c.stagingDir, c.stagingDir, opts, skip);
    const b = await cleanupDir(c, c.finalDir, c.finalDir, opts, skip);
    return { removed: [...a.removed, ...b.removed], kept: a.kept + b.kept };
  }

  /**
   * Stops the periodic cleanup and waits for a run already under way. Files being written
   * are not affected. Safe twice.
   * @throws Never.
   * @example
   * ```ts
   * await area.close();
   * ```
   */
  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    // A background cleanup already under way finishes before close() resolves.
    await this.#running;
  }

  /** Same as {@link StagingArea.close}. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

const STAGED_SET = optionNames(['validate', 'size', 'encoding', 'signal']);
const AREA_SET = optionNames(BASE_NAMES, DURABILITY_NAMES, ['stagingDir', 'finalDir', 'orphanAge', 'cleanupInterval', 'allowCrossDevice']);

function checkWriteOptions(o: unknown, name: string): void {
  const opts = checkOptionsObject('StagingArea.write', o, name, STAGED_SET);
  const v = opts['validate'];
  if (v !== undefined && typeof v !== 'function' && (typeof v !== 'object' || v === null)) {
    throw new AtomfsError('EINVAL', 'validate must be validateFile options or a function', { operation: 'StagingArea.write', path: name });
  }
  intOpt('StagingArea.write', opts, 'size', 0, name);
}

/**
 * Creates (durably) the staging and final folders and returns a {@link StagingArea}.
 *
 * @param options - `stagingDir`, `finalDir` (required), `orphanAge`, `cleanupInterval`,
 *   `allowCrossDevice`, `fsync`, `logger`.
 * @returns The area.
 * @throws {@link AtomfsError} `EXDEV` the folders are on different devices (without
 *   `allowCrossDevice`); `EINVAL` bad options or the two folders are the same;
 *   `ENOTDIR`, `EACCES`, `EROFS`.
 * @example
 * ```ts
 * await using area = await createStagingArea({ stagingDir: '/data/.staging', finalDir: '/data/ready', cleanupInterval: 600_000 });
 * await area.write('clip.mp4', clip);
 * ```
 */
export async function createStagingArea(options: StagingAreaOptions): Promise<StagingArea> {
  const operation = 'createStagingArea';
  const o = checkOptionsObject(operation, options, undefined, AREA_SET);
  const s = validateUserPath(operation, o['stagingDir'], 'stagingDir');
  const f = validateUserPath(operation, o['finalDir'], 'finalDir');
  if (s.abs === f.abs) throw new AtomfsError('EINVAL', 'stagingDir and finalDir must differ', { operation, path: s.given, dest: f.given });
  const base = resolveBase(operation, o, s.given);
  const fsync = boolOpt(operation, o, 'fsync', true, s.given);
  const orphanAge = intOpt(operation, o, 'orphanAge', 3_600_000, s.given);
  const interval = o['cleanupInterval'] === undefined ? undefined : intOpt(operation, o, 'cleanupInterval', 0, s.given);
  if (interval !== undefined && interval < 1) throw new AtomfsError('EINVAL', 'cleanupInterval must be at least 1 ms', { operation, path: s.given });
  const allowCrossDevice = boolOpt(operation, o, 'allowCrossDevice', false, s.given);
  for (const d of [s, f]) {
    try {
      await runAsync(mkdirpDurable(d.abs, fsync), base.ops);
    } catch (e) {
      throw toAtomfsError(e, { operation, path: d.given, syscall: 'mkdir' });
    }
  }
  const [ss, fs] = await Promise.all([base.ops.async.stat(s.abs), base.ops.async.stat(f.abs)]);
  if (ss.dev === fs.dev && ss.ino === fs.ino) {
    throw new AtomfsError('EINVAL', 'stagingDir and finalDir are the same folder', { operation, path: s.given, dest: f.given });
  }
  const crossDevice = ss.dev !== fs.dev;
  if (crossDevice && !allowCrossDevice) {
    throw new AtomfsError('EXDEV', 'stagingDir and finalDir are on different devices (pass allowCrossDevice to copy)', { operation, path: s.given, dest: f.given });
  }
  return new StagingArea(madeHere({ ...base, stagingDir: s.abs, finalDir: f.abs, fsync, orphanAge, crossDevice }), interval);
}
