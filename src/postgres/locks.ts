/**
 * A lock store on PostgreSQL: `lock(name, { store: postgresLocks({ … }) })` shares a lock
 * between hosts that share no file system and whose clocks disagree.
 *
 * How it is safe:
 * - Every attempt to acquire a name first takes that name's row lock (an upsert of its
 *   `lock_name` row), so attempts on one name run one after another, and each of the
 *   attempt's later statements (READ COMMITTED: a fresh snapshot each) sees every holder
 *   that committed before it. Two conflicting acquirers therefore never both find the lock
 *   free. Attempts on different names do not meet.
 * - Leases are the server's: a holder row's `expires` is `clock_timestamp()` + the lease,
 *   computed by the server at acquisition and at each renewal; an attempt deletes the
 *   expired rows of its name before it looks. No host's clock is ever compared with
 *   another's. A holder knows its lease lasts at least until the moment it SENT its last
 *   confirmed renewal plus the lease (the server computed the expiry after that), and it
 *   treats the lock as lost past that point (see Lock's renewal).
 * - A holder's row exists until it releases or someone else deletes it as expired, and
 *   nobody else can hold the lock while it exists: so a renewal that finds its row
 *   (UPDATE … WHERE id) proves that no one else held the lock in between, even after a
 *   pause past the lease; a renewal that finds none tells the holder it was compromised.
 * - A writer that finds nobody holding or waiting holds in its name's row itself (x_id,
 *   x_expires) instead of a lock_holder row: the same rules with one row fewer to write,
 *   so the uncontended cycle is two in-place updates of one row (schema.ts). "Its row"
 *   below is whichever of the two it holds in.
 * - Fencing tokens are `nextval` of one sequence, recorded as the name's `max_token` in
 *   the same transaction, and handed to the caller only after COMMIT (a committed
 *   sequence advance survives a crash; an uncommitted one may be handed out again).
 *   A fenced change (PostgresMount) reads `max_token` FOR SHARE inside its own
 *   transaction: an acquisition waits for it or it waits for the acquisition, so a write
 *   with an old token can never commit after a newer token was handed out.
 * - Writers are not starved: a shared acquirer waits while any writer waits; writers are
 *   served in the order they first waited (`ticket`).
 * - Waiting is LISTEN/NOTIFY, and hand-over happens at the server: a release (or a waiter's
 *   withdrawal, `lock_drop`) gives the lock, in its own transaction, to the first writer in
 *   line (or to every waiting reader when no writer waits), and the notification names the
 *   new holder's row and token, so the woken waiter needs no attempt of its own and no herd
 *   wakes. The release takes the name's row lock first, so a waiter whose attempt was in
 *   flight has committed its waiting row by then. A waiter that missed its notification
 *   finds its row already holding at its next attempt. The poll (`retryInterval`) covers
 *   a lost notification, and a waiter blocked by a lease also wakes when that lease ends
 *   (the server says how long it has left). Where LISTEN is unavailable, polling alone.
 *
 * Each attempt, release and renewal is ONE round trip and one statement: an attempt is
 * the `lock_try` function (schema.ts), prepared statements keep their plans on the server.
 * Needs of the server: row locks, sequences and PL/pgSQL (any PostgreSQL; the
 * PostgreSQL-wire distributed engines that run PL/pgSQL), LISTEN/NOTIFY optionally.
 *
 * @module
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { AtomfsError } from '../errors.js';
import { checkOptionsObject, optionNames } from '../options.js';
import { textOf } from '../internal/paths.js';
import { timerDelay } from '../internal/abort.js';
import { STORE, type FenceToken, type LockStore, type StoreDriver, type StoreHold, type StoreRequest } from '../lock/store.js';
import type { LockMode } from '../lock/markers.js';
import { migrate } from './schema.js';
import { connection, connectWithin, endPool, isRetryable, nodeCodeOf, sqlError, type Sql } from './sql.js';

const OPTION_SET = optionNames(['connectionString', 'pool', 'schema', 'timeout', 'listen']);
/** The one channel every atomfs lock store notifies on; the payload names schema and lock. */
const CHANNEL = 'atomfs_lock';

/** Options of {@link postgresLocks}. Give `connectionString` or `pool`, not both. */
export interface PostgresLocksOptions {
  /** A libpq-style URL (`postgres://user@host:5432/db`); the store makes and owns a `pg.Pool`. */
  readonly connectionString?: string | undefined;
  /** A `pg.Pool` you made and own (`close()` leaves it open). */
  readonly pool?: pg.Pool | undefined;
  /**
   * The schema of the store's tables (shared with a {@link PostgresMount} of the same
   * schema, which can then check fences without naming it). Default `'atomfs'`.
   */
  readonly schema?: string | undefined;
  /** Milliseconds one round trip to the server may take before `ETIMEDOUT`. Default 10,000. */
  readonly timeout?: number | undefined;
  /**
   * Wake waiters with LISTEN/NOTIFY (one extra connection, opened when a lock is first
   * waited for). `false` polls every `retryInterval` instead, for servers without
   * LISTEN (some PostgreSQL-wire engines). Default `true`.
   */
  readonly listen?: boolean | undefined;
}


interface AttemptRow {
  readonly o_held: boolean;
  readonly o_token: string | null;
  /** Milliseconds until the earliest lease that blocks us ends, when a lease blocks us. */
  readonly o_next_ms: number | null;
}

/**
 * A lock store on PostgreSQL. Pass it as `lock(name, { store })` (and to `withLock`,
 * `isLocked`, `atomfs lock --store`). Close it when done (`close()` or `await using`).
 *
 * @remarks Needs of the server: row locks and sequences (any PostgreSQL-wire engine);
 *   LISTEN/NOTIFY for prompt wake-ups (else set `listen: false` and waiters poll).
 *
 * @example
 * ```ts
 * import { lock } from 'atomfs';
 * import { postgresLocks } from 'atomfs/postgres';
 *
 * await using store = postgresLocks({ connectionString: process.env.DATABASE_URL });
 * await using l = await lock('nightly-report', { store, stale: 30_000 });
 * console.log('fencing token', l.token);
 * ```
 */
export class PostgresLockStore implements LockStore {
  /** @internal */
  readonly [STORE]: StoreDriver;
  /** The schema the store's tables live in. */
  readonly schema: string;
  readonly #pool: pg.Pool;
  readonly #ownsPool: boolean;
  readonly #S: string;
  readonly #timeoutMs: number;
  readonly #listen: boolean;
  #ready: Promise<void> | undefined;
  #closed = false;
  // The LISTEN connection, opened when a lock is first waited for.
  #listener: pg.Client | undefined;
  #listening: Promise<'fresh' | 'none'> | undefined;
  // Notifications seen per name, and the wake-ups of the waiters on it.
  readonly #gen = new Map<string, number>();
  // Waiters by lock name, then by their row's id (a notification may name the one to wake).
  readonly #wakers = new Map<string, Map<string, (token?: number) => void>>();
  // After LISTEN could not be set up, waiters poll until this time (then it is tried again).
  #listenRetryAt = 0;

  /**
   * @param options - `connectionString` or `pool`; `schema`, `timeout`, `listen`.
   * @throws `EINVAL` for a missing or malformed option (nothing is connected yet).
   */
  constructor(options: PostgresLocksOptions) {
    const op = 'postgresLocks';
    const o = checkOptionsObject(op, options, undefined, OPTION_SET);
    const c = connection(op, o, 10_000);
    const listen = o['listen'];
    if (listen !== undefined && typeof listen !== 'boolean') throw new AtomfsError('EINVAL', `listen must be a boolean, got ${textOf(listen)}`, { operation: op });
    this.schema = c.schema;
    this.#S = `"${c.schema}"`;
    this.#timeoutMs = c.timeoutMs;
    this.#listen = listen ?? true;
    this.#ownsPool = c.ownsPool;
    this.#pool = c.pool;
    this[STORE] = {
      acquire: (req) => this.#acquire(req),
      isLocked: (name, mode, operation) => this.#isLocked(name, mode, operation),
    };
  }

  /**
   * Connects and creates or migrates the store's tables now (the first lock does it too).
   *
   * @throws `ECONNREFUSED`, `ECONNRESET`, `ETIMEDOUT`, `EACCES`, `ENOTSUP` (tables of a newer atomfs), `EINVAL` (closed).
   * @example
   * ```ts
   * await store.ready();
   * ```
   */
  ready(): Promise<void> {
    if (this.#closed) return Promise.reject(new AtomfsError('EINVAL', 'the lock store is closed', { operation: 'postgresLocks' }));
    if (this.#ready === undefined) {
      const p = migrate(this.#pool, this.schema, this.#timeoutMs);
      this.#ready = p;
      p.catch(() => {
        if (this.#ready === p) this.#ready = undefined;
      });
    }
    return this.#ready;
  }

  /**
   * Closes the LISTEN connection and the pool the store made (a pool you passed stays
   * open). Locks still held are not released: their leases run out at the server. Safe twice.
   *
   * @throws Nothing.
   * @example
   * ```ts
   * await store.close();
   * ```
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // Ending unref'd connections must not let the program exit before close() resolves.
    const alive = setInterval(() => undefined, 1 << 30);
    try {
      const l = this.#listener;
      this.#listener = undefined;
      if (l !== undefined) await l.end().catch(() => undefined);
      for (const set of this.#wakers.values()) for (const w of [...set.values()]) w();
      if (this.#ownsPool) await endPool(this.#pool);
    } finally {
      clearInterval(alive);
    }
  }

  /** Closes the store, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // One round trip, one statement (one transaction).
  async #run(key: 'try' | 'drop' | 'renew' | 'probe', values: readonly unknown[], deadline: number, operation: string, name: string, syscall: string): Promise<pg.QueryResult> {
    // The pool's idle connections and the listener are unref'd (an idle program may exit);
    // a call in flight must keep the program alive until it answers.
    const alive = setInterval(() => undefined, 1 << 30);
    try {
      return await this.#runOn(key, values, deadline, operation, name, syscall);
    } finally {
      clearInterval(alive);
    }
  }

  async #runOn(key: 'try' | 'drop' | 'renew' | 'probe', values: readonly unknown[], deadline: number, operation: string, name: string, syscall: string): Promise<pg.QueryResult> {
    await this.ready();
    let c: Sql;
    try {
      c = await connectWithin(this.#pool, deadline - Date.now());
    } catch (e) {
      throw sqlError(e, operation, syscall, name);
    }
    let broken = false;
    const onError = (): void => {
      broken = true;
    };
    c.on('error', onError);
    try {
      const left = Math.max(1, Math.ceil(deadline - Date.now()));
      // query_timeout: the driver's own timer, which fires even when the socket is frozen.
      return await c.query({ ...this.#sql(key), values: values as unknown[], query_timeout: left } as pg.QueryConfig);
    } catch (e) {
      const code = nodeCodeOf(e);
      if (code === 'ETIMEDOUT' || code === 'ECONNRESET') broken = true;
      throw e;
    } finally {
      c.off('error', onError);
      c.release(broken ? true : undefined);
    }
  }

  // The statements, prepared once per connection (named): the server keeps their plans.
  #sql(key: 'try' | 'drop' | 'renew' | 'probe'): pg.QueryConfig {
    const S = this.#S;
    const text = {
      try: `SELECT o_held, o_token::text AS o_token, o_next_ms FROM ${S}.lock_try($1, $2, $3, $4)`,
      drop: `SELECT ${S}.lock_drop($1, $2) AS n`,
      // A holder is a lock_holder row, or a writer kept in its name's row (schema.ts).
      renew: `WITH h AS (UPDATE ${S}.lock_holder SET expires = clock_timestamp() + $2 * interval '1 millisecond' WHERE id = $1 AND NOT waiting RETURNING 1),
                   x AS (UPDATE ${S}.lock_name SET x_expires = clock_timestamp() + $2 * interval '1 millisecond' WHERE name = $3 AND x_id = $1 RETURNING 1)
              SELECT ((SELECT count(*) FROM h) + (SELECT count(*) FROM x))::int AS n`,
      probe: `SELECT ((SELECT count(*) FROM ${S}.lock_holder WHERE name = $1 AND NOT waiting AND expires >= clock_timestamp() AND ($2 = 'exclusive' OR mode = 'exclusive'))
                    + (SELECT count(*) FROM ${S}.lock_name WHERE name = $1 AND x_id IS NOT NULL AND x_expires >= clock_timestamp()))::int AS n`,
    }[key];
    return { name: `atomfs_${this.schema}_lock_${key}`, text };
  }

  // Withdraws a waiter's row (or a hold whose answer we lost), best effort: it would end
  // with its lease anyway.
  #withdraw(id: string, name: string, operation: string): Promise<void> {
    return this.#run('drop', [id, name], Date.now() + Math.min(this.#timeoutMs, 5_000), operation, name, 'release').then(
      () => undefined,
      () => undefined,
    );
  }

  async #acquire(req: StoreRequest): Promise<StoreHold> {
    // Waiting on unref'd connections alone (a notification) must not let the program exit.
    const alive = setInterval(() => undefined, 1 << 30);
    try {
      return await this.#acquireLoop(req);
    } finally {
      clearInterval(alive);
    }
  }

  async #acquireLoop(req: StoreRequest): Promise<StoreHold> {
    const { name, mode, operation } = req;
    const ctx = { operation, path: name };
    const deadline = req.timeout === Infinity ? Infinity : Date.now() + req.timeout;
    const id = randomUUID();
    const values = [id, name, mode, req.lease];
    let queued = false;
    for (let attempt = 0; ; attempt++) {
      if (req.signal?.aborted) {
        if (queued) await this.#withdraw(id, name, operation);
        throw new AtomfsError('ABORT_ERR', undefined, ctx, { cause: req.signal.reason });
      }
      const gen = this.#gen.get(name) ?? 0;
      // A round trip may outlast a short lock timeout a little (it must be allowed to
      // answer), never the store's own per-trip timeout.
      const tripDeadline = Math.min(Date.now() + this.#timeoutMs, Math.max(deadline, Date.now() + 1_000));
      let row: AttemptRow;
      try {
        row = (await this.#run('try', values, tripDeadline, operation, name, 'acquire')).rows[0] as AttemptRow;
      } catch (e) {
        if (isRetryable(e) && Date.now() < deadline && attempt < 1000) continue;
        // The attempt may have committed before its answer was lost: withdraw it.
        void this.#withdraw(id, name, operation);
        throw sqlError(e, operation, 'acquire', name);
      }
      if (row.o_held) return this.#hold(id, name, row.o_token === null ? undefined : Number(row.o_token), req);
      queued = true;
      const left = deadline - Date.now();
      if (left <= 0) {
        await this.#withdraw(id, name, operation);
        throw new AtomfsError('ETIMEDOUT', `could not get a${mode === 'exclusive' ? 'n exclusive' : ' shared'} lock within ${req.timeout} ms`, ctx);
      }
      // Listening must be in place before a wait can trust it: the first time, look again.
      if (this.#listen && (await this.#ensureListening()) === 'fresh') continue;
      if ((this.#gen.get(name) ?? 0) !== gen) continue;
      const leaseEnds = row.o_next_ms === null ? Infinity : Math.max(1, Math.ceil(row.o_next_ms) + 1);
      // Jittered so that waiters woken by one lease do not arrive in step; at most half our
      // own lease, so the waiter's row (which keeps our place in line) is renewed in time.
      const ms = Math.min(left, req.retryInterval * (0.5 + Math.random() * 0.5), leaseEnds, req.lease / 2);
      const handed = await this.#wait(name, id, ms, req.signal);
      // Handed over by the release: held, with this token (see lock_drop).
      if (handed !== undefined) return this.#hold(id, name, handed, req);
    }
  }

  #hold(id: string, name: string, token: number | undefined, req: StoreRequest): StoreHold {
    const fence: FenceToken | undefined = token === undefined ? undefined : { store: 'postgres', namespace: this.schema, name, token };
    return {
      token,
      fence,
      renew: async () => {
        const r = await this.#run('renew', [id, req.lease, name], Date.now() + Math.min(this.#timeoutMs, Math.max(100, req.lease / 3)), 'lock', name, 'renew');
        return (r.rows[0] as { n: number }).n > 0;
      },
      release: async () => {
        const r = await this.#run('drop', [id, name], Date.now() + this.#timeoutMs, 'lock', name, 'release');
        return (r.rows[0] as { n: number }).n > 0;
      },
    };
  }

  async #isLocked(name: string, mode: LockMode, operation: string): Promise<boolean> {
    const r = await this.#run(
      'probe',
      [name, mode],
      Date.now() + this.#timeoutMs,
      operation,
      name,
      'isLocked',
    ).catch((e: unknown) => {
      throw sqlError(e, operation, 'isLocked', name);
    });
    return (r.rows[0] as { n: number }).n > 0;
  }

  // 'ready': LISTEN was in place before the caller's attempt, so a wait can trust it.
  // 'fresh': it was only just put in place (a release may have come before): look again.
  // 'none': it cannot be had now: poll.
  #ensureListening(): Promise<'ready' | 'fresh' | 'none'> {
    if (this.#listener !== undefined) return Promise.resolve('ready');
    if (Date.now() < this.#listenRetryAt) return Promise.resolve('none');
    if (this.#listening !== undefined) return this.#listening;
    const p = (async (): Promise<'fresh' | 'none'> => {
      const client = new pg.Client({ ...(this.#pool as unknown as { options: pg.ClientConfig }).options, connectionTimeoutMillis: timerDelay(this.#timeoutMs) });
      client.on('error', () => this.#lost(client));
      client.on('end', () => this.#lost(client));
      client.on('notification', (n) => {
        if (n.channel !== CHANNEL || n.payload === undefined) return;
        let schema: unknown;
        let lockName: unknown;
        let next: unknown;
        let token: unknown;
        try {
          [schema, lockName, next, token] = JSON.parse(n.payload) as unknown[];
        } catch {
          return;
        }
        if (schema !== this.schema || typeof lockName !== 'string') return;
        this.#gen.set(lockName, (this.#gen.get(lockName) ?? 0) + 1);
        const set = this.#wakers.get(lockName);
        if (set === undefined) return;
        // The writer the lock was handed to, with its token; or every waiting reader.
        if (typeof next === 'string') set.get(next)?.(typeof token === 'number' ? token : undefined);
        else for (const w of [...set.values()]) w();
      });
      try {
        await client.connect();
        await client.query(`LISTEN ${CHANNEL}`);
      } catch {
        await client.end().catch(() => undefined);
        this.#listenRetryAt = Date.now() + 5_000;
        return 'none';
      }
      // The listener serves waiters; it must not keep the program running by itself.
      (client as unknown as { unref(): void }).unref();
      if (this.#closed) {
        await client.end().catch(() => undefined);
        return 'none';
      }
      this.#listener = client;
      return 'fresh';
    })();
    this.#listening = p;
    void p.finally(() => {
      if (this.#listening === p) this.#listening = undefined;
    });
    return p;
  }

  // The LISTEN connection went away: every waiter looks again (and listens anew).
  #lost(client: pg.Client): void {
    if (this.#listener !== client) return;
    this.#listener = undefined;
    for (const set of this.#wakers.values()) for (const w of [...set.values()]) w();
  }

  // Resolves with the token when the lock was handed to this waiter, else undefined.
  #wait(name: string, id: string, ms: number, signal: AbortSignal | undefined): Promise<number | undefined> {
    return new Promise<number | undefined>((resolve) => {
      let set = this.#wakers.get(name);
      if (set === undefined) this.#wakers.set(name, (set = new Map()));
      const done = (token?: number): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        set.delete(id);
        if (set.size === 0 && this.#wakers.get(name) === set) this.#wakers.delete(name);
        resolve(token);
      };
      const onAbort = (): void => done();
      const timer = setTimeout(onAbort, timerDelay(Math.max(0, ms)));
      set.set(id, done);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

/**
 * Makes a lock store on PostgreSQL, for `lock(name, { store })`: server-clock leases,
 * fencing tokens from one sequence (increasing across hosts and server restarts), writers
 * served in order, waiters woken by LISTEN/NOTIFY.
 *
 * @param options - `connectionString` or `pool`; `schema` (default `'atomfs'`), `timeout` (ms per round trip, default 10,000), `listen` (default `true`).
 * @returns The store; close it when done.
 * @throws `EINVAL` for a missing or malformed option (nothing is connected yet).
 * @example
 * ```ts
 * import { withLock } from 'atomfs';
 * import { postgresLocks } from 'atomfs/postgres';
 *
 * const store = postgresLocks({ connectionString: 'postgres://app@db/app' });
 * await withLock('invoices', async (l) => publish(l.token), { store, timeout: 60_000 });
 * await store.close();
 * ```
 */
export function postgresLocks(options: PostgresLocksOptions): PostgresLockStore {
  return new PostgresLockStore(options);
}
