/**
 * The PostgreSQL lock cases (`pg-lock-uncontended`, `pg-lock-contended-4`,
 * `pg-lock-contended-16`): atomfs's `postgresLocks` store next to a raw
 * `pg_advisory_lock` / `pg_advisory_unlock` loop through `pg` (the floor: one statement to
 * lock and one to unlock, no lease, no token, nothing written) and atomfs's file lock, on
 * a throwaway server the bench starts (the tests' harness: fsync off, which costs a kill
 * nothing, and makes a commit cost what the server does, not what the disk does).
 *
 * @module
 */
import { fork, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { lock } from '../src/index.js';
import { postgresLocks } from '../src/postgres/index.js';
import { startPg, type PgServer } from '../test/helpers/pg.js';
import { nextMessage } from './util.js';
import { measure, timed, type CaseResult, type Context, type Entrant, type Row } from './cases.js';

/** Row labels, shared with the targets. */
export const PL = Object.freeze({
  store: 'atomfs postgresLocks',
  advisory: 'pg_advisory_lock (floor)',
  file: 'atomfs file lock',
});

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'pg-lock-child.js');

const servers = new Map<boolean, Promise<PgServer | string>>();

/**
 * One server for every PostgreSQL case of the run, stopped at exit: fsync off (what the
 * lock cases and the CPU-bound write case use), or, `durable`, a second one with the
 * server's defaults (fsync and synchronous_commit on), where a COMMIT is a WAL flush.
 */
export function pgServer(ctx: Context, durable = false): Promise<PgServer> {
  let server = servers.get(durable);
  if (server === undefined) {
    server = startPg({ durable });
    servers.set(durable, server);
    const s = server;
    ctx.atExit(() => {
      void s.then((x) => (typeof x === 'string' ? undefined : x.stop()));
    });
  }
  return server.then((s) => {
    if (typeof s === 'string') throw new Error(s);
    return s;
  });
}

/** Stops the bench's servers (the runner calls it after the last case). */
export async function stopPgServer(): Promise<void> {
  const all = [...servers.values()];
  servers.clear();
  for (const server of all) {
    const s = await server;
    if (typeof s !== 'string') await s.stop();
  }
}

export async function pgLockUncontendedCase(ctx: Context, spec: { id: string; cycles: number }): Promise<CaseResult> {
  const srv = await pgServer(ctx);
  const schema = srv.schema();
  const store = postgresLocks({ connectionString: srv.url, schema });
  const pool = new pg.Pool({ connectionString: srv.url, max: 2 });
  pool.on('error', () => undefined);
  const dir = path.join(ctx.root, spec.id);
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'target');
  fs.writeFileSync(file, 'locked\n');
  const cycles: Record<string, () => Promise<void>> = {
    [PL.store]: async () => {
      const l = await lock('bench', { store });
      await l.release();
    },
    [PL.advisory]: async () => {
      const c = await pool.connect();
      try {
        await c.query('SELECT pg_advisory_lock(4242)');
        await c.query('SELECT pg_advisory_unlock(4242)');
      } finally {
        c.release();
      }
    },
    [PL.file]: async () => {
      const l = await lock(file);
      await l.release();
    },
  };
  const entrants: Entrant[] = Object.entries(cycles).map(([name, cycle]) => ({
    row: { name, samples: [] },
    round: () =>
      timed(async () => {
        for (let i = 0; i < spec.cycles; i++) await cycle();
      }),
    rate: (s: number) => spec.cycles / s,
  }));
  try {
    await measure(ctx, spec.id, entrants);
  } finally {
    await store.close();
    await pool.end();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return {
    id: spec.id,
    title: `${spec.cycles} acquire/release cycles of an exclusive lock, one process, no contention, a PostgreSQL server on loopback`,
    unit: 'cycles/s',
    ref: PL.store,
    rows: entrants.map((e) => e.row),
    notes: [
      'atomfs store: `lock(name, { store })` + `release()`: one round trip each (an attempt is the `lock_try` function: a row lock, a lease row written, a token from a sequence, COMMIT; a release deletes the row and NOTIFYs).',
      'Floor: `pool.connect()`, `SELECT pg_advisory_lock(k)`, `SELECT pg_advisory_unlock(k)`, `release()`: two round trips, nothing written, no lease (a holder that pauses keeps it), no token.',
    ],
  };
}


const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};

export async function pgLockContendedCase(ctx: Context, spec: { id: string; children: number; cycles: number }): Promise<CaseResult> {
  const srv = await pgServer(ctx);
  const schema = srv.schema();
  const dir = path.join(ctx.root, spec.id);
  fs.mkdirSync(dir, { recursive: true });
  const waits = new Map<string, number[]>();
  const mk = (impl: 'store' | 'advisory', name: string): Entrant => {
    const row: Row = { name, samples: [], counterExact: true };
    waits.set(name, []);
    return {
      row,
      round: async (rep) => {
        const cycles = rep < 0 ? Math.max(1, spec.cycles >> 2) : spec.cycles;
        const counter = path.join(dir, `${impl}-counter`);
        fs.writeFileSync(counter, '0'.padEnd(15) + '\n');
        const kids: ChildProcess[] = [];
        const dispose = ctx.atExit(() => {
          for (const k of kids) if (k.exitCode === null && k.signalCode === null) k.kill('SIGKILL');
        });
        try {
          for (let i = 0; i < spec.children; i++) kids.push(fork(CHILD, [impl, srv.url, schema, counter, String(cycles)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
          const exited = Promise.all(kids.map((k) => new Promise<void>((r) => (k.exitCode !== null ? r() : k.once('exit', () => r())))));
          await Promise.all(kids.map((k) => nextMessage(k, 'ready')));
          const done = Promise.all(kids.map((k) => nextMessage(k, 'done')));
          const t0 = performance.now();
          for (const k of kids) k.send('go');
          const reports = await done;
          const s = (performance.now() - t0) / 1000;
          await exited;
          if (rep >= 0) {
            waits.get(name)!.push(...reports.flatMap((r) => r.waits ?? []));
            // Each child also took one lock before "go".
            if (Number(fs.readFileSync(counter, 'utf8').trim()) !== spec.children * (cycles + 1)) row.counterExact = false;
          }
          return s;
        } finally {
          dispose();
        }
      },
      rate: (s) => (spec.children * spec.cycles) / s,
    };
  };
  const entrants = [mk('store', PL.store), mk('advisory', PL.advisory)];
  try {
    await measure(ctx, spec.id, entrants);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  // Fairness (the performance issue's bar): no waiter served after more than 10x the median wait.
  const waitNote = [...waits]
    .map(([n, w]) => {
      const p50 = pct(w, 50);
      const max = Math.max(...w);
      return `${n}: wait p50 ${p50.toFixed(2)} ms, p99 ${pct(w, 99).toFixed(2)} ms, max ${max.toFixed(1)} ms = ${(max / p50).toFixed(1)}× p50 (${max <= 10 * p50 ? 'within' : 'BEYOND'} 10× the median)`;
    })
    .join('; ');
  return {
    id: spec.id,
    title: `${spec.children} processes × ${spec.cycles} cycles (exclusive lock, bump a counter file, release), a PostgreSQL server on loopback`,
    unit: 'cycles/s',
    ref: PL.store,
    rows: entrants.map((e) => e.row),
    notes: [`Waits over all timed reps (acquisition latency): ${waitNote}.`, 'Children connect and take one lock before the clock starts.'],
  };
}
