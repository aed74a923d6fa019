/**
 * Lock edge cases found in review: a marker naming a LIVE pid with another start time (or
 * another boot) is reclaimed; a lock taken beside a missing path and one taken inside it
 * once it became a folder see each other; a fencing token first read after the lock was
 * lost is refused; a DirectoryLocker refuses a second acquisition while one is under way.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { DirectoryLocker, isLocked, lock, type AtomfsError } from '../../src/index.js';
import { realOps } from '../../src/internal/fs-ops.js';
import { markerName, orderKey, shortBoot, thisHost } from '../../src/lock/markers.js';
import { markersIn, within } from '../helpers/lock-kit.js';
import { tmpDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.js';

describe('liveness by start time and boot', () => {
  for (const [what, fields] of [
    ['a live pid (this process) with another start time', (start: number, boot: string) => ({ start: start + 12_345, boot })],
    ['a live pid (this process) from another boot', (start: number, boot: string) => ({ start, boot: boot === 'ffffffff' ? 'eeeeeeee' : 'ffffffff' })],
  ] as const) {
    it(`a marker naming ${what} is not its owner's: reclaimed at once`, async (t) => {
      const dir = tmpDir(t);
      const myStart = realOps.sync.processStart(process.pid) ?? 0;
      if (myStart === 0) return t.skip('no /proc: the start time of a process cannot be read here');
      const f = fields(myStart, shortBoot(realOps.sync.bootId()));
      const stale = markerName('.lock-', { mode: 'exclusive', pid: process.pid, hostName: thisHost(), boot: f.boot, start: f.start, order: orderKey(Date.now() - 60_000, 'deadbeef') });
      fs.writeFileSync(path.join(dir, stale), '');
      const l = await lock(dir, { timeout: 2_000 });
      assert.ok(!markersIn(dir).includes(stale), 'the stale marker was reclaimed');
      await l.release();
      assert.deepEqual(markersIn(dir), []);
    });
  }
});

describe('isLocked asks afresh', () => {
  it('a holder seen alive by one probe and dead by the next is no holder: the verdict is not cached', async (t) => {
    const dir = tmpDir(t);
    const myStart = realOps.sync.processStart(process.pid) ?? 0;
    if (myStart === 0) return t.skip('no /proc: the start time of a process cannot be read here');
    // A marker naming a pid whose life the seam decides: alive for the first probe, gone
    // for the second. Waiters cache "alive" for a few ms; a one-off probe must not, or a
    // holder killed just after an earlier probe still reads as a holder (seen in CI).
    const pid = 4_000_000;
    const marker = markerName('.lock-', { mode: 'exclusive', pid, hostName: thisHost(), boot: shortBoot(realOps.sync.bootId()), start: 777, order: orderKey(Date.now(), 'cafebabe') });
    fs.writeFileSync(path.join(dir, marker), '');
    let alive = true;
    const asked: number[] = [];
    const seam = {
      async: realOps.async,
      sync: { ...realOps.sync, processStart: (p: number) => (p === pid ? (asked.push(p), alive ? 777 : null) : realOps.sync.processStart(p)) },
    };
    assert.equal(await isLocked(dir, { fs: seam }), true);
    alive = false;
    assert.equal(await isLocked(dir, { fs: seam }), false, 'the dead holder holds nothing');
    assert.equal(asked.length, 2, 'each probe read the process afresh');
    assert.deepEqual(markersIn(dir), [], 'and its marker was reclaimed');
  });
});

describe('a path locked while missing, then a folder', () => {
  it('a lock beside the missing path and a lock inside the new folder exclude each other', async (t) => {
    const base = tmpDir(t);
    const p = path.join(base, 'out');
    const beside = await lock(p); // `out` does not exist: markers beside it
    fs.mkdirSync(p); // now a folder: new locks put their markers inside
    await assert.rejects(lock(p, { timeout: 150 }), { code: 'ETIMEDOUT' }, 'the folder lock sees the marker beside');
    await beside.release();
    const inside = await lock(p);
    assert.ok(fs.readdirSync(p).some((n) => n.startsWith('.lock-exclusive-')), 'the marker is inside');
    await inside.release();
  });

  it('a waiter that located the path while it was missing does not get in while a lock inside the new folder is held', async (t) => {
    const base = tmpDir(t);
    const p = path.join(base, 'out');
    const first = await lock(p); // beside
    // The waiter's listings are held at a gate once it has withdrawn, so the folder lock
    // below gets in first whatever the timing; then the gate opens and the waiter looks.
    let armed = false;
    let listingsAfterGate = 0;
    let openGate!: () => void;
    const gate = new Promise<void>((resolve) => (openGate = resolve));
    let withdrew!: () => void;
    const withdrawn = new Promise<void>((resolve) => (withdrew = resolve));
    const gated = {
      sync: realOps.sync,
      async: {
        ...realOps.async,
        readdir: async (dir: string) => {
          if (armed) {
            await gate;
            listingsAfterGate++;
          }
          return realOps.async.readdir(dir);
        },
        unlink: async (file: string) => {
          await realOps.async.unlink(file);
          withdrew();
        },
      },
    };
    // A reader: it withdraws without a place in line, so the folder lock below does not
    // wait for it (a writer would queue, and the folder lock would fairly wait its turn).
    const waiter = lock(p, { fs: gated, mode: 'shared', blocking: false, timeout: 20_000, retryInterval: 20 });
    let waiterHeld = false;
    void waiter.then(() => (waiterHeld = true), () => {});
    // The waiter has listed, seen `first`, and withdrawn its marker: it is waiting.
    await within(withdrawn, 10_000, 'the waiter withdraws');
    armed = true;
    fs.mkdirSync(p);
    const folderLock = lock(p, { timeout: 10_000 }); // markers inside the folder
    // Its first attempt ran within the call (blocking): its marker is there, waiting for `first`.
    assert.equal(markersIn(p).length, 1, 'the folder lock contends, with its marker inside');
    await first.release();
    const d = await within(folderLock, 5_000, 'the folder lock gets it at the release');
    openGate();
    // At least two attempts (two places listed in each).
    assert.ok(await until(() => waiterHeld || listingsAfterGate >= 4, 10_000), `the waiter looked again (${listingsAfterGate} listings)`);
    assert.equal(waiterHeld, false, 'the waiter, which located the path beside, must see the marker inside');
    await d.release();
    const w = await within(waiter, 5_000, 'the waiter gets it after the release');
    await w.release();
  });
});

describe('fencing token of a lost lock', () => {
  it('is refused (ENOENT, compromised) when the marker was reclaimed before the token was first read', async (t) => {
    const dir = tmpDir(t);
    const told: AtomfsError[] = [];
    const a = await lock(dir, { onCompromised: (e) => told.push(e) });
    // Another process reclaims it: the marker is renamed away (as a reclaimer does).
    const [marker] = markersIn(dir);
    fs.renameSync(path.join(dir, marker!), path.join(dir, '.lock-reclaim-test'));
    fs.unlinkSync(path.join(dir, '.lock-reclaim-test'));
    const b = await lock(dir, { timeout: 2_000 });
    const tb = b.token!;
    assert.throws(() => a.token, { code: 'ENOENT', reason: 'compromised' });
    assert.equal(a.compromised, true);
    assert.equal(told.length, 1, 'onCompromised told once');
    await b.release();
    await a.release();
    const c = await lock(dir);
    assert.ok(c.token! > tb, 'tokens go on growing');
    await c.release();
  });
});

describe('DirectoryLocker', () => {
  it('refuses a second acquisition while the first is still waiting, so no lock is left behind', async (t) => {
    const dir = tmpDir(t);
    const blocker = await lock(dir, { mode: 'exclusive' });
    const locker = new DirectoryLocker(dir);
    const first = locker.acquireShared(5_000);
    await assert.rejects(locker.acquireShared(5_000), { code: 'EINVAL' });
    await blocker.release();
    assert.equal(await first, true);
    await locker.release();
    assert.deepEqual(markersIn(dir), [], 'nothing left held');
  });
});
