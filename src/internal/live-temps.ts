/**
 * Temps removed when the process is ended by a signal or exits mid-operation.
 *
 * A SIGINT, SIGTERM or SIGHUP mid-write used to leave the temp (hundreds of MB for a big
 * file) for `cleanupOrphans` to find an hour later. write-file-atomic removes its temps
 * with an exit handler installed per write, which is most of its CPU cost. Here one set of
 * handlers serves the whole process: installed with the first live temp, and removed once
 * none has been live for a moment (so a loop of writes pays a Map insert and delete each,
 * not four listener changes).
 *
 * On a signal: when atomfs's handler is the only listener, the live temps are unlinked
 * synchronously and the signal is raised again, so the process ends as it would have
 * (killed by that signal: 128+N to a shell). When the application listens too, the exit is
 * the application's to decide: nothing is removed then (a graceful shutdown may let the
 * writes in flight finish), and whatever is still live when the process exits goes then.
 *
 * @module
 */
import type { SyncFsOps } from './fs-ops.js';

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

interface Live {
  readonly ops: SyncFsOps;
  /** A move's temp copy may be a whole tree. */
  readonly tree: boolean;
}

const live = new Map<string, Live>();
let installed = false;
let idleTimer: NodeJS.Timeout | undefined;

/** Registers a temp (a file, or with `tree` a folder) to remove if the process ends now. */
export function trackTemp(path: string, ops: SyncFsOps, tree = false): void {
  live.set(path, { ops, tree });
  if (idleTimer !== undefined) {
    clearTimeout(idleTimer);
    idleTimer = undefined;
  }
  if (!installed) install();
}

/** The temp was published or removed: nothing to do for it any more. */
export function untrackTemp(path: string): void {
  if (!live.delete(path) || live.size > 0 || !installed || idleTimer !== undefined) return;
  // Removed a moment later, unless a new temp comes first: the next write of a loop.
  idleTimer = setTimeout(() => {
    idleTimer = undefined;
    if (live.size === 0) uninstall();
  }, 1_000);
  idleTimer.unref();
}

/** How many temps are live and whether the handlers are installed (tests). @internal */
export function liveTempState(): { readonly live: number; readonly installed: boolean } {
  return { live: live.size, installed };
}

function install(): void {
  installed = true;
  for (const s of SIGNALS) process.on(s, onSignal);
  process.on('exit', removeAll);
}

function uninstall(): void {
  installed = false;
  for (const s of SIGNALS) process.off(s, onSignal);
  process.off('exit', removeAll);
}

function onSignal(sig: NodeJS.Signals): void {
  // The application listens too: the exit is its decision ('exit' still cleans up).
  if (process.listenerCount(sig) > 1) return;
  removeAll();
  uninstall();
  // As if nobody had listened: the default action ends the process by this signal.
  process.kill(process.pid, sig);
}

function removeAll(): void {
  for (const [p, l] of live) {
    try {
      if (l.tree) removeTreeSync(l.ops, p, 0);
      else l.ops.unlink(p);
    } catch {
      // Gone already, or not ours to remove: cleanupOrphans will see it.
    }
  }
  live.clear();
}

function removeTreeSync(ops: SyncFsOps, p: string, depth: number): void {
  const st = ops.lstat(p);
  if (st.isDirectory() && depth < 64) {
    for (const d of ops.readdir(p)) {
      try {
        removeTreeSync(ops, `${p}/${d.name}`, depth + 1);
      } catch {
        // keep going: remove what can be removed
      }
    }
    ops.rmdir(p);
  } else {
    ops.unlink(p);
  }
}
