/**
 * The line of waiting writers: a writer that must let an earlier one go first renames its
 * marker into a `queued` one and waits for the writer just ahead of it. These tests look
 * at the markers on the real disk: who waits in line, in which order they get in, that a
 * queued marker keeps nobody out but readers, and that a dead or abandoned place in line is
 * cleaned up.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { lock, type Lock } from '../../src/index.js';
import { realOps } from '../../src/internal/fs-ops.js';
import { markerName, orderKey, parseMarker, shortBoot, thisHost } from '../../src/lock/markers.js';
import { markersIn, ObservedOps } from '../helpers/lock-kit.js';
import { until, within } from '../helpers/wait.js';
import { tmpDir } from '../helpers/tmp.js';

const kinds = (dir: string): string[] => markersIn(dir).map((n) => parseMarker('.lock-', n)!.mode).sort();

describe('the line of waiting writers', () => {
  it('waiting writers wait in line (queued markers) and get in first come, first served', async (t) => {
    const dir = tmpDir(t);
    const holder = await lock(dir);
    await sleep(3); // order keys are ms-grained: later callers get later keys
    const order: number[] = [];
    const waiters: Promise<Lock>[] = [];
    for (let i = 0; i < 3; i++) {
      const w = lock(dir, { timeout: 10_000 });
      void w.then(() => order.push(i), () => {});
      waiters.push(w);
      // Each waiter in line before the next comes (their order keys are then in call order).
      assert.ok(await until(() => kinds(dir).filter((k) => k === 'queued').length === i + 1, 3_000), `waiter ${i} in line`);
      await sleep(3);
    }
    assert.deepEqual(kinds(dir), ['exclusive', 'queued', 'queued', 'queued']);
    await holder.release();
    for (let i = 0; i < 3; i++) {
      const l = await within(waiters[i]!, 5_000, `waiter ${i} gets in`);
      assert.deepEqual(order, Array.from({ length: i + 1 }, (_, k) => k), 'first come, first served');
      // The others are still in line: the release woke only the one just behind.
      assert.equal(kinds(dir).filter((k) => k === 'queued').length, 2 - i);
      await l.release();
    }
    assert.deepEqual(markersIn(dir), []);
  });

  it('a reader waits for a writer in line (writer preference), and gets in after it', async (t) => {
    const dir = tmpDir(t);
    const reader1 = await lock(dir, { mode: 'shared' });
    await sleep(3);
    const writer = lock(dir, { timeout: 10_000 });
    // The writer's lock marker keeps new readers out; it waits for reader1.
    assert.ok(await until(() => kinds(dir).includes('exclusive'), 3_000), 'the writer contends');
    const seam = new ObservedOps();
    const reader2 = lock(dir, { mode: 'shared', fs: seam, timeout: 10_000 });
    let reader2In = false;
    void reader2.then(() => (reader2In = true), () => {});
    // Waiting on the writer's marker, it still looks at every poll (12-25 ms): let it look
    // a few times while the writer waits.
    assert.ok(await until(() => reader2In || seam.count('bootId') >= 4, 10_000), 'the new reader looks again');
    assert.equal(reader2In, false, 'a new reader does not pass a waiting writer');
    await reader1.release();
    const w = await within(writer, 5_000, 'the writer gets in');
    assert.equal(reader2In, false);
    await w.release();
    await (await within(reader2, 5_000, 'the reader gets in after the writer')).release();
    assert.deepEqual(markersIn(dir), []);
  });

  it('a waiter that gives up (timeout) leaves the line: no queued marker stays, the next one moves up', async (t) => {
    const dir = tmpDir(t);
    const holder = await lock(dir);
    await sleep(3); // order keys are ms-grained: later callers get later keys
    const quitter = lock(dir, { timeout: 300 });
    const quit = quitter.then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(await until(() => kinds(dir).includes('queued'), 3_000), 'the quitter in line');
    await sleep(3);
    const patient = lock(dir, { timeout: 10_000 });
    assert.ok(await until(() => kinds(dir).filter((k) => k === 'queued').length === 2, 3_000), 'both in line');
    assert.equal(((await quit) as { code?: string } | undefined)?.code, 'ETIMEDOUT');
    assert.deepEqual(kinds(dir), ['exclusive', 'queued'], 'the quitter left its place');
    await holder.release();
    await (await within(patient, 5_000, 'the patient waiter gets in')).release();
    assert.deepEqual(markersIn(dir), []);
  });

  it('the place in line of a dead process is reclaimed: it keeps nobody waiting', async (t) => {
    const dir = tmpDir(t);
    const gone = spawnSync('true');
    assert.equal(gone.status, 0);
    const dead = markerName('.lock-', {
      mode: 'queued',
      pid: gone.pid!,
      hostName: thisHost(),
      boot: shortBoot(realOps.sync.bootId()),
      start: 1, // not the start time of any process that may have the pid now
      order: orderKey(Date.now() - 60_000, 'deadbeef'),
    });
    const holder = await lock(dir);
    await sleep(3); // order keys are ms-grained: later callers get later keys
    const waiter = lock(dir, { timeout: 10_000 });
    assert.ok(await until(() => kinds(dir).includes('queued'), 3_000), 'the waiter in line');
    // Planted ahead of the waiter (an older order key): only reclaiming it lets it on.
    fs.writeFileSync(path.join(dir, dead), '');
    await holder.release();
    const w = await within(waiter, 3_000, 'the waiter gets in past the dead place');
    assert.ok(!markersIn(dir).includes(dead), 'the dead place was reclaimed');
    await w.release();
    assert.deepEqual(markersIn(dir), []);
  });
});
