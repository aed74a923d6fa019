/**
 * Small helpers for the benchmark: statistics, formatting, machine facts, disk settling,
 * messages from child processes.
 *
 * @module
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';

/** The median of a non-empty list (the mean of the middle two for an even length). */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** A rate with three significant digits and thousands separators (`12,300`, `45.6`). */
export function fmtRate(x: number): string {
  if (!Number.isFinite(x)) return 'n/a';
  if (x >= 1000) return Math.round(x).toLocaleString('en-US');
  if (x >= 100) return x.toFixed(0);
  if (x >= 10) return x.toFixed(1);
  return x.toFixed(2);
}

/** A ratio as `1.23x`. */
export function fmtRatio(x: number): string {
  if (!Number.isFinite(x)) return 'n/a';
  if (x >= 100) return `${Math.round(x)}x`;
  return `${x.toFixed(2)}x`;
}

/**
 * Flushes every dirty page of the machine (sync(1)), untimed, so the writeback left over
 * by one measurement does not slow the next one down.
 */
export function settleDisk(): void {
  execFileSync('sync', { stdio: 'ignore' });
}

function tryRun(cmd: string, args: readonly string[]): string | undefined {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

/** Facts worth printing next to numbers that depend on the machine. */
export interface MachineFacts {
  readonly nproc: number;
  readonly kernel: string;
  readonly fsType: string;
  readonly node: string;
  readonly cpu: string;
  readonly memGiB: number;
  readonly uvThreadpool: string;
}

/** The type of the file system holding `dir` (`ext4`, `tmpfs`, …), or `undefined` when neither tool can tell. */
export function fsTypeOf(dir: string): string | undefined {
  // `stat -f` reports ext4 as "ext2/ext3" (they share a magic number); findmnt names it.
  return tryRun('findmnt', ['-n', '-o', 'FSTYPE', '-T', dir]) ?? tryRun('stat', ['-f', '-c', '%T', dir]);
}

/** Reads the machine facts; `dir` is the folder whose file system type is reported. */
export function machineFacts(dir: string): MachineFacts {
  const fsType = fsTypeOf(dir) ?? 'unknown';
  return {
    nproc: os.availableParallelism(),
    kernel: os.release(),
    fsType,
    node: process.version,
    cpu: os.cpus()[0]?.model ?? 'unknown',
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    uvThreadpool: process.env['UV_THREADPOOL_SIZE'] ?? '4 (default)',
  };
}

/**
 * Runs `task(i)` for i = 0 … count-1 with at most `concurrency` in flight, in index order
 * of start. Bounded: each worker stops when the indices run out.
 */
export async function runPool(count: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      await task(i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, count)) }, worker));
}

/**
 * The next message of a bench child whose `type` is `type` (children report `ready`, `done`,
 * or `error` with a message); rejects on an error message or an exit before it.
 */
export function nextMessage(k: ChildProcess, type: 'ready' | 'done'): Promise<{ waits?: number[] }> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: { type: string; message?: string; waits?: number[] }): void => {
      if (m.type === type) {
        done();
        resolve(m);
      } else if (m.type === 'error') {
        done();
        reject(new Error(`child ${k.pid}: ${m.message}`));
      }
    };
    const onExit = (code: number | null, signal: string | null): void => {
      done();
      reject(new Error(`child ${k.pid} exited (${signal ?? code}) before '${type}'`));
    };
    const done = (): void => {
      k.off('message', onMessage);
      k.off('exit', onExit);
    };
    k.on('message', onMessage);
    k.once('exit', onExit);
  });
}

/** Writes `bytes` to `file`, `chunk` over and over, every byte (untimed preparation of a source file). */
export function writeSource(file: string, bytes: number, chunk: Uint8Array): void {
  const fd = fs.openSync(file, 'w', 0o644);
  try {
    for (let off = 0; off < bytes; off += chunk.length) {
      const part = Math.min(chunk.length, bytes - off);
      for (let w = 0; w < part; ) w += fs.writeSync(fd, chunk, w, part - w);
    }
  } finally {
    fs.closeSync(fd);
  }
}
