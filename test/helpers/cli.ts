/**
 * Running the BUILT command line (`node bin/atomfs.js`, which imports dist/): every child is
 * spawned with the repo root as its working folder, bounded by a timeout (SIGKILL, then a
 * rejection) and reaped (its 'close' awaited) in every outcome.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';

/** The repo root: build/test/helpers/cli.js is three folders below it. */
export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** The CLI's entry point (it imports dist/cli/main.js: run `npm run build` first). */
export const BIN = path.join(REPO, 'bin', 'atomfs.js');

if (!fs.existsSync(path.join(REPO, 'dist', 'cli', 'main.js'))) {
  throw new Error(`dist/cli/main.js is missing under ${REPO}: run 'npm run build' before the CLI tests`);
}

/** What a finished child printed and how it ended. */
export interface RunResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Wall time in ms. */
  readonly ms: number;
}

export interface RunOptions {
  /** Written to stdin, then stdin is closed (default: stdin closed at once). */
  readonly input?: string | Buffer | undefined;
  /** Extra environment (a value of `undefined` removes the variable). */
  readonly env?: Readonly<Record<string, string | undefined>> | undefined;
  readonly cwd?: string | undefined;
  /** Killed with SIGKILL after this long, and the promise rejects. Default 20 s. */
  readonly timeoutMs?: number | undefined;
}

/** The environment for a child: ours without ATOMFS_* (so a caller's debug log never leaks in), plus `extra`. */
export function childEnv(extra: Readonly<Record<string, string | undefined>> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('ATOMFS_') && v !== undefined) env[k] = v;
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

/** Runs any program to its end (bounded), collecting its output. */
export function runProcess(file: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const started = Date.now();
  const timeoutMs = opts.timeoutMs ?? 20_000;
  return new Promise((resolve, reject) => {
    // Its own process group, so a timeout kills whatever it started too.
    const child = spawn(file, [...args], { cwd: opts.cwd ?? REPO, env: childEnv(opts.env), stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.stdin.on('error', () => {}); // EPIPE when the child exits without reading
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child);
    }, timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const r = { code, signal, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), ms: Date.now() - started };
      if (timedOut) reject(new Error(`timed out after ${timeoutMs} ms: ${file} ${args.join(' ')}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`));
      else resolve(r);
    });
    if (opts.input !== undefined) child.stdin.end(opts.input);
    else child.stdin.end();
  });
}

/** Runs `node bin/atomfs.js ...args` to its end (bounded), collecting its output. */
export function runCli(args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return runProcess(process.execPath, [BIN, ...args], opts);
}

/**
 * Starts `node bin/atomfs.js ...args` and leaves it running (stdio pipes by default), in a
 * process group of its own: after the test, the whole group (the CLI and anything it
 * started, e.g. `lock`'s command) is killed with SIGKILL, so no grandchild outlives a
 * failed test holding a pipe open. Await `closed(child)` to reap it.
 */
export function spawnCli(
  t: TestContext,
  args: readonly string[],
  opts: SpawnOptions & { env?: NodeJS.ProcessEnv; nodeArgs?: readonly string[] } = {},
): ChildProcess {
  const { nodeArgs = [], ...rest } = opts;
  const child = spawn(process.execPath, [...nodeArgs, BIN, ...args], { cwd: REPO, stdio: ['pipe', 'pipe', 'pipe'], ...rest, env: opts.env ?? childEnv(), detached: true });
  t.after(() => killGroup(child));
  return child;
}

/** SIGKILL to the child's process group (it was spawned detached, so it leads one). */
export function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // the group is gone
  }
}

/** Resolves once the child has exited AND its streams are closed (bounded: SIGKILL after `ms`). */
export function closed(child: ChildProcess, ms = 20_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      // Exited; the streams may still be draining.
      const streams = [child.stdout, child.stderr].filter((s) => s && !s.closed);
      if (streams.length === 0) return resolve({ code: child.exitCode, signal: child.signalCode });
    }
    const timer = setTimeout(() => {
      killGroup(child);
      child.kill('SIGKILL');
      reject(new Error(`child ${child.pid} did not finish within ${ms} ms`));
    }, ms);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    });
  });
}

/** Collects everything a stream prints, as text, for later inspection. */
export function collect(stream: NodeJS.ReadableStream | null): { text(): string } {
  const chunks: Buffer[] = [];
  stream?.on('data', (d: Buffer) => chunks.push(d));
  return { text: () => Buffer.concat(chunks).toString() };
}

/** The one-line error format: exactly `atomfs: CODE: message\n` on stderr. */
export function errorLine(code: string): RegExp {
  return new RegExp(`^atomfs: ${code}: [^\\n]+\\n$`);
}

/** Quotes a word for sh -c. */
export function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
