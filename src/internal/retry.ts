/**
 * Retry with exponential backoff, full jitter, a code predicate and an AbortSignal
 * (atomically's retryify, with the deadline expressed as a count).
 *
 * @module
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { sleepSync, timerDelay } from './abort.js';

export interface RetryPolicy {
  /** Attempts after the first. */
  readonly retries: number;
  readonly isRetriable: (err: unknown) => boolean;
  readonly signal?: AbortSignal | undefined;
  /** First delay (ms). */
  readonly minDelay: number;
  /** Largest delay (ms). */
  readonly maxDelay: number;
}

/**
 * Runs `fn` until it succeeds, fails with a non-retriable error, or runs out of attempts.
 * A signal that fires during a back-off ends it at once: the wait rejects with the timer's
 * `AbortError` (code `ABORT_ERR`, cause the signal's reason), and no attempt follows.
 */
export async function retry<T>(fn: () => Promise<T>, policy: RetryPolicy): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      if (attempt >= policy.retries || !policy.isRetriable(e) || policy.signal?.aborted) throw e;
      await sleep(timerDelay(backoff(policy, attempt)), undefined, { signal: policy.signal });
    }
  }
}

/** The wait before attempt `attempt + 1`: exponential, capped, with full jitter. */
function backoff(policy: RetryPolicy, attempt: number): number {
  const cap = Math.min(policy.maxDelay, policy.minDelay * 2 ** attempt);
  // Full jitter: processes that collided once do not collide again in lockstep.
  return cap / 2 + Math.random() * (cap / 2);
}

/** {@link retry}, blocking: the thread sleeps between attempts; the signal is checked before each. */
export function retrySync<T>(fn: () => T, policy: RetryPolicy): T {
  for (let attempt = 0; ; attempt++) {
    try {
      return fn();
    } catch (e) {
      if (attempt >= policy.retries || !policy.isRetriable(e) || policy.signal?.aborted) throw e;
      sleepSync(backoff(policy, attempt));
    }
  }
}
