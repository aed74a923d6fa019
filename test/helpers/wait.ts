/**
 * Bounded waiting in tests: every wait has a limit and fails (or reports false) with a
 * clear message instead of hanging the suite.
 *
 * @module
 */
import { setTimeout as sleep } from 'node:timers/promises';

/** Rejects with `timed out after <ms> ms: <what>` if `p` has not settled within `limitMs`. */
export function within<T>(p: Promise<T>, limitMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${limitMs} ms: ${what}`)), limitMs);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** Polls `pred` every 5 ms for at most `limitMs`; resolves whether it came true. */
export async function until(pred: () => boolean, limitMs: number): Promise<boolean> {
  const end = Date.now() + limitMs;
  while (Date.now() < end) {
    if (pred()) return true;
    await sleep(5);
  }
  return pred();
}
