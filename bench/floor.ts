/**
 * The C floor (bench/floor.c): compiled at run time into a temp folder, run as a child
 * process. It times itself, so process start-up is not part of its numbers.
 *
 * @module
 */
import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** What one floor run reports. */
export interface FloorResult {
  readonly ops: number;
  readonly bytes: number;
  readonly seconds: number;
}

/** A compiled floor binary and the temp folder that holds it. */
export interface Floor {
  readonly bin: string;
  /** Removes the binary and its folder. */
  dispose(): void;
}

/**
 * Compiles `source` with `cc -O2 -pthread` into a fresh temp folder. Throws with the
 * compiler's output if it fails (the floor is part of every ratio: no silent fallback).
 */
export function compileFloor(source: string): Floor {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'atomfs-bench-floor-'));
  const bin = path.join(dir, 'floor');
  try {
    execFileSync('cc', ['-O2', '-pthread', '-o', bin, source], { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    fs.rmSync(dir, { recursive: true, force: true });
    const err = e as { stderr?: Buffer; signal?: string | null; message?: string };
    const why = err.stderr?.toString().trim() || (err.signal ? `cc killed by ${err.signal}` : String(err.message ?? e));
    throw new Error(`cannot compile ${source} with cc: ${why}`);
  }
  return { bin, dispose: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

function run(bin: string, args: readonly string[]): FloorResult {
  const out = execFileSync(bin, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const r = JSON.parse(out) as FloorResult;
  if (typeof r.seconds !== 'number' || !(r.seconds > 0)) throw new Error(`floor printed ${out}`);
  return r;
}

function runAsync(bin: string, args: readonly string[]): Promise<FloorResult> {
  return new Promise((resolve, reject) => {
    execFile(bin, args, { encoding: 'utf8' }, (err, out, stderr) => {
      if (err) {
        reject(new Error(`floor ${args.join(' ')} failed: ${stderr.trim() || err.message}`));
        return;
      }
      try {
        const r = JSON.parse(out) as FloorResult;
        if (typeof r.seconds !== 'number' || !(r.seconds > 0)) throw new Error(`floor printed ${out}`);
        resolve(r);
      } catch (e) {
        reject(e as Error);
      }
    });
  });
}

/** `count` writes of `size` bytes to `dir/f0 …`, by `concurrency` threads. */
export function floorSmall(f: Floor, dir: string, count: number, size: number, concurrency: number, fsync: boolean): FloorResult {
  return run(f.bin, ['small', dir, String(count), String(size), String(concurrency), fsync ? '1' : '0']);
}

/** One file `dir/big` of `total` bytes written `chunk` bytes at a time. */
export function floorBig(f: Floor, dir: string, total: number, chunk: number, fsync: boolean): FloorResult {
  return run(f.bin, ['big', dir, String(total), String(chunk), fsync ? '1' : '0']);
}

/**
 * The least a durable move of one file across devices can do (floor.c, `move`): the
 * source mapped, not read; `threads` writers (with a preallocated temp when more than one);
 * `direct`: O_DIRECT writes (ext4, XFS; not a tmpfs). Its own time, without start-up.
 */
export async function floorMove(f: Floor, src: string, dest: string, chunk: number, threads: number, direct: boolean): Promise<FloorResult> {
  return runAsync(f.bin, ['move', src, dest, String(chunk), String(threads), direct ? '1' : '0']);
}
