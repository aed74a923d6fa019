/**
 * The handles of a PostgresMount (`vfs.open`): a file of any size written and read in
 * chunks with bounded memory (one chunk buffered for writing, one cached for reading), the
 * writes staged under a stage row until `close()` publishes them in one transaction.
 *
 * Why stage: a handle's writes are many transactions (one per chunk), and readers on other
 * connections must never see a part of them. So the chunks go under the stage's id, which
 * no file has, and the commit moves them to the file by one UPDATE of their owner column
 * (the content itself is not rewritten), in the transaction that also sets the file's size
 * and version. A stage has an owner and a lease by the server's clock, renewed by every
 * flush and by a heartbeat: a writer that dies leaves a stage whose lease runs out, and
 * the next mount that starts (or `cleanup()`) deletes it with its chunks.
 *
 * @module
 */
import type pg from 'pg';
import { AtomfsError } from '../errors.js';
import { mountError, type MountHandle, type MountOpenOptions, type VStat } from '../vfs/mount.js';
import { NOW } from './pg-tree.js';
import { CHUNK } from './schema.js';
import { transaction, type CallPolicy, type Tx } from './sql.js';



/** What a handle needs of its mount. @internal */
export interface HandleHost {
  readonly pool: pg.Pool;
  readonly policy: CallPolicy;
  /** The quoted schema name. */
  readonly S: string;
  /** The stage's lease, in milliseconds. */
  readonly leaseMs: number;
  /** Who writes, for the stage rows (this mount instance). */
  readonly owner: string;
  /** The mount forgets a closed handle. */
  forget(h: StagedHandle): void;
  /** For a handle that creates its file: the file's id, made (or found) in the commit's transaction. */
  publishTarget(tx: Tx, path: string, exclusive: boolean): Promise<string>;
}

/**
 * The file's row as the handle found it at open. `pending`: there was no file (the handle
 * creates it at close), and `id` is its folder's.
 * @internal
 */
export interface HandleBase {
  readonly id: string;
  readonly version: string;
  readonly size: number;
  readonly pending?: true;
  /** The file kept its bytes in its row (not in chunks) at open. */
  readonly inline?: boolean;
}

interface Dirty {
  idx: number;
  len: number;
}

/**
 * One open file of a PostgresMount. The VFS calls it one method at a time (the handle's
 * calls are serialized), so no two of its transactions overlap except the heartbeat's.
 * @internal
 */
export class StagedHandle implements MountHandle {
  readonly #host: HandleHost;
  readonly #path: string;
  readonly #base: HandleBase;
  readonly #o: MountOpenOptions;
  #size: number;
  #stage: string | undefined;
  readonly #staged = new Set<number>();
  // The one chunk being written: its bytes in #buf (allocated once, at the first write).
  #buf: Buffer | undefined;
  #dirty: Dirty | undefined;
  // The one chunk last read, so small sequential reads cost one query per chunk.
  #cache: { idx: number; data: Buffer } | undefined;
  #changed: boolean;
  #lost: AtomfsError | undefined;
  // A write that failed leaves the handle's content unknown to its caller: close() then
  // publishes nothing (a part of a file is never published) and rejects with this error.
  #failed: unknown;
  #timer: NodeJS.Timeout | undefined;

  constructor(host: HandleHost, path: string, base: HandleBase, o: MountOpenOptions) {
    this.#host = host;
    this.#path = path;
    this.#base = base;
    this.#o = o;
    this.#size = o.truncate ? 0 : base.size;
    // A `w` handle that writes nothing still empties the file at close.
    this.#changed = o.write && o.truncate;
  }

  #tx<T>(syscall: string, body: (tx: Tx) => Promise<T>, readOnly = false): Promise<T> {
    return transaction(this.#host.pool, this.#host.policy, { operation: 'mount', syscall, path: this.#path }, body, readOnly);
  }

  #staleError(why: string): AtomfsError {
    return new AtomfsError('ESTALE', why, { operation: 'mount', path: this.#path, syscall: 'write' });
  }

  // The file's chunk `idx` as it was at open: ENOENT once another client removed the file,
  // ESTALE once it changed (a read never mixes two versions of the file).
  async #baseChunk(idx: number): Promise<Buffer | undefined> {
    const S = this.#host.S;
    const r = await this.#tx(
      'read',
      (tx) => tx.query<{ version: string; data: Buffer | null }>(
        `SELECT i.version::text AS version, c.data FROM ${S}.inode i LEFT JOIN ${S}.content c ON c.inode = i.id AND c.idx = $2 WHERE i.id = $1`,
        [this.#base.id, idx],
      ),
      true,
    );
    const row = r.rows[0];
    if (row === undefined) throw mountError('ENOENT', 'read', this.#path);
    if (row.version !== this.#base.version) {
      throw new AtomfsError('ESTALE', 'the file was changed by another client since it was opened', { operation: 'mount', path: this.#path, syscall: 'read' });
    }
    return row.data ?? undefined;
  }

  async #stagedChunk(idx: number): Promise<Buffer | undefined> {
    const r = await this.#tx('read', (tx) => tx.query<{ data: Buffer }>(`SELECT data FROM ${this.#host.S}.chunk WHERE inode = $1 AND idx = $2`, [this.#stage, idx]), true);
    return r.rows[0]?.data;
  }

  // What chunk `idx` holds for this handle, not counting the one being written.
  async #chunk(idx: number): Promise<Buffer | undefined> {
    if (this.#cache?.idx === idx) return this.#cache.data;
    let data: Buffer | undefined;
    if (this.#staged.has(idx)) data = await this.#stagedChunk(idx);
    else if (!this.#o.truncate && idx * CHUNK < this.#base.size) data = await this.#baseChunk(idx);
    this.#cache = { idx, data: data ?? Buffer.alloc(0) };
    return data;
  }

  /** @inheritDoc */
  async read(offset: number, length: number): Promise<Uint8Array> {
    if (this.#lost !== undefined) throw this.#lost;
    const end = Math.min(this.#size, offset + length);
    if (end <= offset) return Buffer.alloc(0);
    const out = Buffer.alloc(end - offset);
    for (let idx = Math.floor(offset / CHUNK); idx * CHUNK < end; idx++) {
      const at = idx * CHUNK;
      const src = this.#dirty?.idx === idx ? this.#buf!.subarray(0, this.#dirty.len) : await this.#chunk(idx);
      if (src === undefined) continue; // a gap: zeros
      const from = Math.max(offset, at);
      const to = Math.min(end, at + src.length);
      if (to > from) src.copy(out, from - offset, from - at, to - at);
    }
    return out;
  }

  /** @inheritDoc */
  async write(data: Uint8Array, offset: number | 'end'): Promise<number> {
    if (this.#failed !== undefined) throw this.#failed;
    try {
      return await this.#write(data, offset);
    } catch (e) {
      this.#failed = e;
      throw e;
    }
  }

  async #write(data: Uint8Array, offset: number | 'end'): Promise<number> {
    if (this.#lost !== undefined) throw this.#lost;
    const at = offset === 'end' ? this.#size : offset;
    const end = at + data.length;
    for (let idx = Math.floor(at / CHUNK); idx * CHUNK < end; idx++) {
      const c0 = idx * CHUNK;
      const lo = Math.max(at, c0) - c0;
      const hi = Math.min(end, c0 + CHUNK) - c0;
      if (this.#dirty !== undefined && this.#dirty.idx !== idx) await this.#flush();
      if (this.#dirty === undefined) {
        this.#buf ??= Buffer.alloc(CHUNK);
        // Bytes of the chunk this write leaves alone must be what the handle had there.
        const keep = lo === 0 && hi === CHUNK ? undefined : await this.#chunk(idx);
        this.#buf.fill(0);
        keep?.copy(this.#buf);
        this.#dirty = { idx, len: keep?.length ?? 0 };
      }
      this.#buf!.set(data.subarray(c0 + lo - at, c0 + hi - at), lo);
      this.#dirty.len = Math.max(this.#dirty.len, hi);
      if (this.#cache?.idx === idx) this.#cache = undefined;
      this.#size = Math.max(this.#size, c0 + this.#dirty.len);
      this.#changed = true;
    }
    return end;
  }

  // The chunk being written goes to the stage (made at the first flush), in one
  // transaction that also renews the stage's lease: a stage swept meanwhile (its lease ran
  // out) gets no chunk, so nothing can be left without an owner.
  async #flush(): Promise<void> {
    const d = this.#dirty;
    if (d === undefined) return;
    const { S, leaseMs, owner } = this.#host;
    const part = this.#buf!.subarray(0, d.len);
    const id = await this.#tx('write', async (tx) => {
      let stage = this.#stage;
      if (stage === undefined) {
        const r = await tx.query<{ id: string }>(
          `INSERT INTO ${S}.stage (id, target, owner, size, expires)
           VALUES (nextval('${S}.inode_seq'), $1, $2, $3, clock_timestamp() + $4 * interval '1 millisecond') RETURNING id`,
          // target: the file, or for a file made at close, its folder (for the record only).
          [this.#base.id, owner, this.#size, leaseMs],
        );
        stage = r.rows[0]!.id;
      } else {
        const r = await tx.query(`UPDATE ${S}.stage SET size = $3, expires = clock_timestamp() + $4 * interval '1 millisecond' WHERE id = $1 AND owner = $2`, [stage, owner, this.#size, leaseMs]);
        if (r.rowCount === 0) throw this.#staleError('the staged writes were cleaned up: this handle was idle past its lease');
      }
      await tx.query(`INSERT INTO ${S}.chunk (inode, idx, data) VALUES ($1, $2, $3) ON CONFLICT (inode, idx) DO UPDATE SET data = EXCLUDED.data`, [stage, d.idx, part]);
      return stage;
    }).catch((e: unknown) => {
      if (e instanceof AtomfsError && e.code === 'ESTALE') this.#lost = e;
      throw e;
    });
    if (this.#stage === undefined) {
      this.#stage = id;
      this.#heartbeat();
    }
    this.#staged.add(d.idx);
    this.#dirty = undefined;
  }

  // An open handle that writes nothing for a while keeps its stage: renewed every third of
  // the lease by an unref'd timer (a process that is only waiting on it may exit).
  #heartbeat(): void {
    const { S, leaseMs, owner } = this.#host;
    this.#timer = setInterval(() => {
      const stage = this.#stage;
      if (stage === undefined || this.#lost !== undefined) return;
      this.#tx('write', (tx) => tx.query(`UPDATE ${S}.stage SET expires = clock_timestamp() + $3 * interval '1 millisecond' WHERE id = $1 AND owner = $2`, [stage, owner, leaseMs])).then(
        (r) => {
          if (r.rowCount === 0) this.#lost = this.#staleError('the staged writes were cleaned up: this handle lost its lease');
        },
        () => undefined, // the next flush or the commit reports a lasting failure
      );
    }, Math.max(50, Math.floor(leaseMs / 3)));
    this.#timer.unref();
  }

  /** @inheritDoc */
  async stat(): Promise<VStat> {
    // A file made at close has no row yet: what it will be.
    if (this.#base.pending === true) return { kind: 'file', size: this.#size, mtimeMs: Date.now(), mode: 0o644 };
    const r = await this.#tx('fstat', (tx) => tx.query<{ kind: 'file' | 'dir'; mode: number; mtime_ms: number; size: string; version: string }>(`SELECT kind, mode, mtime_ms, size, version::text AS version FROM ${this.#host.S}.inode WHERE id = $1`, [this.#base.id]), true);
    const row = r.rows[0];
    if (row === undefined) throw mountError('ENOENT', 'fstat', this.#path);
    return { kind: row.kind, size: this.#o.write ? this.#size : Number(row.size), mtimeMs: Number(row.mtime_ms), mode: row.mode, version: row.version };
  }

  /**
   * Publishes the staged writes in one transaction: the file's chunks that the handle
   * replaced (all of them for a `w` handle) go, the stage's chunks become the file's, and
   * the size and version move. A handle that kept the old bytes (`r+`, `a`) publishes only
   * if the file is still the version it opened (else `ESTALE`: a merge would mix two
   * writers' bytes). On any failure the stage is dropped (best effort; else its lease runs
   * out and the sweep takes it).
   */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.#host.forget(this);
    this.#cache = undefined;
    if (!this.#changed) return;
    try {
      if (this.#failed !== undefined) throw this.#failed;
      if (this.#lost !== undefined) throw this.#lost;
      await this.#flush();
      await this.#commit();
    } catch (e) {
      await this.discard();
      throw e;
    } finally {
      this.#buf = undefined;
    }
  }

  async #commit(): Promise<void> {
    const { S, owner } = this.#host;
    const stage = this.#stage;
    await this.#tx('close', async (tx) => {
      let target = this.#base.id;
      if (this.#base.pending === true) target = await this.#host.publishTarget(tx, this.#path, this.#o.exclusive === true);
      const f = await tx.query<{ version: string }>(`SELECT version::text AS version FROM ${S}.inode WHERE id = $1 FOR UPDATE`, [target]);
      if (f.rows.length === 0) throw mountError('ENOENT', 'close', this.#path);
      if (!this.#o.truncate && f.rows[0]!.version !== this.#base.version) {
        throw new AtomfsError('ESTALE', 'the file was changed by another client since this handle opened it; nothing was written', { operation: 'mount', path: this.#path, syscall: 'close' });
      }
      if (stage !== undefined) {
        const s = await tx.query(`SELECT 1 FROM ${S}.stage WHERE id = $1 AND owner = $2 FOR UPDATE`, [stage, owner]);
        if (s.rows.length === 0) throw this.#staleError('the staged writes were cleaned up: this handle lost its lease');
      }
      if (this.#o.truncate) await tx.query(`DELETE FROM ${S}.chunk WHERE inode = $1`, [target]);
      else {
        // Bytes kept in the file's row (schema.ts) become chunk 0 first, as the handle
        // publishes by chunk. The file is the version it was at open (checked above), so
        // what the open saw says whether it has such bytes.
        if (this.#base.inline === true) await tx.query(`SELECT ${S}.spill($1)`, [target]);
        if (stage !== undefined) await tx.query(`DELETE FROM ${S}.chunk WHERE inode = $1 AND idx IN (SELECT idx FROM ${S}.chunk WHERE inode = $2)`, [target, stage]);
      }
      if (stage !== undefined) {
        await tx.query(`UPDATE ${S}.chunk SET inode = $1 WHERE inode = $2`, [target, stage]);
        await tx.query(`DELETE FROM ${S}.stage WHERE id = $1`, [stage]);
      }
      await tx.query(`UPDATE ${S}.inode SET data = NULL, size = $2, mtime_ms = ${NOW}, version = nextval('${S}.version_seq') WHERE id = $1`, [target, this.#size]);
    });
    this.#stage = undefined;
  }

  /** Drops the stage and its chunks (nothing published). Never throws: a stage left behind is swept when its lease ends. */
  async discard(): Promise<void> {
    clearInterval(this.#timer);
    this.#host.forget(this);
    const stage = this.#stage;
    this.#stage = undefined;
    this.#dirty = undefined;
    if (stage === undefined) return;
    const { S, owner } = this.#host;
    await this.#tx('close', async (tx) => {
      const r = await tx.query(`DELETE FROM ${S}.stage WHERE id = $1 AND owner = $2`, [stage, owner]);
      // Published after all (a commit whose answer was lost): its chunks are the file's now.
      if (r.rowCount !== 0) await tx.query(`DELETE FROM ${S}.chunk WHERE inode = $1`, [stage]);
    }).catch(() => undefined);
  }

  /** Stops the heartbeat (the mount is closing); the stage is left to its lease. */
  abandon(): void {
    clearInterval(this.#timer);
  }
}

/** Deletes the stages whose lease ran out, with their chunks, in one transaction. @internal */
export async function sweepStages(host: Pick<HandleHost, 'pool' | 'policy' | 'S'>, syscall = 'cleanup'): Promise<{ stages: number; chunks: number }> {
  const S = host.S;
  return transaction(host.pool, host.policy, { operation: 'mount', syscall, path: '/' }, async (tx) => {
    const gone = await tx.query<{ id: string }>(`DELETE FROM ${S}.stage WHERE expires < clock_timestamp() RETURNING id`);
    if (gone.rows.length === 0) return { stages: 0, chunks: 0 };
    const c = await tx.query(`DELETE FROM ${S}.chunk WHERE inode = ANY($1::bigint[])`, [gone.rows.map((r) => r.id)]);
    return { stages: gone.rows.length, chunks: c.rowCount ?? 0 };
  });
}
