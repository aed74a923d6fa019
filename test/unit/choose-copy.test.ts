/**
 * chooseCopy, the one decision of how a move copies a file, over every combination of what
 * it depends on: the rules as a table, so a change of one shows here first.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chooseCopy, type CopyChoice, type CopyFacts } from '../../src/move/choose-copy.js';

const KEYS = ['checksum', 'setIdLater', 'sync', 'small', 'sameDevice', 'quiet'] as const;

// The rules, said another way: our own stream whenever it must read back or set the mode
// after the chown; else the kernel for a blocking call, a small file or the same device;
// else the kernel only into memory and only when nobody waits between chunks.
function expected(f: CopyFacts): CopyChoice {
  if (f.checksum) return 'stream';
  if (f.setIdLater) return 'stream';
  if (f.sync) return 'kernel';
  if (f.small) return 'kernel';
  if (f.sameDevice) return 'kernel';
  if (!f.quiet) return 'stream';
  return 'kernel-if-in-memory';
}

describe('chooseCopy', () => {
  it('matches the rules for all 64 combinations', () => {
    const seen = new Map<CopyChoice, number>();
    for (let bits = 0; bits < 1 << KEYS.length; bits++) {
      const f = Object.fromEntries(KEYS.map((k, i) => [k, (bits & (1 << i)) !== 0])) as unknown as CopyFacts;
      const got = chooseCopy(f);
      assert.equal(got, expected(f), JSON.stringify(f));
      seen.set(got, (seen.get(got) ?? 0) + 1);
    }
    // Every answer occurs: stream 32 (checksum) + 16 (set-id) + 1 (not quiet), kernel 14, kernel-if-in-memory 1.
    assert.deepEqual(Object.fromEntries(seen), { stream: 49, kernel: 14, 'kernel-if-in-memory': 1 });
  });

  it('a few cases by name', () => {
    const base: CopyFacts = { checksum: false, setIdLater: false, sync: false, small: false, sameDevice: false, quiet: true };
    assert.equal(chooseCopy(base), 'kernel-if-in-memory', 'a big quiet file across devices: the kernel only into a tmpfs');
    assert.equal(chooseCopy({ ...base, quiet: false }), 'stream', 'with progress or a signal: chunk by chunk');
    assert.equal(chooseCopy({ ...base, small: true }), 'kernel', 'a small file: one call');
    assert.equal(chooseCopy({ ...base, sync: true }), 'kernel', 'moveSync: one kernel copy');
    assert.equal(chooseCopy({ ...base, small: true, checksum: true }), 'stream', 'checksum reads back');
    assert.equal(chooseCopy({ ...base, sameDevice: true, setIdLater: true }), 'stream', 'set-id bits after the chown');
  });
});
