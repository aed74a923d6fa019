/**
 * Helpers for tests against real file systems: mounts that are always unmounted (the ones
 * in root.ts, under the names these tests use), tree snapshots ("nothing was created
 * anywhere"), temp-file searches, a recording logger and a child process that runs one
 * write as another user.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isTempFile, type Logger, type LogFields } from '../../src/index.js';
import { exited, spawnNode } from './child.js';
import type { HasAfter } from './root.js';

/** A tmpfs and a read-only bind mount for the test, unmounted and removed after it: root.ts' mount helpers. */
export { mountReadOnly as readOnlyBind, mountTmpfs as tmpfs } from './root.js';

/**
 * Everything under `dir` (recursively, symlinks not followed): one line per entry with its
 * type, mode, owner, size and content (files) or link text (symlinks). Two equal
 * snapshots mean nothing was created, removed or changed.
 */
export function snapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, depth: number): void => {
    if (depth > 32) throw new Error(`snapshot: too deep at ${d}`);
    for (const name of fs.readdirSync(d).sort()) {
      const p = path.join(d, name);
      const st = fs.lstatSync(p);
      const rel = path.relative(dir, p);
      const head = `${rel} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
      if (st.isSymbolicLink()) out.push(`${head} link -> ${fs.readlinkSync(p)}`);
      else if (st.isDirectory()) {
        out.push(`${head} dir`);
        walk(p, depth + 1);
      } else if (st.isFile()) out.push(`${head} file ${st.size} ${fs.readFileSync(p).toString('base64')}`);
      else out.push(`${head} other`);
    }
  };
  walk(dir, 0);
  return out;
}

/** Paths of atomfs temp files anywhere under `dir` (symlinks not followed). */
export function tempsUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, depth: number): void => {
    if (depth > 32) return;
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(d, e.name);
      if (isTempFile(e.name)) out.push(p);
      if (e.isDirectory()) walk(p, depth + 1);
    }
  };
  walk(dir, 0);
  return out.sort();
}

/** A logger that records every event. */
export function recordingLogger(): { logger: Logger; events: { level: string; fields: LogFields; msg: string }[] } {
  const events: { level: string; fields: LogFields; msg: string }[] = [];
  const logger: Logger = {
    debug: (fields, msg) => events.push({ level: 'debug', fields, msg }),
    warn: (fields, msg) => events.push({ level: 'warn', fields, msg }),
    error: (fields, msg) => events.push({ level: 'error', fields, msg }),
  };
  return { logger, events };
}

/** The temp paths a recording logger saw (from any event's `tempPath` field). */
export function loggedTempPaths(events: readonly { fields: LogFields }[]): string[] {
  return [...new Set(events.map((e) => e.fields['tempPath']).filter((v): v is string => typeof v === 'string'))];
}

/**
 * A fresh folder under the OS temp dir that another user can reach (0755, every ancestor
 * searchable by others), removed after the test.
 */
export function sharedTmpDir(t: HasAfter): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'atomfs-shared-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.chmodSync(dir, 0o755);
  for (let d = path.dirname(dir), i = 0; i < 64; d = path.dirname(d), i++) {
    if ((fs.statSync(d).mode & 0o001) === 0) throw new Error(`${d} is not searchable by other users`);
    if (path.dirname(d) === d) break;
  }
  return dir;
}

/** What the as-user fixture reports. */
export type AsUserResult =
  | { readonly ok: true; readonly uid: number; readonly gid: number }
  | {
      readonly ok: false;
      readonly uid: number;
      readonly gid: number;
      readonly name: string;
      readonly code: string | undefined;
      readonly path: string | undefined;
      readonly syscall: string | undefined;
      readonly message: string;
    };

/** One write for the as-user fixture to make. */
export interface AsUserRequest {
  readonly uid: number;
  readonly gid: number;
  /** atomfs' writeFile / writeFileSync, or node's own fs.writeFileSync for comparison. */
  readonly op: 'writeFile' | 'writeFileSync' | 'node:fs.writeFileSync';
  readonly path: string;
  readonly data: string;
  readonly mkdirp?: boolean;
}

const AS_USER = new URL('../real/fixtures/as-user.js', import.meta.url);

/**
 * Runs one write in a child process that drops to `uid`/`gid` before writing; resolves
 * with what happened. The child is reaped in every outcome (SIGKILL after `ms`).
 */
export async function writeAsUser(t: HasAfter, req: AsUserRequest, ms = 10_000): Promise<AsUserResult> {
  const child = spawnNode(t, fileURLToPath(AS_USER), [JSON.stringify(req)]);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  // 'close' comes after the exit and after stdout is drained: the whole report is in.
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const timer = setTimeout(() => child.kill('SIGKILL'), ms);
  try {
    await closed;
    await exited(child);
  } finally {
    clearTimeout(timer);
  }
  const line = stdout.split('\n').find((l) => l.startsWith('RESULT '));
  if (!line) throw new Error(`as-user child reported nothing (exit ${child.exitCode}, signal ${child.signalCode}); stderr: ${stderr}`);
  return JSON.parse(line.slice('RESULT '.length)) as AsUserResult;
}
