/**
 * Writer preference: a stream of readers that never leaves the lock free does not starve a
 * writer: its marker turns new readers away, the current ones drain, and it gets in. And a
 * writer waiting behind a busy writer (a tight loop of lock/release) gets in: once it is
 * first in line with its lock marker back, the busy writer queues behind it.
 *
 * Both are asserted by order and counts (a shared log, calls seen through the fs seam),
 * not by how long anything took: the machine may be slow, the protocol may not.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { lock, type Lock } from '../../src/index.js';
import { parseMarker } from '../../src/lock/markers.js';
import { waitForLine, spawnNode } from '../helpers/child.js';
import { describeOverlap, findCrossOverlap, fixture, hrNow, intervalsOf, markersIn, ObservedOps, reap, type Interval, type WorkerLog } from '../helpers/lock-kit.js';
import { until, within } from '../helpers/wait.js';
import { tmpDir } from '../helpers/tmp.js';

/** The order key of a folder lock's marker (one per lock() call). */
const orderOf = (name: string): string => parseMarker('.lock-', name)!.order;

/** Whether a seam call made (or renamed into) an exclusive lock marker of a folder lock. */
const madeExclusive = (name: string, args: readonly unknown[]): boolean =>
  (name === 'open' && path.basename(String(args[0])).startsWith('.lock-exclusive-')) ||
  (name === 'rename' && path.basename(String(args[1])).startsWith('.lock-exclusive-'));

describe('writer preference', () => {
  it('a writer gets in past a stream of readers that never leaves the lock free; readers that come after its marker wait for it, and none holds with it', { timeout: 120_000 }, async (t) => {
    const dir = tmpDir(t);
    // Everything that happens, in order (one process: the order is the order of events).
    const log: string[] = [];
    let readers = 0; // holding now
    let freeBeforeWriter = 0; // moments with no reader, before the writer asked
    let writerAsked = false;
    let stop = false;

    const enter = (l: Lock): Lock => {
      readers++;
      log.push('reader in');
      return l;
    };
    const leave = async (l: Lock): Promise<void> => {
      readers--;
      if (readers === 0 && !writerAsked) freeBeforeWriter++;
      log.push('reader out');
      await l.release();
    };
    // Each reader lets go only once the next one has arrived: it holds the lock, or was
    // turned away (withdrew its marker, seen through its seam). So the stream by itself
    // never leaves the lock free, however the machine schedules it: a writer that needed a
    // free moment would wait forever.
    const stream = (async () => {
      let current = enter(await lock(dir, { mode: 'shared' }));
      while (!stop) {
        const seam = new ObservedOps();
        let turnedAway!: () => void;
        const away = new Promise<'away'>((resolve) => (turnedAway = () => resolve('away')));
        seam.onCall = (c) => {
          if (c.name === 'unlink' && !c.failed && path.basename(String(c.args[0])).startsWith('.lock-shared-')) turnedAway();
        };
        const next = lock(dir, { mode: 'shared', fs: seam, timeout: 60_000 });
        if ((await Promise.race([next.then(() => 'in' as const), away])) === 'in') {
          const previous = current;
          current = enter(await next);
          await leave(previous);
        } else {
          log.push('reader turned away');
          await leave(current);
          current = enter(await next);
        }
        await sleep(2); // a short hold: the hand-over rule above, not this, keeps the lock busy
      }
      await leave(current);
    })();

    assert.ok(await until(() => log.filter((e) => e === 'reader in').length >= 20, 60_000), 'the stream of readers runs');
    const seam = new ObservedOps();
    seam.onCall = (c) => {
      if (!c.failed && madeExclusive(c.name, c.args)) log.push('writer marker');
    };
    writerAsked = true;
    // Its timeout is the only bound on its wait, and only for a hang: without writer
    // preference the stream above never lets it in.
    const w = await lock(dir, { fs: seam, timeout: 60_000 });
    log.push('writer in');
    const readersWithWriter = readers;
    await sleep(20); // readers keep trying meanwhile (they are turned away)
    log.push('writer out');
    await w.release();
    assert.ok(await until(() => log.lastIndexOf('reader in') > log.indexOf('writer out'), 60_000), 'readers get in again after the writer');
    stop = true;
    await within(stream, 60_000, 'the stream of readers stops');

    const marker = log.indexOf('writer marker');
    const wIn = log.indexOf('writer in');
    const wOut = log.indexOf('writer out');
    const count = (from: number, to: number, what: string): number => log.slice(from, to).filter((e) => e === what).length;
    t.diagnostic(`${count(0, log.length, 'reader in')} reader entries; between the writer's marker and its entry: ${log.slice(marker, wIn + 1).join(', ')}`);
    assert.equal(freeBeforeWriter, 0, 'the readers never left the lock free before the writer asked');
    assert.ok(marker >= 0 && marker < wIn, 'the writer made its marker, then got in');
    // A reader whose look came before the writer's marker may still be on its way in; any
    // later one sees the marker and withdraws.
    assert.ok(count(marker, wIn, 'reader in') <= 1, `${count(marker, wIn, 'reader in')} readers got in after the writer's marker was made`);
    assert.ok(count(marker, wIn, 'reader turned away') >= 1, 'a reader was turned away by the waiting writer');
    assert.equal(readersWithWriter, 0, 'no reader held the lock when the writer got it');
    assert.equal(count(wIn, wOut, 'reader in'), 0, 'no reader got in while the writer held the lock');
    assert.deepEqual(markersIn(dir), []);
  });

  it('a writer waiting behind a busy writer (a tight loop of lock/release) gets in, and once its lock marker is back the busy writer gets in at most once more before it', { timeout: 120_000 }, async (t) => {
    const dir = tmpDir(t);
    const logs = tmpDir(t);
    const stop = path.join(logs, 'stop');
    const log = path.join(logs, 'busy.json');
    // Hold 0: releases and takes the lock again at once, never idle, never yielding to a timer.
    const busy = spawnNode(t, fixture('reader-loop.js'), [dir, '0', stop, log, 'exclusive']);
    await waitForLine(busy, 'first', 10_000);
    const mine: (Interval & { contended: bigint })[] = [];
    for (let i = 0; i < 5; i++) {
      const seam = new ObservedOps();
      // When its marker last became a lock marker (made, or renamed back from its place in line).
      let contended = -1n;
      seam.onCall = (c) => {
        if (!c.failed && madeExclusive(c.name, c.args)) contended = hrNow();
      };
      const w = await lock(dir, { fs: seam, timeout: 60_000, retryInterval: 20 });
      const got = hrNow();
      await sleep(2);
      mine.push({ start: got, end: hrNow(), who: `waiter #${i}`, contended });
      const before = new Set(markersIn(dir).map(orderOf));
      await w.release();
      // The busy writer holds the lock before the next round: each of its lock() calls has
      // an order key of its own, so a second new key means the call with the first one
      // got the lock (after this release) and let it go. (Waiting for only one new marker
      // is not enough: order keys are ms-grained, and a next waiter that drew an earlier
      // key in the same ms would rightly go first.)
      const fresh = new Set<string>();
      const heldAgain = await until(() => {
        for (const n of markersIn(dir)) if (!before.has(orderOf(n))) fresh.add(orderOf(n));
        return fresh.size >= 2;
      }, 30_000);
      assert.ok(heldAgain, `the busy writer goes on after waiter #${i}`);
    }
    fs.writeFileSync(stop, '');
    const exit = await reap(busy, 10_000, 'busy writer');
    assert.equal(exit.code, 0, 'the busy writer exits cleanly');
    const theirs = intervalsOf(JSON.parse(fs.readFileSync(log, 'utf8')) as WorkerLog, 'exclusive');
    const passed = mine.map((m) => theirs.filter((b) => b.start > m.contended && b.start < m.start).length);
    t.diagnostic(`the busy writer held it ${theirs.length} times; entries after each waiter's lock marker was back: ${passed.join(', ')}`);
    for (const [i, m] of mine.entries()) {
      assert.ok(m.contended > 0n, `waiter #${i} made a lock marker`);
      // Only an entry whose look came before that marker can still land after it; any later
      // one sees an earlier writer contending and queues.
      assert.ok(passed[i]! <= 1, `the busy writer got in ${passed[i]} times after waiter #${i}'s lock marker was back`);
    }
    const overlap = findCrossOverlap(mine, theirs);
    assert.equal(overlap, undefined, `the busy writer held the lock with a waiter: ${describeOverlap(overlap)}`);
    for (let i = 1; i < mine.length; i++) {
      assert.ok(theirs.some((b) => b.start > mine[i - 1]!.end && b.end < mine[i]!.start), `the busy writer held the lock between waiters #${i - 1} and #${i}`);
    }
    assert.deepEqual(markersIn(dir), []);
  });
});
