/**
 * The acquisition loop: attempts and the waits between them, run asynchronously or
 * blocking, until the lock is held or the caller gives up; and acquisition from a store.
 *
 * @module
 */
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AtomfsError, toAtomfsError, type ErrorContext } from '../errors.js';
import { sleepSync, timerDelay } from '../internal/abort.js';
import { madeHere } from '../internal/made.js';
import { runAsync, runSync, type Steps } from '../internal/steps.js';
import { Lock } from './held-lock.js';
import type { LockPlan } from './plan.js';
import { attempt, dropMarker, type Attempt } from './protocol.js';
import type { StoreDriver, StoreHold } from './store.js';
import { nextToken } from './token.js';
import { waitForRemoval } from './wake.js';

/** What the acquisition loop asks its driver for: marker work, or a wait. */
type AcquireStep =
  | { readonly kind: 'steps'; readonly steps: Steps<'held' | 'wait'> }
  | { readonly kind: 'watch'; readonly ms: number }
  | { readonly kind: 'sleep'; readonly ms: number };

/**
 * The acquisition loop, once for `lock` and `lockSync`: attempts, and between them a wait
 * (woken by the release where the seam can watch, else a jittered back-off). A driver runs
 * the attempts and the waits, asynchronously or blocking.
 */
function* acquireLoop(plan: LockPlan, a: Attempt, canWatch: boolean): Generator<AcquireStep, void, unknown> {
  const ctx: ErrorContext = { operation: plan.operation, path: plan.given };
  const deadline = plan.timeout === Infinity ? Infinity : Date.now() + plan.timeout;
  let pause = 1;
  for (;;) {
    if (plan.signal?.aborted) throw new AtomfsError('ABORT_ERR', undefined, ctx, { cause: plan.signal.reason });
    if ((yield { kind: 'steps', steps: attempt(plan, a) }) === 'held') return;
    const left = deadline - Date.now();
    if (left <= 0) throw new AtomfsError('ETIMEDOUT', `could not get a${plan.mode === 'exclusive' ? 'n exclusive' : ' shared'} lock within ${plan.timeout} ms`, ctx);
    const timer = a.pause;
    a.pause = undefined;
    if (canWatch && a.waitFor.some((n) => n !== '')) {
      // Woken the moment a marker we wait for goes; the poll (jittered, so waiters do not
      // move in step) remains for what raises no event: a dead holder, another host.
      // (A pause, `timer`, is only ever set with nothing to wait for: see `attempt`.)
      yield { kind: 'watch', ms: Math.min(left, plan.retryInterval * (0.5 + Math.random() * 0.5)) };
      continue;
    }
    if (timer !== undefined) {
      yield { kind: 'sleep', ms: Math.min(left, timer) };
      continue;
    }
    // Nothing to watch: back off from 1 ms up to retryInterval, with jitter.
    const wait = Math.min(left, pause * (0.5 + Math.random() * 0.5));
    pause = Math.min(pause * 2, plan.retryInterval);
    yield { kind: 'sleep', ms: wait };
  }
}

/** Takes a file lock: the loop driven on the event loop (woken by file watches where the seam has them). @internal */
export async function acquire(plan: LockPlan): Promise<Lock> {
  const ctx: ErrorContext = { operation: plan.operation, path: plan.given };
  const run = <T>(steps: Steps<T>): Promise<T> | T => (plan.blocking ? runSync(steps, plan.ops) : runAsync(steps, plan.ops));
  const a: Attempt = { waitFor: [], since: Date.now() };
  const loop = acquireLoop(plan, a, plan.ops.watchFile !== undefined);
  try {
    for (let input: unknown; ; ) {
      const r = loop.next(input);
      if (r.done) break;
      const step = r.value;
      input = undefined;
      if (step.kind === 'steps') input = await run(step.steps);
      else if (step.kind === 'watch') a.woken = await waitForRemoval(plan.ops, a.where!.dir, a.waitFor, step.ms, plan.signal);
      else await sleep(timerDelay(step.ms), undefined, { signal: plan.signal }).catch(() => {});
    }
    // With `blocking`, the fencing token is taken when first read (see Lock.token): an
    // acquisition whose token nobody reads costs no token I/O. Otherwise now, off the loop.
    const token = plan.mode === 'exclusive' && !plan.blocking ? await run(nextToken(a.where!)) : undefined;
    return new Lock(madeHere(plan), a.where!, path.join(a.where!.dir, a.marker!), token);
  } catch (e) {
    if (a.where) await run(dropMarker(a.where, a));
    throw toAtomfsError(e, ctx);
  }
}

/** The same loop, blocking: waits are sleeps of the thread (nothing to watch without an event loop). @internal */
export function acquireSync(plan: LockPlan): Lock {
  const ctx: ErrorContext = { operation: plan.operation, path: plan.given };
  const a: Attempt = { waitFor: [], since: Date.now() };
  const loop = acquireLoop(plan, a, false);
  try {
    for (let input: unknown; ; ) {
      const r = loop.next(input);
      if (r.done) break;
      const step = r.value;
      input = undefined;
      if (step.kind === 'steps') input = runSync(step.steps, plan.ops);
      else sleepSync(step.ms);
    }
    return new Lock(madeHere(plan), a.where!, path.join(a.where!.dir, a.marker!), undefined);
  } catch (e) {
    if (a.where) runSync(dropMarker(a.where, a), plan.ops);
    throw toAtomfsError(e, ctx);
  }
}

/** Takes a lock from a lock store, which does its own waiting. @internal */
export async function acquireFromStore(plan: LockPlan, store: StoreDriver): Promise<Lock> {
  const ctx: ErrorContext = { operation: plan.operation, path: plan.given };
  if (plan.signal?.aborted) throw new AtomfsError('ABORT_ERR', undefined, ctx, { cause: plan.signal.reason });
  let hold: StoreHold;
  try {
    hold = await store.acquire({
      name: plan.given,
      mode: plan.mode,
      timeout: plan.timeout,
      lease: plan.stale,
      retryInterval: plan.retryInterval,
      signal: plan.signal,
      operation: plan.operation,
    });
  } catch (e) {
    throw toAtomfsError(e, ctx);
  }
  return new Lock(madeHere(plan), undefined, '', hold.token, hold);
}
