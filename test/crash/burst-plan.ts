/**
 * The plan shared by the burst-writer fixture and its test: what call `i` of the burst
 * writes, derived from a seed so the test can regenerate the exact bytes of any call.
 */
import { between, makeContent, seededRandom } from '../helpers/versioned.js';

export type DataKind = 'buffer' | 'latin1 string' | 'chunk array';

export interface BurstCall {
  readonly version: number;
  readonly payloadLen: number;
  readonly fsync: boolean;
  readonly kind: DataKind;
}

/**
 * `count` calls. Sizes: mostly small, some up to 64 KiB, a few up to 1 MiB. `fsync` comes
 * in runs and the data kinds are mixed, so some calls coalesce (same options, whole
 * buffers) and others (a chunk array, a change of options) must each run in turn.
 */
export function burstPlan(seed: number, count: number): BurstCall[] {
  const rand = seededRandom(seed);
  const calls: BurstCall[] = [];
  let fsync = true;
  for (let version = 0; version < count; version++) {
    if (rand() < 0.15) fsync = !fsync;
    const r = rand();
    const payloadLen = r < 0.6 ? between(rand, 0, 2048) : r < 0.95 ? between(rand, 2049, 64 * 1024) : between(rand, 64 * 1024 + 1, 1024 * 1024);
    const k = rand();
    const kind: DataKind = k < 0.8 ? 'buffer' : k < 0.9 ? 'latin1 string' : 'chunk array';
    calls.push({ version, payloadLen, fsync, kind });
  }
  return calls;
}

/** The bytes call `c` writes. */
export function burstContent(seed: number, c: BurstCall): Buffer {
  return makeContent(c.version, c.payloadLen, seed);
}
