/**
 * The PostgresMount's tables, created and migrated by the mount itself, versioned in a
 * `meta` row. Two processes starting at once must not both migrate: the version row is
 * taken `FOR UPDATE` inside the migrating transaction, so the second waits, then reads the
 * new version and does nothing. No advisory locks, so the same SQL runs on the
 * PostgreSQL-wire distributed engines.
 *
 * @module
 */
import type pg from 'pg';
import { AtomfsError } from '../errors.js';
import { connectWithin, q, sqlError, sqlState } from './sql.js';

/** The layout version this atomfs writes and reads. @internal */
export const SCHEMA_VERSION = 1;

/** Bytes per content row. A file of N bytes is ceil(N / CHUNK) rows; a chunk past the end is absent and reads as zeros. @internal */
export const CHUNK = 256 * 1024;

/** The id of the mount's root folder. @internal */
export const ROOT_ID = '1';

/** Whether `s` may be a schema name: unquoted-identifier letters, at most 63 bytes. @internal */
export function isSchemaName(s: unknown): s is string {
  return typeof s === 'string' && /^[a-z_][a-z0-9_]{0,62}$/.test(s);
}

// Each step takes the layout from version i to i + 1. `S` is the quoted schema name.
const STEPS: readonly ((s: string) => string[])[] = [
  (S) => [
    `CREATE SEQUENCE ${S}.version_seq`,
    `CREATE SEQUENCE ${S}.inode_seq START 2`,
    // One row per file or folder. (parent, name) is the namespace: a rename of a folder of
    // any size changes one row. No hard links, so the entry and the inode are one row.
    `CREATE TABLE ${S}.inode (
       id bigint PRIMARY KEY,
       parent bigint REFERENCES ${S}.inode (id),
       name text NOT NULL CHECK (octet_length(name) <= 255),
       kind text NOT NULL CHECK (kind IN ('file', 'dir')),
       mode integer NOT NULL,
       mtime_ms double precision NOT NULL,
       size bigint NOT NULL DEFAULT 0 CHECK (size >= 0),
       version bigint NOT NULL,
       UNIQUE (parent, name)
     )`,
    `CREATE TABLE ${S}.chunk (
       inode bigint NOT NULL REFERENCES ${S}.inode (id) ON DELETE CASCADE,
       idx bigint NOT NULL CHECK (idx >= 0),
       data bytea NOT NULL,
       PRIMARY KEY (inode, idx)
     )`,
    `INSERT INTO ${S}.inode (id, parent, name, kind, mode, mtime_ms, size, version)
     VALUES (${ROOT_ID}, NULL, '', 'dir', ${0o755}, floor(extract(epoch FROM clock_timestamp()) * 1000), 0, nextval('${S}.version_seq'))`,
  ],
];

// Errors two bootstraps racing on CREATE … IF NOT EXISTS can get (the catalog's unique
// indexes): the other one won, so run again.
const RACE = new Set(['23505', '42P06', '42P07', '40001', '40P01']);

/**
 * Creates the schema or brings it to {@link SCHEMA_VERSION}, within `timeoutMs`.
 * @internal
 */
export async function migrate(pool: pg.Pool, schema: string, timeoutMs: number): Promise<void> {
  const S = `"${schema}"`;
  const deadline = Date.now() + timeoutMs;
  const ctx = { operation: 'PostgresMount', syscall: 'migrate', path: schema };
  for (let attempt = 0; ; attempt++) {
    const c = await connectWithin(pool, deadline - Date.now()).catch((e: unknown) => {
      throw sqlError(e, ctx.operation, ctx.syscall, ctx.path);
    });
    let broken = false;
    const onError = (): void => {
      broken = true;
    };
    c.on('error', onError);
    try {
      await q(c, deadline, 'BEGIN');
      await q(c, deadline, `CREATE SCHEMA IF NOT EXISTS ${S}`);
      await q(c, deadline, `CREATE TABLE IF NOT EXISTS ${S}.meta (key text PRIMARY KEY, value text NOT NULL)`);
      await q(c, deadline, `INSERT INTO ${S}.meta (key, value) VALUES ('schema_version', '0') ON CONFLICT (key) DO NOTHING`);
      await q(c, deadline, 'COMMIT');
      await q(c, deadline, 'BEGIN');
      const row = await q<{ value: string }>(c, deadline, `SELECT value FROM ${S}.meta WHERE key = 'schema_version' FOR UPDATE`);
      const have = Number(row.rows[0]?.value ?? '0');
      if (have > SCHEMA_VERSION) {
        throw new AtomfsError('ENOTSUP', `schema ${schema} is at layout version ${have}; this atomfs knows up to ${SCHEMA_VERSION}`, { ...ctx });
      }
      for (let v = have; v < SCHEMA_VERSION; v++) for (const sql of STEPS[v]!(S)) await q(c, deadline, sql);
      if (have < SCHEMA_VERSION) await q(c, deadline, `UPDATE ${S}.meta SET value = $1 WHERE key = 'schema_version'`, [String(SCHEMA_VERSION)]);
      await q(c, deadline, 'COMMIT');
      return;
    } catch (e) {
      await q(c, Date.now() + 2_000, 'ROLLBACK').catch(() => {
        broken = true;
      });
      const s = sqlState(e);
      if (s !== undefined && RACE.has(s) && attempt < 20 && Date.now() < deadline) continue;
      throw sqlError(e, ctx.operation, ctx.syscall, ctx.path);
    } finally {
      c.off('error', onError);
      c.release(broken ? true : undefined);
    }
  }
}
