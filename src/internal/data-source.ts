/**
 * Turns what a caller may pass as file data into bytes: one buffer, or a {@link ChunkSource}.
 *
 * @module
 */
import { Readable } from 'node:stream';
import { AtomfsError } from '../errors.js';
import { describe } from './paths.js';
import type { ChunkSource } from './steps.js';

/** A chunk of data: text (encoded with the call's `encoding`) or bytes. */
export type Chunk = string | ArrayBufferView;

/**
 * Data accepted by the writers: text, bytes, (async) iterables of chunks, a Node
 * `Readable`, or (asynchronously only) a web `ReadableStream`.
 */
export type WriteData = string | ArrayBufferView | Iterable<Chunk> | AsyncIterable<Chunk> | NodeJS.ReadableStream | ReadableStream<Chunk>;

/** Bytes of one chunk; EINVAL for anything that is not text or bytes. */
export function chunkBytes(chunk: unknown, encoding: BufferEncoding, operation: string, path: string): Uint8Array {
  if (typeof chunk === 'string') return Buffer.from(chunk, encoding);
  if (chunk instanceof Uint8Array) return chunk;
  if (ArrayBuffer.isView(chunk)) return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  throw new AtomfsError('EINVAL', `data chunks must be strings or bytes, got ${describe(chunk)}`, { operation, path });
}

/**
 * Normalises `data` to one buffer (strings and byte views) or a chunk source (everything
 * else). Throws EINVAL for unsupported data, before anything is touched.
 */
export function toSource(data: unknown, encoding: BufferEncoding, operation: string, path: string): Uint8Array | ChunkSource {
  if (typeof data === 'string' || ArrayBuffer.isView(data)) return chunkBytes(data, encoding, operation, path);
  const conv = (c: unknown): Uint8Array => chunkBytes(c, encoding, operation, path);
  if (data !== null && typeof data === 'object') {
    if (typeof ReadableStream !== 'undefined' && data instanceof ReadableStream) return cancellable(webSource(data, conv));
    if (data instanceof Readable) {
      const src = asyncIterSource(data[Symbol.asyncIterator](), conv);
      // return() on the iterator waits for a pending next(), which a stalled stream never
      // settles: destroy the stream itself, so its producer is released at once.
      return cancellable({ next: src.next, cancel: () => void data.destroy() });
    }
    if (Symbol.asyncIterator in data) return cancellable(asyncIterSource((data as AsyncIterable<unknown>)[Symbol.asyncIterator](), conv));
    if (Symbol.iterator in data) return iterSource((data as Iterable<unknown>)[Symbol.iterator](), conv);
  }
  throw new AtomfsError(
    'EINVAL',
    `data must be a string, bytes, an iterable or a stream, got ${describe(data)}`,
    { operation, path },
  );
}

function iterSource(it: Iterator<unknown>, conv: (c: unknown) => Uint8Array): ChunkSource {
  const nextSync = (): Uint8Array | null => {
    const r = it.next();
    return r.done ? null : conv(r.value);
  };
  return {
    nextSync,
    next: async () => nextSync(),
    cancel: () => void it.return?.(),
  };
}

function asyncIterSource(it: AsyncIterator<unknown>, conv: (c: unknown) => Uint8Array): ChunkSource {
  return {
    next: async () => {
      const r = await it.next();
      return r.done ? null : conv(r.value);
    },
    // For a Node Readable, return() destroys the stream: its producer is released.
    cancel: () => void it.return?.()?.catch(() => {}),
  };
}

function webSource(stream: ReadableStream<unknown>, conv: (c: unknown) => Uint8Array): ChunkSource {
  const reader = stream.getReader();
  return {
    next: async () => {
      const r = await reader.read();
      return r.done ? null : conv(r.value);
    },
    cancel: (reason) => void reader.cancel(reason).catch(() => {}),
  };
}

/**
 * A source whose cancel also rejects a read under way (and every later read) with the
 * reason: cancelling an async iterator only queues its return() behind a pending next(),
 * which a stalled producer never settles.
 */
function cancellable(inner: ChunkSource): ChunkSource {
  let cancelled: { reason: unknown } | undefined;
  let rejectPending: ((e: unknown) => void) | undefined;
  return {
    next: () => {
      if (cancelled) return Promise.reject(cancelled.reason);
      const read = new Promise<Uint8Array | null>((resolve, reject) => {
        rejectPending = reject;
        // Once cancelled, the inner read settling (or failing) later changes nothing.
        inner.next().then(resolve, reject);
      });
      // A read its caller gave up on (an abort raced it) may be rejected by cancel later:
      // that must not surface as an unhandled rejection.
      read.catch(() => {});
      return read;
    },
    cancel: (reason) => {
      if (cancelled) return;
      cancelled = { reason };
      rejectPending?.(reason);
      inner.cancel(reason);
    },
  };
}
