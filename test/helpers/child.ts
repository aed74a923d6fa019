/**
 * Child processes for crash and concurrency tests: spawned, reaped by pid in every outcome.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import type { TestContext } from 'node:test';

/** Spawns `node script args`, killed with SIGKILL after the test if still running. */
export function spawnNode(t: TestContext | { after(fn: () => void): void }, script: string, args: string[] = [], opts: SpawnOptions = {}): ChildProcess {
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
  return child;
}

/** Resolves when the child prints a line starting with `prefix` (bounded by `ms`). */
export function waitForLine(child: ChildProcess, prefix: string, ms = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => done(new Error(`timed out waiting for '${prefix}'`)), ms);
    const onData = (d: Buffer): void => {
      buf += d.toString();
      for (const line of buf.split('\n')) if (line.startsWith(prefix)) return done(undefined, line);
    };
    const onExit = (code: number | null): void => done(new Error(`child exited (${code}) before '${prefix}'`));
    function done(err?: Error, line?: string): void {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve(line!);
    }
    child.stdout?.on('data', onData);
    child.on('exit', onExit);
  });
}

/** Resolves with the exit code/signal once the child has exited. */
export function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}
