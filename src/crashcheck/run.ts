/**
 * The engine of `atomfs crashcheck`: copy the folder, run the program once under strace,
 * replay its calls into the simulated disk, and run the checker on every crash state the
 * pessimistic model allows (all of them up to `maxStates` per crash point, a seeded sample
 * past that).
 *
 * Every process it starts runs in a process group of its own, so that a timeout or an
 * interrupt kills the program or checker with everything it started; and the scratch
 * folder (the copy, the trace, the rebuilt states) is removed in every outcome.
 *
 * @module
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as os from 'node:os';
import * as path from 'node:path';
import { AtomfsError } from '../errors.js';
import { O, realOps } from '../internal/fs-ops.js';
import { seededRandom } from '../internal/prng.js';
import { removeTree } from '../internal/remove-tree.js';
import { crashChoices, type Choice } from '../testing/explore.js';
import { SimulatedDisk } from '../testing/sim-disk.js';
import { replayTrace, TRACED_CALLS, type ReplayPoint, type ReplayStep } from './replay.js';
import { parseTrace } from './trace.js';

const sys = realOps.sync;

/** What one crashcheck run is asked to do. */
export interface CrashcheckRequest {
  /** The folder to copy (its real path is taken). */
  readonly dir: string;
  readonly setup: string | undefined;
  readonly check: string;
  readonly program: readonly string[];
  /** States checked per crash point before sampling takes over. */
  readonly maxStates: number;
  readonly seed: number;
  /** Bound on the program's run (ms). */
  readonly timeoutMs: number;
  /** Bound on each check (and on --setup) (ms). */
  readonly checkTimeoutMs: number;
  readonly env: NodeJS.ProcessEnv;
  readonly signal?: AbortSignal | undefined;
  /** Called after every state checked, with an upper bound of the states to check. */
  readonly onProgress?: ((done: number, total: number) => void) | undefined;
  /** Stop after this many violations. */
  readonly maxViolations: number;
  /** Checks run at once. */
  readonly jobs: number;
}

/** One state to check. */
interface Task {
  readonly order: number;
  readonly point: ReplayPoint;
  readonly choice: Choice;
  readonly completed: boolean;
  readonly entries: readonly Entry[];
}

/** A file of a rebuilt state. */
export interface StateFile {
  /** Relative to the folder; folders end in `/`. */
  readonly path: string;
  readonly kind: 'file' | 'dir' | 'symlink';
  readonly size: number;
  /** The first bytes of a file (printable as text, escaped), or a symlink's target. */
  readonly head: string;
}

/** How a checker run ended. */
export interface CheckOutcome {
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly timedOut: boolean;
  readonly stdout: string;
  readonly stderr: string;
}

/** One state in which the checker failed. */
export interface CrashViolation {
  readonly crashPoint: number;
  readonly completed: boolean;
  readonly steps: readonly ReplayStep[];
  /** The pending changes this state kept. */
  readonly kept: readonly string[];
  /** The pending changes this state lost. */
  readonly lost: readonly string[];
  readonly files: readonly StateFile[];
  readonly check: CheckOutcome;
}

/** What a run found. */
export interface CrashcheckResult {
  readonly program: { readonly exitCode: number; readonly stdout: string; readonly stderr: string };
  readonly tracedCalls: number;
  readonly steps: readonly ReplayStep[];
  /** The crash points checked (point 0 and every call that changed what a crash could leave). */
  readonly crashPoints: number;
  readonly states: number;
  /** States that were the same files as another state of the same crash point (checked once). */
  readonly duplicates: number;
  readonly exhaustive: boolean;
  /** Whether it stopped at `maxViolations` with states left unchecked. */
  readonly stopped: boolean;
  readonly violations: readonly CrashViolation[];
  /** Time spent replaying and building states in memory (ms), and running checks (ms). */
  readonly simulatorMs: number;
  readonly checkerMs: number;
}

const OUTPUT_LIMIT = 8192;

/**
 * Runs one crash check.
 *
 * @throws {@link AtomfsError} `ENOENT` when strace or the folder is missing; `ENOTSUP` for a
 *   call the model cannot reproduce; `EINVAL` when --setup or PROGRAM fails; `ETIMEDOUT` when
 *   PROGRAM or --setup outlives its bound; `ABORT_ERR` when interrupted.
 */
export async function runCrashcheck(req: CrashcheckRequest): Promise<CrashcheckResult> {
  const op = 'crashcheck';
  let dir: string;
  try {
    dir = sys.realpath(req.dir);
    if (!sys.stat(dir).isDirectory()) throw new AtomfsError('ENOTDIR', `--dir is not a folder: '${req.dir}'`, { operation: op, path: req.dir });
  } catch (e) {
    if (e instanceof AtomfsError) throw e;
    throw new AtomfsError('ENOENT', `--dir does not exist: '${req.dir}'`, { operation: op, path: req.dir }, { cause: e });
  }
  const base = path.join(sys.realpath(os.tmpdir()), `atomfs-crashcheck-${randomBytes(6).toString('hex')}`);
  sys.mkdir(base, 0o700);
  try {
    return await inScratch(req, dir, base);
  } finally {
    await removeTree(realOps, base, { makeWritable: true }).catch(() => undefined);
  }
}

async function inScratch(req: CrashcheckRequest, dir: string, base: string): Promise<CrashcheckResult> {
  const op = 'crashcheck';
  const work = path.join(base, 'run');
  copyTree(dir, work);
  if (req.setup !== undefined) {
    const r = await bounded('/bin/sh', ['-c', req.setup], { cwd: work, env: req.env, timeoutMs: req.checkTimeoutMs, signal: req.signal });
    if (req.signal?.aborted) throw new AtomfsError('ABORT_ERR', 'interrupted', { operation: op }, { cause: req.signal.reason });
    if (r.timedOut) throw new AtomfsError('ETIMEDOUT', `--setup did not finish within ${req.checkTimeoutMs} ms`, { operation: op });
    if (r.exitCode !== 0) {
      const tail = r.stderr.split('\n').map((l) => l.trim()).filter((l) => l !== '').slice(-4).join(' / ');
      throw new AtomfsError('EINVAL', `--setup failed (${describeExit(r)})${tail ? `; its stderr ends: ${tail}` : ''}`, { operation: op });
    }
  }
  // The starting state, durable: what the folder holds before PROGRAM runs.
  const disk = new SimulatedDisk();
  disk.umaskValue = 0;
  loadTree(disk, work, '/');
  disk.syncAll();
  disk.umaskValue = sys.umask();

  const trace = path.join(base, 'trace');
  const strace = [
    '-f', '-qq', '-yy', '-xx', '-s', '64', '-e', 'signal=none', '-e', 'write=all',
    '-e', `trace=${TRACED_CALLS.map((c) => `?${c}`).join(',')}`, '-o', trace, '--', ...req.program,
  ];
  // libuv's io_uring does file I/O without system calls strace could show.
  const env = { ...req.env, UV_USE_IO_URING: '0' };
  const ran = await bounded('strace', strace, { cwd: work, env, timeoutMs: req.timeoutMs, signal: req.signal });
  if (req.signal?.aborted) throw new AtomfsError('ABORT_ERR', 'interrupted', { operation: op }, { cause: req.signal.reason });
  if (ran.spawnError === 'ENOENT') throw new AtomfsError('ENOENT', 'crashcheck needs strace (Debian/Ubuntu: apt-get install strace)', { operation: op });
  if (ran.timedOut) throw new AtomfsError('ETIMEDOUT', `PROGRAM did not finish within ${req.timeoutMs} ms (raise --timeout)`, { operation: op });
  let text: string;
  try {
    text = readAll(trace).toString('latin1');
  } catch (e) {
    throw new AtomfsError('EINVAL', `strace left no trace: ${ran.stderr.trim().split('\n').slice(-3).join(' / ')}`, { operation: op }, { cause: e });
  }
  if (ran.exitCode !== 0) {
    const lines = ran.stderr.split('\n').map((l) => l.trim()).filter((l) => l !== '');
    const own = lines.filter((l) => l.startsWith('strace: '));
    if (own.length > 0) throw new AtomfsError('EINVAL', `strace could not run PROGRAM: ${own.slice(-2).join(' / ')}`, { operation: op });
    const tail = lines.slice(-4).join(' / ');
    throw new AtomfsError('EINVAL', `PROGRAM failed (${describeExit(ran)}); crashcheck checks a program that succeeds${tail ? `; its stderr ends: ${tail}` : ''}`, { operation: op });
  }

  const t0 = performance.now();
  const calls = parseTrace(text);
  const replay = replayTrace(calls, work, disk, calls[0]?.pid);
  let simulatorMs = performance.now() - t0;
  let checkerMs = 0;

  const rnd = seededRandom(req.seed);
  const plans = replay.points.map((p) => ({ point: p, at: crashChoices(p.snap, req.maxStates, req.maxStates, rnd) }));
  const total = plans.reduce((t, p) => t + Math.min(p.at.total, req.maxStates), 0);
  const last = replay.points[replay.points.length - 1]!;
  let states = 0;
  let duplicates = 0;
  let done = 0;
  const aborted = (): AtomfsError => new AtomfsError('ABORT_ERR', 'interrupted', { operation: op }, { cause: req.signal?.reason });

  // The states in order, each built in memory once; identical files at one crash point are
  // checked once.
  function* tasks(): Generator<Task> {
    let order = 0;
    for (const { point, at } of plans) {
      const completed = point === last;
      const seen = new Set<string>();
      for (const choice of at.choices) {
        const s0 = performance.now();
        const restarted = SimulatedDisk.restart(point.snap, choice.entries, choice.data);
        const entries = listTree(restarted);
        const key = createHash('sha1').update(entries.map((e) => `${e.path}\0${e.kind}\0${e.mode}\0${e.target}\0${e.data.length}\0${e.kind === 'file' ? e.ino : ''}\0`).join('')).update(Buffer.concat(entries.map((e) => e.data))).digest('hex');
        simulatorMs += performance.now() - s0;
        done++;
        if (seen.has(key)) {
          duplicates++;
          req.onProgress?.(done, total);
          continue;
        }
        seen.add(key);
        yield { order: order++, point, choice, completed, entries };
      }
    }
  }
  const found: { order: number; v: CrashViolation }[] = [];
  const umask = sys.umask();
  const queue = tasks();
  let failure: unknown;
  let stopped = false;
  // Checks run `jobs` at a time, each in a folder of its own: a check is mostly waiting for
  // a process, and the next state can be built meanwhile.
  const worker = async (slot: number): Promise<void> => {
    const dir = path.join(base, `state-${slot}`);
    sys.mkdir(dir, 0o700);
    for (;;) {
      if (failure !== undefined) return;
      if (found.length >= req.maxViolations) {
        // Say so only when states were left unchecked.
        if (!stopped && !queue.next().done) stopped = true;
        return;
      }
      if (req.signal?.aborted) throw aborted();
      const next = queue.next();
      if (next.done) return;
      const t = next.value;
      states++;
      const s0 = performance.now();
      materialize(t.entries, dir, umask);
      simulatorMs += performance.now() - s0;
      const r = await bounded('/bin/sh', ['-c', req.check], {
        cwd: dir,
        env: { ...req.env, ATOMFS_CRASH_POINT: String(t.point.after), ATOMFS_CRASH_COMPLETED: t.completed ? '1' : '0' },
        timeoutMs: req.checkTimeoutMs,
        signal: req.signal,
      });
      const s1 = performance.now();
      try {
        emptySync(dir);
      } catch (e) {
        // The check removed its own folder (or made it unreadable past repair): start anew.
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
        sys.mkdir(dir, 0o700);
      }
      simulatorMs += performance.now() - s1;
      if (r.spawnError) throw new AtomfsError('EINVAL', `cannot run --check: ${r.spawnError}`, { operation: op });
      if (req.signal?.aborted) throw aborted();
      if (r.exitCode !== 0) {
        const { kept, lost } = describeChoice(t.point, t.choice);
        found.push({
          order: t.order,
          v: {
            crashPoint: t.point.after,
            completed: t.completed,
            steps: replay.steps.slice(0, t.point.after),
            kept,
            lost,
            files: t.entries.map(stateFile),
            check: { exitCode: r.exitCode, signal: r.signal, timedOut: r.timedOut, stdout: r.stdout, stderr: r.stderr },
          },
        });
      }
      req.onProgress?.(done, total);
    }
  };
  const w0 = performance.now();
  const sim0 = simulatorMs;
  await Promise.all(
    Array.from({ length: req.jobs }, (_, i) =>
      worker(i).catch((e: unknown) => {
        failure ??= e;
      }),
    ),
  );
  if (failure !== undefined) throw failure;
  // What the run waited for checks: the checking phase's wall time less the simulator's part of it.
  checkerMs = performance.now() - w0 - (simulatorMs - sim0);
  // In order, and no more than asked for: with several jobs a later state may have failed
  // before an earlier one finished.
  const violations = found.sort((a, b) => a.order - b.order).slice(0, req.maxViolations).map((f) => f.v);
  return {
    program: { exitCode: ran.exitCode ?? 0, stdout: ran.stdout, stderr: ran.stderr },
    tracedCalls: replay.tracedCalls,
    steps: replay.steps,
    crashPoints: replay.points.length,
    states,
    duplicates,
    exhaustive: plans.every((p) => p.at.exhaustive),
    stopped,
    violations,
    simulatorMs,
    checkerMs,
  };
}

// ---------------------------------------------------------------------------------------
// What a state kept and lost, in words.

function describeChoice(point: ReplayPoint, choice: Choice): { kept: string[]; lost: string[] } {
  const kept: string[] = [];
  const lost: string[] = [];
  const name = (p: string): string => (p === '/' ? '.' : p.replace(/^\//, ''));
  for (const e of point.snap.pendingEntries) {
    const words = describeLabel(e.label, name);
    (choice.entries.has(e.seq) ? kept : lost).push(words);
  }
  for (const [ino, ops] of point.snap.pendingData) {
    const ch = choice.data.get(ino) ?? { ops: 0, partial: 0 };
    const file = point.names.get(ino) ?? `inode ${ino}`;
    const what = (i: number): string => {
      const o = ops[i]!;
      return o.type === 'write' ? `the write of ${o.bytes.length} bytes at offset ${o.offset} to ${file}` : o.type === 'truncate' ? `the truncation of ${file} to ${o.size} bytes` : `the mode change of ${file}`;
    };
    for (let i = 0; i < ops.length; i++) {
      if (i < ch.ops) kept.push(what(i));
      else if (i === ch.ops && ch.partial > 0) kept.push(`${ch.partial} byte${ch.partial === 1 ? '' : 's'} of ${what(i)} (a torn write)`);
      else lost.push(what(i));
    }
  }
  return { kept, lost };
}

/** The simulated disk's label of a name change (`rename /a -> /b`) in words. */
function describeLabel(label: string, name: (p: string) => string): string {
  const m = /^(\w+) (.*?)(?: -> (.*))?$/.exec(label);
  if (!m) return label;
  const [, kind, a, b] = m;
  switch (kind) {
    case 'create':
      return `the creation of ${name(a!)}`;
    case 'rename':
      return `the rename of ${name(a!)} to ${name(b!)}`;
    case 'link':
      return `the hard link ${name(b!)} to ${name(a!)}`;
    case 'unlink':
      return `the removal of ${name(a!)}`;
    case 'mkdir':
      return `the creation of the folder ${name(a!)}`;
    case 'rmdir':
      return `the removal of the folder ${name(a!)}`;
    case 'symlink':
      return `the symlink ${name(a!)} -> ${b}`;
    default:
      return label;
  }
}

// ---------------------------------------------------------------------------------------
// Trees: the real folder into the simulated disk, a crash state out of it.

interface Entry {
  /** The simulated inode: two names of one file are written as hard links. */
  readonly ino: number;
  readonly path: string;
  readonly kind: 'file' | 'dir' | 'symlink';
  readonly mode: number;
  readonly data: Buffer;
  readonly target: string;
}

function readAll(file: string): Buffer {
  const fd = sys.open(file, O.RDONLY, 0);
  try {
    const chunks: Buffer[] = [];
    for (;;) {
      const buf = Buffer.allocUnsafe(1 << 20);
      const n = sys.read(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      chunks.push(buf.subarray(0, n));
    }
    return Buffer.concat(chunks);
  } finally {
    sys.close(fd);
  }
}

function writeAll(file: string, data: Uint8Array, mode: number, umask: number): void {
  const fd = sys.open(file, O.WRONLY | O.CREAT | O.EXCL, mode);
  try {
    for (let off = 0; off < data.length; ) off += sys.write(fd, data, off, data.length - off);
    // The umask took bits off: the state's file has the mode it had on the simulated disk.
    if ((mode & ~umask) !== mode) sys.fchmod(fd, mode);
  } finally {
    sys.close(fd);
  }
}

/**
 * cp -a without owners: folders, files (a reflink where the file system has them), hard
 * links between them, symlinks.
 */
function copyTree(from: string, to: string, links = new Map<string, string>()): void {
  const st = sys.lstat(from);
  sys.mkdir(to, 0o700);
  for (const e of sys.readdir(from)) {
    const a = path.join(from, e.name);
    const b = path.join(to, e.name);
    const s = sys.lstat(a);
    const id = `${s.dev}:${s.ino}`;
    if (s.isDirectory()) copyTree(a, b, links);
    else if (s.isSymbolicLink()) sys.symlink(sys.readlink(a), b);
    else if (s.isFile() && s.nlink > 1 && links.has(id)) sys.link(links.get(id)!, b);
    else if (s.isFile()) {
      sys.copyFile(a, b);
      if (s.nlink > 1) links.set(id, b);
    }
    else throw new AtomfsError('ENOTSUP', `crashcheck copies files, folders and symlinks only, not '${a}'`, { operation: 'crashcheck', path: a });
  }
  sys.chmod(to, (st.mode & 0o7777) | 0o700);
}

/**
 * The folder into the simulated disk. Hard links stay links (the copy keeps them too): a
 * write through one name must show under the other, as it does on the real disk.
 */
function loadTree(disk: SimulatedDisk, real: string, sim: string, links = new Map<string, string>()): void {
  for (const e of sys.readdir(real)) {
    const a = path.join(real, e.name);
    const b = path.posix.join(sim, e.name);
    const s = sys.lstat(a);
    if (s.isDirectory()) {
      disk.mkdir(b, s.mode & 0o7777);
      loadTree(disk, a, b, links);
    } else if (s.isSymbolicLink()) disk.symlink(sys.readlink(a), b);
    else if (s.isFile()) {
      const id = `${s.dev}:${s.ino}`;
      const first = s.nlink > 1 ? links.get(id) : undefined;
      if (first !== undefined) disk.link(first, b);
      else {
        disk.writeFile(b, readAll(a), s.mode & 0o7777);
        if (s.nlink > 1) links.set(id, b);
      }
    }
  }
}

function listTree(disk: SimulatedDisk): Entry[] {
  const out: Entry[] = [];
  const walk = (dir: string): void => {
    for (const name of disk.list(dir)) {
      const p = path.posix.join(dir, name);
      const st = disk.lstat(p);
      if (st.isDirectory()) {
        out.push({ ino: st.ino, path: p.slice(1) + '/', kind: 'dir', mode: st.mode & 0o7777, data: Buffer.alloc(0), target: '' });
        walk(p);
      } else if (st.isSymbolicLink()) out.push({ ino: st.ino, path: p.slice(1), kind: 'symlink', mode: 0o777, data: Buffer.alloc(0), target: disk.readlink(p) });
      else out.push({ ino: st.ino, path: p.slice(1), kind: 'file', mode: st.mode & 0o7777, data: disk.readFile(p) ?? Buffer.alloc(0), target: '' });
    }
  };
  walk('/');
  return out;
}

/**
 * Empties a folder this run made (rm -r of what is inside, the folder itself kept for the
 * next state: an rmdir and mkdir per state cost more than the rest of building it).
 */
function emptySync(dir: string): void {
  sys.chmod(dir, 0o700);
  for (const e of sys.readdir(dir)) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      emptySync(p);
      sys.rmdir(p);
    } else sys.unlink(p);
  }
}

/** Writes a state's files into `root`, an empty folder. */
function materialize(entries: readonly Entry[], root: string, umask: number): void {
  const dirs: Entry[] = [];
  const files = new Map<number, string>();
  for (const e of entries) {
    const p = path.join(root, e.path);
    if (e.kind === 'dir') {
      // Owner rwx while it is filled; its own mode once everything is in (deepest first).
      sys.mkdir(p, 0o700);
      dirs.push(e);
    } else if (e.kind === 'symlink') sys.symlink(e.target, p);
    else if (files.has(e.ino)) sys.link(files.get(e.ino)!, p);
    else {
      writeAll(p, e.data, e.mode, umask);
      files.set(e.ino, p);
    }
  }
  for (const d of dirs.reverse()) sys.chmod(path.join(root, d.path), d.mode);
}

function stateFile(e: Entry): StateFile {
  if (e.kind === 'symlink') return { path: e.path, kind: e.kind, size: e.target.length, head: e.target };
  if (e.kind === 'dir') return { path: e.path, kind: e.kind, size: 0, head: '' };
  return { path: e.path, kind: e.kind, size: e.data.length, head: printable(e.data.subarray(0, 32)) + (e.data.length > 32 ? '…' : '') };
}

/** Bytes as a JSON-ish string: printable ASCII as itself, the rest escaped. */
export function printable(b: Uint8Array): string {
  let s = '';
  for (const c of b) {
    if (c === 0x0a) s += '\\n';
    else if (c === 0x09) s += '\\t';
    else if (c === 0x5c) s += '\\\\';
    else if (c === 0x22) s += '\\"';
    else if (c >= 0x20 && c < 0x7f) s += String.fromCharCode(c);
    else s += `\\x${c.toString(16).padStart(2, '0')}`;
  }
  return s;
}

// ---------------------------------------------------------------------------------------
// Processes.

interface Bounded {
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly timedOut: boolean;
  readonly stdout: string;
  readonly stderr: string;
  readonly spawnError: string | undefined;
}

function describeExit(r: { exitCode: number | null; signal: string | null }): string {
  return r.exitCode !== null ? `exit code ${r.exitCode}` : `killed by ${r.signal}`;
}

/**
 * Runs a command in a process group of its own, its output kept (the last
 * {@link OUTPUT_LIMIT} bytes of each stream), killed with its group at the timeout or on
 * abort; resolves once it has been reaped.
 */
function bounded(file: string, args: readonly string[], o: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number; signal: AbortSignal | undefined }): Promise<Bounded> {
  return new Promise((resolve) => {
    const child = spawn(file, [...args], { cwd: o.cwd, env: o.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const keep = (list: Buffer[]) => (b: Buffer) => {
      list.push(b);
      let n = list.reduce((t, x) => t + x.length, 0);
      while (n > OUTPUT_LIMIT * 2 && list.length > 1) n -= list.shift()!.length;
    };
    child.stdout.on('data', keep(out));
    child.stderr.on('data', keep(err));
    let timedOut = false;
    let spawnError: string | undefined;
    const killGroup = (): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, o.timeoutMs);
    const onAbort = (): void => killGroup();
    o.signal?.addEventListener('abort', onAbort, { once: true });
    if (o.signal?.aborted) killGroup();
    child.once('error', (e: NodeJS.ErrnoException) => {
      spawnError = e.code ?? e.message;
    });
    child.once('close', (code, sig) => {
      clearTimeout(timer);
      o.signal?.removeEventListener('abort', onAbort);
      // The group may hold more than the leader (a checker's background job): end it too.
      killGroup();
      const tail = (list: Buffer[]): string => {
        const s = Buffer.concat(list).toString('utf8');
        return s.length > OUTPUT_LIMIT ? '…' + s.slice(-OUTPUT_LIMIT) : s;
      };
      resolve({ exitCode: code, signal: sig, timedOut, stdout: tail(out), stderr: tail(err), spawnError });
    });
  });
}

