/**
 * Temp-file names: `.<basename>.<16 lowercase hex>.tmp` (seed 004), next to the target.
 *
 * A long basename is shortened inside the temp name (at a UTF-8 character boundary) so
 * the name never exceeds 255 bytes, the name limit of every common Linux file system;
 * {@link TEMP_NAME_RE} still matches the shortened form.
 *
 * @module
 */
import { randomFillSync } from 'node:crypto';

/** The longest file name, in bytes, on ext4, xfs, btrfs, tmpfs and most others. */
const NAME_MAX = 255;

/**
 * What every atomfs temp name looks like: a leading dot, any text, a dot, 16 lowercase
 * hex digits and `.tmp`. The README documents this pattern; a test checks the two agree.
 */
export const TEMP_NAME_RE = /^\..+\.[0-9a-f]{16}\.tmp$/s;

const SUFFIX_BYTES = 1 + 16 + 4; // ".<hex>.tmp"

/** Fills a buffer with random bytes. Injectable so tests can force name collisions. */
export type RandomSource = (bytes: Uint8Array) => void;

// Random bytes are drawn from the CSPRNG in blocks: one syscall per 512 names, not per name.
const pool = Buffer.allocUnsafe(4096);
let poolPos = pool.length;

/** The default random source: crypto-strong, pooled. */
export const cryptoRandom: RandomSource = (bytes) => {
  if (bytes.length > pool.length) {
    randomFillSync(bytes);
    return;
  }
  if (poolPos + bytes.length > pool.length) {
    randomFillSync(pool);
    poolPos = 0;
  }
  bytes.set(pool.subarray(poolPos, poolPos + bytes.length));
  // Never hand the same bytes out twice.
  pool.fill(0, poolPos, poolPos + bytes.length);
  poolPos += bytes.length;
};

/** 16 lowercase hex digits from the random source. */
export function randomHex(random: RandomSource): string {
  const b = Buffer.allocUnsafe(8);
  random(b);
  return b.toString('hex');
}

/** Cuts a string to at most `max` UTF-8 bytes without splitting a character. */
function truncateUtf8(s: string, max: number): string {
  const buf = Buffer.from(s, 'utf8');
  if (buf.length <= max) return s;
  let end = max;
  // Back up over continuation bytes (10xxxxxx) so we cut before a character's first byte.
  while (end > 0 && (buf[end]! & 0xc0) === 0x80) end--;
  return buf.subarray(0, end).toString('utf8');
}

/**
 * The temp name (not path) for a target basename.
 *
 * @param base - The target's basename.
 * @param hex - 16 hex digits.
 * @param prefix - Text placed after the leading dot (default none).
 */
export function tempNameFor(base: string, hex: string, prefix = ''): string {
  const room = NAME_MAX - 1 - SUFFIX_BYTES;
  const middle = truncateUtf8(prefix + base, room);
  return `.${middle}.${hex}.tmp`;
}
