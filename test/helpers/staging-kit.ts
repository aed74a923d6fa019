/**
 * Shared pieces of the staging-area tests (test/staging/): self-validating files whose name
 * carries their length and hash, the shared line reader set up for child output, and a
 * bounded runner for external commands (rsync) whose processes are reaped in every outcome.
 *
 * A file is named `<prefix><index>-<length>-<sha256 first 16 hex>.bin`: any file can be
 * checked on its own, including an empty one, and a partial file (shorter, or with other
 * bytes) never passes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { LineReader } from './lines.js';

export const MiB = 1024 * 1024;
/** The largest file the producers write. */
export const MAX_FILE = 4 * MiB;

/** A small seeded PRNG (mulberry32): numbers in [0, 1). */
export { seededRandom } from '../../src/internal/prng.js';

/**
 * A file size from 0 B to 4 MiB: some empty, some exactly 4 MiB, about one in ten between
 * 1 and 4 MiB, the rest under 256 KiB (so 300 files stay near 120 MB in all).
 * With `big: false`, under 64 KiB.
 */
export function pickSize(rand: () => number, big = true): number {
  const r = rand();
  if (!big) return r < 0.05 ? 0 : Math.floor(rand() * 64 * 1024);
  if (r < 0.02) return 0;
  if (r < 0.04) return MAX_FILE;
  if (r < 0.14) return MiB + Math.floor(rand() * 3 * MiB);
  return Math.floor(rand() ** 2 * 256 * 1024);
}

/** A file to publish: random bytes and the name that describes them. */
export interface Payload {
  readonly name: string;
  readonly data: Buffer;
  readonly sha256: string;
}

export function makePayload(prefix: string, index: number, len: number): Payload {
  const data = len === 0 ? Buffer.alloc(0) : randomBytes(len);
  const sha256 = createHash('sha256').update(data).digest('hex');
  return { name: `${prefix}${String(index).padStart(4, '0')}-${len}-${sha256.slice(0, 16)}.bin`, data, sha256 };
}

const NAME_RE = /^(.*\d+)-(\d+)-([0-9a-f]{16})\.bin$/;

/** What a payload name promises: the length and the start of the SHA-256. */
export function parseName(name: string): { readonly len: number; readonly sha16: string } | undefined {
  const m = NAME_RE.exec(name);
  return m ? { len: Number(m[2]), sha16: m[3]! } : undefined;
}

/** Checks bytes against the name: `undefined` when complete, else why not. */
export function checkBytes(name: string, data: Uint8Array): string | undefined {
  const want = parseName(name);
  if (!want) return `not a payload name: ${JSON.stringify(name)}`;
  if (data.length !== want.len) return `${data.length} of ${want.len} bytes`;
  const got = createHash('sha256').update(data).digest('hex').slice(0, 16);
  if (got !== want.sha16) return `SHA-256 ${got}, expected ${want.sha16}`;
  return undefined;
}

/** Checks a file in `dir`: `undefined` when complete, else why not. */
export function checkFile(dir: string, name: string): string | undefined {
  let data: Buffer;
  try {
    data = fs.readFileSync(path.join(dir, name));
  } catch (e) {
    return `unreadable: ${(e as NodeJS.ErrnoException).code}`;
  }
  return checkBytes(name, data);
}

/** Checks every entry of a folder; returns the bad ones with the reason. */
export function badFiles(dir: string): { name: string; why: string }[] {
  const bad: { name: string; why: string }[] = [];
  for (const name of fs.readdirSync(dir).sort()) {
    const why = checkFile(dir, name);
    if (why !== undefined) bad.push({ name, why });
  }
  return bad;
}

/**
 * The shared line reader (lines.ts) as the staging tests read their children: a last line
 * cut short by a kill is kept as it is, unmarked.
 */
export class Lines extends LineReader {
  constructor(stream: Readable | null | undefined) {
    super(stream, { cut: 'keep' });
  }
}

/** Kills a child by pid with SIGKILL if it is still running. */
export function killIfRunning(child: ChildProcess): void {
  if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** The outcome of one external command. */
export interface RunResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stderr: string;
}

/**
 * Runs a command to completion, killed with SIGKILL after `ms`. `track` receives the child
 * so a test hook can kill it if the test ends first.
 */
export function run(cmd: string, args: string[], ms: number, track?: (c: ChildProcess) => void): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    track?.(child);
    let stderr = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => {
      if (stderr.length < 10_000) stderr += d;
    });
    const timer = setTimeout(() => killIfRunning(child), ms);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stderr });
    });
  });
}

/** Whether a command is on PATH. */
export function hasCommand(cmd: string): boolean {
  for (const dir of (process.env['PATH'] ?? '').split(path.delimiter)) {
    if (!dir) continue;
    try {
      fs.accessSync(path.join(dir, cmd), fs.constants.X_OK);
      return true;
    } catch {
      // not here
    }
  }
  return false;
}

/** Settles like `p`, or rejects with `message` after `ms`; the timer never outlives it. */
export async function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(message)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
