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

interface Entry<T> {
  run: () => Promise<void>;
  /** What decides whether a newer call may replace this one (null: never). */
  readonly shape: T | null;
  readonly waiters: Waiter[];
}

interface Queue<T> {
  running: boolean;
  readonly waiting: Entry<T>[];
}

/** A set of per-key FIFO queues. */
export class PathQueue<T> {
  readonly #queues = new Map<string, Queue<T>>();

  /** @param same - Whether two calls' shapes agree, so the newer may replace the older. */
  constructor(private readonly same: (a: T, b: T) => boolean) {}

  /**
   * Runs `run` after every earlier call for `key`. A waiting call with a `shape` is
   * skipped in favour of a newer call whose shape is the `same`, arriving while it waits;
   * `null` never coalesces.
   */
  enqueue(key: string, shape: T | null, run: () => Promise<void>): Promise<void> {
    let q = this.#queues.get(key);
    if (!q) {
      q = { running: false, waiting: [] };
      this.#queues.set(key, q);
    }
    return new Promise<void>((resolve, reject) => {
      const waiter = { resolve, reject };
      const last = q.waiting[q.waiting.length - 1];
      if (shape !== null && last !== undefined && last.shape !== null && this.same(last.shape, shape)) {
        last.run = run;
        last.waiters.push(waiter);
      } else {
        q.waiting.push({ run, shape, waiters: [waiter] });
      }
      if (!q.running) this.#next(key, q);
    });
  }

  #next(key: string, q: Queue<T>): void {
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
