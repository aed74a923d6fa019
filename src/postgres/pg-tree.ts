/**
 * The namespace operations every PostgresMount call is made of, inside the call's
 * transaction: the walk from the root along a path, the lookups of an entry and of a
 * folder, the touch of a folder whose names changed, the drop of an entry with its
 * content, the fence check, and the writes of content as chunks.
 *
 * @module
 * @internal
 */
import { AtomfsError } from '../errors.js';
import type { FenceToken } from '../lock/store.js';
import { checkPrecondition, mountError, type WriteCondition } from '../vfs/mount.js';
import { baseName, parentOf, segments } from '../vfs/vpath.js';
import { CHUNK, ROOT_ID, isSchemaName } from './schema.js';
import { sqlState, type Tx } from './sql.js';

/** Now by the server's clock, in ms since the epoch: the hosts' clocks need not agree. @internal */
export const NOW = 'floor(extract(epoch FROM clock_timestamp()) * 1000)';

/** An inode row as the walk reads it. @internal */
export interface Row {
  readonly id: string;
  readonly kind: 'file' | 'dir';
  readonly mode: number;
  readonly mtime_ms: number;
  readonly size: string;
  readonly version: string;
  /** The file keeps its bytes in its row (`inode.data`, see schema.ts), not in chunks. */
  readonly inline: boolean;
  readonly depth: number;
}

/** An entry found by path, with the folders above it (root first). @internal */
export interface Found {
  readonly row: Row;
  readonly chain: readonly Row[];
}

/** The namespace of one schema, worked on inside a caller's transaction. @internal */
export class Tree {
  /**
   * @param S - The quoted schema name.
   * @param schema - The schema name, for messages.
   */
  constructor(
    readonly S: string,
    readonly schema: string,
  ) {}

  // A fenced change goes on only if no newer token than the fence's was handed out for its
  // lock. FOR SHARE on the lock's row: an acquisition (which updates the row) waits for
  // this transaction to end, or this one waits for it and then, being SERIALIZABLE, fails
  // with 40001 and runs again, now seeing the newer token. So a change with an old token
  // never commits after a newer token was handed out.
  async checkFence(tx: Tx, f: FenceToken, syscall: string, path: string): Promise<void> {
    if (f.store !== 'postgres' || !isSchemaName(f.namespace)) {
      throw new AtomfsError('EINVAL', `fence: a token of a '${f.store}' lock store cannot be checked by a PostgresMount`, { operation: 'mount', path, syscall });
    }
    let r;
    try {
      r = await tx.query<{ t: string }>(`SELECT max_token::text AS t FROM "${f.namespace}".lock_name WHERE name = $1 FOR SHARE`, [f.name]);
    } catch (e) {
      if (sqlState(e) === '42P01' || sqlState(e) === '3F000') {
        throw new AtomfsError('EINVAL', `fence: no lock store in schema ${f.namespace} of this mount's database`, { operation: 'mount', path, syscall }, { cause: e });
      }
      throw e;
    }
    const max = r.rows[0]?.t;
    if (max === undefined || BigInt(max) > BigInt(f.token)) {
      throw new AtomfsError(
        'ESTALE',
        max === undefined ? `fenced: lock '${f.name}' was never taken in this store` : `fenced: lock '${f.name}' was taken with token ${max}, after this holder's token ${f.token}`,
        { operation: 'mount', path, syscall },
        { reason: 'fenced' },
      );
    }
  }

  // The rows from the root down along `path`: one round trip whatever the depth.
  async walk(tx: Tx, path: string): Promise<Row[]> {
    const S = this.S;
    const r = await tx.query<Row>(
      `WITH RECURSIVE walk (id, kind, mode, mtime_ms, size, version, inline, depth) AS (
         SELECT id, kind, mode, mtime_ms, size, version, data IS NOT NULL, 0 FROM ${S}.inode WHERE id = ${ROOT_ID}
         UNION ALL
         SELECT i.id, i.kind, i.mode, i.mtime_ms, i.size, i.version, i.data IS NOT NULL, w.depth + 1
           FROM walk w JOIN ${S}.inode i ON i.parent = w.id AND i.name = ($1::text[])[w.depth + 1]
          WHERE w.depth < cardinality($1::text[]) AND w.kind = 'dir'
       )
       SELECT id, kind, mode, mtime_ms, size, version, inline, depth FROM walk ORDER BY depth`,
      [segments(path)],
    );
    return r.rows;
  }

  // The entry at `path`: ENOENT when a name is missing, ENOTDIR when a file is in the way.
  async find(tx: Tx, path: string, syscall: string): Promise<Found> {
    const chain = await this.walk(tx, path);
    const last = chain[chain.length - 1];
    if (last === undefined) throw mountError('EIO', syscall, path, new Error(`schema ${this.schema} has no root folder`));
    if (last.depth < segments(path).length) throw mountError(last.kind === 'file' ? 'ENOTDIR' : 'ENOENT', syscall, path);
    return { row: last, chain: chain.slice(0, -1) };
  }

  async findFolder(tx: Tx, path: string, syscall: string, reported: string): Promise<Found> {
    const f = await this.find(tx, path, syscall).catch((e: unknown) => {
      throw e instanceof AtomfsError ? mountError(e.code, syscall, reported) : e;
    });
    if (f.row.kind !== 'dir') throw mountError('ENOTDIR', syscall, reported);
    return f;
  }

  async child(tx: Tx, parent: string, name: string): Promise<{ id: string; kind: 'file' | 'dir' } | undefined> {
    const r = await tx.query<{ id: string; kind: 'file' | 'dir' }>(`SELECT id, kind FROM ${this.S}.inode WHERE parent = $1 AND name = $2`, [parent, name]);
    return r.rows[0];
  }

  // The entry a conditional change would replace, with its version, checked against the
  // condition. FOR UPDATE: two conditional writers of one row queue on its row lock, and the
  // second, being SERIALIZABLE, then fails with 40001 and runs again, reading the first's
  // version (a mismatch, not a lost update). An absent row has no lock to take: two
  // `ifNoneMatch` creators both insert, and the (parent, name) unique key (23505) or the
  // serializable check stops the second. The version column moves with every change of a
  // row (nextval of one sequence), so a version never comes back.
  async childIf(tx: Tx, parent: string, name: string, cond: WriteCondition, syscall: string, path: string): Promise<{ id: string; kind: 'file' | 'dir' } | undefined> {
    const r = await tx.query<{ id: string; kind: 'file' | 'dir'; version: string }>(
      `SELECT id, kind, version::text AS version FROM ${this.S}.inode WHERE parent = $1 AND name = $2 FOR UPDATE`,
      [parent, name],
    );
    const row = r.rows[0];
    checkPrecondition(cond, row, syscall, path);
    return row;
  }

  // A folder's list of names changed: its time and version move (POSIX: mtime of the folder).
  async touch(tx: Tx, ...ids: string[]): Promise<void> {
    const S = this.S;
    await tx.query(
      `UPDATE ${S}.inode SET mtime_ms = ${NOW}, version = nextval('${S}.version_seq') WHERE id = ANY($1::bigint[])`,
      [[...new Set(ids)]],
    );
  }

  // An entry goes with its content. No foreign key does it (a chunk belongs to a file or to
  // a handle's stage, see schema.ts), so the same transaction does.
  async drop(tx: Tx, id: string): Promise<void> {
    await tx.query(`DELETE FROM ${this.S}.chunk WHERE inode = $1`, [id]);
    await tx.query(`DELETE FROM ${this.S}.inode WHERE id = $1`, [id]);
  }

  // A file whose bytes are in its row (a small whole-file write, see schema.ts; the walk's
  // `inline`) gets them moved into chunk 0 before a change that works on chunks.
  async spill(tx: Tx, id: string): Promise<void> {
    await tx.query(`SELECT ${this.S}.spill($1)`, [id]);
  }

  // The file a handle that creates its file publishes into, in the commit's transaction:
  // made now under the folder at the path's parent (which must still be there), or the
  // file another client made there since the open (replaced; EEXIST for an exclusive one).
  async publishTarget(tx: Tx, path: string, exclusive: boolean): Promise<string> {
    const parent = await this.findFolder(tx, parentOf(path), 'close', path);
    const name = baseName(path);
    const there = await this.child(tx, parent.row.id, name);
    if (there !== undefined) {
      if (there.kind === 'dir') throw mountError('EISDIR', 'close', path);
      if (exclusive) throw mountError('EEXIST', 'close', path);
      return there.id;
    }
    const r = await tx.query<{ id: string }>(
      `INSERT INTO ${this.S}.inode (id, parent, name, kind, mode, mtime_ms, size, version)
       VALUES (nextval('${this.S}.inode_seq'), $1, $2, 'file', ${0o644}, ${NOW}, 0, nextval('${this.S}.version_seq')) RETURNING id`,
      [parent.row.id, name],
    );
    await this.touch(tx, parent.row.id);
    return r.rows[0]!.id;
  }

  async hasChildren(tx: Tx, id: string): Promise<boolean> {
    return (await tx.query(`SELECT 1 FROM ${this.S}.inode WHERE parent = $1 LIMIT 1`, [id])).rows.length > 0;
  }

  // Writes `data` as whole chunks from chunk 0 (a new or emptied file).
  async putChunks(tx: Tx, id: string, data: Uint8Array): Promise<void> {
    const S = this.S;
    for (let off = 0, idx = 0; off < data.length; off += CHUNK, idx++) {
      const part = Buffer.from(data.buffer, data.byteOffset + off, Math.min(CHUNK, data.length - off));
      await tx.query(`INSERT INTO ${S}.chunk (inode, idx, data) VALUES ($1, $2, $3)`, [id, idx, part]);
    }
  }

  // Bytes at an offset of an existing file, merged chunk by chunk (bytes in the file's row
  // moved into chunk 0 first); the size grows to cover them.
  async writeAt(tx: Tx, file: Row, offset: number, data: Uint8Array): Promise<void> {
    const S = this.S;
    const id = file.id;
    if (file.inline) await this.spill(tx, id);
    const end = offset + data.length;
    const first = Math.floor(offset / CHUNK);
    const last = Math.floor((end - 1) / CHUNK);
    // Only the chunks the write covers in part need their old bytes.
    const covers = (idx: number): boolean => Math.max(offset, idx * CHUNK) === idx * CHUNK && Math.min(end, (idx + 1) * CHUNK) === (idx + 1) * CHUNK;
    const partial = [...new Set([first, last])].filter((idx) => !covers(idx));
    const old = new Map<number, Buffer>();
    if (partial.length > 0) {
      const r = await tx.query<{ idx: string; data: Buffer }>(`SELECT idx, data FROM ${S}.chunk WHERE inode = $1 AND idx = ANY($2::bigint[])`, [id, partial]);
      for (const c of r.rows) old.set(Number(c.idx), c.data);
    }
    for (let idx = first; idx <= last; idx++) {
      const at = idx * CHUNK;
      const lo = Math.max(offset, at) - at;
      const hi = Math.min(end, at + CHUNK) - at;
      const prev = old.get(idx);
      let buf: Buffer;
      if (lo === 0 && hi === CHUNK) buf = Buffer.from(data.buffer, data.byteOffset + (at - offset), CHUNK);
      else {
        buf = Buffer.alloc(Math.max(prev?.length ?? 0, hi));
        prev?.copy(buf);
        buf.set(data.subarray(at + lo - offset, at + hi - offset), lo);
      }
      await tx.query(`INSERT INTO ${S}.chunk (inode, idx, data) VALUES ($1, $2, $3) ON CONFLICT (inode, idx) DO UPDATE SET data = EXCLUDED.data`, [id, idx, buf]);
    }
    await tx.query(
      `UPDATE ${S}.inode SET size = greatest(size, $2), mtime_ms = ${NOW}, version = nextval('${S}.version_seq') WHERE id = $1`,
      [id, end],
    );
  }
}
