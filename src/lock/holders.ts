/**
 * Dead holders: whether a marker's holder is gone, and the removal of its marker.
 *
 * @module
 */
import * as path from 'node:path';
import type { FileStat, FsOps } from '../internal/fs-ops.js';
import { call, type Steps } from '../internal/steps.js';
import { randomHex } from '../internal/temp-name.js';
import { LOG_EVENTS } from '../logger.js';
import { thisHost, type Marker } from './markers.js';
import type { LockPlan } from './plan.js';

// Holders of this host seen alive, by `pid start`, and when (ms). Waiters list the folder on
// every wake-up; a process seen alive a moment ago is taken as still alive instead of
// reading /proc again. The cost: a holder that dies is reclaimed up to ALIVE_MS later.
const aliveBySeam = new WeakMap<FsOps, Map<string, number>>();
const ALIVE_MS = 5;

/**
 * A marker with content (`atomfs lock` writes one byte into its own) is held by a process
 * tree: its descriptor on the marker is inherited by the command and everything the command
 * starts, as flock(1)'s lock lives on a descriptor. Its named process (the CLI) may be gone
 * while the command runs on: the lock is alive while any process of this host holds the
 * marker open. The holders found are remembered, so while one of them lives no scan of
 * every process is needed; when all have gone, one more scan finds any child they left.
 */
const treeHolders = new Map<string, { pid: number; start: number | null }[]>();

function* heldByTree(marker: string): Steps<boolean> {
  let st: FileStat;
  try {
    st = yield* call('lstat', marker);
  } catch {
    treeHolders.delete(marker);
    return false;
  }
  if (st.size === 0) return false;
  for (const h of treeHolders.get(marker) ?? []) {
    const now = yield* call('processStart', h.pid);
    if (now !== null && (h.start === null || now === 0 || now === h.start)) return true;
  }
  const pids = yield* call('fileHolders', marker);
  if (pids.length === 0) {
    treeHolders.delete(marker);
    return false;
  }
  if (treeHolders.size >= 64) treeHolders.clear(); // bounded: only live locks matter
  const found: { pid: number; start: number | null }[] = [];
  for (const pid of pids.slice(0, 8)) found.push({ pid, start: yield* call('processStart', pid) });
  treeHolders.set(marker, found);
  return true;
}

/** Whether the holder of marker `m` (in `where.dir`) is gone: by its process on this host, by its lease elsewhere. @internal */
export function* isDead(plan: LockPlan, where: { readonly dir: string }, m: Marker, myBoot: string, fresh: boolean): Steps<boolean> {
  if (!plan.leaseOnly && m.hostName === thisHost()) {
    // Same host: the process decides, at once.
    if (m.boot !== myBoot && myBoot !== '0' && m.boot !== '0') return true;
    let seenAlive = aliveBySeam.get(plan.ops);
    if (!seenAlive) aliveBySeam.set(plan.ops, (seenAlive = new Map()));
    const key = `${m.pid} ${m.start}`;
    const now = Date.now();
    const seen = seenAlive.get(key);
    if (!fresh && seen !== undefined && now - seen <= ALIVE_MS) return false;
    const start = yield* call('processStart', m.pid);
    let dead = start === null || (start !== 0 && m.start !== 0 && start !== m.start);
    if (dead) dead = !(yield* heldByTree(path.join(where.dir, m.name)));
    if (dead) seenAlive.delete(key);
    else {
      if (seenAlive.size >= 256) seenAlive.clear(); // bounded: only recent verdicts matter
      seenAlive.set(key, now);
    }
    return dead;
  }
  try {
    const st = yield* call('lstat', path.join(where.dir, m.name));
    return Date.now() - st.mtimeMs > plan.stale;
  } catch {
    return true; // gone already
  }
}

/** Removes a dead holder's marker, so that of several reclaimers exactly one does. @internal */
export function* reclaim(plan: LockPlan, where: { readonly dir: string; readonly prefix: string }, m: Marker): Steps<void> {
  // Rename to a private name first: of several reclaimers exactly one succeeds, the others
  // see ENOENT. Marker names are unique per acquisition, so this can only ever remove the
  // dead holder's marker, never a live one that took its place.
  const privateName = path.join(where.dir, `${where.prefix}reclaim-${randomHex(plan.random)}`);
  try {
    yield* call('rename', path.join(where.dir, m.name), privateName);
  } catch {
    return;
  }
  plan.logger.warn({ targetPath: plan.given, operation: 'lock', holderPid: m.pid, holderHost: m.hostName }, LOG_EVENTS.lockReclaimed);
  try {
    yield* call('unlink', privateName);
  } catch {
    // A leftover reclaim file is not a marker and blocks nobody.
  }
}
