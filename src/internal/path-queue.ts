/**
 * Per-path ordering with coalescing (write-file-atomic's queue + steno's Writer).
 *
 * Calls for one key run one at a time, in call order. A call that waits behind a running
 * one may be *superseded*: when a newer coalescable call arrives while an older
 * coalescable one is still waiting, only the newer runs, and the older call settles with
 * the newer one's outcome. The last call always runs, so the last call wins.
 *
 * @module
 */

interface Waiter {
  resolve(): void;
  reject(e: unknown): void;
}

interface Entry {
  run: () => Promise<void>;
  /** Computes the coalescing key; only called when another call could be merged. */
  readonly shape: (() => string) | null;
  key?: string;
  readonly waiters: Waiter[];
}

interface Queue {
  running: boolean;
  readonly waiting: Entry[];
}

/** A set of per-key FIFO queues. */
export class PathQueue {
  readonly #queues = new Map<string, Queue>();

  /**
   * Runs `run` after every earlier call for `key`. A waiting call with a `shape` is
   * skipped in favour of a newer call with the same shape (the string `shape()` returns)
   * that arrives while it waits; `null` never coalesces. `shape` is only computed when a
   * call is waiting, so an uncontended call never pays for it.
   */
  enqueue(key: string, shape: (() => string) | null, run: () => Promise<void>): Promise<void> {
    let q = this.#queues.get(key);
    if (!q) {
      q = { running: false, waiting: [] };
      this.#queues.set(key, q);
    }
    return new Promise<void>((resolve, reject) => {
      const waiter = { resolve, reject };
      const last = q.waiting[q.waiting.length - 1];
      if (shape !== null && last?.shape && (last.key ??= last.shape()) === shape()) {
        last.run = run;
        last.waiters.push(waiter);
      } else {
        q.waiting.push({ run, shape, waiters: [waiter] });
      }
      if (!q.running) this.#next(key, q);
    });
  }

  #next(key: string, q: Queue): void {
    const entry = q.waiting.shift();
    if (!entry) {
      q.running = false;
      this.#queues.delete(key);
      return;
    }
    q.running = true;
    const done = (ok: boolean, err?: unknown): void => {
      for (const w of entry.waiters) {
        if (ok) w.resolve();
        else w.reject(err);
      }
      this.#next(key, q);
    };
    let p: Promise<void>;
    try {
      p = entry.run();
    } catch (e) {
      p = Promise.reject(e);
    }
    p.then(
      () => done(true),
      (e) => done(false, e),
    );
  }
}
