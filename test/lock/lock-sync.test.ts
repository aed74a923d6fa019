/**
 * lockSync and isLocked (SPEC §5, issue 18.5): the blocking twin runs the same attempts as
 * `lock` under a synchronous driver, and really waits (proper-lockfile's lockSync cannot);
 * isLocked tells without taking.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { isLocked, lock, lockSync } from '../../src/index.js';
import { describeOverlap, findCrossOverlap, fixture, hrNow, intervalsOf, LockClient, markersIn, runWorkers } from '../helpers/lock-kit.js';
import { mountReadOnly, requireRoot } from '../helpers/root.js';
import { tmpDir } from '../helpers/tmp.js';

const WORKER = fixture('counter-worker.js');

describe('lockSync', () => {
  it('takes a free lock, times out behind a holder (ETIMEDOUT, no marker of its own left), and takes it after the release', async (t) => {
    const dir = tmpDir(t);
    const l = lockSync(dir);
    assert.equal(l.mode, 'exclusive');
    assert.throws(() => lockSync(dir, { timeout: 50, retryInterval: 5 }), { code: 'ETIMEDOUT', operation: 'lockSync' });
    assert.equal(markersIn(dir).length, 1, 'only the holder’s marker');
    await l.release();
    const again = lockSync(dir, { timeout: 0 });
    await again.release();
    assert.deepEqual(markersIn(dir), []);
  });

  it('really waits: behind another process it returns only after that process released', async (t) => {
    const dir = tmpDir(t);
    const holder = new LockClient(t, 'holder');
    await holder.ready();
    holder.send({ op: 'lock', path: dir, holdMs: 400 });
    await holder.next('locked');
    const l = lockSync(dir, { timeout: 20_000, retryInterval: 10 });
    const gotAt = hrNow();
    await l.release();
    const released = await holder.next('released');
    assert.ok(gotAt > BigInt(released.split(' ')[1]!), `got it before the holder released: ${released}`);
  });

  it('a sync and an async process, 300 increments each through lockSync and lock: 600, never both inside', { timeout: 90_000 }, async (t) => {
    const dir = tmpDir(t);
    const logs = tmpDir(t);
    fs.writeFileSync(path.join(dir, 'counter'), '0');
    const results = await runWorkers(t, WORKER, 2, (i, log) => ['increment', dir, '300', log, JSON.stringify({ retryInterval: 2, sync: i === 0 })], logs, 80_000);
    assert.equal(fs.readFileSync(path.join(dir, 'counter'), 'latin1'), '600');
    const overlap = findCrossOverlap(intervalsOf(results[0]!), intervalsOf(results[1]!));
    assert.equal(overlap, undefined, describeOverlap(overlap));
  });

  it('on a read-only file system fails with EROFS at once, never a hang', async (t) => {
    if (!requireRoot(t)) return;
    const ro = mountReadOnly(t, tmpDir(t));
    assert.throws(() => lockSync(ro, { timeout: 60_000 }), { code: 'EROFS' });
  });

  it('bad input is EINVAL before anything is touched', (t) => {
    const dir = tmpDir(t);
    assert.throws(() => lockSync(dir, { timeout: -1 }), { code: 'EINVAL' });
    assert.throws(() => lockSync(123 as never), { code: 'EINVAL' });
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});

describe('isLocked', () => {
  it('tells without taking: free, held exclusive, held shared (by mode), through a symlink, and a dead holder is no holder', async (t) => {
    const dir = tmpDir(t);
    const f = path.join(dir, 'data.json');
    fs.symlinkSync('data.json', path.join(dir, 'link.json'));
    assert.equal(await isLocked(f), false);
    const x = await lock(f);
    assert.equal(await isLocked(f), true);
    assert.equal(await isLocked(path.join(dir, 'link.json')), true, 'through the link');
    assert.equal(await isLocked(f, { mode: 'shared' }), true, 'a writer keeps readers out');
    await x.release();
    const s = await lock(f, { mode: 'shared' });
    assert.equal(await isLocked(f), true, 'a reader keeps a writer out');
    assert.equal(await isLocked(f, { mode: 'shared' }), false, 'but not another reader');
    await s.release();
    assert.equal(markersIn(dir, '.data.json.lock-').length, 0, 'isLocked took nothing');
    // A holder killed with SIGKILL holds nothing.
    const holder = new LockClient(t, 'doomed');
    await holder.ready();
    holder.send({ op: 'lock', path: f });
    await holder.next('locked');
    assert.equal(await isLocked(f), true);
    holder.child.kill('SIGKILL');
    await holder.exit();
    assert.equal(await isLocked(f), false);
    assert.equal(await isLocked(path.join(dir, 'missing', 'x')), false, 'nothing there');
  });
});
