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
});
