/**
 * The lock API in one process: timeouts and aborts clean up after themselves, release is
 * idempotent, withLock and DirectoryLocker behave as documented, a read-only folder fails
 * at once, a missing file is locked beside itself, and a marker removed by hand is noticed.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { DirectoryLocker, lock, withLock, type AtomfsError, type Lock } from '../../src/index.js';
import { realOps } from '../../src/internal/fs-ops.js';
import { parseMarker } from '../../src/lock/markers.js';
import { markersIn, ObservedOps, within } from '../helpers/lock-kit.js';
import { readOnlyBind } from '../helpers/real-fs.js';
import { requireRoot } from '../helpers/root.js';
import { tmpDir } from '../helpers/tmp.js';

/** A lock that must not be granted: released at once if it is, so a failure leaks nothing. */
function releasing(p: Promise<Lock>): Promise<Lock> {
  return p.then(async (l) => {
    await l.release();
    return l;
  });
}

describe('lock timeouts and aborts', () => {
  it('a wait that runs out of time rejects with ETIMEDOUT, not before the timeout and without spinning, and leaves no marker of its own', async (t) => {
    const dir = tmpDir(t);
    const holder = await lock(dir);
    const held = markersIn(dir);
    const seam = new ObservedOps();
    try {
      const timeout = 200;
      const t0 = Date.now();
      const waiting = releasing(lock(dir, { fs: seam, timeout, retryInterval: 100 }));
      await within(assert.rejects(waiting, { code: 'ETIMEDOUT', path: dir, operation: 'lock' }), 60_000, 'the wait ends at its timeout');
      // lock() takes its deadline from this clock after t0: giving up sooner would show here.
      assert.ok(Date.now() - t0 >= timeout, `gave up after ${Date.now() - t0} ms, before the ${timeout} ms timeout`);
      // Each pause lasts half to all of retryInterval (or what is left of the timeout), so a
      // slow machine makes fewer attempts, never more: about 3-5 here, thousands if it spun.
      const attempts = seam.count('bootId');
      assert.ok(attempts >= 1 && attempts <= 10, `${attempts} attempts in a ${timeout} ms wait with retryInterval 100`);
      assert.deepEqual(markersIn(dir), held);
    } finally {
      await holder.release();
    }
  });

  it('a writer timing out behind a reader withdraws the marker it kept while waiting, so readers are not held off afterwards', async (t) => {
    const dir = tmpDir(t);
    const reader = await lock(dir, { mode: 'shared' });
    const held = markersIn(dir);
    try {
      await assert.rejects(releasing(lock(dir, { timeout: 150 })), { code: 'ETIMEDOUT', path: dir });
      assert.deepEqual(markersIn(dir), held);
      // timeout 0: one attempt only. A leftover writer marker would turn this reader away.
      const second = await lock(dir, { mode: 'shared', timeout: 0 });
      await second.release();
    } finally {
      await reader.release();
    }
  });

  it('an aborted signal ends the wait at once with ABORT_ERR (no attempt after it) and leaves no marker', async (t) => {
    const dir = tmpDir(t);
    const reader = await lock(dir, { mode: 'shared' });
    const held = markersIn(dir);
    try {
      const ac = new AbortController();
      const seam = new ObservedOps();
      let asleep!: () => void;
      const sleeping = new Promise<void>((resolve) => (asleep = resolve));
      seam.onWatch = () => asleep();
      // Neither its poll (5-10 min) nor its timeout can end this wait within the test: only the abort.
      const waiting = releasing(lock(dir, { fs: seam, signal: ac.signal, timeout: 600_000, retryInterval: 600_000 }));
      await within(sleeping, 60_000, 'the writer waits, watching the reader’s marker');
      const attempts = seam.count('bootId');
      const reason = new Error('no longer wanted');
      ac.abort(reason);
      await within(assert.rejects(waiting, { code: 'ABORT_ERR', path: dir, cause: reason }), 60_000, 'the abort ends the wait');
      assert.equal(seam.count('bootId'), attempts, 'the abort woke the waiter and it gave up without another attempt');
      assert.equal(seam.wakeups, 0, 'not woken by the reader’s marker');
      assert.deepEqual(markersIn(dir), held, 'the waiting writer’s marker is gone');
      // A signal aborted before the call: rejected before touching the disk.
      const untouched = new ObservedOps();
      await assert.rejects(releasing(lock(dir, { fs: untouched, signal: AbortSignal.abort() })), { code: 'ABORT_ERR', path: dir });
      assert.deepEqual(untouched.calls, [], 'no call made');
      assert.deepEqual(markersIn(dir), held);
    } finally {
      await reader.release();
    }
  });
});

describe('releasing', () => {
  it('release() and Symbol.asyncDispose are safe to call twice, in any order', async (t) => {
    const dir = tmpDir(t);
    const a = await lock(dir);
    await a.release();
    await a.release();
    await a[Symbol.asyncDispose]();
    assert.equal(a.released, true);
    assert.equal(a.compromised, false, 'a second release is not mistaken for a lost lock');
    assert.deepEqual(markersIn(dir), []);

    const b = await lock(dir, { timeout: 0 });
    await b[Symbol.asyncDispose]();
    await b[Symbol.asyncDispose]();
    await b.release();
    assert.equal(b.compromised, false);
    assert.deepEqual(markersIn(dir), []);
  });

  it('await using releases the lock at the end of the block', async (t) => {
    const dir = tmpDir(t);
    {
      await using l = await lock(dir, { mode: 'shared' });
      assert.equal(l.mode, 'shared');
      assert.equal(l.path, dir);
      assert.equal(l.token, undefined, 'shared locks carry no token');
      assert.equal(markersIn(dir).length, 1);
    }
    assert.deepEqual(markersIn(dir), []);
  });

  it('withLock releases the lock when fn throws, and rethrows what fn threw', async (t) => {
    const dir = tmpDir(t);
    const boom = new Error('boom');
    let seen: Lock | undefined;
    await assert.rejects(
      withLock(dir, (l) => {
        seen = l;
        assert.equal(markersIn(dir).length, 1);
        throw boom;
      }),
      (e) => e === boom,
    );
    assert.equal(seen?.released, true);
    assert.deepEqual(markersIn(dir), []);
    // Rejected promises are handled the same way.
    await assert.rejects(withLock(dir, async () => Promise.reject(boom)), (e) => e === boom);
    assert.deepEqual(markersIn(dir), []);
    assert.equal(await withLock(dir, () => 42, { timeout: 0 }), 42, 'the lock is free again at once');
  });
});

describe('DirectoryLocker', () => {
  it('acquireExclusive and acquireShared return true when acquired and false when the time runs out; release() is safe when nothing is held', { timeout: 60_000 }, async (t) => {
    const dir = tmpDir(t);
    const idle = new DirectoryLocker(dir);
    await idle.release();
    await idle.release();
    assert.equal(idle.lock, undefined);

    const a = new DirectoryLocker(dir);
    const b = new DirectoryLocker(dir);
    assert.equal(await a.acquireExclusive(1_000), true);
    assert.equal(a.lock?.mode, 'exclusive');
    await assert.rejects(a.acquireShared(100), { code: 'EINVAL', path: dir }, 'one lock per locker');
    assert.equal(await b.acquireExclusive(100), false);
    assert.equal(await b.acquireShared(100), false);
    assert.equal(b.lock, undefined);
    await b.release();
    await a.release();
    await a.release();

    assert.equal(await a.acquireShared(1_000), true);
    assert.equal(await b.acquireShared(1_000), true, 'two shared holders at once');
    assert.equal(await idle.acquireExclusive(100), false);
    await a.release();
    await b.release();
    assert.equal(await idle.acquireExclusive(1_000), true);
    await idle.release();
    assert.deepEqual(markersIn(dir), []);
  });
});

describe('where markers go', () => {
  it('a lock folder on a read-only mount fails with EROFS at once, not after the timeout', async (t) => {
    if (!requireRoot(t)) return;
    const src = tmpDir(t);
    fs.mkdirSync(path.join(src, 'sub'));
    // readOnlyBind, not root.ts' mountReadOnly: a bind mount of a folder of the same file
    // system has the same st_dev, so mountReadOnly's after hook takes it for a plain folder,
    // never unmounts it and fails with EBUSY (the mount is left behind).
    const ro = readOnlyBind(t, src);
    for (const target of [ro, path.join(ro, 'sub'), path.join(ro, 'file.txt')]) {
      for (const opts of [{}, { mode: 'shared', blocking: false }] as const) {
        const seam = new ObservedOps();
        await assert.rejects(releasing(lock(target, { ...opts, fs: seam, timeout: 5_000 })), { code: 'EROFS', path: target });
        // A retried EROFS would make dozens of attempts in the 5 s.
        assert.equal(seam.count('bootId'), 1, `${target} ${JSON.stringify(opts)}: one attempt, no retry`);
        assert.equal(seam.watches, 0, `${target} ${JSON.stringify(opts)}: never waited`);
      }
    }
    await assert.rejects(new DirectoryLocker(ro).acquireExclusive(5_000), { code: 'EROFS', path: ro }, 'DirectoryLocker throws EROFS rather than returning false');
    assert.deepEqual(fs.readdirSync(src).sort(), ['sub']);
  });

  it('locking a file path that does not exist puts the markers beside it, named after it, and never creates the file', async (t) => {
    const dir = tmpDir(t);
    const file = path.join(dir, 'data.json');
    const l = await lock(file);
    const names = fs.readdirSync(dir);
    const markers = names.filter((n) => parseMarker('.data.json.lock-', n));
    assert.equal(markers.length, 1, names.join(', '));
    assert.equal(parseMarker('.data.json.lock-', markers[0]!)?.mode, 'exclusive');
    assert.equal(parseMarker('.data.json.lock-', markers[0]!)?.pid, process.pid);
    assert.equal(fs.existsSync(file), false);
    // It is a real lock on that path: a second taker waits.
    await assert.rejects(releasing(lock(file, { mode: 'shared', timeout: 100 })), { code: 'ETIMEDOUT', path: file });
    // ...but not a lock on the folder.
    const folder = await lock(dir, { timeout: 0 });
    await folder.release();
    await l.release();
    assert.deepEqual(fs.readdirSync(dir).filter((n) => parseMarker('.data.json.lock-', n)), []);
    assert.equal(fs.existsSync(file), false);
  });
});

describe('a marker removed by hand while held', () => {
  it('is noticed through onCompromised by the first heartbeat that finds it gone, and release() still resolves', { timeout: 60_000 }, async (t) => {
    const dir = tmpDir(t);
    const told: AtomfsError[] = [];
    let notify!: () => void;
    const noticed = new Promise<void>((resolve) => (notify = resolve));
    // The heartbeat refreshes the marker's lease (utimes) through the seam: count its beats.
    const seam = new ObservedOps();
    const beats: boolean[] = []; // per beat: whether the refresh failed
    let healthy!: () => void;
    const twoHealthy = new Promise<void>((resolve) => (healthy = resolve));
    let failedWhenTold = -1;
    const l = await lock(dir, {
      fs: seam,
      stale: 200, // a heartbeat every 100 ms
      onCompromised: (e) => {
        told.push(e);
        failedWhenTold = beats.filter((f) => f).length;
        notify();
      },
    });
    const [marker] = markersIn(dir);
    seam.onCall = (c) => {
      if (c.name !== 'utimes' || c.args[0] !== path.join(dir, marker!)) return;
      beats.push(c.failed);
      if (beats.filter((f) => !f).length === 2) healthy();
    };
    await within(twoHealthy, 30_000, 'two heartbeats');
    assert.equal(l.compromised, false);
    assert.equal(told.length, 0);
    fs.unlinkSync(path.join(dir, marker!));
    await within(noticed, 30_000, 'onCompromised after the marker was removed');
    t.diagnostic(`heartbeats: ${beats.map((f) => (f ? 'failed' : 'ok')).join(', ')}`);
    assert.equal(failedWhenTold, 1, 'told at the first failed refresh, none passed over');
    assert.equal(l.compromised, true);
    assert.equal(told[0]!.code, 'ENOENT');
    assert.equal(told[0]!.reason, 'compromised');
    assert.equal(told[0]!.path, dir);
    await l.release();
    assert.equal(l.released, true);
    assert.equal(told.length, 1, 'told once, not again at release');
    assert.deepEqual(markersIn(dir), []);
  });
});

describe('hand-over', () => {
  it('a waiter sleeps until the release wakes it: it neither polls nor waits out its poll interval', async (t) => {
    const dir = tmpDir(t);
    const seam = new ObservedOps();
    let asleep!: () => void;
    const sleeping = new Promise<void>((resolve) => (asleep = resolve));
    seam.onWatch = () => asleep();
    const holder = await lock(dir);
    // With a 10 min poll interval the waiter could only find the lock free by polling after
    // 5-10 min; without a wake-up its back-off (1, 2, 4 … ms) would list the folder ~10
    // times in the second it is given here.
    const waiting = lock(dir, { fs: seam, retryInterval: 600_000, timeout: 600_000 });
    await within(sleeping, 60_000, 'the waiter watches the holder’s marker');
    await sleep(1_000);
    const whileWaiting = seam.count('readdir');
    const attempts = seam.count('bootId');
    await holder.release();
    const next = await within(waiting, 60_000, 'the waiter is woken by the release');
    await next.release();
    assert.ok(whileWaiting <= 3, `the waiter listed the folder ${whileWaiting} times while the lock was held`);
    assert.ok(seam.wakeups >= 1, 'woken by the release (the marker’s removal)');
    assert.equal(seam.count('bootId'), attempts + 1, 'one attempt after the wake-up took the lock');
    assert.deepEqual(markersIn(dir), []);
  });

  it('a seam that cannot watch files still hands over, by polling', async (t) => {
    const polling = { sync: realOps.sync, async: realOps.async }; // no watchFile
    const dir = tmpDir(t);
    const holder = await lock(dir, { fs: polling });
    const waiting = lock(dir, { fs: polling, retryInterval: 20, timeout: 10_000 });
    await sleep(50);
    await holder.release();
    const next = await within(waiting, 5_000, 'the polling waiter gets the lock');
    await next.release();
    assert.deepEqual(markersIn(dir), []);
  });
});

describe('fencing token', () => {
  it('is taken on first read while held (growing), and a token first read after release is undefined', async (t) => {
    const dir = tmpDir(t);
    const a = await lock(dir);
    const ta = a.token!;
    assert.equal(typeof ta, 'number');
    assert.equal(a.token, ta, 'the same token on every read');
    await a.release();
    assert.equal(a.token, ta, 'still readable after release once taken');
    const unread = await lock(dir);
    await unread.release();
    assert.equal(unread.token, undefined, 'never read while held: no token');
    const b = await lock(dir);
    assert.ok(b.token! > ta, `${b.token} > ${ta}`);
    await b.release();
    const c = await lock(dir, { blocking: false });
    await c.release();
    assert.ok(c.token! > b.token!, 'with blocking: false the token is taken at acquisition');
  });
});
