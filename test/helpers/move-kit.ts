/**
 * Helpers for the rename/move tests: cross-device folders (tmpfs mounts that are always
 * unmounted, /dev/shm), sample trees with modes, times and symlinks, snapshots that say
 * "nothing changed", self-validating items for crash tests, temp searches, a FUSE FAT
 * mount, and line reading of a child's output.
 *
 * Mounts use root.ts' mount points: ONE after hook unmounts and then removes the folder
 * (node:test in Node 20 runs a test's after hooks in the order they were registered).
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { move as moveAsync, moveSync, type MoveOptions, type MoveResult } from '../../src/index.js';
import { realOps, type AsyncFsOps, type FsOps, type SyncFsOps } from '../../src/internal/fs-ops.js';
import { spawnNode } from './child.js';
import { IS_ROOT, isMountPoint, mountPoint, mountTmpfs, unmount, type HasAfter } from './root.js';
import { DISK_ROOT } from './tmp.js';

// ---------------------------------------------------------------------------------------
// Mounts

/** A tmpfs mounted for the test, unmounted and removed after it: root.ts' mountTmpfs. */
export { mountTmpfs as mountTmpfsSafe };

/** A fresh folder under /dev/shm when that is a tmpfs on another device than the repo; removed after the test. */
export function shmDir(t: HasAfter): string | undefined {
  try {
    fs.mkdirSync(DISK_ROOT, { recursive: true });
    if (fs.statSync('/dev/shm').dev === fs.statSync(DISK_ROOT).dev) return undefined;
    const dir = fs.mkdtempSync('/dev/shm/atomfs-mv-');
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    return dir;
  } catch {
    return undefined;
  }
}

/** The other-device folders this machine offers: a tmpfs the test mounts (root) and /dev/shm. */
export function otherDevices(t: HasAfter): { label: string; dir: string }[] {
  const out: { label: string; dir: string }[] = [];
  // Room for the biggest file a test moves there (HASH_THREAD_MIN and more: 67 MiB).
  if (IS_ROOT) out.push({ label: 'a mounted tmpfs', dir: mountTmpfs(t, '160m') });
  const shm = shmDir(t);
  if (shm) out.push({ label: '/dev/shm', dir: shm });
  return out;
}

/** Why a test that needs a second device skips. */
export const NO_OTHER_DEVICE = 'no other device: needs root to mount a tmpfs, or /dev/shm on another device';

/** The first other-device folder ({@link otherDevices}), or undefined after skipping `t` with {@link NO_OTHER_DEVICE}. */
export function otherDeviceOrSkip(t: HasAfter & { skip(message?: string): void }): { label: string; dir: string } | undefined {
  const other = otherDevices(t)[0];
  if (!other) t.skip(NO_OTHER_DEVICE);
  return other;
}

/** The file systems atomfs writes big durable copies to by direct I/O (statfs magic → name). */
export const DIRECT_IO_FS: ReadonlyMap<number, string> = new Map([
  [0xef53, 'ext4'],
  [0x58465342, 'XFS'],
]);

/** Whether a FUSE FAT file system can be made and mounted here, and if not, why. */
export function fatSupport(): { ok: true } | { ok: false; why: string } {
  if (!IS_ROOT) return { ok: false, why: 'needs root to mount' };
  const have = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
  if (!fs.existsSync('/dev/fuse')) return { ok: false, why: 'no /dev/fuse (the kernel has no vfat here, and no FUSE either)' };
  if (!have('mkfs.vfat')) return { ok: false, why: "mkfs.vfat missing (Debian package 'dosfstools')" };
  if (!have('fusefat')) return { ok: false, why: "fusefat missing (Debian package 'fusefat')" };
  return { ok: true };
}

/**
 * Makes a FAT image on the repo's file system and mounts it read-write with fusefat (FUSE;
 * the kernel here may have no vfat driver). The FUSE daemon runs in the foreground as our
 * child: after the test the file system is unmounted, the daemon reaped (SIGKILL if it
 * lingers), and the image and mount point removed.
 */
export async function mountFat(t: HasAfter, sizeMiB = 16): Promise<string> {
  const { mnt } = mountPoint(t);
  const img = `${mnt}.img`;
  let daemon: ChildProcess | undefined;
  t.after(async () => {
    if (isMountPoint(mnt)) unmount(mnt);
    if (daemon && daemon.exitCode === null && daemon.signalCode === null) {
      const gone = new Promise<void>((resolve) => daemon!.once('exit', () => resolve()));
      const timer = setTimeout(() => daemon!.kill('SIGKILL'), 3_000);
      await gone;
      clearTimeout(timer);
    }
    fs.rmSync(img, { force: true });
  });
  fs.writeFileSync(img, '');
  fs.truncateSync(img, sizeMiB * 1024 * 1024);
  execFileSync('mkfs.vfat', [img], { stdio: 'ignore', timeout: 20_000 });
  // fusefat logs every cluster it touches on stderr. Into a file, never a pipe: a test
  // blocked in a synchronous call on the mount cannot drain a pipe, and fusefat, blocked
  // writing to a full one, would never answer that call.
  const log = `${mnt}.log`;
  t.after(() => fs.rmSync(log, { force: true }));
  const logFd = fs.openSync(log, 'w');
  try {
    daemon = spawn('fusefat', ['-f', '-o', 'rw+', img, mnt], { stdio: ['ignore', 'ignore', logFd] });
  } finally {
    fs.closeSync(logFd);
  }
  const tail = (): string => fs.readFileSync(log, 'utf8').slice(-2000);
  const started = Date.now();
  while (!isMountPoint(mnt)) {
    if (daemon.exitCode !== null || daemon.signalCode !== null) throw new Error(`fusefat exited (${daemon.exitCode ?? daemon.signalCode}): ${tail()}`);
    if (Date.now() - started > 10_000) throw new Error(`fusefat did not mount within 10 s: ${tail()}`);
    await sleep(20);
  }
  return mnt;
}

// ---------------------------------------------------------------------------------------
// Trees and snapshots

/** A fixed old time (ms) the sample trees carry, so "times kept" is visible. */
export const OLD_MS = Date.UTC(2020, 0, 2, 3, 4, 5, 678);

/**
 * Builds a sample tree under `root` (which must not exist): nested folders, an empty
 * folder, files of several modes and sizes, a relative and an absolute symlink, a broken
 * symlink; every entry gets its own old modification time.
 */
export function makeTree(root: string, seed = 'tree', big = 0): void {
  fs.mkdirSync(path.join(root, 'a', 'b', 'c'), { recursive: true });
  fs.mkdirSync(path.join(root, 'empty'));
  fs.mkdirSync(path.join(root, 'a', 'empty-too'));
  fs.writeFileSync(path.join(root, 'top.txt'), `${seed} top\n`);
  fs.writeFileSync(path.join(root, 'a', 'one.bin'), Buffer.alloc(3000 + big, seed.length));
  fs.writeFileSync(path.join(root, 'a', 'b', 'two.txt'), `${seed} two\n`.repeat(50));
  fs.writeFileSync(path.join(root, 'a', 'b', 'c', 'run.sh'), '#!/bin/sh\necho hi\n');
  fs.writeFileSync(path.join(root, 'a', 'b', 'c', 'zero'), '');
  fs.symlinkSync('../top.txt', path.join(root, 'a', 'rel-link'));
  fs.symlinkSync('b/c/run.sh', path.join(root, 'a', 'rel-link2'));
  fs.symlinkSync('/etc/hostname', path.join(root, 'abs-link'));
  fs.symlinkSync('does/not/exist', path.join(root, 'broken-link'));
  fs.chmodSync(path.join(root, 'a', 'b', 'c', 'run.sh'), 0o751);
  fs.chmodSync(path.join(root, 'a', 'one.bin'), 0o640);
  fs.chmodSync(path.join(root, 'top.txt'), 0o604);
  fs.chmodSync(path.join(root, 'a', 'b'), 0o750);
  fs.chmodSync(path.join(root, 'empty'), 0o711);
  // Times deepest first (setting a child's time does not touch the parent's, but creating does).
  const all = listTree(root).reverse();
  let k = 0;
  for (const rel of all) {
    const p = path.join(root, rel);
    const ms = OLD_MS + 1000 * ++k;
    if (fs.lstatSync(p).isSymbolicLink()) fs.lutimesSync(p, ms / 1000, ms / 1000);
    else fs.utimesSync(p, ms / 1000, ms / 1000);
  }
  fs.utimesSync(root, OLD_MS / 1000, OLD_MS / 1000);
}

/**
 * Gives every entry under `to` the times of the same entry under `from` (symlinks' own,
 * deepest first): what a move's copy keeps, for a hand-made "complete copy".
 */
export function matchTimes(from: string, to: string): void {
  const isDir = fs.lstatSync(from).isDirectory();
  for (const rel of isDir ? [...listTree(from).reverse(), ''] : ['']) copyTimes(path.join(from, rel), path.join(to, rel));
}

/**
 * Gives `to` the times of `from` to the microsecond (a symlink its own): a Date would cut
 * them to the millisecond, and seconds as a plain double may land a microsecond early.
 */
export function copyTimes(from: string, to: string): void {
  const st = fs.lstatSync(from, { bigint: true });
  // The middle of the intended microsecond, as the seam's own utimes does.
  const sec = (ns: bigint): number => (Number(ns / 1000n) + 0.5) / 1e6;
  if (st.isSymbolicLink()) fs.lutimesSync(to, sec(st.atimeNs), sec(st.mtimeNs));
  else fs.utimesSync(to, sec(st.atimeNs), sec(st.mtimeNs));
}

/** Relative paths under `root`, pre-order, sorted, symlinks not followed. */
export function listTree(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string, depth: number): void => {
    if (depth > 32) throw new Error(`listTree: too deep at ${rel}`);
    for (const name of fs.readdirSync(path.join(root, rel)).sort()) {
      const r = rel ? path.join(rel, name) : name;
      out.push(r);
      if (fs.lstatSync(path.join(root, r)).isDirectory()) walk(r, depth + 1);
    }
  };
  walk('', 0);
  return out;
}

/**
 * Everything at `p` (a file, symlink or tree), one line per entry: kind, mode, size,
 * content hash or link text, and (with `times`) the modification time in whole ms (with
 * `exactTimes` in µs, symlinks' too). Two equal snapshots mean the same content.
 */
export function snapshot(p: string, opts: { times?: boolean; exactTimes?: boolean; owner?: boolean } = {}): string[] {
  const line = (full: string, rel: string): string => {
    const st = fs.lstatSync(full);
    const head = `${rel || '.'} ${(st.mode & 0o7777).toString(8)}${opts.owner ? ` ${st.uid}:${st.gid}` : ''}${opts.exactTimes ? ` t=${fs.lstatSync(full, { bigint: true }).mtimeNs / 1000n}us` : opts.times && !st.isSymbolicLink() ? ` t=${Math.trunc(st.mtimeMs)}` : ''}`;
    if (st.isSymbolicLink()) return `${head} link -> ${fs.readlinkSync(full)}`;
    if (st.isDirectory()) return `${head} dir`;
    if (st.isFile()) return `${head} file ${st.size} ${createHash('sha256').update(fs.readFileSync(full)).digest('hex').slice(0, 16)}`;
    return `${head} other`;
  };
  const st = fs.lstatSync(p);
  const out = [line(p, '')];
  if (st.isDirectory()) for (const rel of listTree(p)) out.push(line(path.join(p, rel), rel));
  return out;
}

/** Paths of atomfs temp names anywhere under `dir`: the one in real-fs.ts. */
export { tempsUnder } from './real-fs.js';

/** Whether anything (even a broken symlink) is at `p`. */
export function exists(p: string): boolean {
  try {
    fs.lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------
// Self-validating items (crash tests)

/**
 * A file's content that proves itself complete: a header naming the item and the length,
 * a body, and a SHA-256 of everything before it.
 */
export function itemContent(name: string, size: number, salt: string): Buffer {
  const head = Buffer.from(`ITEM ${name} ${salt} ${size}\n`);
  const body = Buffer.alloc(size);
  const block = createHash('sha256').update(`${name}:${salt}`).digest();
  body.fill(block);
  const all = Buffer.concat([head, body]);
  return Buffer.concat([all, Buffer.from(`\nEND ${createHash('sha256').update(all).digest('hex')}\n`)]);
}

/** Why a self-validating file is not complete, or undefined when it is. */
export function checkItemFile(p: string, expectName?: string): string | undefined {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(p);
  } catch (e) {
    return `unreadable: ${(e as Error).message}`;
  }
  const nl = buf.indexOf(10);
  const m = /^ITEM (\S+) (\S+) (\d+)$/.exec(buf.subarray(0, Math.max(0, nl)).toString());
  if (!m) return `bad header (${buf.length} bytes)`;
  if (expectName !== undefined && m[1] !== expectName) return `header names ${m[1]}, expected ${expectName}`;
  const size = Number(m[3]);
  const end = nl + 1 + size;
  const trailer = buf.subarray(end).toString();
  const want = `\nEND ${createHash('sha256').update(buf.subarray(0, end)).digest('hex')}\n`;
  if (trailer !== want) return `bad trailer or length (${buf.length} bytes, header says body ${size})`;
  return undefined;
}

/**
 * Makes a small self-validating tree: files (self-validating), a sub-folder, an empty
 * folder, a relative symlink, and a MANIFEST listing every entry.
 */
export function makeItemTree(root: string, name: string, salt: string, files = 4): void {
  fs.mkdirSync(path.join(root, 'sub', 'deeper'), { recursive: true });
  fs.mkdirSync(path.join(root, 'empty'));
  const entries: string[] = ['dir empty', 'dir sub', 'dir sub/deeper'];
  for (let i = 0; i < files; i++) {
    const rel = i % 2 === 0 ? `f${i}` : `sub/${i % 3 === 0 ? 'deeper/' : ''}f${i}`;
    fs.writeFileSync(path.join(root, rel), itemContent(`${name}/${rel}`, 512 + ((i * 7919) % 20000), salt));
    entries.push(`file ${rel}`);
  }
  fs.symlinkSync('../f0', path.join(root, 'sub', 'link'));
  entries.push('link sub/link -> ../f0');
  fs.writeFileSync(path.join(root, 'MANIFEST'), entries.sort().join('\n') + '\n');
}

/** Why a self-validating tree is not complete, or undefined when it is. */
export function checkItemTree(root: string, name: string): string | undefined {
  let manifest: string;
  try {
    manifest = fs.readFileSync(path.join(root, 'MANIFEST'), 'utf8');
  } catch (e) {
    return `no MANIFEST: ${(e as Error).message}`;
  }
  const want = manifest.trim().split('\n').sort();
  const got: string[] = [];
  for (const rel of listTree(root)) {
    if (rel === 'MANIFEST') continue;
    const st = fs.lstatSync(path.join(root, rel));
    if (st.isDirectory()) got.push(`dir ${rel}`);
    else if (st.isSymbolicLink()) got.push(`link ${rel} -> ${fs.readlinkSync(path.join(root, rel))}`);
    else {
      got.push(`file ${rel}`);
      const bad = checkItemFile(path.join(root, rel), `${name}/${rel}`);
      if (bad) return `${rel}: ${bad}`;
    }
  }
  got.sort();
  if (got.join('\n') !== want.join('\n')) return `entries differ from MANIFEST:\n  got  ${got.join(', ')}\n  want ${want.join(', ')}`;
  return undefined;
}

// ---------------------------------------------------------------------------------------
// Child output

/** Keeps every line a stream prints (a line cut short by a kill ends in ` <cut>`): the shared line reader. */
export { LineReader as Lines } from './lines.js';

/** Collects a stream's text. */
export function collectText(stream: Readable | null | undefined): () => string {
  let s = '';
  stream?.on('data', (d: Buffer | string) => (s += d.toString()));
  return () => s;
}

/** A promise of the child's 'close' (exited and output drained); call right after spawning. */
export function closed(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
}

/** Awaits `done` (from {@link closed}), killing the child with SIGKILL if it takes longer than `ms`. */
export async function reap(
  child: ChildProcess,
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null }>,
  ms: number,
): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const timer = setTimeout(() => child.kill('SIGKILL'), ms);
  try {
    return await done;
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------------------
// Seam recording

/**
 * Wraps the real seam and records, in order, every open's path (with the descriptor it
 * returned) and every fsync's path, so a test can tell which folders were fsynced. Both
 * forms of each call are recorded: with `blocking` (the default of rename, move and
 * writeFile) the cheap calls (open, rename, link, unlink...) arrive through `ops.sync`.
 */
export function fsyncRecorder(): { ops: FsOps; fsynced: string[]; events: string[] } {
  const fdPath = new Map<number, string>();
  const fsynced: string[] = [];
  const events: string[] = [];
  const opened = (p: string, fd: number): number => {
    fdPath.set(fd, p);
    return fd;
  };
  const synced = (fd: number): void => {
    const p = fdPath.get(fd) ?? `fd ${fd}`;
    fsynced.push(p);
    events.push(`fsync ${p}`);
  };
  const syncOps: SyncFsOps = {
    ...realOps.sync,
    open: (p, flags, mode) => opened(p, realOps.sync.open(p, flags, mode)),
    fsync: (fd) => {
      realOps.sync.fsync(fd);
      synced(fd);
    },
    rename: (a, b) => {
      realOps.sync.rename(a, b);
      events.push(`rename ${a} ${b}`);
    },
    unlink: (p) => {
      realOps.sync.unlink(p);
      events.push(`unlink ${p}`);
    },
    link: (a, b) => {
      realOps.sync.link(a, b);
      events.push(`link ${a} ${b}`);
    },
  };
  const asyncOps: AsyncFsOps = {
    ...realOps.async,
    open: async (p, flags, mode) => opened(p, await realOps.async.open(p, flags, mode)),
    fsync: async (fd) => {
      await realOps.async.fsync(fd);
      synced(fd);
    },
    rename: async (a, b) => {
      await realOps.async.rename(a, b);
      events.push(`rename ${a} ${b}`);
    },
    unlink: async (p) => {
      await realOps.async.unlink(p);
      events.push(`unlink ${p}`);
    },
    link: async (a, b) => {
      await realOps.async.link(a, b);
      events.push(`link ${a} ${b}`);
    },
  };
  return { ops: { sync: syncOps, async: asyncOps }, fsynced, events };
}

// ---------------------------------------------------------------------------------------
// A move as another user

/** What the move-as fixture reports. */
export interface MoveAsResult {
  readonly ok: boolean;
  readonly uid: number;
  readonly gid: number;
  readonly result?: unknown;
  readonly name?: string;
  readonly code?: string;
  readonly path?: string;
  readonly dest?: string;
  readonly syscall?: string;
  readonly message?: string;
}

/** One move for the move-as fixture to make, as `uid`/`gid`. */
export interface MoveAsRequest {
  readonly uid: number;
  readonly gid: number;
  readonly src: string;
  readonly dest: string;
  readonly options?: Record<string, unknown>;
  /** Run moveSync rather than move. */
  readonly sync?: boolean;
}

const MOVE_AS = fileURLToPath(new URL('../move/fixtures/move-as.js', import.meta.url));

/** Runs one move in a child that drops to `uid`/`gid` first; reaped in every outcome (SIGKILL after `ms`). */
export async function runMoveAs(
  t: HasAfter,
  req: MoveAsRequest,
  ms = 15_000,
): Promise<MoveAsResult> {
  const child = spawnNode(t, MOVE_AS, [JSON.stringify(req)]);
  const done = closed(child);
  const out = collectText(child.stdout);
  const err = collectText(child.stderr);
  await reap(child, done, ms);
  const line = out().split('\n').find((l) => l.startsWith('RESULT '));
  if (!line) throw new Error(`move-as printed no RESULT; stdout:\n${out()}\nstderr:\n${err()}`);
  return JSON.parse(line.slice('RESULT '.length)) as MoveAsResult;
}

/** A small seeded PRNG (xorshift32) returning floats in [0, 1); the mover fixture draws from the same one. */
export { seeded } from './xorshift.js';

/**
 * The real seam, except that the first rename matching `match` waits: `reached` resolves
 * when it is called, and it goes on (to the real rename) only after `release()`. Lets a
 * test interleave two racers deterministically.
 *
 * Only an async rename can wait. With `blocking` (the default of rename and move) the
 * rename arrives through `ops.sync` and cannot be paused: the racer must pass
 * `blocking: false`. If the first matching rename is a sync one anyway, it fails and
 * `reached` rejects, saying so, instead of the test hanging or passing without the race.
 */
export function gatedRename(match: (from: string, to: string) => boolean): { ops: FsOps; reached: Promise<void>; release: () => void } {
  let onReached!: () => void;
  let onMissed!: (e: Error) => void;
  let release!: () => void;
  const reached = new Promise<void>((res, rej) => {
    onReached = res;
    onMissed = rej;
  });
  reached.catch(() => {}); // rejects only for a test that awaits it
  const gate = new Promise<void>((r) => (release = r));
  let used = false;
  const syncOps: SyncFsOps = {
    ...realOps.sync,
    rename: (a, b) => {
      if (!used && match(a, b)) {
        used = true;
        const e = new Error(`gatedRename: the gated rename ${a} -> ${b} was made synchronously and cannot wait; pass blocking: false`);
        onMissed(e);
        throw e;
      }
      return realOps.sync.rename(a, b);
    },
  };
  const asyncOps: AsyncFsOps = {
    ...realOps.async,
    rename: async (a, b) => {
      if (!used && match(a, b)) {
        used = true;
        onReached();
        await gate;
      }
      return realOps.async.rename(a, b);
    },
  };
  return { ops: { sync: syncOps, async: asyncOps }, reached, release };
}

// ---------------------------------------------------------------------------------------
// One suite, two drivers

/** How a move suite calls the move under test: `move`, or its blocking twin wrapped in a promise. */
export interface MoveDriver {
  /** `'move'` or `'moveSync'`: the operation its errors name. */
  readonly name: 'move' | 'moveSync';
  readonly sync: boolean;
  readonly move: (src: string, dest: string, options?: MoveOptions) => Promise<MoveResult>;
}

/** Both drivers of the move step list: every move suite runs once per driver. */
export const MOVE_DRIVERS: readonly MoveDriver[] = [
  { name: 'move', sync: false, move: (src, dest, options) => moveAsync(src, dest, options) },
  {
    name: 'moveSync',
    sync: true,
    move: async (src, dest, options) => moveSync(src, dest, options),
  },
];
