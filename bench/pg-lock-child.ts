/**
 * One contender of the `pg-lock-contended` cases, forked with an IPC channel:
 * `node build/bench/pg-lock-child.js <store|advisory> <url> <schema> <counter file> <cycles>`.
 *
 * Connects and takes one uncontended lock (untimed), says `ready`, waits for `go`, then
 * `cycles` times: takes an exclusive lock (atomfs's PostgreSQL store, or a raw
 * `pg_advisory_lock` through `pg`, the floor), bumps a 16-byte counter record in place,
 * releases. It reports how long each acquisition waited, then exits.
 *
 * @module
 */
import * as fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { lock } from '../src/index.js';
import { postgresLocks } from '../src/postgres/index.js';

const [impl, url, schema, counter, cyclesArg] = process.argv.slice(2);
const cycles = Number(cyclesArg);
const RECORD = 16;
const record = Buffer.alloc(RECORD);

function bump(file: string): void {
  const fd = fs.openSync(file, 'r+');
  try {
    const n = fs.readSync(fd, record, 0, RECORD, 0);
    const next = Number(record.toString('latin1', 0, n).trim()) + 1;
    fs.writeSync(fd, Buffer.from(String(next).padEnd(RECORD - 1) + '\n', 'latin1'), 0, RECORD, 0);
  } finally {
    fs.closeSync(fd);
  }
}

const store = postgresLocks({ connectionString: url!, schema: schema! });
const pool = new pg.Pool({ connectionString: url!, max: 2 });
pool.on('error', () => undefined);

async function cycle(): Promise<number> {
  const t0 = performance.now();
  if (impl === 'store') {
    const l = await lock('bench', { store, timeout: 120_000 });
    const waited = performance.now() - t0;
    bump(counter!);
    await l.release();
    return waited;
  }
  const c = await pool.connect();
  try {
    await c.query('SELECT pg_advisory_lock(4242)');
    const waited = performance.now() - t0;
    bump(counter!);
    await c.query('SELECT pg_advisory_unlock(4242)');
    return waited;
  } finally {
    c.release();
  }
}

async function main(): Promise<void> {
  await cycle();
  const go = new Promise<void>((resolve) => process.once('message', () => resolve()));
  process.send!({ type: 'ready' });
  await go;
  const waits: number[] = [];
  for (let i = 0; i < cycles; i++) waits.push(await cycle());
  await new Promise<void>((resolve, reject) => process.send!({ type: 'done', waits }, undefined, {}, (e) => (e ? reject(e) : resolve())));
  await store.close();
  await pool.end();
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.send?.({ type: 'error', message: String((e as Error)?.stack ?? e) });
    process.exit(1);
  },
);
