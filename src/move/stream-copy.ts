/**
 * The streamed copy of one big file across devices: one pipelined pass (read ahead, write
 * behind, in order), optionally hashing the source and reading every chunk of the copy
 * back, and with `fsync` written to the disk as it goes.
 *
 * Into ext4 and XFS, a durable copy is written with direct I/O (`O_DIRECT`): straight from
 * our buffers to the disk, past the page cache. The copy must reach the disk before it is
 * published anyway; this way it neither fills the page cache with a file's worth of dirty
 * pages (evicting what other programs use) nor copies every byte once more into it, and the
 * read-back of `verify: 'checksum'` reads what the disk holds, not the cache. Anything that
 * does not fit (an unaligned tail, a file system or descriptor that refuses direct I/O, no
 * aligned memory) goes through the page cache as before, with no loss of safety.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { codeOf } from '../errors.js';
import { MODE_REFUSED, O, type AsyncFsOps } from '../internal/fs-ops.js';
import { call, type Steps } from '../internal/steps.js';
import { ThreadedSha256 } from './sha256-thread.js';
import { errnoError } from '../internal/errno.js';

/** Chunk of a streamed copy through the page cache (and of other chunked reads). */
export const CHUNK = 1 << 20;
// How many chunks of a copy through the page cache are read ahead / written behind.
const STREAM_BUFFERS = 8;

/**
 * From this size on a file is copied across devices by {@link streamCopy}, not by one
 * kernel copy (fs.copyFile): the loop keeps the disk writing behind it, where copyFile + fsync
 * writes the whole file back only at the end (libuv's copy also truncates the new file, which
 * makes ext4 start writing it all back at close); into a tmpfs both are alike. Below it one
 * thread-pool call beats the loop's several. Figures: docs/benchmarks.md.
 */
export const STREAM_MIN = 8 * CHUNK;

/**
 * From this size on, the checksum of a streamed copy is computed on the shared SHA-256
 * thread (see sha256-thread.ts), which takes some 30 ms to start the first time: the time
 * to hash 50 MiB here.
 */
export const HASH_THREAD_MIN = 64 * CHUNK;

// With fsync, a copy through the page cache starts a flush in the background every this
// many bytes written: cp + sync (and a copy flushed only at its end) write the whole file to
// the disk after copying it; this overlaps the two (measured through move(), tmpfs to ext4:
// docs/benchmarks.md).
const FLUSH_EVERY = 64 * CHUNK;

// Direct I/O: offsets, lengths and memory aligned to this (every block size in use; the
// kernel checks the device's, 512 or 4096).
const ALIGN = 4096;
// Chunk and buffers of a direct copy. Each write is one request to the disk: ext4 and XFS
// allocate and extend the file one write at a time, so bigger requests go faster, up to
// 4 MiB (docs/benchmarks.md). Four buffers keep the next reads ahead of the disk.
const DIRECT_CHUNK = 4 << 20;
const DIRECT_BUFFERS = 4;
// File systems whose direct I/O is plain and well-trodden (statfs magic numbers).
const DIRECT_FS = new Set([
  0xef53, // ext2/3/4
  0x58465342, // XFS
]);

/** The copy read back differs from the source: `message` says where. */
export class CopyMismatch extends Error {}

/** What {@link streamCopy} needs besides the files. */
export interface StreamCopyOptions {
  /** Flush the copy to the disk before it is closed (and keep the disk writing behind). */
  readonly fsync: boolean;
  /** Hash the source (SHA-256) and read every chunk of the copy back and compare it. */
  readonly check: boolean;
  /**
   * With `check`, hash on the shared SHA-256 thread, not on the event loop (see
   * sha256-thread.ts): for big files, which pay for the thread's start-up once.
   */
  readonly hashThread?: boolean | undefined;
  /** The mode the copy gets (a caller may hold set-id bits back until it has set the owner). */
  readonly mode: number;
  /** Try direct I/O for the copy (see {@link directIoFits}). */
  readonly direct: boolean;
  /** Throws when the copy must stop (an aborted signal); called between chunks. */
  readonly abortPoint: () => void;
  /** Counts bytes copied (and checked). */
  readonly progress: { bytes: number };
  readonly report: () => void;
  /** Runs after the last write and the mode, before the fsync (the owner and times of the copy, say). */
  readonly beforeSync?: (() => Promise<void>) | undefined;
}

/** What {@link streamCopy} did. */
export interface StreamCopyResult {
  /** Bytes read from the source and written. */
  readonly bytes: number;
  /** The copy's size as the file system reports it. */
  readonly size: number;
  /** SHA-256 (hex) of the source as read, with `check`. */
  readonly sha256: string | undefined;
}

/** What kind of file system `dir` is on (its statfs magic number), or `undefined` if it cannot be told. */
export function* fsTypeOf(dir: string): Steps<number | undefined> {
  try {
    return (yield* call('statfs', dir)).type;
  } catch {
    return undefined;
  }
}

/**
 * Whether a durable copy onto a file system of this type (see {@link fsTypeOf}) should be
 * written with direct I/O: the platform has `O_DIRECT` and the type is ext4 or XFS.
 * Elsewhere (a tmpfs has no disk to write past the cache to; btrfs, network and FUSE file
 * systems each treat it their own way) the page cache is used.
 */
export function directIoFits(type: number | undefined): boolean {
  return O.DIRECT !== 0 && type !== undefined && DIRECT_FS.has(type);
}

// File systems that keep their files in memory (statfs magic numbers): tmpfs, ramfs.
const MEMORY_FS = new Set([0x01021994, 0x858458f6]);

/**
 * Whether a file system of this type keeps its files in memory (tmpfs, ramfs). Such a file
 * system has no disk to keep writing behind a copy, so the pipelined copy has nothing to
 * overlap: the kernel's copy (sendfile from the source's page cache: one memory copy where a
 * read and a write make two) is the faster one (docs/benchmarks.md).
 */
export function keptInMemory(type: number | undefined): boolean {
  return type !== undefined && MEMORY_FS.has(type);
}

/**
 * Copies `from` into a new file `to` in one pipelined pass: the next chunk is read while
 * the previous ones are written, in order; with `fsync` the copy reaches the disk before it
 * is closed (directly, or kept writing behind the copy with a flush every 64 MiB). The copy
 * gets `o.mode`.
 *
 * With `check` (verify: 'checksum') the source is hashed as read (SHA-256, returned) and
 * each chunk written is read back from the copy and compared with the source's bytes, byte
 * for byte: stronger than comparing the source's hash with a hash of the copy, and one
 * SHA-256 pass cheaper (that second pass held the copy to half the speed of cp). A chunk
 * written directly is read back directly: from the disk, not from a cache. With
 * `hashThread` the hash is computed on the shared SHA-256 thread (sha256-thread.ts), off the
 * event loop, which it otherwise keeps busy (docs/benchmarks.md).
 * @throws CopyMismatch when a chunk read back differs or is short.
 */
export async function streamCopy(sys: AsyncFsOps, from: string, to: string, o: StreamCopyOptions): Promise<StreamCopyResult> {
  // Read-write when each chunk is read back from the copy once written.
  const access = o.check ? O.RDWR : O.WRONLY;
  const rfd = await sys.open(from, O.RDONLY | O.CLOEXEC, 0);
  const r = await closing(sys, rfd, async () => {
    // The temp is created through the page cache, exclusively. With direct I/O its writes go
    // through a second descriptor; the first, appending, takes whatever the direct one
    // cannot (the unaligned tail) at the end of the file.
    const fd = await sys.open(to, access | O.CREAT | O.EXCL | O.NOFOLLOW | O.CLOEXEC | (o.direct ? O.APPEND : 0), 0o600);
    return closing(sys, fd, async () => {
      const memory = o.direct ? takeAligned() : undefined;
      const dfd = memory ? await openDirect(sys, to, access, fd) : undefined;
      if (dfd === undefined) {
        if (memory) giveAligned(memory);
        return pump(sys, rfd, { fd, dfd: undefined, memory: undefined }, o);
      }
      try {
        return await closing(sys, dfd, () => pump(sys, rfd, { fd, dfd, memory }, o));
      } finally {
        giveAligned(memory!);
      }
    });
  });
  return r;
}

/**
 * A second descriptor of the temp `fd` was just created as, opened for direct I/O, or
 * `undefined` where that is refused (EINVAL: the file system has no direct I/O) or the name
 * no longer leads to the same file.
 */
async function openDirect(sys: AsyncFsOps, to: string, access: number, fd: number): Promise<number | undefined> {
  let dfd: number;
  try {
    dfd = await sys.open(to, access | O.DIRECT | O.NOFOLLOW | O.CLOEXEC, 0);
  } catch {
    return undefined;
  }
  try {
    const [a, b] = await Promise.all([sys.fstat(fd), sys.fstat(dfd)]);
    if (a.dev === b.dev && a.ino === b.ino) return dfd;
  } catch {
    // Not usable: the copy goes through `fd` alone.
  }
  await sys.close(dfd).catch(() => {});
  return undefined;
}

/** Where {@link pump} writes: the temp, and with direct I/O its direct descriptor and aligned memory. */
interface Sink {
  readonly fd: number;
  readonly dfd: number | undefined;
  readonly memory: Buffer | undefined;
}

/** The loop of {@link streamCopy}. Every call in flight is settled before it returns or throws. */
async function pump(
  sys: AsyncFsOps,
  rfd: number,
  sink: Sink,
  o: StreamCopyOptions,
): Promise<StreamCopyResult> {
  const { fd, dfd, memory } = sink;
  const chunk = memory ? DIRECT_CHUNK : CHUNK;
  const count = memory ? DIRECT_BUFFERS : STREAM_BUFFERS;
  // Direct writes go on while every chunk is aligned. The first one that is not (the tail)
  // goes directly up to its last whole block and through `fd` for the rest; that, or a
  // direct write refused (EINVAL), sends every later chunk through `fd`, which appends:
  // the file always ends where the last write ended.
  let direct = dfd !== undefined;
  let reading: Promise<number> | undefined;
  let writing: Promise<number | undefined> = Promise.resolve(undefined);
  let checking: Promise<void> = Promise.resolve();
  // A flush started in the background while the copy goes on (see FLUSH_EVERY).
  let flushing: Promise<void> = Promise.resolve();
  let unflushed = 0;
  // The first failure, wherever it happened: queued writes and read-backs see it and stop.
  const state: { failed?: { e: unknown } } = {};
  const fail = (): void => {
    if (state.failed) throw state.failed.e;
  };
  // The chunks hashed on the SHA-256 thread must be in shared memory: direct I/O's aligned
  // memory is; otherwise the buffers are carved from a SharedArrayBuffer.
  const threaded = o.check && o.hashThread === true;
  const shared = threaded && !memory ? Buffer.from(new SharedArrayBuffer(count * chunk)) : undefined;
  const pool = memory ?? shared;
  const hash = o.check ? sourceHash(threaded && pool?.buffer instanceof SharedArrayBuffer ? pool.buffer : undefined) : undefined;
  // The last chunk sent to the SHA-256 thread, hashed (they are hashed in order), or failed.
  let hashing: Promise<void> = Promise.resolve();
  try {
    const bufs = Array.from({ length: count }, (_, i) => (pool ? pool.subarray(i * chunk, (i + 1) * chunk) : Buffer.allocUnsafe(chunk)));
    const inUse: Promise<unknown>[] = bufs.map(() => Promise.resolve());
    // Read-backs run one at a time (one chain): one buffer serves them all.
    const back = hash ? (memory ? memory.subarray(count * chunk, (count + 1) * chunk) : Buffer.allocUnsafe(chunk)) : undefined;
    let bi = 0;
    let pos = 0;
    reading = sys.read(rfd, bufs[0]!, 0, chunk, null);
    for (;;) {
      const n = await reading;
      reading = undefined;
      fail();
      o.abortPoint(); // between chunks: a big copy can be cancelled midway
      if (n === 0) break;
      const buf = bufs[bi]!;
      const mine = bi;
      bi = (bi + 1) % count;
      // Read ahead into the next buffer, once it is free (written, and compared).
      await inUse[bi];
      fail();
      reading = sys.read(rfd, bufs[bi]!, 0, chunk, null);
      // Hashed here, or on the thread: then the buffer stays in use until it is hashed.
      const hashed = hash?.update(buf, n)?.catch((e: unknown) => void (state.failed ??= { e }));
      if (hashed) hashing = hashed;
      const at = pos;
      pos += n;
      // Write behind, in order. Resolves to how many of the chunk's bytes (its head) went
      // by direct I/O; the rest went through the page cache.
      const written = writing.then(async (): Promise<number | undefined> => {
        if (state.failed) return undefined;
        try {
          // An unaligned chunk (the tail) is written directly up to its last whole block.
          let head = direct ? n - (n % ALIGN) : 0;
          if (head < n) direct = false;
          for (let off = 0; off < n; ) {
            const viaDirect = off < head;
            let w: number;
            try {
              w = await sys.write(viaDirect ? dfd! : fd, buf, off, (viaDirect ? head : n) - off);
            } catch (e) {
              if (!viaDirect || codeOf(e) !== 'EINVAL') throw e;
              // Direct I/O refused after all (alignment, or a file system that only says
              // so now): nothing of this call was written; go on through the page cache.
              direct = false;
              head = off;
              continue;
            }
            if (w <= 0) throw errnoError('ENOSPC', 'no space left on device', 'write');
            off += w;
          }
          unflushed += n - head;
          if (o.fsync && unflushed >= FLUSH_EVERY) {
            // One flush at a time, never awaited here: the disk writes what is done while
            // the copy goes on, and the last fsync has little left to do. A failed flush
            // fails the copy (and is never retried: see `seal` in write/core.ts).
            unflushed = 0;
            flushing = flushing.then(() =>
              state.failed ? undefined : sys.fsync(fd).catch((e: unknown) => void (state.failed ??= { e })),
            );
          }
          if (!back) {
            o.progress.bytes += n;
            o.report();
          }
          return head;
        } catch (e) {
          state.failed ??= { e };
          return undefined;
        }
      });
      writing = written;
      if (!back) {
        inUse[mine] = written;
        continue;
      }
      // Once written, the chunk is read back from the copy, each part through the
      // descriptor that wrote it, and compared, in a second chain, so the next write need
      // not wait for that.
      checking = Promise.all([checking, written]).then(async ([, head]) => {
        if (state.failed || head === undefined) return;
        try {
          for (let got = 0; got < n; ) {
            const viaDirect = got < head;
            const r = await sys.read(viaDirect ? dfd! : fd, back, got, (viaDirect ? head : n) - got, at + got);
            if (r <= 0) throw new CopyMismatch(`the copy is shorter than what was written to it (${at + got} bytes)`);
            got += r;
          }
          if (!back.subarray(0, n).equals(buf.subarray(0, n))) {
            let i = 0;
            while (back[i] === buf[i]) i++;
            throw new CopyMismatch(`the copy read back differs from the source at byte ${at + i}`);
          }
          o.progress.bytes += n;
          o.report();
        } catch (e) {
          state.failed ??= { e };
        }
      });
      inUse[mine] = hashed ? Promise.all([checking, hashed]) : checking;
    }
    await writing;
    await checking;
    await hashing;
    await flushing;
    fail();
    const sha256 = hash ? await hash.digest() : undefined;
    // Mode before the flush, so the fsync covers it too. One fsync covers both descriptors
    // (it is the file's): the page cache's part, the metadata of the direct writes, and the
    // disk's own cache.
    await sys.fchmod(fd, o.mode).catch((e: unknown) => {
      // A file system that keeps no modes (FAT): the copy keeps the one it has there.
      if (!MODE_REFUSED.has((e as NodeJS.ErrnoException).code ?? '')) throw e;
    });
    if (o.beforeSync) await o.beforeSync();
    if (o.fsync) await sys.fsync(fd);
    return { bytes: pos, size: (await sys.fstat(fd)).size, sha256 };
  } catch (e) {
    // A failed read or wait: the writes and read-backs still queued must not run.
    state.failed ??= { e };
    throw e;
  } finally {
    await reading?.catch(() => 0);
    await writing;
    await checking;
    await hashing;
    await flushing;
    hash?.close();
  }
}

/** The SHA-256 of a copy's source as read: on the event loop, or on the shared thread. */
interface SourceHash {
  /** Adds `buf[0, n)`; on the thread, a promise that settles once it is hashed. */
  update(buf: Buffer, n: number): Promise<void> | undefined;
  digest(): Promise<string>;
  close(): void;
}

function sourceHash(shared: SharedArrayBuffer | undefined): SourceHash {
  if (shared) return ThreadedSha256.open(shared);
  const h = createHash('sha256');
  return {
    update: (buf, n) => void h.update(buf.subarray(0, n)),
    digest: () => Promise.resolve(h.digest('hex')),
    close: () => {},
  };
}

/**
 * The copy of {@link streamCopy} for a blocking caller, one chunk after another: read,
 * (hash,) write every byte, (read back and compare,) with `fsync` flushed once at the end.
 * A blocking call cannot overlap its reads and writes, so the pipeline has nothing to win
 * there; the guarantees are the same: exclusive create, no short write taken for done
 * (ENOSPC), the mode after the last write, `beforeSync` and the fsync before the close, and
 * with `check` every chunk read back and compared byte for byte.
 * @throws CopyMismatch when a chunk read back differs or is short.
 */
export function* copySequential(
  from: string,
  to: string,
  o: Omit<StreamCopyOptions, 'beforeSync' | 'direct' | 'hashThread'> & { readonly beforeSync?: (() => Steps<void>) | undefined },
): Steps<StreamCopyResult> {
  const rfd = yield* call('open', from, O.RDONLY | O.CLOEXEC, 0);
  return yield* closingSteps(rfd, function* () {
    const fd = yield* call('open', to, (o.check ? O.RDWR : O.WRONLY) | O.CREAT | O.EXCL | O.NOFOLLOW | O.CLOEXEC, 0o600);
    return yield* closingSteps(fd, function* () {
      const buf = Buffer.allocUnsafe(CHUNK);
      const back = o.check ? Buffer.allocUnsafe(CHUNK) : undefined;
      const hash = o.check ? createHash('sha256') : undefined;
      let pos = 0;
      for (;;) {
        o.abortPoint();
        const n = yield* call('read', rfd, buf, 0, CHUNK, null);
        if (n === 0) break;
        hash?.update(buf.subarray(0, n));
        for (let off = 0; off < n; ) {
          const w = yield* call('write', fd, buf, off, n - off);
          if (w <= 0) throw errnoError('ENOSPC', 'no space left on device', 'write');
          off += w;
        }
        if (back) {
          for (let got = 0; got < n; ) {
            const r = yield* call('read', fd, back, got, n - got, pos + got);
            if (r <= 0) throw new CopyMismatch(`the copy is shorter than what was written to it (${pos + got} bytes)`);
            got += r;
          }
          if (!back.subarray(0, n).equals(buf.subarray(0, n))) {
            let i = 0;
            while (back[i] === buf[i]) i++;
            throw new CopyMismatch(`the copy read back differs from the source at byte ${pos + i}`);
          }
        }
        pos += n;
        o.progress.bytes += n;
        o.report();
      }
      try {
        yield* call('fchmod', fd, o.mode);
      } catch (e) {
        // A file system that keeps no modes (FAT): the copy keeps the one it has there.
        if (!MODE_REFUSED.has(codeOf(e) ?? '')) throw e;
      }
      if (o.beforeSync) yield* o.beforeSync();
      // Never retried (see `seal` in write/core.ts).
      if (o.fsync) yield* call('fsync', fd);
      return { bytes: pos, size: (yield* call('fstat', fd)).size, sha256: hash?.digest('hex') };
    });
  });
}

/** {@link closing} as a step list. */
export function* closingSteps<T>(fd: number, fn: () => Steps<T>): Steps<T> {
  let r: T;
  try {
    r = yield* fn();
  } catch (e) {
    try {
      yield* call('close', fd);
    } catch {
      // Never hides fn's error.
    }
    throw e;
  }
  yield* call('close', fd);
  return r;
}

/** Runs `fn`, then closes `fd`. A close that fails after `fn` failed never hides `fn`'s error. */
export async function closing<T>(sys: AsyncFsOps, fd: number, fn: () => Promise<T>): Promise<T> {
  let r: T;
  try {
    r = await fn();
  } catch (e) {
    await sys.close(fd).catch(() => {});
    throw e;
  }
  await sys.close(fd);
  return r;
}

// Memory for direct I/O must be aligned, which a Buffer's is not said to be. A WebAssembly
// memory is: it is mapped by whole pages (and a shared one is a SharedArrayBuffer). One is kept (weakly: the garbage collector may
// take it back) for the next copy; copies running at once get one each.
const ALIGNED_BYTES = (DIRECT_BUFFERS + 1) * DIRECT_CHUNK;
const WASM_PAGE = 64 * 1024;
let spare: WeakRef<Buffer> | undefined;

/** Aligned memory for one direct copy (its buffers and its read-back buffer), or `undefined`. */
function takeAligned(): Buffer | undefined {
  const kept = spare?.deref();
  spare = undefined;
  if (kept) return kept;
  try {
    // (Not in this project's type libraries: node has it unless run with --jitless.)
    type Memory = new (d: { initial: number; maximum: number; shared?: boolean }) => { buffer: ArrayBuffer | SharedArrayBuffer };
    const wasm = (globalThis as { WebAssembly?: { Memory: Memory } }).WebAssembly;
    if (!wasm) return undefined;
    const pages = ALIGNED_BYTES / WASM_PAGE;
    // Shared, so that the SHA-256 thread can read its chunks in place (a checksum copy).
    try {
      return Buffer.from(new wasm.Memory({ initial: pages, maximum: pages, shared: true }).buffer);
    } catch {
      return Buffer.from(new wasm.Memory({ initial: pages, maximum: pages }).buffer);
    }
  } catch {
    // No WebAssembly (node --jitless) or no address space for it: no direct I/O.
    return undefined;
  }
}

function giveAligned(memory: Buffer): void {
  spare = new WeakRef(memory);
}
