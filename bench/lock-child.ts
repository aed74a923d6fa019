/**
 * One contender of the `lock-contended` cases, run as a child process (forked with an IPC
 * channel): `node build/bench/lock-child.js <atomfs|proper-lockfile> <counter file> <cycles>`.
 *
 * It loads everything and warms up (WARM_CYCLES uncontended cycles on a private file of its
 * own, so the JIT has compiled the lock's code, as in any long-running program), says
 * `ready`, waits for `go`, then `cycles` times: takes an exclusive lock on the counter file,
 * reads the counter, writes counter + 1 (in place), releases. Then it says `done` and
 * exits. A lock that does not exclude shows as a final counter below the total.
 *
 * @module
 */
import * as fs from 'node:fs';
import { lock as properLock } from 'proper-lockfile';
import { lock as atomfsLock } from '../src/index.js';
import { ATOMFS_CONTENDED, PROPER_LOCKFILE_CONTENDED, type ChildMessage } from './lock-settings.js';

const [impl, counter, cyclesArg] = process.argv.slice(2);
const cycles = Number(cyclesArg);

function send(m: ChildMessage): Promise<void> {
  return new Promise((resolve, reject) => process.send!(m, undefined, {}, (e) => (e ? reject(e) : resolve())));
}

// The counter is a fixed 16-byte record updated in place (read at 0, write at 0), not
// rewritten with fs.writeFileSync: that truncates, and ext4 then starts writeback of the
// file at close and makes the next truncate wait for it (about 0.6 ms per bump on the bench
// disk), a floor of ~1,600 cycles/s for ANY lock that would measure the disk, not the lock.
const RECORD = 16;
const record = Buffer.alloc(RECORD);

function bump(file: string): void {
  const fd = fs.openSync(file, 'r+');
  try {
    const n = fs.readSync(fd, record, 0, RECORD, 0);
    const next = Number(record.toString('latin1', 0, n).trim()) + 1;
    const out = Buffer.from(String(next).padEnd(RECORD - 1) + '\n', 'latin1');
    if (fs.writeSync(fd, out, 0, RECORD, 0) !== RECORD) throw new Error('short write of the counter');
  } finally {
    fs.closeSync(fd);
  }
}

// Uncontended cycles before `ready`, for both libraries alike (untimed).
const WARM_CYCLES = 200;

async function cycle(file: string): Promise<void> {
  if (impl === 'atomfs') {
    const l = await atomfsLock(file, ATOMFS_CONTENDED);
    try {
      bump(file);
    } finally {
      await l.release();
    }
  } else {
    const release = await properLock(file, PROPER_LOCKFILE_CONTENDED);
    try {
      bump(file);
    } finally {
      await release();
    }
  }
}

async function run(): Promise<void> {
  if (!process.send) throw new Error('lock-child.js must be forked with an IPC channel');
  if ((impl !== 'atomfs' && impl !== 'proper-lockfile') || !counter || !Number.isInteger(cycles) || cycles < 1) {
    throw new Error(`usage: lock-child.js <atomfs|proper-lockfile> <counter file> <cycles>, got ${process.argv.slice(2).join(' ')}`);
  }
  const go = new Promise<void>((resolve) => process.once('message', () => resolve()));
  const warm = `${counter}.warm-${process.pid}`;
  fs.writeFileSync(warm, '0'.padEnd(RECORD - 1) + '\n');
  try {
    for (let i = 0; i < WARM_CYCLES; i++) await cycle(warm);
  } finally {
    fs.rmSync(warm, { force: true });
  }
  await send({ type: 'ready' });
  await go;
  for (let i = 0; i < cycles; i++) await cycle(counter);
  await send({ type: 'done', cycles });
}

run().then(
  () => process.disconnect?.(),
  async (e: unknown) => {
    process.exitCode = 1;
    try {
      await send({ type: 'error', message: String((e as Error)?.message ?? e) });
    } finally {
      process.disconnect?.();
    }
  },
);
