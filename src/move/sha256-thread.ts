/**
 * SHA-256 off the event loop, for the checksum of a big streamed copy.
 *
 * Hashed on the main thread, a big copy keeps the event loop busy for the whole hash, and the
 * hash is the slowest step of the copy's pipeline (the reads, writes and read-backs run in
 * libuv's thread pool; figures in docs/benchmarks.md, "Where the copy's design comes from"). One worker
 * thread, shared by every copy of the process and started on first use, hashes the chunks
 * instead: they are in shared memory, so nothing is copied to it; the main thread only
 * sends offsets. Chunks of one hash are hashed in the order they are sent, and each
 * `update` settles once its chunk is hashed (its buffer may then be reused).
 *
 * The thread keeps the process alive only while a hash is open, and ends after
 * {@link IDLE_MS} without one. If it dies, every hash open on it fails (the copy with it).
 *
 * @module
 */
import { Worker } from 'node:worker_threads';

/** A message to the thread. */
export type HashRequest =
  | { readonly op: 'open'; readonly id: number; readonly memory: SharedArrayBuffer }
  | { readonly op: 'update'; readonly id: number; readonly offset: number; readonly length: number }
  | { readonly op: 'digest'; readonly id: number }
  | { readonly op: 'close'; readonly id: number };

/** The thread's answer to an `update` (no `hex`) or a `digest`. */
export interface HashReply {
  readonly id: number;
  readonly hex?: string;
  readonly error?: string;
}

/** An idle thread ends after this long without an open hash. */
export const IDLE_MS = 10_000;

interface Waiter {
  readonly resolve: (hex: string | undefined) => void;
  readonly reject: (e: unknown) => void;
}

/** The thread and the hashes open on it. */
interface Thread {
  readonly worker: Worker;
  readonly open: Map<number, ThreadedSha256>;
  idle: NodeJS.Timeout | undefined;
}

let current: Thread | undefined;
let nextId = 1;

function thread(): Thread {
  if (current) return current;
  const t: Thread = { worker: new Worker(new URL('./sha256-worker.js', import.meta.url)), open: new Map(), idle: undefined };
  const fail = (e: Error): void => {
    if (current === t) current = undefined;
    if (t.idle) clearTimeout(t.idle);
    for (const h of t.open.values()) h.fail(e);
    t.open.clear();
  };
  t.worker.on('message', (r: HashReply) => t.open.get(r.id)?.reply(r));
  t.worker.on('error', (e: Error) => fail(e));
  t.worker.on('exit', (code: number) => fail(new Error(`the SHA-256 thread stopped (exit code ${code})`)));
  current = t;
  return t;
}

/**
 * One SHA-256 computed by the shared thread, over chunks of one shared memory.
 *
 * @example
 * ```ts
 * const memory = new SharedArrayBuffer(1 << 20);
 * const h = ThreadedSha256.open(memory);
 * await h.update(Buffer.from(memory), n);
 * const hex = await h.digest();
 * ```
 */
export class ThreadedSha256 {
  readonly #t: Thread;
  readonly #id: number;
  readonly #memory: SharedArrayBuffer;
  readonly #waiting: Waiter[] = [];
  #failed: { e: unknown } | undefined;

  private constructor(t: Thread, id: number, memory: SharedArrayBuffer) {
    this.#t = t;
    this.#id = id;
    this.#memory = memory;
  }

  /** Opens a hash of chunks of `memory` (starting the thread on first use). */
  static open(memory: SharedArrayBuffer): ThreadedSha256 {
    const t = thread();
    const h = new ThreadedSha256(t, nextId++, memory);
    if (t.open.size === 0) {
      if (t.idle) clearTimeout(t.idle);
      t.idle = undefined;
      t.worker.ref();
    }
    t.open.set(h.#id, h);
    t.worker.postMessage({ op: 'open', id: h.#id, memory } satisfies HashRequest);
    return h;
  }

  /** Adds `buf[0, n)` to the hash; settles once it is hashed. `buf` must lie in the memory. */
  update(buf: Buffer, n: number): Promise<void> {
    if (buf.buffer !== this.#memory) throw new Error('the chunk is not in the hash memory');
    return this.#ask({ op: 'update', id: this.#id, offset: buf.byteOffset, length: n }).then(() => undefined);
  }

  /** The hex digest of everything added; the hash is closed. */
  async digest(): Promise<string> {
    const hex = await this.#ask({ op: 'digest', id: this.#id });
    this.close();
    if (hex === undefined) throw new Error('the SHA-256 thread sent no digest');
    return hex;
  }

  /** Drops the hash (idempotent). Calls still waiting settle as failed (and handled). */
  close(): void {
    if (this.#t.open.get(this.#id) !== this) return;
    this.#t.open.delete(this.#id);
    this.fail(new Error('the hash was closed'));
    if (current !== this.#t) return;
    this.#t.worker.postMessage({ op: 'close', id: this.#id } satisfies HashRequest);
    if (this.#t.open.size === 0) {
      const t = this.#t;
      t.worker.unref();
      t.idle = setTimeout(() => {
        if (current === t) current = undefined;
        void t.worker.terminate();
      }, IDLE_MS).unref();
    }
  }

  /** @internal The thread's reply to the oldest call waiting. */
  reply(r: HashReply): void {
    const w = this.#waiting.shift();
    if (!w) return;
    if (r.error !== undefined) w.reject(new Error(`SHA-256 thread: ${r.error}`));
    else w.resolve(r.hex);
  }

  /** @internal Fails every call waiting, and every later one. */
  fail(e: unknown): void {
    this.#failed ??= { e };
    for (const w of this.#waiting.splice(0)) w.reject(e);
  }

  #ask(m: HashRequest): Promise<string | undefined> {
    if (this.#failed) {
      const r = Promise.reject(this.#failed.e);
      r.catch(() => {});
      return r;
    }
    const p = new Promise<string | undefined>((resolve, reject) => this.#waiting.push({ resolve, reject }));
    // Marked handled: a caller that gave up (its copy failed) need not wait for every chunk.
    p.catch(() => {});
    this.#t.worker.postMessage(m);
    return p;
  }
}

/** Ends the thread now (tests: what a copy does when the thread dies midway). */
export async function stopSha256Thread(): Promise<void> {
  const t = current;
  if (!t) return;
  await t.worker.terminate();
}
