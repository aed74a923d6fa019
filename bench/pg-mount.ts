/**
 * The PostgresMount cases (the mount issue's benchmark), on the throwaway server the
 * PostgreSQL lock cases share (pg-locks.ts):
 * - `pg-mount-rename`: a folder rename with 10, 1,000 and 100,000 entries. PostgresMount
 *   renames by one UPDATE of one row, so its rate should not depend on the size; next to it
 *   the VFS's copy-and-delete fallback over a LocalMount that does not offer `rename` (a
 *   mount without native rename), which copies every file, at 10, 100 and 1,000 entries
 *   (it grows with the entries: 100,000 durable copies would take minutes per sample).
 * - `pg-mount-small`: 8 clients × 1 KiB `vfs.writeFile` to existing files, next to the
 *   floor: the same bytes by `INSERT … ON CONFLICT DO UPDATE` into a plain table through `pg`,
 *   8 connections, in the same run, on a server with its default durability (a COMMIT
 *   waits for its WAL flush, as the mount promises). `pg-mount-small-cpu`: the same on the
 *   fsync-off server, where nothing waits for the disk and the ratio is the server's and
 *   the client's work per write alone.
 * - `pg-mount-stream`: a big file through a `vfs.open` handle, written then read, next to a
 *   raw chunked `INSERT` / `SELECT` of the same bytes in chunks of the mount's chunk size.
 *
 * @module
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import pg from 'pg';
import { LocalMount, VirtualFileSystem, type MountCapability, type VirtualMount } from '../src/index.js';
import { PostgresMount } from '../src/postgres/index.js';
import { CHUNK } from '../src/postgres/schema.js';
import { pgServer } from './pg-locks.js';
import { measure, pattern, timed, type CaseResult, type Context, type Entrant } from './cases.js';
import { runPool } from './util.js';

/** Row labels, shared with the targets. */
export const PM = Object.freeze({
  pg: (n: number) => `PostgresMount, ${n.toLocaleString('en-US')} entries`,
  copy: (n: number) => `copy fallback (LocalMount without rename), ${n.toLocaleString('en-US')} entries`,
  write: 'atomfs PostgresMount vfs.writeFile',
  upsert: 'INSERT … ON CONFLICT through pg (floor)',
  handleWrite: 'PostgresMount handle write',
  handleRead: 'PostgresMount handle read',
  rawInsert: 'chunked INSERT through pg (floor)',
  rawSelect: 'chunked SELECT through pg (floor)',
});

/** A LocalMount that hides its native rename, so the VFS renames by copy and delete. */
function withoutRename(m: LocalMount): VirtualMount {
  const caps = new Set<MountCapability>([...m.capabilities].filter((c) => c !== 'rename'));
  return new Proxy(m, {
    get(target, key) {
      if (key === 'capabilities') return caps;
      if (key === 'rename') return undefined;
      const v = Reflect.get(target, key, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

/** `n` empty files in `/pg/dir` of a PostgresMount, made by one INSERT (untimed set-up). */
async function fillPg(pool: pg.Pool, schema: string, vfs: VirtualFileSystem, dir: string, n: number): Promise<void> {
  await vfs.mkdir(`/pg/${dir}`);
  const S = `"${schema}"`;
  const { rows } = await pool.query<{ id: string }>(`SELECT id::text FROM ${S}.inode WHERE parent = 1 AND name = $1`, [dir]);
  await pool.query(
    `INSERT INTO ${S}.inode (id, parent, name, kind, mode, mtime_ms, size, version)
     SELECT nextval('${S}.inode_seq'), $1::bigint, 'f' || g, 'file', 420, floor(extract(epoch FROM clock_timestamp()) * 1000), 0, nextval('${S}.version_seq')
     FROM generate_series(1, $2::int) g`,
    [rows[0]!.id, n],
  );
}

export async function pgMountRenameCase(ctx: Context, spec: { id: string; pgSizes: readonly number[]; copySizes: readonly number[]; renames: number }): Promise<CaseResult> {
  const srv = await pgServer(ctx);
  const schema = srv.schema();
  const pool = new pg.Pool({ connectionString: srv.url, max: 2 });
  pool.on('error', () => undefined);
  const mount = new PostgresMount({ connectionString: srv.url, schema });
  const local = path.join(ctx.root, spec.id);
  fs.mkdirSync(local, { recursive: true });
  const vfs = new VirtualFileSystem();
  vfs.mount('/pg', mount);
  vfs.mount('/local', withoutRename(new LocalMount(local)));
  const entrants: Entrant[] = [];
  try {
    await mount.ready();
    for (const n of spec.pgSizes) {
      await fillPg(pool, schema, vfs, `a${n}`, n);
      let at = `a${n}`;
      entrants.push({
        row: { name: PM.pg(n), samples: [] },
        round: () =>
          timed(async () => {
            for (let i = 0; i < spec.renames; i++) {
              const to = at.startsWith('a') ? `b${n}` : `a${n}`;
              await vfs.rename(`/pg/${at}`, `/pg/${to}`);
              at = to;
            }
          }),
        rate: (s) => spec.renames / s,
      });
    }
    const data = pattern(1024);
    for (const n of spec.copySizes) {
      const dir = path.join(local, `a${n}`);
      fs.mkdirSync(dir);
      for (let i = 0; i < n; i++) fs.writeFileSync(path.join(dir, `f${i}`), data);
      let at = `a${n}`;
      entrants.push({
        row: { name: PM.copy(n), samples: [] },
        round: () =>
          timed(async () => {
            const to = at.startsWith('a') ? `b${n}` : `a${n}`;
            await vfs.rename(`/local/${at}`, `/local/${to}`);
            at = to;
          }),
        rate: (s) => 1 / s,
      });
    }
    await measure(ctx, spec.id, entrants);
  } finally {
    await mount.close();
    await pool.end();
    fs.rmSync(local, { recursive: true, force: true });
  }
  const r = (n: number): number => median(entrants.find((e) => e.row.name === PM.pg(n))?.row.samples ?? []);
  const lo = spec.pgSizes[0]!;
  const hi = spec.pgSizes[spec.pgSizes.length - 1]!;
  const c = (n: number): number => median(entrants.find((e) => e.row.name === PM.copy(n))?.row.samples ?? []);
  const cLo = spec.copySizes[0]!;
  const cHi = spec.copySizes[spec.copySizes.length - 1]!;
  return {
    id: spec.id,
    title: `a folder rename (vfs.rename) by the number of entries in the folder, a PostgreSQL server on loopback`,
    unit: 'moves/s',
    ref: PM.pg(lo),
    rows: entrants.map((e) => e.row),
    notes: [
      `PostgresMount: one UPDATE of the folder's row in one transaction, whatever it holds; ${hi.toLocaleString('en-US')} entries renamed at ${(r(hi) / r(lo)).toFixed(2)}× the rate of ${lo} (flat: within 2×).`,
      `Copy fallback: every file copied durably, then the source removed; ${cHi.toLocaleString('en-US')} entries at ${(c(cLo) / c(cHi)).toFixed(0)}× the time of ${cLo} (${cHi / cLo}× the entries).`,
    ],
  };
}

export async function pgMountSmallCase(ctx: Context, spec: { id: string; clients: number; filesPerClient: number; durable: boolean }): Promise<CaseResult> {
  const srv = await pgServer(ctx, spec.durable);
  const schema = srv.schema();
  const S = `"${schema}"`;
  const data = pattern(1024);
  const mounts = Array.from({ length: spec.clients }, () => new PostgresMount({ connectionString: srv.url, schema }));
  const vfs = mounts.map((m) => {
    const v = new VirtualFileSystem();
    v.mount('/pg', m);
    return v;
  });
  const pool = new pg.Pool({ connectionString: srv.url, max: spec.clients });
  pool.on('error', () => undefined);
  const total = spec.clients * spec.filesPerClient;
  try {
    await mounts[0]!.ready();
    await pool.query(`CREATE TABLE ${S}.floor_kv (k text PRIMARY KEY, v bytea NOT NULL)`);
    for (let c = 0; c < spec.clients; c++) await vfs[c]!.mkdir(`/pg/c${c}`);
    const entrants: Entrant[] = [
      {
        row: { name: PM.write, samples: [] },
        round: () =>
          timed(() =>
            Promise.all(
              vfs.map(async (v, c) => {
                for (let i = 0; i < spec.filesPerClient; i++) await v.writeFile(`/pg/c${c}/f${i}`, data);
              }),
            ).then(() => undefined),
          ),
        rate: (s) => total / s,
      },
      {
        row: { name: PM.upsert, samples: [] },
        round: () =>
          timed(async () => {
            await runPool(spec.clients, spec.clients, async (c) => {
              const client = await pool.connect();
              try {
                for (let i = 0; i < spec.filesPerClient; i++) {
                  await client.query({ name: 'floor_upsert', text: `INSERT INTO ${S}.floor_kv (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v`, values: [`c${c}/f${i}`, data] });
                }
              } finally {
                client.release();
              }
            });
          }),
        rate: (s) => total / s,
      },
    ];
    await measure(ctx, spec.id, entrants);
    return {
      id: spec.id,
      title: `${spec.clients} clients × ${spec.filesPerClient} writes of 1 KiB to existing files, each client its own connection pool, a PostgreSQL server on loopback, ${spec.durable ? 'durable (fsync and synchronous_commit on, the defaults)' : 'fsync off (CPU-bound: no COMMIT waits for the disk)'}`,
      unit: 'writes/s',
      ref: PM.write,
      rows: entrants.map((e) => e.row),
      notes: [
        'atomfs: `vfs.writeFile` on a PostgresMount per client: one statement each (the schema\'s `write_small` function: the path resolved from one snapshot, the file\'s row updated under its row lock, its version bumped, its one chunk replaced).',
        'Floor: one prepared `INSERT … ON CONFLICT (k) DO UPDATE` of the same bytes into a two-column table per write, autocommit.',
      ],
    };
  } finally {
    for (const m of mounts) await m.close();
    await pool.end();
  }
}

export async function pgMountStreamCase(ctx: Context, spec: { id: string; totalBytes: number; chunkBytes: number }): Promise<CaseResult> {
  const srv = await pgServer(ctx);
  const schema = srv.schema();
  const S = `"${schema}"`;
  const mount = new PostgresMount({ connectionString: srv.url, schema });
  const vfs = new VirtualFileSystem();
  vfs.mount('/pg', mount);
  const pool = new pg.Pool({ connectionString: srv.url, max: 2 });
  pool.on('error', () => undefined);
  const chunk = pattern(spec.chunkBytes);
  const n = Math.ceil(spec.totalBytes / spec.chunkBytes);
  const mib = spec.totalBytes / (1024 * 1024);
  try {
    await mount.ready();
    await pool.query(`CREATE TABLE ${S}.floor_chunk (idx bigint PRIMARY KEY, data bytea NOT NULL)`);
    const entrants: Entrant[] = [
      {
        row: { name: PM.handleWrite, samples: [] },
        round: () =>
          timed(async () => {
            const h = await vfs.open('/pg/big.bin', 'w');
            try {
              for (let i = 0; i < n; i++) await h.write(chunk);
            } finally {
              await h.close();
            }
          }),
        rate: (s) => mib / s,
      },
      {
        row: { name: PM.handleRead, samples: [] },
        round: () =>
          timed(async () => {
            const h = await vfs.open('/pg/big.bin', 'r');
            try {
              let got = 0;
              for (;;) {
                const b = await h.read(spec.chunkBytes);
                if (b.length === 0) break;
                got += b.length;
              }
              if (got !== n * spec.chunkBytes) throw new Error(`read ${got} bytes, wrote ${n * spec.chunkBytes}`);
            } finally {
              await h.close();
            }
          }),
        rate: (s) => mib / s,
      },
      {
        row: { name: PM.rawInsert, samples: [] },
        round: () =>
          timed(async () => {
            const c = await pool.connect();
            try {
              await c.query('BEGIN');
              await c.query(`DELETE FROM ${S}.floor_chunk`);
              for (let i = 0; i < n; i++) await c.query({ name: 'floor_ins', text: `INSERT INTO ${S}.floor_chunk (idx, data) VALUES ($1, $2)`, values: [i, chunk] });
              await c.query('COMMIT');
            } finally {
              c.release();
            }
          }),
        rate: (s) => mib / s,
      },
      {
        row: { name: PM.rawSelect, samples: [] },
        round: () =>
          timed(async () => {
            const c = await pool.connect();
            try {
              let got = 0;
              for (let i = 0; i < n; i++) {
                const r = await c.query<{ data: Buffer }>({ name: 'floor_sel', text: `SELECT data FROM ${S}.floor_chunk WHERE idx = $1`, values: [i] });
                got += r.rows[0]!.data.length;
              }
              if (got !== n * spec.chunkBytes) throw new Error(`read ${got} bytes`);
            } finally {
              c.release();
            }
          }),
        rate: (s) => mib / s,
      },
    ];
    // Stride 2: each write runs just before its read, so the read finds what it reads.
    await measure(ctx, spec.id, entrants, 2);
    return {
      id: spec.id,
      title: `${mib.toLocaleString('en-US')} MiB through a handle in ${spec.chunkBytes / 1024} KiB writes, then read back, a PostgreSQL server on loopback`,
      unit: 'MiB/s',
      ref: PM.handleWrite,
      rows: entrants.map((e) => e.row),
      notes: [
        `atomfs: \`vfs.open(path, 'w')\`, \`write\` × ${n}, \`close\` (published in one transaction), then \`vfs.open(path, 'r')\` and \`read\` to the end.`,
        `Floor: the same bytes as ${n} prepared INSERTs of one ${CHUNK / 1024} KiB-or-smaller chunk each in one transaction, and ${n} SELECTs by key.`,
      ],
    };
  } finally {
    await mount.close();
    await pool.end();
  }
}

function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}
