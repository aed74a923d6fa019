/**
 * Self-validating, numbered file contents for crash and concurrency tests.
 *
 * Layout (all integers big-endian):
 *
 *   "ATOMFSv1" (8) | version u64 (8) | payload length u64 (8) | payload | sha256 of all before (32)
 *
 * A reader can tell a complete version from a truncated, torn or mixed one: the length
 * must match the file size and the trailing hash must match. The payload is a pattern
 * derived from (seed, version, length), so a test can regenerate the exact bytes.
 */
import { createHash } from 'node:crypto';

export const MAGIC = Buffer.from('ATOMFSv1', 'latin1');
export const HEADER_BYTES = 24;
export const TRAILER_BYTES = 32;
/** Bytes a content has beyond its payload. */
export const OVERHEAD = HEADER_BYTES + TRAILER_BYTES;
/** The largest file the tests write: 8 MiB in all. */
export const MAX_FILE = 8 * 1024 * 1024;
export const MAX_PAYLOAD = MAX_FILE - OVERHEAD;

/** The content of `version` with a payload of `payloadLen` bytes. Deterministic. */
export function makeContent(version: number, payloadLen: number, seed = 0): Buffer {
  const buf = Buffer.allocUnsafe(OVERHEAD + payloadLen);
  MAGIC.copy(buf, 0);
  buf.writeBigUInt64BE(BigInt(version), 8);
  buf.writeBigUInt64BE(BigInt(payloadLen), 16);
  if (payloadLen > 0) {
    // A 1 KiB block unique to this version, repeated: cheap to fill 8 MiB, and a page from
    // another version never looks like this one's.
    const block = Buffer.allocUnsafe(1024);
    for (let i = 0; i < 32; i++) createHash('sha256').update(`${seed}:${version}:${payloadLen}:${i}`).digest().copy(block, i * 32);
    buf.fill(block, HEADER_BYTES, HEADER_BYTES + payloadLen);
  }
  createHash('sha256').update(buf.subarray(0, HEADER_BYTES + payloadLen)).digest().copy(buf, HEADER_BYTES + payloadLen);
  return buf;
}

export type Decoded = { readonly ok: true; readonly version: number; readonly payloadLen: number } | { readonly ok: false; readonly reason: string };

/** Checks a whole file's bytes: a complete version, or why not. */
export function decode(buf: Uint8Array): Decoded {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length < OVERHEAD) return { ok: false, reason: `only ${b.length} bytes (a version has at least ${OVERHEAD})` };
  if (!b.subarray(0, 8).equals(MAGIC)) return { ok: false, reason: `bad magic ${b.subarray(0, 8).toString('hex')}` };
  const version = Number(b.readBigUInt64BE(8));
  const payloadLen = Number(b.readBigUInt64BE(16));
  if (b.length !== OVERHEAD + payloadLen) {
    return { ok: false, reason: `version ${version}: size ${b.length}, header says ${OVERHEAD + payloadLen}` };
  }
  const want = createHash('sha256').update(b.subarray(0, HEADER_BYTES + payloadLen)).digest();
  if (!want.equals(b.subarray(HEADER_BYTES + payloadLen))) return { ok: false, reason: `version ${version}: checksum mismatch (${b.length} bytes)` };
  return { ok: true, version, payloadLen };
}

/** A small seeded PRNG (mulberry32): numbers in [0, 1). */
export { seededRandom } from '../../src/internal/prng.js';

/** An integer in [lo, hi]. */
export function between(rand: () => number, lo: number, hi: number): number {
  return lo + Math.floor(rand() * (hi - lo + 1));
}

/**
 * A payload size from 0 to {@link MAX_PAYLOAD} (a file of 56 B to 8 MiB): a mix of empty,
 * tiny, medium and large, with the extremes drawn now and then.
 */
export function pickPayloadSize(rand: () => number): number {
  const r = rand();
  if (r < 0.05) return 0;
  if (r < 0.08) return MAX_PAYLOAD;
  if (r < 0.4) return between(rand, 1, 4096);
  if (r < 0.7) return between(rand, 4097, 256 * 1024);
  return between(rand, 256 * 1024 + 1, MAX_PAYLOAD);
}
