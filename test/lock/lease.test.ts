/**
 * Leases (leaseOnly mode, as for hosts sharing a network file system): a holder whose
 * event loop is blocked past `stale` loses the lock to a waiting process and is told
 * through onCompromised once it runs again; and a writer's place must survive waiting for
 * longer than `stale`.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { lock, type Lock } from '../../src/index.js';
import { LockClient, markersIn } from '../helpers/lock-kit.js';
import { tmpDir } from '../helpers/tmp.js';

// Heartbeat every 250 ms: a loaded CI machine may delay a timer, but hardly by that much.
const STALE = 500;

/** A lock that must not be granted: released at once if it is, so a failure leaks nothing. */
function releasing(p: Promise<Lock>): Promise<Lock> {
  return p.then(async (l) => {
    await l.release();
    return l;
  });
}

describe('a lease holder whose event loop is blocked past stale', () => {
  it('loses the lock to a waiting process, learns it through onCompromised when its loop runs again, and lives on', { timeout: 30_000 }, async (t) => {
    const dir = tmpDir(t);
    const holder = new LockClient(t, 'holder');
    const next = new LockClient(t, 'next');
    await Promise.all([holder.ready(), next.ready()]);
    const opts = { leaseOnly: true, stale: STALE };

    holder.send({ op: 'lock', path: dir, opts });
    await holder.next('locked');
    next.send({ op: 'lock', path: dir, opts: { ...opts, timeout: 10_000 } });
    await next.next('waiting');
    // While the holder's heartbeat runs, its lease stays fresh: the other one waits.
    await sleep(2 * STALE);
    assert.equal(next.lines.some((l) => l.startsWith('locked')), false, 'a live lease is never reclaimed');

    holder.send({ op: 'block', ms: 3 * STALE });
    const blocked = LockClient.hr(await holder.next('blocking'));
    const taken = LockClient.hr(await next.next('locked', 5_000));
    const unblocked = LockClient.hr(await holder.next('unblocked', 5_000));
    assert.ok(blocked < taken && taken < unblocked, 'the other process took the lock while the holder was blocked');

    const compromised = await holder.next('compromised', 5 * STALE);
    const [, code, reason, at] = compromised.split(' ');
    assert.equal(code, 'ENOENT');
    assert.equal(reason, 'compromised');
    assert.ok(BigInt(at!) > unblocked, 'told after its loop ran again');
    holder.send({ op: 'state' });
    assert.equal(await holder.next('state'), 'state compromised=true released=false');
    // release() of a lost lock still resolves (no error line), and the new holder keeps it.
    holder.send({ op: 'release' });
    await holder.next('release-done');
    assert.equal(holder.lines.filter((l) => l.startsWith('compromised')).length, 1, 'told once');
    assert.equal(markersIn(dir).length, 1, 'the new holder’s marker is untouched');

    next.send({ op: 'state' });
    assert.equal(await next.next('state'), 'state compromised=false released=false');
    next.send({ op: 'release' });
    await next.next('release-done');
    assert.equal(await holder.exit(), 0, 'the compromised holder exits normally');
    assert.equal(await next.exit(), 0);
    assert.deepEqual(markersIn(dir), []);
  });
});

// In leaseOnly mode every marker is judged by its mtime, the waiting writer's too: a marker
// kept while waiting must stay fresh, or a newcomer reclaims it as stale, the writer loses
// its place and, worse, later holds the lock with no marker (or a stale one) on disk.
describe('a writer waiting in leaseOnly mode for longer than stale', () => {
  const opts = { leaseOnly: true, stale: 200 } as const;

  it('keeps its place: a reader arriving while it waits behind another reader waits too', { timeout: 10_000 }, async (t) => {
    const dir = tmpDir(t);
    const first = await lock(dir, { ...opts, mode: 'shared' });
    const writer = lock(dir, { ...opts, timeout: 5_000 });
    // The first reader's heartbeat keeps its own lease fresh; the writer waits 3 x stale.
    await sleep(3 * opts.stale);
    try {
      await assert.rejects(releasing(lock(dir, { ...opts, mode: 'shared', timeout: 300 })), { code: 'ETIMEDOUT', path: dir }, 'writer preference: the waiting writer goes first');
    } finally {
      await first.release();
      await (await writer).release();
    }
  });

  it('holds a live lease once it gets the lock: no reader gets in beside it', { timeout: 10_000 }, async (t) => {
    const dir = tmpDir(t);
    const first = await lock(dir, { ...opts, mode: 'shared' });
    const writerP = lock(dir, { ...opts, timeout: 5_000 });
    await sleep(3 * opts.stale);
    await first.release();
    const writer = await writerP;
    try {
      const mine = markersIn(dir);
      assert.equal(mine.length, 1, 'the writer’s marker is there');
      const age = Date.now() - fs.statSync(path.join(dir, mine[0]!)).mtimeMs;
      await assert.rejects(
        releasing(lock(dir, { ...opts, mode: 'shared', timeout: 300 })),
        { code: 'ETIMEDOUT', path: dir },
        `a reader must not share the lock with the writer (whose lease was ${Math.round(age)} ms old when it got the lock; stale is ${opts.stale} ms)`,
      );
      assert.ok(age < opts.stale, `the new holder’s lease is ${Math.round(age)} ms old at acquisition, already past stale (${opts.stale} ms)`);
      assert.equal(writer.compromised, false);
    } finally {
      await writer.release();
    }
  });
});
