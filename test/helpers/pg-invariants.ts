/**
 * The PostgresMount's invariants, read straight from its tables: every row reachable from
 * the root (no orphans, no cycles), every chunk inside its file's size, folders hold no
 * chunks, names unique per folder (the schema enforces it, checked anyway).
 */
import pg from 'pg';

/** What the checker found; every count is 0 and `reachable === rows` when all holds. */
export interface Invariants {
  readonly rows: number;
  readonly reachable: number;
  readonly chunksPastEnd: number;
  readonly chunksOfFolders: number;
  readonly duplicateNames: number;
  readonly chunks: number;
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
      chunksOfFolders: await one(`SELECT count(*) AS n FROM ${S}.chunk c JOIN ${S}.inode i ON i.id = c.inode WHERE i.kind = 'dir'`),
      duplicateNames: await one(`SELECT count(*) AS n FROM (SELECT parent, name FROM ${S}.inode GROUP BY parent, name HAVING count(*) > 1) d`),
      chunks: await one(`SELECT count(*) AS n FROM ${S}.chunk`),
    };
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** Asserts every invariant; returns them for further checks. */
export async function assertInvariants(url: string, schema: string, assert: { deepEqual(a: unknown, b: unknown, m?: string): void }): Promise<Invariants> {
  const inv = await checkInvariants(url, schema);
  assert.deepEqual(
    { orphansOrCycles: inv.rows - inv.reachable, chunksPastEnd: inv.chunksPastEnd, chunksOfFolders: inv.chunksOfFolders, duplicateNames: inv.duplicateNames },
    { orphansOrCycles: 0, chunksPastEnd: 0, chunksOfFolders: 0, duplicateNames: 0 },
    `invariants of ${schema}`,
  );
  return inv;
}
