/**
 * PostgresMount: a `VirtualMount` whose files and folders are rows of a PostgreSQL
 * database, so many processes on many hosts share one crash-safe namespace. Every call is
 * one SERIALIZABLE transaction (see `transaction` in sql.ts for why), so every check a
 * change depends on is made inside the change itself.
 *
 * @module
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { AtomfsError } from '../errors.js';
import { checkOptionsObject, intOpt, optionNames } from '../options.js';
import { isRevoked } from '../internal/paths.js';
import {
  checkCondition,
  checkCreateOptions,
  checkFence,
  isConditional,
  checkMountPath,
  checkReadOptions,
  checkSize,
  checkUpdate,
  checkWriteArgs,
  mountError,
  preconditionError,
  type AtomicWriteOptions,
  type CreateOptions,
  type DeleteOptions,
  type MetadataUpdate,
  type MountCapability,
  type MountHandle,
  type MountOpenOptions,
  type MountRenameOptions,
  type ReadOptions,
  type VirtualMount,
  type VStat,
  type WriteCondition,
  type WriteOptions,
} from '../vfs/mount.js';
import { baseName, parentOf, segments } from '../vfs/vpath.js';
import { CHUNK, migrate } from './schema.js';
import { connection, endPool, sqlState, statement, transaction, type CallPolicy, type Tx } from './sql.js';
import { StagedHandle, sweepStages, type HandleBase, type HandleHost } from './pg-handle.js';
import { NOW, Tree } from './pg-tree.js';

const OPTION_SET = optionNames(['connectionString', 'pool', 'schema', 'timeout', 'retries', 'stageLease']);
const CAPS: ReadonlySet<MountCapability> = new Set<MountCapability>(['rename', 'metadata', 'atomicWrite', 'fence', 'handles', 'conditionalWrite']);
const NAME_MAX = 255;

/** Options of {@link PostgresMount}. Give `connectionString` or `pool`, not both. */
export interface PostgresMountOptions {
  /** A libpq-style URL (`postgres://user@host:5432/db`); the mount makes and owns a `pg.Pool`. */
  readonly connectionString?: string | undefined;
  /** A `pg.Pool` you made and own (`close()` leaves it open). */
  readonly pool?: pg.Pool | undefined;
  /** The schema that holds the mount's tables, created on first use. Default `'atomfs'`. */
  readonly schema?: string | undefined;
  /** Milliseconds one call may take, retries included; past it the call fails with `ETIMEDOUT`. Default 30,000. */
  readonly timeout?: number | undefined;
  /** Re-runs of a transaction after a serialization failure or deadlock before `EAGAIN`. Default 30. */
  readonly retries?: number | undefined;
  /**
   * Milliseconds a handle's staged writes outlive their writer: an open handle renews its
   * lease every third of it; once a lease ran out (the writer died or was cut off), the
   * next mount that starts, or {@link PostgresMount.cleanup}, deletes them. Default 60,000.
   */
  readonly stageLease?: number | undefined;
}

/** What {@link PostgresMount.cleanup} deleted. */
export interface PostgresCleanup {
  /** Stages (the staged writes of one handle) whose lease had run out. */
  readonly stages: number;
  /** Their chunks. */
  readonly chunks: number;
}

/**
 * A {@link VirtualMount} on PostgreSQL, shared by every process and host that mounts the
 * same database and schema. Capabilities: `rename` (one `UPDATE` of one row, whatever a
 * folder holds), `metadata`, `atomicWrite` (`vfs.writeFile` is one transaction:
 * readers see the old content or the new, durable at COMMIT), and `handles` (`vfs.open`
 * handles stream files of any size in chunks, their writes staged until `close()`).
 *
 * @remarks
 * Layout: an `inode` table (id, parent, name, kind, mode, mtime, size, version) and a
 * `chunk` table (256 KiB of content per row). Every call is one SERIALIZABLE transaction,
 * retried on serialization failures and deadlocks (`retries`), within one deadline
 * (`timeout`). Modification times come from the server's clock. Errors are `AtomfsError`s
 * with Node codes: `ECONNREFUSED` (no server), `ECONNRESET` (the connection or the server
 * went away: nothing was applied, except that a COMMIT whose answer was lost may have
 * committed; re-read `stat(p).version` to tell), `ETIMEDOUT`, `EAGAIN` (still conflicting
 * after every retry), and the namespace's own (`ENOENT`, `EEXIST`, …), the driver's error as
 * `cause`.
 *
 * @example
 * ```ts
 * import { VirtualFileSystem } from 'atomfs';
 * import { PostgresMount } from 'atomfs/postgres';
 *
 * const pgm = new PostgresMount({ connectionString: process.env.DATABASE_URL });
 * const vfs = new VirtualFileSystem();
 * vfs.mount('/shared', pgm);
 * await vfs.mkdir('/shared/clips', { recursive: true });
 * await vfs.writeFile('/shared/clips/a.json', '{"ok":true}');
 * await vfs.rename('/shared/clips', '/shared/published'); // one UPDATE, any size
 * await pgm.close();
 * ```
 */
export class PostgresMount implements VirtualMount {
  /** `rename`, `metadata`, `atomicWrite`, `fence` and `handles` (staged `vfs.open` handles). */
  readonly capabilities: ReadonlySet<MountCapability> = CAPS;
  /** Names compare exactly (bytes of their UTF-8 spelling). */
  readonly caseInsensitive = false;
  /** The schema the mount's tables live in. */
  readonly schema: string;
  readonly #pool: pg.Pool;
  readonly #ownsPool: boolean;
  readonly #policy: CallPolicy;
  readonly #S: string;
  #ready: Promise<void> | undefined;
  #closed = false;
  readonly #host: HandleHost;
  readonly #tree: Tree;
  readonly #open = new Set<StagedHandle>();

  /**
   * @param options - `connectionString` or `pool`; `schema` (default `'atomfs'`), `timeout` (ms, default 30,000), `retries` (default 30).
   * @throws `EINVAL` for a missing or malformed option (nothing is connected yet: the first call connects).
   */
  constructor(options: PostgresMountOptions) {
    const op = 'PostgresMount';
    const o = checkOptionsObject(op, options, undefined, OPTION_SET);
    const c = connection(op, o, 30_000);
    this.#policy = { timeoutMs: c.timeoutMs, retries: intOpt(op, o, 'retries', 30, undefined, 1000) };
    this.schema = c.schema;
    this.#S = `"${c.schema}"`;
    this.#tree = new Tree(this.#S, c.schema);
    this.#ownsPool = c.ownsPool;
    this.#pool = c.pool;
    const leaseMs = intOpt(op, o, 'stageLease', 60_000, undefined, 2 ** 31 - 1);
    if (leaseMs < 100) throw new AtomfsError('EINVAL', `stageLease must be at least 100 ms, got ${leaseMs}`, { operation: op });
    this.#host = {
      pool: this.#pool,
      policy: this.#policy,
      S: this.#S,
      leaseMs,
      owner: `${process.pid}/${randomUUID()}`,
      forget: (h) => this.#open.delete(h),
      publishTarget: (tx, path, exclusive) => this.#tree.publishTarget(tx, path, exclusive),
    };
  }

  /**
   * Connects and creates or migrates the schema now (every call does it on first use).
   *
   * @throws `ECONNREFUSED`, `ECONNRESET`, `ETIMEDOUT`, `EACCES`, `ENOTSUP` (a schema made by a newer atomfs).
   * @example
   * ```ts
   * await mount.ready();
   * ```
   */
  ready(): Promise<void> {
    if (this.#closed) return Promise.reject(mountError('EINVAL', 'connect', this.schema));
    if (this.#ready === undefined) {
      // Staged writes whose writer died go first (best effort: they are only space).
      const p = migrate(this.#pool, this.schema, this.#policy.timeoutMs).then(() => this.#sweep());
      this.#ready = p;
      // A failure is not remembered: the next call tries again (the server may be back).
      p.catch(() => {
        if (this.#ready === p) this.#ready = undefined;
      });
    }
    return this.#ready;
  }

  /**
   * Ends the pool the mount made (a pool you passed stays open). Safe twice.
   *
   * @throws Nothing.
   * @example
   * ```ts
   * await mount.close();
   * ```
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // Open handles publish nothing now; their stages are swept once their leases end.
    for (const h of this.#open) h.abandon();
    this.#open.clear();
    if (this.#ownsPool) await endPool(this.#pool);
  }

  /** Ends the pool, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ready() for a call on `path`: a failure to reach or set up the schema names the path
  // and the call (the VFS then reports the virtual path), the schema in its text.
  async #readyFor(syscall: string, path: string): Promise<void> {
    try {
      await this.ready();
    } catch (e) {
      if (!(e instanceof AtomfsError)) throw e;
      throw new AtomfsError(e.code, `setting up schema ${this.schema}: ${e.message}`, { operation: 'mount', syscall, path }, { cause: e, ...(e.reason === undefined ? {} : { reason: e.reason }) });
    }
  }

  async #tx<T>(syscall: string, path: string, body: (tx: Tx) => Promise<T>, readOnly = false): Promise<T> {
    await this.#readyFor(syscall, path);
    return transaction(this.#pool, this.#policy, { operation: 'mount', syscall, path }, body, readOnly);
  }

  async #sweep(): Promise<void> {
    await sweepStages(this.#host, 'migrate').catch(() => undefined);
  }

  /**
   * Deletes the staged writes of handles whose writer died or was cut off (their lease,
   * `stageLease`, ran out by the server's clock), with their chunks, in one transaction.
   * Every mount does it when it starts; call it to reclaim the space sooner.
   *
   * @returns How many stages and chunks were deleted.
   * @throws `ECONNREFUSED`, `ECONNRESET`, `ETIMEDOUT`, `EAGAIN`.
   * @example
   * ```ts
   * const { stages, chunks } = await mount.cleanup();
   * ```
   */
  async cleanup(): Promise<PostgresCleanup> {
    await this.ready();
    return sweepStages(this.#host);
  }

  /**
   * Opens the file at `path` for `vfs.open`: reads and writes go chunk by chunk (one chunk
   * held in memory, whatever the file's size), and writes are staged, invisible to every
   * other reader, until `close()` publishes them in one transaction. A read never mixes two
   * versions of the file: once another client changed it, the handle's reads fail with
   * `ESTALE`; so does the `close()` of an `r+` or `a` handle (nothing is written), while a
   * `w` handle replaces whatever is there.
   *
   * @throws `ENOENT`, `ENOTDIR`, `EISDIR`, `EINVAL`, and the connection codes of the class.
   * @example
   * ```ts
   * const h = await mount.openHandle('/big.bin', { read: false, write: true, truncate: true });
   * await h.write(new Uint8Array(1 << 20), 0);
   * await h.close(); // published here
   * ```
   */
  async openHandle(path: string, options: MountOpenOptions): Promise<MountHandle> {
    checkMountPath(path, 'open');
    const o = options as unknown as Record<string, unknown> | null;
    if (typeof o !== 'object' || o === null || isRevoked(o) || typeof o['read'] !== 'boolean' || typeof o['write'] !== 'boolean' || typeof o['truncate'] !== 'boolean') {
      throw mountError('EINVAL', 'open', path);
    }
    for (const k of ['create', 'exclusive']) if (o[k] !== undefined && typeof o[k] !== 'boolean') throw mountError('EINVAL', 'open', path);
    const create = o['create'] === true;
    if (create && (!o['write'] || !o['truncate'] || path === '/')) throw mountError('EINVAL', 'open', path);
    const opts: MountOpenOptions = { read: o['read'], write: o['write'], truncate: o['truncate'] && o['write'], create, exclusive: create && o['exclusive'] === true };
    const base = await this.#tx(
      'open',
      path,
      async (tx): Promise<HandleBase> => {
        if (create) {
          // The file is made at close (Tree.publishTarget); now only its folder must be there,
          // and, for an exclusive open, no entry.
          const parent = await this.#tree.findFolder(tx, parentOf(path), 'open', path);
          const there = await this.#tree.child(tx, parent.row.id, baseName(path));
          if (there !== undefined && (opts.exclusive === true || there.kind === 'dir')) throw mountError(there.kind === 'dir' ? 'EISDIR' : 'EEXIST', 'open', path);
          return { id: parent.row.id, version: '', size: 0, pending: true };
        }
        const { row } = await this.#tree.find(tx, path, 'open');
        if (row.kind !== 'file') throw mountError('EISDIR', 'open', path);
        return { id: row.id, version: row.version, size: Number(row.size), inline: row.inline };
      },
      true,
    );
    const h = new StagedHandle(this.#host, path, base, opts);
    if (this.#closed) throw mountError('EINVAL', 'open', path);
    this.#open.add(h);
    return h;
  }

  /**
   * Creates an empty file or a folder.
   * @throws `EEXIST`, `ENOENT`, `ENOTDIR`, `ENAMETOOLONG`, `EINVAL`, and the connection codes of the class.
   */
  async create(path: string, options: CreateOptions): Promise<void> {
    checkMountPath(path, 'open');
    const o = checkCreateOptions(options, path);
    const syscall = o.dir ? 'mkdir' : 'open';
    if (path === '/') throw mountError('EEXIST', syscall, path);
    const name = baseName(path);
    if (Buffer.byteLength(name) > NAME_MAX) throw mountError('ENAMETOOLONG', syscall, path);
    const S = this.#S;
    await this.#tx(syscall, path, async (tx) => {
      const parent = await this.#tree.findFolder(tx, parentOf(path), syscall, path);
      const r = await tx.query(
        `INSERT INTO ${S}.inode (id, parent, name, kind, mode, mtime_ms, size, version)
         VALUES (nextval('${S}.inode_seq'), $1, $2, $3, $4, ${NOW}, 0, nextval('${S}.version_seq'))
         ON CONFLICT (parent, name) DO NOTHING RETURNING id`,
        [parent.row.id, name, o.dir ? 'dir' : 'file', o.mode ?? (o.dir ? 0o755 : 0o644)],
      );
      if (r.rows.length === 0) throw mountError('EEXIST', syscall, path);
      await this.#tree.touch(tx, parent.row.id);
    });
  }

  /**
   * Reads a file (one snapshot: a concurrent write is seen whole or not at all).
   * @throws `ENOENT`, `ENOTDIR`, `EISDIR`, `EINVAL`, and the connection codes of the class.
   */
  async read(path: string, options?: ReadOptions): Promise<Uint8Array> {
    checkMountPath(path, 'read');
    const o = checkReadOptions(options, path);
    return this.#tx(
      'read',
      path,
      async (tx) => {
        const { row } = await this.#tree.find(tx, path, 'read');
        if (row.kind !== 'file') throw mountError('EISDIR', 'read', path);
        const size = Number(row.size);
        const start = Math.min(o.offset ?? 0, size);
        const end = o.length === undefined ? size : Math.min(size, start + o.length);
        const out = Buffer.alloc(Math.max(0, end - start));
        if (end <= start) return out;
        const r = await tx.query<{ idx: string; data: Buffer }>(
          `SELECT idx, data FROM ${this.#S}.content WHERE inode = $1 AND idx BETWEEN $2 AND $3 ORDER BY idx`,
          [row.id, Math.floor(start / CHUNK), Math.floor((end - 1) / CHUNK)],
        );
        for (const { idx, data } of r.rows) {
          const at = Number(idx) * CHUNK;
          const from = Math.max(start, at);
          const to = Math.min(end, at + data.length);
          if (to > from) data.copy(out, from - start, from - at, to - at);
        }
        return out;
      },
      true,
    );
  }

  /**
   * Writes bytes at an offset of an existing file, in one transaction.
   * @throws `ENOENT`, `ENOTDIR`, `EISDIR`, `EINVAL`, `EFBIG`, and the connection codes of the class.
   */
  async write(path: string, data: Uint8Array, options?: WriteOptions): Promise<void> {
    checkMountPath(path, 'write');
    const o = checkWriteArgs(data, options, path);
    const offset = o.offset ?? 0;
    if (data.length === 0) {
      await this.stat(path).then((s) => {
        if (s.kind !== 'file') throw mountError('EISDIR', 'write', path);
      });
      return;
    }
    await this.#tx('write', path, async (tx) => {
      const { row } = await this.#tree.find(tx, path, 'write');
      if (row.kind !== 'file') throw mountError('EISDIR', 'write', path);
      await this.#tree.writeAt(tx, row, offset, data);
    });
  }

  /**
   * Creates or replaces a file's whole content in one transaction: no reader on any
   * connection sees a part of it; durable once this resolves (at COMMIT). A condition
   * (`ifMatch`, `ifNoneMatch`) is checked in the same transaction, under the row's lock.
   * @throws `ENOENT` (folder missing; `ifMatch`: no file), `ENOTDIR`, `EISDIR`, `ENAMETOOLONG`, `EINVAL`, `EFBIG`, `ESTALE` (`fence`: a newer token was handed out),
   * `ECANCELED` (`ifMatch`: another version), `EEXIST` (`ifNoneMatch`: an entry exists), and the connection codes of the class.
   */
  async writeFile(path: string, data: Uint8Array, options?: AtomicWriteOptions): Promise<void> {
    checkMountPath(path, 'open');
    checkWriteArgs(data, undefined, path);
    if (options !== undefined && (typeof options !== 'object' || options === null || isRevoked(options))) throw mountError('EINVAL', 'open', path);
    const o: AtomicWriteOptions = options === undefined ? {} : checkCreateOptions({ dir: false, mode: options.mode }, path);
    const fence = checkFence(options, 'open', path);
    const cond = checkCondition(options, 'open', path);
    if (path === '/') throw mountError('EISDIR', 'open', path);
    const name = baseName(path);
    if (Buffer.byteLength(name) > NAME_MAX) throw mountError('ENAMETOOLONG', 'open', path);
    if (fence === undefined && data.length <= CHUNK && (cond.ifMatch === undefined || /^[0-9]{1,18}$/.test(cond.ifMatch))) {
      await this.#writeSmall(path, data, o.mode, cond);
      return;
    }
    const S = this.#S;
    await this.#tx('open', path, async (tx) => {
      if (fence !== undefined) await this.#tree.checkFence(tx, fence, 'open', path);
      const parent = await this.#tree.findFolder(tx, parentOf(path), 'open', path);
      const existing = isConditional(cond) ? await this.#tree.childIf(tx, parent.row.id, name, cond, 'open', path) : await this.#tree.child(tx, parent.row.id, name);
      if (existing?.kind === 'dir') throw mountError('EISDIR', 'open', path);
      let id: string;
      if (existing !== undefined) {
        id = existing.id;
        await tx.query(`DELETE FROM ${S}.chunk WHERE inode = $1`, [id]);
        await tx.query(
          `UPDATE ${S}.inode SET data = NULL, size = $2, mode = coalesce($3, mode), mtime_ms = ${NOW}, version = nextval('${S}.version_seq') WHERE id = $1`,
          [id, data.length, o.mode ?? null],
        );
      } else {
        const r = await tx
          .query<{ id: string }>(
            `INSERT INTO ${S}.inode (id, parent, name, kind, mode, mtime_ms, size, version)
             VALUES (nextval('${S}.inode_seq'), $1, $2, 'file', $3, ${NOW}, $4, nextval('${S}.version_seq')) RETURNING id`,
            [parent.row.id, name, o.mode ?? 0o644, data.length],
          )
          .catch((e: unknown) => {
            // Another client created it since our look (no row to lock then): for a
            // conditional write that is the condition failing, not a bare EEXIST.
            if (sqlState(e) === '23505' && isConditional(cond)) throw preconditionError('EEXIST', 'open', path, 'ifNoneMatch: the entry was created meanwhile');
            throw e;
          });
        id = r.rows[0]!.id;
        await this.#tree.touch(tx, parent.row.id);
      }
      await this.#tree.putChunks(tx, id, data);
    });
  }

  // A whole file of at most one chunk, unfenced: one call of the schema's write_small
  // (schema.ts says why it takes row locks instead of running SERIALIZABLE).
  async #writeSmall(path: string, data: Uint8Array, mode: number | undefined, cond: WriteCondition): Promise<void> {
    await this.#readyFor('open', path);
    const r = await statement<{ r: string }>(
      this.#pool,
      this.#policy,
      { operation: 'mount', syscall: 'open', path },
      { name: `atomfs_${this.schema}_write_small`, text: `SELECT ${this.#S}.write_small($1, $2, $3, $4, $5) AS r` },
      [segments(path), Buffer.from(data.buffer, data.byteOffset, data.length), mode ?? null, cond.ifMatch ?? null, cond.ifNoneMatch !== undefined],
    );
    const out = r.rows[0]?.r;
    if (out === '') return;
    switch (out) {
      case 'pre:EEXIST':
        throw preconditionError('EEXIST', 'open', path, 'ifNoneMatch: an entry exists');
      case 'pre:ENOENT':
        throw preconditionError('ENOENT', 'open', path, 'ifMatch: no entry is there any more');
      case 'pre:ECANCELED':
        throw preconditionError('ECANCELED', 'open', path, 'ifMatch: the entry changed (its version is not the one given)');
      case 'ENOENT':
      case 'ENOTDIR':
      case 'EISDIR':
        throw mountError(out, 'open', path);
      case 'EAGAIN':
        throw new AtomfsError('EAGAIN', 'other clients created and removed the file three times while this write ran', { operation: 'mount', path, syscall: 'open' });
      default:
        throw mountError('EIO', 'open', path, new Error(`write_small returned ${String(out)}`));
    }
  }

  /**
   * Removes a file or an empty folder.
   * @throws `ENOENT`, `ENOTDIR`, `ENOTEMPTY`, `EBUSY` (the root), `EINVAL`, `ESTALE` (fenced), and the connection codes of the class.
   */
  async delete(path: string, options?: DeleteOptions): Promise<void> {
    checkMountPath(path, 'unlink');
    const fence = checkFence(options, 'unlink', path);
    if (path === '/') throw mountError('EBUSY', 'rmdir', path);
    await this.#tx('unlink', path, async (tx) => {
      if (fence !== undefined) await this.#tree.checkFence(tx, fence, 'unlink', path);
      const { row, chain } = await this.#tree.find(tx, path, 'unlink');
      if (row.kind === 'dir' && (await this.#tree.hasChildren(tx, row.id))) throw mountError('ENOTEMPTY', 'rmdir', path);
      await this.#tree.drop(tx, row.id);
      await this.#tree.touch(tx, chain[chain.length - 1]!.id);
    });
  }

  /**
   * The names in a folder, in no particular order.
   * @throws `ENOENT`, `ENOTDIR`, `EINVAL`, and the connection codes of the class.
   */
  async list(path: string): Promise<string[]> {
    checkMountPath(path, 'scandir');
    return this.#tx(
      'scandir',
      path,
      async (tx) => {
        const { row } = await this.#tree.find(tx, path, 'scandir');
        if (row.kind !== 'dir') throw mountError('ENOTDIR', 'scandir', path);
        return (await tx.query<{ name: string }>(`SELECT name FROM ${this.#S}.inode WHERE parent = $1`, [row.id])).rows.map((r) => r.name);
      },
      true,
    );
  }

  /**
   * Kind, size, modification time (the server's clock), mode and version of an entry.
   * @throws `ENOENT`, `ENOTDIR`, `EINVAL`, and the connection codes of the class.
   */
  async stat(path: string): Promise<VStat> {
    checkMountPath(path, 'stat');
    return this.#tx(
      'stat',
      path,
      async (tx) => {
        const { row } = await this.#tree.find(tx, path, 'stat');
        return { kind: row.kind, size: row.kind === 'file' ? Number(row.size) : 0, mtimeMs: Number(row.mtime_ms), mode: row.mode, version: row.version };
      },
      true,
    );
  }

  /**
   * Sets a file's length, in one transaction (longer reads as zero bytes).
   * @throws `ENOENT`, `ENOTDIR`, `EISDIR`, `EINVAL`, and the connection codes of the class.
   */
  async truncate(path: string, size: number): Promise<void> {
    checkMountPath(path, 'truncate');
    checkSize(size, path);
    const S = this.#S;
    await this.#tx('truncate', path, async (tx) => {
      const { row } = await this.#tree.find(tx, path, 'truncate');
      if (row.kind !== 'file') throw mountError('EISDIR', 'truncate', path);
      if (row.inline) await this.#tree.spill(tx, row.id);
      if (size < Number(row.size)) {
        const keep = Math.ceil(size / CHUNK);
        await tx.query(`DELETE FROM ${S}.chunk WHERE inode = $1 AND idx >= $2`, [row.id, keep]);
        // The kept bytes of the last chunk only: bytes past the end must not come back if it grows again.
        if (size % CHUNK !== 0) await tx.query(`UPDATE ${S}.chunk SET data = substring(data FROM 1 FOR $3) WHERE inode = $1 AND idx = $2`, [row.id, keep - 1, size % CHUNK]);
      }
      await tx.query(
        `UPDATE ${S}.inode SET size = $2, mtime_ms = ${NOW}, version = nextval('${S}.version_seq') WHERE id = $1`,
        [row.id, size],
      );
    });
  }

  /**
   * Renames a file or a folder of any size: one `UPDATE` of one row. Every rule is checked
   * inside the transaction, so two clients cannot race past them: a folder never goes into
   * its own subtree (`EINVAL`), even when another client is moving folders at the same
   * moment.
   * A condition (`ifMatch`, `ifNoneMatch`) on the destination is checked in the same
   * transaction, under the destination row's lock.
   * @throws `ENOENT`, `ENOTDIR`, `EISDIR`, `ENOTEMPTY`, `EEXIST` (`replace: false`; `ifNoneMatch`), `EINVAL`, `EBUSY` (the root), `ENAMETOOLONG`, `ESTALE` (fenced), `ECANCELED` (`ifMatch`), and the connection codes of the class.
   */
  async rename(oldPath: string, newPath: string, options?: MountRenameOptions): Promise<void> {
    checkMountPath(oldPath, 'rename');
    checkMountPath(newPath, 'rename');
    const replace = options?.replace ?? true;
    if (typeof replace !== 'boolean') throw mountError('EINVAL', 'rename', oldPath);
    const fence = checkFence(options, 'rename', oldPath);
    const cond = checkCondition(options, 'rename', newPath);
    if (oldPath === '/' || newPath === '/') throw mountError('EBUSY', 'rename', oldPath);
    const name = baseName(newPath);
    if (Buffer.byteLength(name) > NAME_MAX) throw mountError('ENAMETOOLONG', 'rename', newPath);
    const S = this.#S;
    await this.#tx('rename', oldPath, async (tx) => {
      if (fence !== undefined) await this.#tree.checkFence(tx, fence, 'rename', oldPath);
      const src = await this.#tree.find(tx, oldPath, 'rename');
      const dst = await this.#tree.findFolder(tx, parentOf(newPath), 'rename', oldPath);
      // The destination's folder and every folder above it: the source must not be one.
      if (src.row.kind === 'dir' && [...dst.chain, dst.row].some((r) => r.id === src.row.id)) throw mountError('EINVAL', 'rename', oldPath);
      const there = isConditional(cond) ? await this.#tree.childIf(tx, dst.row.id, name, cond, 'rename', newPath) : await this.#tree.child(tx, dst.row.id, name);
      if (there !== undefined) {
        if (there.id === src.row.id) return;
        if (!replace) throw mountError('EEXIST', 'rename', oldPath);
        if (src.row.kind === 'file' && there.kind === 'dir') throw mountError('EISDIR', 'rename', oldPath);
        if (src.row.kind === 'dir' && there.kind === 'file') throw mountError('ENOTDIR', 'rename', oldPath);
        if (there.kind === 'dir' && (await this.#tree.hasChildren(tx, there.id))) throw mountError('ENOTEMPTY', 'rename', oldPath);
        await this.#tree.drop(tx, there.id);
      }
      await tx.query(`UPDATE ${S}.inode SET parent = $2, name = $3, version = nextval('${S}.version_seq') WHERE id = $1`, [src.row.id, dst.row.id, name]);
      await this.#tree.touch(tx, src.chain[src.chain.length - 1]!.id, dst.row.id);
    });
  }

  /**
   * Sets the modification time and/or the mode of an entry.
   * @throws `ENOENT`, `ENOTDIR`, `EINVAL`, and the connection codes of the class.
   */
  async setMetadata(path: string, update: MetadataUpdate): Promise<void> {
    checkMountPath(path, 'utimes');
    const u = checkUpdate(update, path);
    const S = this.#S;
    await this.#tx('utimes', path, async (tx) => {
      const { row } = await this.#tree.find(tx, path, 'utimes');
      await tx.query(
        `UPDATE ${S}.inode SET mtime_ms = coalesce($2, mtime_ms), mode = coalesce($3, mode), version = nextval('${S}.version_seq') WHERE id = $1`,
        [row.id, u.mtimeMs ?? null, u.mode ?? null],
      );
    });
  }
}
