/**
 * Every spelling of one file is one lock (SPEC §5): a symlink to it, a chain of links, a
 * dangling link (the file it would create), a symlink in a parent folder, `..` after a
 * link. Before locks resolved symlinks, `lock('link.json')` and `lock('data.json')` were
 * both granted at once.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { DirectoryLocker, lock, withLock } from '../../src/index.js';
import { describeOverlap, findCrossOverlap, fixture, intervalsOf, markersIn, runWorkers } from '../helpers/lock-kit.js';
import { tmpDir } from '../helpers/tmp.js';

const WORKER = fixture('counter-worker.js');

/** Holds `first`, then asserts `second` cannot be had (a short timeout), then releases. */
async function assertSameLock(first: string, second: string): Promise<void> {
  const held = await lock(first, { timeout: 1_000 });
  try {
    await assert.rejects(lock(second, { timeout: 60, retryInterval: 5 }), { code: 'ETIMEDOUT' }, `${second} was granted while ${first} was held`);
  } finally {
    await held.release();
  }
  // And the other way round, once the first is free.
  const back = await lock(second, { timeout: 1_000 });
  try {
    await assert.rejects(lock(first, { timeout: 60, retryInterval: 5 }), { code: 'ETIMEDOUT' });
  } finally {
    await back.release();
  }
}

describe('a lock through a symlink is the lock of the file', () => {
  it('two processes, one locking the link and one the file, each doing 500 read-modify-write increments: 0 lost, never both inside', { timeout: 120_000 }, async (t) => {
    const dir = tmpDir(t);
    const logs = tmpDir(t);
    const data = path.join(dir, 'data.json');
    const link = path.join(dir, 'link.json');
    fs.writeFileSync(data, '0');
    fs.symlinkSync('data.json', link);
    const results = await runWorkers(
      t,
      WORKER,
      2,
      (i, log) => ['increment', dir, '500', log, JSON.stringify({ retryInterval: 2, lockPath: i === 0 ? link : data, counter: i === 0 ? link : data, deadlineMs: 100_000 })],
      logs,
      110_000,
    );
    assert.equal(fs.readFileSync(data, 'latin1'), '1000', 'lost updates');
    for (const r of results) assert.deepEqual(r.problems, []);
    const overlap = findCrossOverlap(intervalsOf(results[0]!), intervalsOf(results[1]!));
    assert.equal(overlap, undefined, `both inside at once: ${describeOverlap(overlap)}`);
    assert.ok(fs.lstatSync(link).isSymbolicLink(), 'the link is still a link');
    assert.deepEqual(markersIn(dir, '.data.json.lock-'), []);
    assert.deepEqual(markersIn(dir, '.link.json.lock-'), []);
  });

  it('a direct link, a chain, a dangling link, a link in a parent folder and `..` after a link all find the same lock', async (t) => {
    const dir = tmpDir(t);
    const real = path.join(dir, 'real');
    fs.mkdirSync(path.join(real, 'sub'), { recursive: true });
    const data = path.join(real, 'data.json');
    fs.writeFileSync(data, '{}');
    fs.symlinkSync('data.json', path.join(real, 'one'));
    fs.symlinkSync('one', path.join(real, 'two'));
    fs.symlinkSync(real, path.join(dir, 'alias'));
    fs.symlinkSync(path.join(real, 'sub'), path.join(dir, 'subalias'));
    await assertSameLock(path.join(real, 'one'), data);
    await assertSameLock(path.join(real, 'two'), data);
    await assertSameLock(path.join(dir, 'alias', 'data.json'), data);
    await assertSameLock(path.join(dir, 'alias', 'two'), path.join(real, 'one'));
    // The kernel takes `..` from the link's target: subalias/.. is real, not dir.
    await assertSameLock(`${path.join(dir, 'subalias')}/../data.json`, data);
    // A dangling link is the lock of the file it would create.
    fs.symlinkSync('missing.json', path.join(real, 'dangling'));
    await assertSameLock(path.join(real, 'dangling'), path.join(real, 'missing.json'));
    // Markers live beside the real file, named after it.
    const held = await lock(path.join(dir, 'alias', 'two'));
    try {
      assert.equal(markersIn(real, '.data.json.lock-').length, 1);
      assert.deepEqual(markersIn(dir, '.two.lock-'), []);
      assert.deepEqual(markersIn(real, '.two.lock-'), []);
    } finally {
      await held.release();
    }
  });

  it('a folder through a link, withLock and DirectoryLocker agree with lock on the real folder', async (t) => {
    const dir = tmpDir(t);
    const real = path.join(dir, 'real');
    fs.mkdirSync(real);
    fs.symlinkSync('real', path.join(dir, 'alias'));
    await assertSameLock(path.join(dir, 'alias'), real);
    await withLock(path.join(dir, 'alias'), async () => {
      await assert.rejects(lock(real, { timeout: 60, retryInterval: 5 }), { code: 'ETIMEDOUT' });
    });
    const locker = new DirectoryLocker(path.join(dir, 'alias'));
    assert.equal(await locker.acquireExclusive(1_000), true);
    try {
      await assert.rejects(lock(real, { timeout: 60, retryInterval: 5 }), { code: 'ETIMEDOUT' });
    } finally {
      await locker.release();
    }
    assert.deepEqual(markersIn(real), []);
  });

  it('a symlink loop fails with ELOOP and leaves nothing behind', async (t) => {
    const dir = tmpDir(t);
    fs.symlinkSync('b', path.join(dir, 'a'));
    fs.symlinkSync('a', path.join(dir, 'b'));
    await assert.rejects(lock(path.join(dir, 'a'), { timeout: 100 }), { code: 'ELOOP' });
    assert.deepEqual(fs.readdirSync(dir).sort(), ['a', 'b']);
  });
});
