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
export const SCHEMA_VERSION = 5;

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
  // The lock store (locks.ts). Fencing tokens come from one sequence: a value is handed
  // out only after the COMMIT that recorded it, and a committed sequence advance survives
  // a crash, so tokens increase across all hosts and server restarts.
  (S) => [
    `CREATE SEQUENCE ${S}.lock_token_seq`,
    `CREATE SEQUENCE ${S}.lock_ticket_seq`,
    // One row per lock name, kept forever: acquirers of a name queue on its row lock, and
    // max_token is what a fenced change is checked against (a deleted row would forget it).
    // `rows` counts the name's lock_holder rows (holders and waiters, expired or not),
    // changed only under this row's lock: at 0 an attempt and a release need not look at
    // lock_holder by name at all. That matters beyond the saving of a statement: every
    // cycle of a busy name leaves a dead index entry there, and a scan by name walks them
    // all until VACUUM comes (the uncontended cycle slowed down run after run).
    // x_id / x_expires: an exclusive holder kept in this row instead of in lock_holder,
    // taken only when the name has no rows there (nobody holds or waits). The common
    // uncontended cycle is then two updates of this one row (no index changes, so
    // PostgreSQL updates it in place, HOT) instead of an insert and a delete in
    // lock_holder with its two indexes. Its token is max_token, which nothing else can
    // raise while it holds.
    `CREATE TABLE ${S}.lock_name (
       name text PRIMARY KEY CHECK (octet_length(name) BETWEEN 1 AND 1024),
       max_token bigint NOT NULL DEFAULT 0,
       rows integer NOT NULL DEFAULT 0 CHECK (rows >= 0),
       x_id text,
       x_expires timestamptz
     )`,
    // Holders and waiters (waiting = true; ticket orders writers in line). Every row has
    // a lease the server computed; a row past it is dead, whoever's clock says otherwise.
    // No foreign key to lock_name: a row is only ever inserted under its name's row lock,
    // and names are never deleted (the check would cost a lookup on every acquisition).
    `CREATE TABLE ${S}.lock_holder (
       id text PRIMARY KEY,
       name text NOT NULL,
       mode text NOT NULL CHECK (mode IN ('shared', 'exclusive')),
       waiting boolean NOT NULL,
       ticket bigint NOT NULL,
       token bigint,
       lease_ms double precision NOT NULL,
       expires timestamptz NOT NULL
     )`,
    `CREATE INDEX lock_holder_name ON ${S}.lock_holder (name)`,
    // One attempt to acquire, as one function so that it is one round trip with plans the
    // server keeps (see locks.ts for why each step is safe). Returns whether the lock is
    // held, its token, and, when a lease blocks us, how long that lease has left (ms).
    `CREATE FUNCTION ${S}.lock_try(p_id text, p_name text, p_mode text, p_lease_ms double precision,
       OUT o_held boolean, OUT o_token bigint, OUT o_next_ms double precision)
     LANGUAGE plpgsql AS $fn$
     DECLARE
       v_ticket bigint;
       v_blocking bigint;
       v_ahead bigint;
       v_next double precision;
       v_token bigint;
       v_expires timestamptz;
       v_waiting boolean;
       v_gone integer;
       v_xid text;
       v_xexp timestamptz;
       v_xtok bigint;
     BEGIN
       v_expires := clock_timestamp() + p_lease_ms * interval '1 millisecond';
       -- Nobody holds or waits (no rows, no live holder in the name's row): take the
       -- name's row lock and the lock in one statement; a writer holds in that row, a
       -- reader counts itself in. An UPDATE that waited for the row lock re-checks its
       -- condition on the version it then sees, so of two such attempts only one matches.
       IF p_mode = 'exclusive' THEN
         UPDATE ${S}.lock_name n SET x_id = p_id, x_expires = v_expires, max_token = nextval('${S}.lock_token_seq')
           WHERE n.name = p_name AND n.rows = 0 AND (n.x_id IS NULL OR n.x_expires < clock_timestamp()) RETURNING n.max_token INTO v_token;
         IF FOUND THEN
           o_held := true; o_token := v_token; o_next_ms := NULL::double precision;
           RETURN;
         END IF;
       ELSE
         UPDATE ${S}.lock_name n SET rows = 1, x_id = NULL, x_expires = NULL
           WHERE n.name = p_name AND n.rows = 0 AND (n.x_id IS NULL OR n.x_expires < clock_timestamp());
         IF FOUND THEN
           INSERT INTO ${S}.lock_holder (id, name, mode, waiting, ticket, token, lease_ms, expires) VALUES (p_id, p_name, p_mode, false, 0, NULL, p_lease_ms, v_expires);
           o_held := true; o_token := NULL::bigint; o_next_ms := NULL::double precision;
           RETURN;
         END IF;
       END IF;
       -- The name's row lock: attempts on one name run one at a time from here to COMMIT.
       SELECT n.x_id, n.x_expires, n.max_token INTO v_xid, v_xexp, v_xtok FROM ${S}.lock_name n WHERE n.name = p_name FOR UPDATE;
       IF NOT FOUND THEN
         INSERT INTO ${S}.lock_name (name) VALUES (p_name) ON CONFLICT (name) DO NOTHING;
         SELECT n.x_id, n.x_expires, n.max_token INTO v_xid, v_xexp, v_xtok FROM ${S}.lock_name n WHERE n.name = p_name FOR UPDATE;
       END IF;
       IF v_xid IS NOT NULL AND v_xexp < clock_timestamp() THEN
         UPDATE ${S}.lock_name n SET x_id = NULL, x_expires = NULL WHERE n.name = p_name;
         v_xid := NULL;
       END IF;
       -- An attempt that took the lock in the name's row, tried again (its answer was lost).
       IF v_xid = p_id THEN
         o_held := true; o_token := v_xtok; o_next_ms := NULL::double precision;
         RETURN;
       END IF;
       DELETE FROM ${S}.lock_holder h WHERE h.name = p_name AND h.expires < clock_timestamp();
       GET DIAGNOSTICS v_gone = ROW_COUNT;
       IF v_gone > 0 THEN
         UPDATE ${S}.lock_name n SET rows = n.rows - v_gone WHERE n.name = p_name;
       END IF;
       SELECT h.ticket, h.waiting, h.token INTO v_ticket, v_waiting, v_token FROM ${S}.lock_holder h WHERE h.id = p_id;
       -- Handed over by a release (lock_drop) whose notification we did not get.
       IF v_waiting = false THEN
         o_held := true; o_token := v_token; o_next_ms := NULL::double precision;
         RETURN;
       END IF;
       SELECT count(*) FILTER (WHERE NOT h.waiting AND (p_mode = 'exclusive' OR h.mode = 'exclusive')),
              count(*) FILTER (WHERE h.waiting AND h.mode = 'exclusive' AND (p_mode = 'shared' OR v_ticket IS NULL OR h.ticket < v_ticket)),
              extract(epoch FROM min(h.expires) FILTER (WHERE NOT h.waiting AND (p_mode = 'exclusive' OR h.mode = 'exclusive')) - clock_timestamp()) * 1000
         INTO v_blocking, v_ahead, v_next
         FROM ${S}.lock_holder h WHERE h.name = p_name AND h.id <> p_id;
       IF v_xid IS NOT NULL THEN
         v_blocking := v_blocking + 1;
         v_next := LEAST(v_next, extract(epoch FROM v_xexp - clock_timestamp()) * 1000);
       END IF;
       IF v_blocking = 0 AND v_ahead = 0 THEN
         IF p_mode = 'exclusive' THEN
           v_token := nextval('${S}.lock_token_seq');
           UPDATE ${S}.lock_name n SET max_token = v_token WHERE n.name = p_name;
         END IF;
         IF v_ticket IS NULL THEN
           INSERT INTO ${S}.lock_holder (id, name, mode, waiting, ticket, token, lease_ms, expires) VALUES (p_id, p_name, p_mode, false, 0, v_token, p_lease_ms, v_expires);
           UPDATE ${S}.lock_name n SET rows = n.rows + 1 WHERE n.name = p_name;
         ELSE
           UPDATE ${S}.lock_holder h SET waiting = false, token = v_token, expires = v_expires WHERE h.id = p_id;
         END IF;
         o_held := true; o_token := v_token; o_next_ms := NULL::double precision;
       ELSE
         IF v_ticket IS NULL THEN
           INSERT INTO ${S}.lock_holder (id, name, mode, waiting, ticket, token, lease_ms, expires)
           VALUES (p_id, p_name, p_mode, true, nextval('${S}.lock_ticket_seq'), NULL, p_lease_ms, v_expires);
           UPDATE ${S}.lock_name n SET rows = n.rows + 1 WHERE n.name = p_name;
         ELSE
           UPDATE ${S}.lock_holder h SET expires = v_expires WHERE h.id = p_id;
         END IF;
         o_held := false; o_token := NULL::bigint; o_next_ms := v_next;
       END IF;
     END
     $fn$`,
    // A release, or a waiter's withdrawal: the row goes, and the lock is handed over at
    // once, inside this transaction, to whoever is next (the first writer in line when no
    // holder is left; else, when no writer waits or holds, every waiting reader), who is
    // told by a notification naming its row (and its token). A hand-over therefore costs
    // the waiter no attempt of its own. The name's row lock orders this with attempts, so
    // a waiter whose attempt was in flight has its row seen here.
    `CREATE FUNCTION ${S}.lock_drop(p_id text, p_name text) RETURNS integer
     LANGUAGE plpgsql AS $fn$
     DECLARE
       v_n integer;
       v_rows integer;
       v_gone integer;
       v_next text;
       v_lease double precision;
       v_token bigint;
       v_xid text;
       v_xexp timestamptz;
     BEGIN
       -- Held in the name's row: that row's lock and the release in one statement.
       UPDATE ${S}.lock_name n SET x_id = NULL, x_expires = NULL WHERE n.name = p_name AND n.x_id = p_id RETURNING n.rows INTO v_rows;
       IF FOUND THEN
         v_n := 1;
       ELSE
         -- The name's row lock, taken by counting our row out before we delete it (one
         -- statement fewer than locking, deleting, then counting); put back if it was gone.
         UPDATE ${S}.lock_name n SET rows = n.rows - 1 WHERE n.name = p_name AND n.rows > 0 RETURNING n.rows, n.x_id, n.x_expires INTO v_rows, v_xid, v_xexp;
         IF NOT FOUND THEN
           RETURN 0; -- no rows for this name: ours was reclaimed as expired, and nobody waits
         END IF;
         DELETE FROM ${S}.lock_holder h WHERE h.id = p_id;
         GET DIAGNOSTICS v_n = ROW_COUNT;
         IF v_n = 0 THEN
           v_rows := v_rows + 1;
           UPDATE ${S}.lock_name n SET rows = v_rows WHERE n.name = p_name;
         END IF;
         -- A waiter withdrawing while a writer holds in the name's row: nothing to hand over.
         IF v_xid IS NOT NULL AND v_xexp >= clock_timestamp() THEN
           RETURN v_n;
         END IF;
         IF v_xid IS NOT NULL THEN
           UPDATE ${S}.lock_name n SET x_id = NULL, x_expires = NULL WHERE n.name = p_name;
         END IF;
       END IF;
       IF v_rows = 0 OR NOT EXISTS (SELECT 1 FROM ${S}.lock_holder h WHERE h.name = p_name AND h.waiting) THEN
         -- Nobody is handed anything: this COMMIT need not wait for the disk. Were it lost
         -- in a server crash, the row would come back and keep the lock taken until its
         -- lease ends at the server: later, never two owners. (A hand-over below stays
         -- durable: its new holder acts on it, and its token must never be handed out again.)
         PERFORM set_config('synchronous_commit', 'off', true);
         RETURN v_n;
       END IF;
       DELETE FROM ${S}.lock_holder h WHERE h.name = p_name AND h.expires < clock_timestamp();
       GET DIAGNOSTICS v_gone = ROW_COUNT;
       IF v_gone > 0 THEN
         UPDATE ${S}.lock_name n SET rows = n.rows - v_gone WHERE n.name = p_name;
       END IF;
       SELECT h.id, h.lease_ms INTO v_next, v_lease FROM ${S}.lock_holder h
         WHERE h.name = p_name AND h.waiting AND h.mode = 'exclusive' ORDER BY h.ticket LIMIT 1;
       IF v_next IS NOT NULL THEN
         IF NOT EXISTS (SELECT 1 FROM ${S}.lock_holder h WHERE h.name = p_name AND NOT h.waiting) THEN
           v_token := nextval('${S}.lock_token_seq');
           UPDATE ${S}.lock_name n SET max_token = v_token WHERE n.name = p_name;
           UPDATE ${S}.lock_holder h SET waiting = false, token = v_token, expires = clock_timestamp() + v_lease * interval '1 millisecond' WHERE h.id = v_next;
           PERFORM pg_notify('atomfs_lock', json_build_array(${S.replace(/"/g, "'")}, p_name, v_next, v_token)::text);
         END IF;
       ELSIF NOT EXISTS (SELECT 1 FROM ${S}.lock_holder h WHERE h.name = p_name AND NOT h.waiting AND h.mode = 'exclusive') THEN
         UPDATE ${S}.lock_holder h SET waiting = false, expires = clock_timestamp() + h.lease_ms * interval '1 millisecond' WHERE h.name = p_name AND h.waiting;
         PERFORM pg_notify('atomfs_lock', json_build_array(${S.replace(/"/g, "'")}, p_name, NULL, NULL)::text);
       END IF;
       RETURN v_n;
     END
     $fn$`,
  ],
  // Staged handles (pg-mount.ts): a handle's chunks are written under a stage's id (from
  // inode_seq, so it never equals a file's id) and moved to the file at close by one
  // UPDATE of their owner column, which rewrites no content (the TOASTed bytes are kept).
  // So a chunk's owner is a file or a stage, and the foreign key to inode goes: the mount
  // deletes a file's chunks itself. A stage has an owner and a lease by the server's clock:
  // one whose writer died (its lease ran out) is deleted, with its chunks, by the next
  // mount that starts or by cleanup().
  (S) => [
    `ALTER TABLE ${S}.chunk DROP CONSTRAINT IF EXISTS chunk_inode_fkey`,
    `CREATE TABLE ${S}.stage (
       id bigint PRIMARY KEY,
       target bigint NOT NULL,
       owner text NOT NULL,
       size bigint NOT NULL DEFAULT 0 CHECK (size >= 0),
       expires timestamptz NOT NULL
     )`,
    `CREATE INDEX stage_expires ON ${S}.stage (expires)`,
  ],
  // Layout 4 was the first write_small. Layout 5 (below) replaces it, and `migrate` runs
  // every step up to the newest in one transaction, so no schema is ever left at 4 with
  // that function in use: its text is not kept here.
  () => [],
  // The whole-file write of at most one chunk, as one function: one round trip, and one
  // statement the client runs outside any explicit transaction. Why not SERIALIZABLE like
  // every other change: many clients writing different small files read and write the
  // same few index pages, and serializable snapshot isolation, which tracks reads by page,
  // aborted more of them than it let through. This function takes a row lock instead,
  // and is right at any isolation level (under SERIALIZABLE it may also fail with 40001,
  // which the client retries):
  // - the path is walked by `resolve`, a STABLE function: its lookups all run on the
  //   snapshot of the one statement that calls it, so the path is resolved as it was at
  //   one instant. A folder renamed after that instant is as if renamed after this write
  //   (nothing a rename checks is written here); a folder removed meanwhile fails the new
  //   file's foreign key to it (23503, ENOENT). Each step is a plain index lookup with a
  //   kept plan (server time per call is most of what a small write costs);
  // - the common case (the file is there and meets the condition) is one UPDATE by id that
  //   holds the version the walk saw: if it matches under the row lock, nothing changed the
  //   file since the walk, so what the walk saw says whether it has chunk rows to delete;
  // - otherwise a loop: one UPDATE whose condition holds the file's kind and p_if_match
  //   (two writers of one file queue on its row lock, and the second re-checks that
  //   condition on the first's version, so an ifMatch loses no update); only when nothing
  //   was updated does a second look say why; a new file is inserted ON CONFLICT DO
  //   NOTHING, and if another client created it first the loop looks again.
  // The file keeps its bytes in its own row (`inode.data`): a rewrite changes one row, not
  // two (the file's row and its chunk). While `data` is set, the file has no chunk rows and
  // `size` is its length; every other writer first moves those bytes into chunk 0
  // (`spill`), and readers read the `content` view, the chunks and the row's bytes as one
  // set of rows.
  // Returns '' on success, else a Node code, prefixed with 'pre:' for a failed condition.
  (S) => [
    `ALTER TABLE ${S}.inode ADD COLUMN data bytea`,
    `CREATE VIEW ${S}.content (inode, idx, data) AS
       SELECT inode, idx, data FROM ${S}.chunk
       UNION ALL
       SELECT id, 0::bigint, data FROM ${S}.inode WHERE data IS NOT NULL AND octet_length(data) > 0`,
    `CREATE FUNCTION ${S}.spill(p_id bigint) RETURNS void LANGUAGE plpgsql AS $fn$
     DECLARE
       v_data bytea;
     BEGIN
       SELECT data INTO v_data FROM ${S}.inode WHERE id = p_id AND data IS NOT NULL;
       IF FOUND THEN
         UPDATE ${S}.inode SET data = NULL WHERE id = p_id;
         IF octet_length(v_data) > 0 THEN
           INSERT INTO ${S}.chunk (inode, idx, data) VALUES (p_id, 0, v_data);
         END IF;
       END IF;
     END
     $fn$`,
    `CREATE FUNCTION ${S}.resolve(p_segs text[], p_n integer,
       OUT o_depth integer, OUT o_parent bigint, OUT o_id bigint, OUT o_kind text, OUT o_version bigint, OUT o_size bigint, OUT o_inline boolean)
     LANGUAGE plpgsql STABLE AS $fn$
     DECLARE
       v_id bigint;
       v_kind text;
       v_version bigint;
       v_size bigint;
       v_inline boolean;
     BEGIN
       -- Depth 0 is the root; each step goes one name down while the entry is a folder.
       o_depth := 0;
       o_parent := NULL;
       o_id := ${ROOT_ID};
       o_kind := 'dir';
       FOR d IN 1 .. p_n LOOP
         SELECT id, kind, version, size, data IS NOT NULL INTO v_id, v_kind, v_version, v_size, v_inline FROM ${S}.inode WHERE parent = o_id AND name = p_segs[d];
         IF NOT FOUND THEN RETURN; END IF;
         o_depth := d;
         o_parent := o_id;
         o_id := v_id;
         o_kind := v_kind;
         o_version := v_version;
         o_size := v_size;
         o_inline := v_inline;
         IF v_kind <> 'dir' THEN RETURN; END IF;
       END LOOP;
     END
     $fn$`,
    `CREATE OR REPLACE FUNCTION ${S}.write_small(p_segs text[], p_data bytea, p_mode integer, p_if_match bigint, p_if_none boolean)
     RETURNS text LANGUAGE plpgsql AS $fn$
     DECLARE
       v_n integer := cardinality(p_segs);
       v_len integer := octet_length(p_data);
       r record;
       v_parent bigint;
       v_id bigint;
       v_kind text;
       v_version bigint;
       v_now double precision;
     BEGIN
       IF v_n = 0 THEN RETURN 'EISDIR'; END IF;
       r := ${S}.resolve(p_segs, v_n);
       IF r.o_depth < v_n - 1 OR (r.o_depth = v_n - 1 AND r.o_kind <> 'dir') THEN
         RETURN CASE WHEN r.o_kind = 'dir' THEN 'ENOENT' ELSE 'ENOTDIR' END;
       END IF;
       IF r.o_depth = v_n THEN
         v_parent := r.o_parent;
         IF r.o_kind = 'file' AND NOT p_if_none AND (p_if_match IS NULL OR r.o_version = p_if_match) THEN
           UPDATE ${S}.inode SET data = p_data, size = v_len, mode = coalesce(p_mode, mode), mtime_ms = floor(extract(epoch FROM clock_timestamp()) * 1000),
                  version = nextval('${S}.version_seq')
            WHERE id = r.o_id AND version = r.o_version
           RETURNING id INTO v_id;
           IF FOUND THEN
             -- Chunk rows only where the walked version kept its bytes in chunks.
             IF NOT r.o_inline AND r.o_size > 0 THEN
               DELETE FROM ${S}.chunk WHERE inode = v_id;
             END IF;
             RETURN '';
           END IF;
         END IF;
       ELSE
         v_parent := r.o_id;
       END IF;
       -- Anything else (a condition to explain, a new file, a file changed since the walk):
       -- the loop, under the parent the walk found.
       FOR attempt IN 1 .. 3 LOOP
         v_now := floor(extract(epoch FROM clock_timestamp()) * 1000);
         IF NOT p_if_none THEN
           UPDATE ${S}.inode SET data = p_data, size = v_len, mode = coalesce(p_mode, mode), mtime_ms = v_now,
                  version = nextval('${S}.version_seq')
            WHERE parent = v_parent AND name = p_segs[v_n] AND kind = 'file' AND (p_if_match IS NULL OR version = p_if_match)
           RETURNING id INTO v_id;
           IF FOUND THEN
             DELETE FROM ${S}.chunk WHERE inode = v_id;
             RETURN '';
           END IF;
         END IF;
         SELECT id, kind, version INTO v_id, v_kind, v_version FROM ${S}.inode WHERE parent = v_parent AND name = p_segs[v_n];
         IF FOUND THEN
           IF v_kind = 'dir' THEN RETURN 'EISDIR'; END IF;
           IF p_if_none THEN RETURN 'pre:EEXIST'; END IF;
           IF p_if_match IS NOT NULL AND v_version <> p_if_match THEN RETURN 'pre:ECANCELED'; END IF;
           CONTINUE;
         END IF;
         IF p_if_match IS NOT NULL THEN RETURN 'pre:ENOENT'; END IF;
         INSERT INTO ${S}.inode (id, parent, name, kind, mode, mtime_ms, size, version, data)
           VALUES (nextval('${S}.inode_seq'), v_parent, p_segs[v_n], 'file', coalesce(p_mode, ${0o644}), v_now, v_len, nextval('${S}.version_seq'), p_data)
           ON CONFLICT (parent, name) DO NOTHING RETURNING id INTO v_id;
         IF FOUND THEN
           UPDATE ${S}.inode SET mtime_ms = v_now, version = nextval('${S}.version_seq') WHERE id = v_parent;
           RETURN '';
         END IF;
         IF p_if_none THEN RETURN 'pre:EEXIST'; END IF;
       END LOOP;
       RETURN 'EAGAIN';
     END
     $fn$`,
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
