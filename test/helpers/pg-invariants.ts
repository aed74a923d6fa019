/**
 * The PostgresMount's invariants, read straight from its tables: every row reachable from
 * the root (no orphans, no cycles), every chunk inside its file's size, folders hold no
 * chunks, names unique per folder (the schema enforces it, checked anyway), every chunk
 * owned by a file or by a handle's stage, and (once every writer is done or swept) no stage
 * left.
 */
import pg from 'pg';

/** What the checker found; every count is 0 and `reachable === rows` when all holds. */
export interface Invariants {
  readonly rows: number;
  readonly reachable: number;
  readonly chunksPastEnd: number;
  /** Files whose bytes are in their row (`inode.data`) but which also have chunks, or whose size is not that length. */
  readonly inlineMismatch: number;
  readonly chunksOfFolders: number;
  readonly duplicateNames: number;
  readonly chunks: number;
  /** Chunks whose owner is neither a file nor a stage. */
  readonly orphanChunks: number;
  /** Stages (handles' staged writes not yet published or swept) and their chunks. */
  readonly stages: number;
  readonly stagedChunks: number;
}

/** Reads the invariants of one schema. */
export async function checkInvariants(url: string, schema: string): Promise<Invariants> {
  const S = `"${schema}"`;
  const c = new pg.Client({ connectionString: url });
  c.on('error', () => undefined);
  await c.connect();
  try {
    const one = async (sql: string): Promise<number> => Number((await c.query<{ n: string }>(sql)).rows[0]!.n);
    return {
      rows: await one(`SELECT count(*) AS n FROM ${S}.inode`),
      // A walk down from the root that never revisits a row: a cycle's rows are unreachable.
      reachable: await one(`WITH RECURSIVE down (id) AS (SELECT id FROM ${S}.inode WHERE id = 1
                              UNION SELECT i.id FROM down JOIN ${S}.inode i ON i.parent = down.id)
                            SELECT count(*) AS n FROM down`),
      chunksPastEnd: await one(`SELECT count(*) AS n FROM ${S}.chunk c JOIN ${S}.inode i ON i.id = c.inode
                                WHERE c.idx * ${256 * 1024} + octet_length(c.data) > i.size`),
      // A file whose bytes are in its row has no chunk rows, and its size is their length.
      inlineMismatch: await one(`SELECT count(*) AS n FROM ${S}.inode i WHERE i.data IS NOT NULL
                                 AND (i.kind <> 'file' OR octet_length(i.data) <> i.size OR EXISTS (SELECT 1 FROM ${S}.chunk c WHERE c.inode = i.id))`),
      chunksOfFolders: await one(`SELECT count(*) AS n FROM ${S}.chunk c JOIN ${S}.inode i ON i.id = c.inode WHERE i.kind = 'dir'`),
      duplicateNames: await one(`SELECT count(*) AS n FROM (SELECT parent, name FROM ${S}.inode GROUP BY parent, name HAVING count(*) > 1) d`),
      chunks: await one(`SELECT count(*) AS n FROM ${S}.chunk`),
      orphanChunks: await one(`SELECT count(*) AS n FROM ${S}.chunk c WHERE NOT EXISTS (SELECT 1 FROM ${S}.inode i WHERE i.id = c.inode)
                                 AND NOT EXISTS (SELECT 1 FROM ${S}.stage s WHERE s.id = c.inode)`),
      stages: await one(`SELECT count(*) AS n FROM ${S}.stage`),
      stagedChunks: await one(`SELECT count(*) AS n FROM ${S}.chunk c JOIN ${S}.stage s ON s.id = c.inode`),
    };
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** Asserts every invariant; returns them for further checks. */
export async function assertInvariants(url: string, schema: string, assert: { deepEqual(a: unknown, b: unknown, m?: string): void }): Promise<Invariants> {
  const inv = await checkInvariants(url, schema);
  assert.deepEqual(
    { orphansOrCycles: inv.rows - inv.reachable, chunksPastEnd: inv.chunksPastEnd, inlineMismatch: inv.inlineMismatch, chunksOfFolders: inv.chunksOfFolders, duplicateNames: inv.duplicateNames, orphanChunks: inv.orphanChunks, stages: inv.stages },
    { orphansOrCycles: 0, chunksPastEnd: 0, inlineMismatch: 0, chunksOfFolders: 0, duplicateNames: 0, orphanChunks: 0, stages: 0 },
    `invariants of ${schema}`,
  );
  return inv;
}

/** One entry of a schema's tree, read from the tables. */
export interface TreeEntry {
  readonly kind: 'file' | 'dir';
  readonly size: number;
  /** The file's content (chunks in order, gaps as zeros), for files. */
  readonly content?: Buffer;
}

/** The whole tree of a schema, path → entry (the root is `/`), straight from the tables. */
export async function readTree(url: string, schema: string, withContent = true): Promise<Map<string, TreeEntry>> {
  const S = `"${schema}"`;
  const c = new pg.Client({ connectionString: url });
  c.on('error', () => undefined);
  await c.connect();
  try {
    const rows = await c.query<{ path: string; id: string; kind: 'file' | 'dir'; size: string }>(
      `WITH RECURSIVE t (id, path, kind, size) AS (
         SELECT id, '/'::text, kind, size FROM ${S}.inode WHERE id = 1
         UNION ALL
         SELECT i.id, CASE WHEN t.path = '/' THEN '/' || i.name ELSE t.path || '/' || i.name END, i.kind, i.size
           FROM t JOIN ${S}.inode i ON i.parent = t.id
       ) SELECT id::text, path, kind, size::text FROM t`,
    );
    const out = new Map<string, TreeEntry>();
    for (const r of rows.rows) {
      const size = Number(r.size);
      if (r.kind === 'dir' || !withContent) {
        out.set(r.path, { kind: r.kind, size });
        continue;
      }
      const content = Buffer.alloc(size);
      const ch = await c.query<{ idx: string; data: Buffer }>(`SELECT idx, data FROM ${S}.content WHERE inode = $1 ORDER BY idx`, [r.id]);
      for (const k of ch.rows) k.data.copy(content, Number(k.idx) * 256 * 1024);
      out.set(r.path, { kind: r.kind, size, content });
    }
    return out;
  } finally {
    await c.end().catch(() => undefined);
  }
}
