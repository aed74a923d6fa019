/**
 * Writer preference: readers taking and releasing shared locks in a tight loop, with
 * overlapping holds, leave no moment where the lock is free; a writer that needed such a
 * moment would starve. With writer preference the waiting writer's marker turns new
 * readers away, the current ones drain, and the writer gets in within a bounded time.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { lock } from '../../src/index.js';
import { waitForLine, spawnNode } from '../helpers/child.js';
import { describeOverlap, findCrossOverlap, fixture, hrNow, intervalsOf, markersIn, ms, reap, uncovered, type WorkerLog } from '../helpers/lock-kit.js';
import { tmpDir } from '../helpers/tmp.js';

const READERS = 4;
const HOLD_MS = 40;

describe('writer preference', () => {
  it('a writer gets in within 2 s while readers keep taking overlapping shared locks, and no reader holds with it', { timeout: 60_000 }, async (t) => {
    const dir = tmpDir(t);
    const logs = tmpDir(t);
    const stop = path.join(logs, 'stop');
    const readers = Array.from({ length: READERS }, (_, i) => {
      const log = path.join(logs, `reader-${i}.json`);
      return { log, child: spawnNode(t, fixture('reader-loop.js'), [dir, String(HOLD_MS), stop, log]) };
    });
    await Promise.all(readers.map((r) => waitForLine(r.child, 'first', 10_000)));
    // Let the stream of readers run on its own for a while.
    await sleep(500);

    const asked = hrNow();
    const w = await lock(dir, { timeout: 10_000 });
    const got = hrNow();
    await sleep(20);
    const done = hrNow();
    await w.release();
    // The readers carry on after the writer.
    await sleep(200);
    fs.writeFileSync(stop, '');
    const exits = await Promise.all(readers.map((r, i) => reap(r.child, 10_000, `reader ${i}`)));
    assert.deepEqual(exits.map((e) => e.code), readers.map(() => 0), 'every reader exits cleanly');

    const reads = readers.flatMap((r) => intervalsOf(JSON.parse(fs.readFileSync(r.log, 'utf8')) as WorkerLog, 'shared'));
    const waited = ms(got - asked);
    const before = uncovered(reads, asked - 400_000_000n, asked);
    t.diagnostic(`writer waited ${waited.toFixed(1)} ms; ${reads.length} shared sections; in the 400 ms before it asked, no reader held the lock for ${ms(before.total).toFixed(2)} ms in all (longest gap ${ms(before.longest).toFixed(2)} ms)`);

    // Without writer preference the writer would need a moment with no reader at all:
    // the readers left practically none.
    assert.ok(ms(before.total) < 20, `readers left the lock free for ${ms(before.total).toFixed(2)} ms of 400 ms`);
    assert.ok(waited < 2_000, `the writer waited ${waited.toFixed(1)} ms`);
    const overlap = findCrossOverlap([{ start: got, end: done, who: 'writer' }], reads);
    assert.equal(overlap, undefined, `a reader held the lock with the writer: ${describeOverlap(overlap)}`);
    assert.ok(reads.some((r) => r.start > done), 'readers got the lock again after the writer');
    assert.deepEqual(markersIn(dir), []);
  });

  it('a writer waiting behind a busy writer (a tight loop of lock/release) gets in within a bounded time', { timeout: 60_000 }, async (t) => {
    const dir = tmpDir(t);
    const logs = tmpDir(t);
    const stop = path.join(logs, 'stop');
    const log = path.join(logs, 'busy.json');
    // Hold 0: releases and takes the lock again at once, never idle, never yielding to a timer.
    const busy = spawnNode(t, fixture('reader-loop.js'), [dir, '0', stop, log, 'exclusive']);
    await waitForLine(busy, 'first', 10_000);
    await sleep(200);
    const waits: number[] = [];
    const mine: { start: bigint; end: bigint; who: string }[] = [];
    for (let i = 0; i < 5; i++) {
      const asked = hrNow();
      const w = await lock(dir, { timeout: 10_000, retryInterval: 20 });
      const got = hrNow();
      waits.push(ms(got - asked));
      await sleep(2);
      mine.push({ start: got, end: hrNow(), who: `waiter #${i}` });
      await w.release();
      await sleep(30); // the busy writer has the lock to itself again
    }
    fs.writeFileSync(stop, '');
    const exit = await reap(busy, 10_000, 'busy writer');
    assert.equal(exit.code, 0, 'the busy writer exits cleanly');
    const theirs = intervalsOf(JSON.parse(fs.readFileSync(log, 'utf8')) as WorkerLog, 'exclusive');
    t.diagnostic(`waits ${waits.map((w) => w.toFixed(1)).join(', ')} ms; the busy writer held it ${theirs.length} times`);
    // The busy writer may keep the lock for up to retryInterval (20 ms) of the waiter's
    // wait; then the waiter's marker makes it queue. 500 ms leaves room for a slow machine.
    for (const w of waits) assert.ok(w < 500, `a waiter waited ${w.toFixed(1)} ms`);
    const overlap = findCrossOverlap(mine, theirs);
    assert.equal(overlap, undefined, `the busy writer held the lock with a waiter: ${describeOverlap(overlap)}`);
    assert.ok(theirs.length > 100, 'the busy writer ran between the waiters');
    assert.deepEqual(markersIn(dir), []);
  });
});
