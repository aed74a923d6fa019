/**
 * The transaction runner and the error mapping every PostgreSQL part of atomfs shares:
 * a call gets one deadline, runs in a SERIALIZABLE transaction retried (a bounded number
 * of times) on serialization failures and deadlocks, and fails with an `AtomfsError`
 * carrying a Node code and the driver's error as `cause`.
 *
 * @module
 */
import pg from 'pg';
import { AtomfsError, type AtomfsErrorCode } from '../errors.js';
import { intOpt } from '../options.js';
import { isRevoked, textOf } from '../internal/paths.js';
import { timerDelay } from '../internal/abort.js';
import { isSchemaName } from './schema.js';

/** A connection a transaction runs on. @internal */
export type Sql = pg.PoolClient;

/** How one call may run: its deadline and its retry budget. @internal */
export interface CallPolicy {
  /** Milliseconds the whole call may take, retries included. */
  readonly timeoutMs: number;
  /** Attempts after a serialization failure or deadlock before giving up (`EAGAIN`). */
  readonly retries: number;
}

// SQLSTATEs that mean "run the transaction again": serialization_failure (the one
// CockroachDB and YugabyteDB ask every client to retry) and deadlock_detected.
const RETRY = new Set(['40001', '40P01']);

// SQLSTATE → Node code. A class-08 or 57P0x error means the server or the connection went
// away: the transaction did not commit (or, at COMMIT itself, its fate is unknown).
const SQLSTATE: Readonly<Record<string, AtomfsErrorCode>> = {
  '23505': 'EEXIST',
  '23503': 'ENOENT',
  '23514': 'EINVAL',
  '22001': 'ENAMETOOLONG',
  '25006': 'EROFS',
  '42501': 'EACCES',
  '53100': 'ENOSPC',
  '53200': 'ENOMEM',
  '54000': 'EFBIG',
  '57014': 'ETIMEDOUT',
  '57P01': 'ECONNRESET',
  '57P02': 'ECONNRESET',
  '57P03': 'ECONNREFUSED',
  '40001': 'EAGAIN',
  '40P01': 'EAGAIN',
};

const NET = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/** The SQLSTATE of a driver error, if it has one. @internal */
export function sqlState(e: unknown): string | undefined {
  const c = (e as { code?: unknown } | null)?.code;
  return typeof c === 'string' && /^[0-9A-Z]{5}$/.test(c) ? c : undefined;
}

/** The Node code for a driver or socket error. @internal */
export function nodeCodeOf(e: unknown): AtomfsErrorCode {
  if (e instanceof AtomfsError) return e.code;
  const c = (e as { code?: unknown } | null)?.code;
  if (typeof c === 'string') {
    if (NET.has(c)) return c === 'ENOTFOUND' || c === 'EAI_AGAIN' || c === 'EHOSTUNREACH' || c === 'ENETUNREACH' ? 'ECONNREFUSED' : c;
    if (c === 'EPIPE') return 'ECONNRESET';
    const s = sqlState(e);
    if (s !== undefined) return SQLSTATE[s] ?? (s.startsWith('08') ? 'ECONNRESET' : 'EIO');
  }
  const m = e instanceof Error ? e.message : String(e);
  if (/timeout|timed out/i.test(m)) return 'ETIMEDOUT';
  if (/terminat|ended|closed|connection error|not queryable/i.test(m)) return 'ECONNRESET';
  return 'EIO';
}

/** Whether a driver error asks for the transaction to run again. @internal */
export function isRetryable(e: unknown): boolean {
  const s = sqlState(e);
  return s !== undefined && RETRY.has(s);
}

/** An error of a PostgreSQL part of atomfs, in Node's terms. @internal */
export function sqlError(e: unknown, operation: string, syscall: string, path: string, detail?: string): AtomfsError {
  if (e instanceof AtomfsError) return e;
  return new AtomfsError(nodeCodeOf(e), detail ?? (e instanceof Error ? e.message : undefined), { operation, path, syscall }, { cause: e });
}

/**
 * Gets a connection within `ms`, or fails with `ETIMEDOUT` (a connection that arrives
 * later goes back to the pool). A pool the caller made may have no connect timeout of its
 * own, and a frozen network would otherwise hang the call. @internal
 */
export async function connectWithin(pool: pg.Pool, ms: number): Promise<Sql> {
  // An idle connection is handed out at once: no timer to race (a timer and a race per
  // call were a measurable part of a small write's client-side cost).
  if (pool.idleCount > 0 && pool.waitingCount === 0) return pool.connect();
  let timer: NodeJS.Timeout | undefined;
  let late = false;
  const pending = pool.connect();
  try {
    return await Promise.race([
      pending,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          late = true;
          reject(Object.assign(new Error(`timeout: no connection within ${ms} ms`), { code: 'ETIMEDOUT' }));
        }, Math.max(1, ms));
      }),
    ]);
  } finally {
    clearTimeout(timer);
    if (late) pending.then((c) => c.release(true), () => undefined);
  }
}

/** Runs one statement with what is left of the call's deadline as its client-side timeout. @internal */
export function q<R extends pg.QueryResultRow = pg.QueryResultRow>(c: Sql, deadline: number, text: string, values?: readonly unknown[], name?: string): Promise<pg.QueryResult<R>> {
  const left = Math.max(1, Math.ceil(deadline - Date.now()));
  // query_timeout is the driver's own timer: it fires even when the socket is frozen and
  // no server-side statement_timeout can answer. A name prepares the statement once per
  // connection (the server keeps its plan).
  return c.query<R>({ text, values: values as unknown[] | undefined, query_timeout: left, ...(name === undefined ? {} : { name }) } as pg.QueryConfig);
}

/** What a transaction body gets: the connection and the call's deadline. @internal */
export interface Tx {
  readonly c: Sql;
  readonly deadline: number;
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: readonly unknown[]): Promise<pg.QueryResult<R>>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Runs `body` in a SERIALIZABLE transaction. Why SERIALIZABLE: every check a namespace
 * change makes (the source exists, the destination's folder exists and is not inside the
 * source, the destination is free) is a read, and the change is only right if nothing
 * another client commits meanwhile invalidates those reads. Serializable snapshot
 * isolation aborts one of two transactions whose reads and writes cross (40001), which is
 * exactly the "rename /a into /b and /b into /a at once" case; retried, the loser then
 * sees the winner's change and fails its check (`EINVAL`). It is also the only level the
 * PostgreSQL-wire distributed engines (CockroachDB, YugabyteDB) run by default, so the
 * same SQL moves there unchanged. @internal
 */
export function transaction<T>(
  pool: pg.Pool,
  policy: CallPolicy,
  ctx: { operation: string; syscall: string; path: string },
  body: (tx: Tx) => Promise<T>,
  readOnly = false,
): Promise<T> {
  return attempts(pool, policy, ctx, body, readOnly ? 'BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY' : 'BEGIN ISOLATION LEVEL SERIALIZABLE');
}

/**
 * Runs one statement on its own, outside any explicit transaction (at the session's
 * isolation level), retried like {@link transaction}: for a server function that takes
 * the row locks it needs and is right at any level (the mount's small whole-file write).
 * Named: prepared once per connection.
 * @internal
 */
export function statement<R extends pg.QueryResultRow = pg.QueryResultRow>(
  pool: pg.Pool,
  policy: CallPolicy,
  ctx: { operation: string; syscall: string; path: string },
  sql: { readonly name: string; readonly text: string },
  values: readonly unknown[],
): Promise<pg.QueryResult<R>> {
  return attempts(pool, policy, ctx, (tx) => q<R>(tx.c, tx.deadline, sql.text, values, sql.name), undefined);
}

async function attempts<T>(
  pool: pg.Pool,
  policy: CallPolicy,
  ctx: { operation: string; syscall: string; path: string },
  body: (tx: Tx) => Promise<T>,
  begin: string | undefined,
): Promise<T> {
  const deadline = Date.now() + policy.timeoutMs;
  for (let attempt = 0; ; attempt++) {
    let c: Sql;
    try {
      c = await connectWithin(pool, deadline - Date.now());
    } catch (e) {
      throw sqlError(e, ctx.operation, ctx.syscall, ctx.path);
    }
    let broken = false;
    // A checked-out client reports a lost connection as an 'error' event too: without a
    // listener that would be an uncaught exception (the failing query rejects anyway).
    const onError = (): void => {
      broken = true;
    };
    c.on('error', onError);
    const tx: Tx = { c, deadline, query: (text, values) => q(c, deadline, text, values) };
    try {
      if (begin !== undefined) await tx.query(begin);
      const out = await body(tx);
      if (begin !== undefined) await tx.query('COMMIT');
      return out;
    } catch (e) {
      const code = nodeCodeOf(e);
      // A timed-out statement may still run on the server and a reset connection is gone:
      // neither goes back to the pool (the server rolls back what it had).
      if (code === 'ETIMEDOUT' || code === 'ECONNRESET') broken = true;
      else if (begin !== undefined) {
        try {
          await q(c, Date.now() + 2_000, 'ROLLBACK');
        } catch {
          broken = true;
        }
      }
      // A unique violation can come from a row another client committed meanwhile (a
      // statement-level write, above, is not tracked by serializable snapshot isolation):
      // run again (a few times), and the retry sees the row and acts on it.
      const raced = sqlState(e) === '23505' && attempt < 2;
      if ((isRetryable(e) || raced) && attempt < policy.retries && Date.now() < deadline) {
        // Jittered exponential back-off so that two clients that collided do not collide again.
        await sleep(Math.min(Math.max(0, deadline - Date.now()), Math.random() * Math.min(200, 2 ** attempt * 2)));
        continue;
      }
      throw sqlError(e, ctx.operation, ctx.syscall, ctx.path);
    } finally {
      c.off('error', onError);
      c.release(broken ? true : undefined);
    }
  }
}

/** What the PostgreSQL parts of atomfs take to reach their server: validated, and the pool made. @internal */
export interface Connection {
  readonly pool: pg.Pool;
  /** Whether the pool is ours to end at close (made from `connectionString`). */
  readonly ownsPool: boolean;
  readonly schema: string;
  readonly timeoutMs: number;
}

const isPool = (v: unknown): v is pg.Pool =>
  typeof v === 'object' && v !== null && !isRevoked(v) && typeof (v as pg.Pool).connect === 'function' && typeof (v as pg.Pool).query === 'function';

/**
 * Validates `connectionString` | `pool`, `schema` and `timeout` (EINVAL before anything
 * connects) and makes the pool when given a URL: idle connections let the program exit,
 * and an idle connection the server drops (reported as an 'error' event) is discarded
 * instead of crashing the process. @internal
 */
export function connection(op: string, o: Readonly<Record<string, unknown>>, defaultTimeoutMs: number): Connection {
  const cs = o['connectionString'];
  const pool = o['pool'];
  if ((cs === undefined) === (pool === undefined)) throw new AtomfsError('EINVAL', 'give exactly one of connectionString and pool', { operation: op });
  if (cs !== undefined && (typeof cs !== 'string' || cs.length === 0)) throw new AtomfsError('EINVAL', `connectionString must be a non-empty string, got ${textOf(cs)}`, { operation: op });
  if (pool !== undefined && !isPool(pool)) throw new AtomfsError('EINVAL', 'pool must be a pg.Pool', { operation: op });
  const schema = o['schema'] ?? 'atomfs';
  if (!isSchemaName(schema)) throw new AtomfsError('EINVAL', `schema must match [a-z_][a-z0-9_]{0,62}, got ${textOf(schema)}`, { operation: op });
  const timeoutMs = intOpt(op, o, 'timeout', defaultTimeoutMs, undefined, 2 ** 31 - 1);
  if (timeoutMs === 0) throw new AtomfsError('EINVAL', 'timeout must be at least 1 ms', { operation: op });
  if (pool !== undefined) return { pool: pool as pg.Pool, ownsPool: false, schema, timeoutMs };
  const made = new pg.Pool({ connectionString: cs as string, connectionTimeoutMillis: timerDelay(timeoutMs), max: 10, allowExitOnIdle: true });
  made.on('error', () => undefined);
  return { pool: made, ownsPool: true, schema, timeoutMs };
}

/**
 * Ends a pool the caller owns. Its idle connections are unref'd, so without a timer of its
 * own the program could exit (a top-level await: code 13) before this resolves. @internal
 */
export async function endPool(pool: pg.Pool): Promise<void> {
  const alive = setInterval(() => undefined, 1 << 30);
  try {
    await pool.end().catch(() => undefined);
  } finally {
    clearInterval(alive);
  }
}
