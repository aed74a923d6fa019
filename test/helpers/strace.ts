/**
 * Runs a command under `strace -f` and parses the trace into ordered system calls with
 * their descriptors resolved to paths.
 *
 * With -f, a call interrupted by another thread's is printed in two parts
 * (`openat(... <unfinished ...>` and `<... openat resumed>) = 3`); the parts are joined,
 * and each call keeps the line index where it started and where it finished, so "A
 * finished before B started" can be checked across threads.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
// The argument splitter of `atomfs crashcheck`: one reader of strace's argument lists.
import { splitArgs } from '../../src/crashcheck/trace.js';

/** Why strace cannot be used here, or undefined when it can trace a process. */
export function straceUnavailable(): string | undefined {
  const v = spawnSync('strace', ['-V'], { stdio: 'ignore', timeout: 10_000 });
  if (v.error || v.status !== 0) return 'strace not installed';
  // Installed but not allowed to trace (a container without ptrace rights).
  const r = spawnSync('strace', ['-qq', '-o', '/dev/null', '-e', 'trace=close', '--', process.execPath, '-e', '0'], { stdio: 'ignore', timeout: 30_000 });
  if (r.error || r.status !== 0) return 'strace cannot trace processes here (ptrace not permitted)';
  return undefined;
}

export interface Syscall {
  readonly pid: number;
  readonly name: string;
  /** The raw argument texts, split at top-level commas. */
  readonly args: readonly string[];
  /** The return value (-1 on error), or undefined for `?`. */
  readonly ret: number | undefined;
  /** The errno name on failure (`ENOENT`). */
  readonly errno: string | undefined;
  /** Line index of the start and of the completion. */
  readonly start: number;
  readonly end: number;
  /** Paths the call's descriptor arguments referred to when it started (resolved by the parser). */
  readonly fdPath: string | undefined;
  /** For open/openat and unlink*: the absolute path. For rename* and link*: [from, to]. */
  readonly paths: readonly string[];
}

export interface Trace {
  readonly calls: readonly Syscall[];
  readonly raw: string;
  /** What the traced command printed on stdout. */
  readonly stdout: string;
}

/** Runs `cmd args` under strace with the given syscall filter; throws if the command fails. */
export function straceRun(cmd: string, args: readonly string[], opts: { syscalls: readonly string[]; out: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Trace {
  const r = spawnSync(
    'strace',
    ['-f', '-qq', '-e', 'signal=none', '-s', '256', '-o', opts.out, '-e', `trace=${opts.syscalls.join(',')}`, '--', cmd, ...args],
    { env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 60_000, killSignal: 'SIGKILL', encoding: 'utf8' },
  );
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`strace ${cmd} exited with ${r.status ?? r.signal}:\n${r.stderr}\n${r.stdout}`);
  const raw = fs.readFileSync(opts.out, 'utf8');
  return { calls: parseStrace(raw), raw, stdout: r.stdout };
}


/** The text of a C string argument as strace prints it (`"..."`, with escapes, maybe `...` after). */
export function cString(arg: string | undefined): string | undefined {
  if (arg === undefined) return undefined;
  const m = /^"((?:[^"\\]|\\.)*)"/.exec(arg);
  if (!m) return undefined;
  return m[1]!.replace(/\\(x[0-9a-fA-F]{2}|[0-7]{1,3}|.)/g, (_, e: string) => {
    if (e[0] === 'x') return String.fromCharCode(parseInt(e.slice(1), 16));
    if (/^[0-7]/.test(e)) return String.fromCharCode(parseInt(e, 8));
    return ({ n: '\n', t: '\t', r: '\r', v: '\v', f: '\f' } as Record<string, string>)[e] ?? e;
  });
}

/** Open flags as a set of names (`O_WRONLY|O_CREAT` → {O_WRONLY, O_CREAT}). */
export function flagSet(arg: string | undefined): Set<string> {
  return new Set((arg ?? '').split('|').map((f) => f.trim()));
}

const CALL_RE = /^(\d+)\s+(\w+)\((.*)\)\s+=\s+(-?\d+|\?)(?:\s+(\w+)\s*\(.*\))?\s*$/;
const UNFINISHED_RE = /^(\d+)\s+(\w+)\((.*?)\s*<unfinished \.\.\.>\s*$/;
const RESUMED_RE = /^(\d+)\s+<\.\.\. (\w+) resumed>\s?(.*)$/;

interface Partial {
  name: string;
  text: string;
  start: number;
}

/**
 * Parses `strace -f` output (one process, possibly many threads) into calls in order of
 * completion, resolving descriptors to paths as it goes.
 */
export function parseStrace(raw: string): Syscall[] {
  const lines = raw.split('\n');
  const pending = new Map<string, Partial>();
  const done: { pid: number; name: string; argText: string; retText: string; errno: string | undefined; start: number; end: number }[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '') continue;
    let m = UNFINISHED_RE.exec(line);
    if (m) {
      pending.set(`${m[1]}:${m[2]}`, { name: m[2]!, text: m[3]!, start: i });
      continue;
    }
    m = RESUMED_RE.exec(line);
    let full: string;
    let start = i;
    if (m) {
      const p = pending.get(`${m[1]}:${m[2]}`);
      if (!p) continue; // started before the trace began
      pending.delete(`${m[1]}:${m[2]}`);
      // `read(3, <unfinished ...>` + `"data", 5) = 5`; `fsync(17 <unfinished ...>` + `) = 0`.
      const rest = m[3]!;
      const joined = p.text.endsWith(',') ? `${p.text} ${rest}` : p.text === '' || rest.startsWith(')') || rest.startsWith(',') ? `${p.text}${rest}` : `${p.text}, ${rest}`;
      full = `${m[1]} ${m[2]}(${joined}`;
      start = p.start;
    } else {
      full = line;
    }
    const c = CALL_RE.exec(full);
    if (!c) continue; // "+++ exited", an unfinished call that never resumed, etc.
    done.push({ pid: Number(c[1]), name: c[2]!, argText: c[3]!, retText: c[4]!, errno: c[5], start, end: i });
  }

  // Resolve descriptors in completion order: a descriptor exists from the end of the call
  // that returned it to the start of the close that released it.
  const fds = new Map<number, string>();
  const calls: Syscall[] = [];
  const abs = (dirfd: string | undefined, p: string): string => {
    if (path.isAbsolute(p)) return p;
    const base = dirfd === undefined || dirfd === 'AT_FDCWD' ? process.cwd() : fds.get(Number(dirfd)) ?? '?';
    return path.resolve(base, p);
  };
  for (const d of done) {
    const args = splitArgs(d.argText);
    const ret = d.retText === '?' ? undefined : Number(d.retText);
    let paths: string[] = [];
    let fdPath: string | undefined;
    switch (d.name) {
      case 'open':
        paths = [abs(undefined, cString(args[0]) ?? '?')];
        break;
      case 'openat':
        paths = [abs(args[0], cString(args[1]) ?? '?')];
        break;
      case 'rename':
      case 'link':
        paths = [abs(undefined, cString(args[0]) ?? '?'), abs(undefined, cString(args[1]) ?? '?')];
        break;
      case 'renameat':
      case 'renameat2':
      case 'linkat':
        paths = [abs(args[0], cString(args[1]) ?? '?'), abs(args[2], cString(args[3]) ?? '?')];
        break;
      case 'unlink':
        paths = [abs(undefined, cString(args[0]) ?? '?')];
        break;
      case 'unlinkat':
        paths = [abs(args[0], cString(args[1]) ?? '?')];
        break;
      default:
        if (args[0] !== undefined && /^\d+$/.test(args[0])) fdPath = fds.get(Number(args[0]));
    }
    calls.push({ pid: d.pid, name: d.name, args, ret, errno: d.errno, start: d.start, end: d.end, fdPath, paths });
    if ((d.name === 'open' || d.name === 'openat') && ret !== undefined && ret >= 0) fds.set(ret, paths[0]!);
    if (d.name === 'close' && args[0] !== undefined) fds.delete(Number(args[0]));
  }
  return calls;
}
