/**
 * Mutual exclusion across processes: workers increment a plain (non-atomic) counter file
 * under an exclusive lock, and readers read it under shared locks, while every critical
 * section is logged on the host-wide monotonic clock and checked for overlaps.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { countOverlaps, describeOverlap, findCrossOverlap, findOverlap, fixture, intervalsOf, markersIn, runWorkers } from '../helpers/lock-kit.js';
import { tmpDir } from '../helpers/tmp.js';

const WORKER = fixture('counter-worker.js');

describe('exclusive locks across processes', () => {
  it('8 processes incrementing a plain counter 200 times each end at exactly 1600, and no two exclusive sections overlap', { timeout: 90_000 }, async (t) => {
    const dir = tmpDir(t);
    const logs = tmpDir(t);
    fs.writeFileSync(path.join(dir, 'counter'), '0');
    const started = Date.now();
    // retryInterval 2 ms: with the default 25 ms a hand-off between eight contenders costs
    // about one retry interval, so the run would take half a minute and test nothing more.
    const results = await runWorkers(t, WORKER, 8, (_, log) => ['increment', dir, '200', log, JSON.stringify({ retryInterval: 2 })], logs, 75_000);
    t.diagnostic(`1600 exclusive acquisitions by 8 processes in ${Date.now() - started} ms`);

    assert.equal(fs.readFileSync(path.join(dir, 'counter'), 'latin1'), '1600');
    for (const r of results) assert.deepEqual(r.problems, [], `worker ${r.pid} saw a malformed counter`);
    const all = results.flatMap((r) => intervalsOf(r, 'exclusive'));
    assert.equal(all.length, 1600);
    const overlap = findOverlap(all);
    assert.equal(overlap, undefined, `exclusive sections overlap: ${describeOverlap(overlap)}`);
    // Tokens follow the order of the critical sections, strictly.
    const byStart = [...all].sort((a, b) => (a.start < b.start ? -1 : 1));
    for (let i = 1; i < byStart.length; i++) assert.ok(byStart[i]!.token! > byStart[i - 1]!.token!, `token ${byStart[i]!.token} after ${byStart[i - 1]!.token}`);
    assert.deepEqual(markersIn(dir), [], 'every marker is gone after the last release');
  });
});

describe('shared and exclusive locks across processes', () => {
  it('readers under shared locks never see a two-step write in progress, shared holders overlap each other, and none overlaps a writer', { timeout: 90_000 }, async (t) => {
    const dir = tmpDir(t);
    const logs = tmpDir(t);
    fs.writeFileSync(path.join(dir, 'counter'), '0');
    const WRITERS = 3;
    const WRITES = 40;
    const READERS = 4;
    const READS = 60;
    const started = Date.now();
    const pause = JSON.stringify({ pauseMs: 3 });
    const role = (i: number): string => (i < WRITERS ? 'writer' : i < WRITERS + READERS ? 'reader' : 'spy');
    const all = await runWorkers(t, WORKER, WRITERS + READERS + 1, (i, log) => [role(i), dir, String(i < WRITERS ? WRITES : i < WRITERS + READERS ? READS : 400), log, pause], logs, 75_000);
    t.diagnostic(`${WRITERS * WRITES} two-step writes and ${READERS * READS} double reads in ${Date.now() - started} ms`);

    // The control: a reader taking no lock does see writes in progress.
    const spy = all.find((r) => r.role === 'spy')!;
    t.diagnostic(`an unlocked reader saw ${spy.problems.length} writes in progress in 400 double reads`);
    assert.ok(spy.problems.length > 0, 'the two-step writes must be visible to a reader that takes no lock');
    const results = all.filter((r) => r.role !== 'spy');
    assert.equal(fs.readFileSync(path.join(dir, 'counter'), 'latin1'), String(WRITERS * WRITES));
    for (const r of results) assert.deepEqual(r.problems, [], `${r.role} ${r.pid} saw a write in progress`);
    const writes = results.filter((r) => r.role === 'writer').flatMap((r) => intervalsOf(r, 'exclusive'));
    const reads = results.filter((r) => r.role === 'reader').flatMap((r) => intervalsOf(r, 'shared'));
    assert.equal(writes.length, WRITERS * WRITES);
    assert.equal(reads.length, READERS * READS);

    const ww = findOverlap(writes);
    assert.equal(ww, undefined, `two writers overlap: ${describeOverlap(ww)}`);
    const rw = findCrossOverlap(reads, writes);
    assert.equal(rw, undefined, `a reader overlaps a writer: ${describeOverlap(rw)}`);
    const shared = countOverlaps(reads);
    t.diagnostic(`overlapping pairs of shared sections: ${shared}`);
    assert.ok(shared >= 1, 'shared holders must demonstrably hold at the same time');
    assert.deepEqual(markersIn(dir), [], 'every marker is gone after the last release');
  });
});
