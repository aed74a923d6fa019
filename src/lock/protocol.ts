/**
 * One attempt of the marker protocol (rules 1-3 in lock.ts): make our marker, list the
 * markers, and decide whether we hold the lock or wait.
 *
 * @module
 */
import * as path from 'node:path';
import { O, type FsOps } from '../internal/fs-ops.js';
import { call, type Steps } from '../internal/steps.js';
import { randomHex } from '../internal/temp-name.js';
import { isDead, reclaim } from './holders.js';
import { markerName, orderKey, parseMarker, shortBoot, thisHost, type MarkerKind } from './markers.js';
import { locate, type Where } from './place.js';
import type { LockPlan } from './plan.js';

// This process's start time as each seam reports it (a simulated disk has its own).
const selfStarts = new WeakMap<FsOps, number>();

/** One contender's state, kept across its attempts. @internal */
export interface Attempt {
  where?: Where;
  /** Our marker's name in `where.dir`: a lock marker, or (`queued`) our place in line. */
  marker?: string;
  /** We have been in line (a writer that has not yet may pass the line: see `scan`). */
  lined?: boolean;
  order?: string;
  /**
   * After a 'wait': the markers (names in `where.dir`) whose removal may let us on: in
   * line, the writer just ahead of us; else every marker that kept us out.
   */
  waitFor: string[];
  /** When our marker's lease was last set (its creation or a refresh), ms. */
  touched?: number;
  /** Woken because one of `waitFor` went: skip the look before making a marker. */
  woken?: boolean;
  /** When the first attempt was made, ms. */
  readonly since: number;
  /** Set with a 'wait': how long to wait at most (instead of the poll interval), ms. */
  pause?: number;
}

// How long the first writer in line lets a writer that passed it keep the lock, counted
// from the start of its own wait (ms; at most retryInterval). A hand-over between
// processes costs a wake-up (about a millisecond on a busy machine, with the lock idle
// meanwhile); a process that takes the lock again right after its release costs nothing.
// Go's sync.Mutex makes the same trade (newcomers win until a waiter has waited 1 ms).
// Measured, 4 processes x 400 contended cycles: patience 0 ~4,200 cycles/s (a hand-over
// every 5-6 cycles), 20 ms ~6,400 (one every 25-30).
const PATIENCE_MS = 20;

interface Scan {
  /** Our marker is in the listing. */
  mine: boolean;
  /**
   * Live lock markers that keep us out, by name; '' for one in another place
   * (`where.also`), which counts but cannot be watched (the poll finds it gone).
   */
  blockers: string[];
  /**
   * Writers to let go first, holding or in line: for a writer the earlier ones, for a
   * reader all of them (writer preference).
   */
  ahead: { readonly name: string; readonly order: string }[];
}

/** Lists the markers of every place, reclaiming dead ones, and sorts the live ones. @internal */
export function* scan(plan: LockPlan, where: Where, a: Attempt, myBoot: string, fresh = false): Steps<Scan> {
  const r: Scan = { mine: false, blockers: [], ahead: [] };
  for (const place of [where, ...where.also]) {
    let entries;
    try {
      entries = yield* call('readdir', place.dir);
    } catch (e) {
      if (place !== where) continue; // the other place is optional
      throw e;
    }
    for (const e of entries) {
      const m = parseMarker(place.prefix, e.name);
      if (!m) continue;
      if (place === where && m.name === a.marker) {
        r.mine = true;
        continue;
      }
      if (plan.mode === 'shared' && m.mode === 'shared') continue;
      if (yield* isDead(plan, place, m, myBoot, fresh)) {
        yield* reclaim(plan, place, m);
        continue;
      }
      const name = place === where ? m.name : '';
      if (m.mode !== 'queued') r.blockers.push(name);
      if (m.mode === 'queued' && plan.mode === 'exclusive' && !a.lined) continue;
      if (m.mode !== 'shared' && (plan.mode === 'shared' || (a.order !== undefined && m.order < a.order))) r.ahead.push({ name, order: m.order });
    }
  }
  return r;
}

/**
 * What a waiter watches: a writer, only the writer just ahead of it (so a release wakes
 * one waiter, not the whole line); a reader, every writer ahead.
 */
function waitList(plan: LockPlan, ahead: Scan['ahead']): string[] {
  if (plan.mode === 'shared') return ahead.map((w) => w.name);
  let last = ahead[0]!;
  for (const w of ahead) if (w.order > last.order) last = w;
  return [last.name];
}

/** Whether our marker is a `queued` one: we wait in line, and keep no writer out. */
function inLine(where: Where, a: Attempt): boolean {
  return a.marker?.startsWith(`${where.prefix}queued-`) === true;
}

/** Renames our marker to `kind` (a lock marker into the line, or back). */
function* recast(where: Where, a: Attempt, kind: MarkerKind): Steps<void> {
  const from = a.marker!;
  const to = markerName(where.prefix, { ...parseMarker(where.prefix, from)!, mode: kind });
  try {
    yield* call('rename', path.join(where.dir, from), path.join(where.dir, to));
  } catch {
    a.marker = undefined; // reclaimed meanwhile: the next attempt makes a new one, keeping our order key
    return;
  }
  a.marker = to;
  if (kind === 'queued') a.lined = true;
}

/**
 * A waiting marker is a lease too: refresh it, or after `stale` others would reclaim it and
 * we would lose our place (and hold with a lease already expired). Not on every attempt: a
 * quarter of `stale` is fresh enough, and each refresh is a system call.
 */
function* refreshLease(plan: LockPlan, where: Where, a: Attempt, marker: string, now: number): Steps<void> {
  if (now - (a.touched ?? 0) > plan.stale / 4) {
    try {
      yield* call('utimes', path.join(where.dir, marker), now, now);
      a.touched = now;
    } catch {
      a.marker = undefined; // reclaimed: make a new one, keeping our order key
    }
  }
}

/** Makes our marker (rule 1: made before the listing that decides), with the order key of our first attempt. */
function* makeMarker(plan: LockPlan, where: Where, a: Attempt, myBoot: string, now: number): Steps<void> {
  let selfStart = selfStarts.get(plan.ops);
  if (selfStart === undefined) selfStarts.set(plan.ops, (selfStart = (yield* call('processStart', process.pid)) ?? 0));
  // The first order key is kept across withdrawals: writers are served first come,
  // first served, not whoever happens to retry at the right moment.
  a.order ??= orderKey(Date.now(), randomHex(plan.random).slice(0, 8));
  const name = markerName(where.prefix, {
    mode: plan.mode,
    pid: process.pid,
    hostName: thisHost(),
    boot: myBoot,
    start: selfStart,
    order: a.order,
  });
  const fd = yield* call('open', path.join(where.dir, name), O.WRONLY | O.CREAT | O.EXCL | O.CLOEXEC, 0o644);
  a.marker = name;
  a.touched = now;
  yield* call('close', fd);
}

/**
 * One attempt: make sure our marker exists (and its lease is fresh), list, decide.
 *
 * A writer that must let an earlier writer go first does not drop its marker: it renames
 * it into the line (`queued`) and waits for the writer just ahead. Woken, it looks: while
 * writers are still ahead it waits for the new one just ahead; first in line, it renames
 * its marker back into a lock marker (the same as making one) and contends. A release
 * thus wakes the next waiter (and that rename the one behind it, which looks and waits
 * again), not the whole line.
 *
 * @internal
 */
export function* attempt(plan: LockPlan, a: Attempt): Steps<'held' | 'wait'> {
  const where = (a.where ??= yield* locate(plan));
  const myBoot = shortBoot(yield* call('bootId'));
  const now = Date.now();
  const woken = a.woken;
  a.woken = false;
  if (a.marker) yield* refreshLease(plan, where, a, a.marker, now);
  if (inLine(where, a)) {
    const peek = yield* scan(plan, where, a, myBoot);
    if (peek.ahead.length > 0) {
      a.waitFor = waitList(plan, peek.ahead);
      return 'wait';
    }
    // First in line. A writer that passed the line holds the lock: let it run on until we
    // have waited PATIENCE_MS (at most retryInterval) before we contend, and so make it
    // queue behind us. Not woken by its releases meanwhile: it takes the lock again at
    // once, and a look after each of them would only cost both of us.
    const patience = Math.min(PATIENCE_MS, plan.retryInterval) - (now - a.since);
    if (peek.blockers.length > 0 && patience > 0) {
      a.waitFor = [];
      a.pause = patience;
      return 'wait';
    }
    yield* recast(where, a, plan.mode); // contend
  } else if (!a.marker && a.order !== undefined && !woken) {
    // A reader that withdrew (or a writer whose marker was reclaimed). Look first: while
    // a writer is ahead we would only withdraw again, and a marker made and removed on
    // every wake-up would wake every waiter watching it for nothing.
    const peek = yield* scan(plan, where, a, myBoot);
    if (peek.ahead.length > 0) {
      a.waitFor = waitList(plan, peek.ahead);
      return 'wait';
    }
  }
  if (!a.marker) yield* makeMarker(plan, where, a, myBoot, now);
  const r = yield* scan(plan, where, a, myBoot);
  // Our own marker must still be there: if it was reclaimed meanwhile, we hold nothing.
  if (!r.mine) {
    a.marker = undefined;
    a.waitFor = r.blockers;
    return 'wait';
  }
  if (r.blockers.length === 0 && r.ahead.length === 0) return 'held';
  if (r.ahead.length === 0) {
    // First in line, but others' lock markers are there: later writers about to queue
    // behind us, readers about to withdraw, or a holder that came in before our marker.
    a.waitFor = r.blockers;
    return 'wait';
  }
  a.waitFor = waitList(plan, r.ahead);
  if (plan.mode === 'exclusive') yield* recast(where, a, 'queued');
  else yield* dropMarker(where, a);
  return 'wait';
}

/** Removes our marker, if we have one: a reader withdrawing, or an acquisition given up. @internal */
export function* dropMarker(where: Where, a: Attempt): Steps<void> {
  const name = a.marker;
  if (!name) return;
  a.marker = undefined;
  try {
    yield* call('unlink', path.join(where.dir, name));
  } catch {
    // Already gone (reclaimed): nothing to drop.
  }
}
