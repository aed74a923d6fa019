/**
 * Fencing tokens: every exclusive holder of a path gets a token larger than every earlier
 * holder's, across processes, and also when the token file's last value is from another
 * boot (counting resumes above the durable high-water mark).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { lock } from '../../src/index.js';
import { describeOverlap, findOverlap, fixture, intervalsOf, markersIn, runWorkers } from '../helpers/lock-kit.js';
import { tmpDir } from '../helpers/tmp.js';

/** The token file of a folder lock: `<last> <boot id> <high-water mark>`, padded to 64 bytes. */
function readTokenFile(dir: string): { last: number; boot: string; hwm: number; raw: string } {
  const raw = fs.readFileSync(path.join(dir, '.lock-token'), 'latin1');
  const [last, boot, hwm] = raw.trim().split(/\s+/);
  return { last: Number(last), boot: boot!, hwm: Number(hwm), raw };
}

describe('fencing tokens', () => {
  it('grow strictly across 50 exclusive acquisitions by 5 processes, in the order the lock was held', { timeout: 60_000 }, async (t) => {
    const dir = tmpDir(t);
    const logs = tmpDir(t);
    fs.writeFileSync(path.join(dir, 'counter'), '0');
    const results = await runWorkers(t, fixture('counter-worker.js'), 5, (_, log) => ['increment', dir, '10', log], logs, 45_000);
    const held = results.flatMap((r) => intervalsOf(r, 'exclusive'));
    assert.equal(held.length, 50);
    const overlap = findOverlap(held);
    assert.equal(overlap, undefined, describeOverlap(overlap));
    const tokens = [...held].sort((a, b) => (a.start < b.start ? -1 : 1)).map((i) => i.token!);
    for (let i = 1; i < tokens.length; i++) assert.ok(tokens[i]! > tokens[i - 1]!, `token ${tokens[i]} came after ${tokens[i - 1]}: ${tokens.join(' ')}`);
    assert.equal(new Set(tokens).size, 50);
    assert.equal(fs.readFileSync(path.join(dir, 'counter'), 'latin1'), '50');
    const file = readTokenFile(dir);
    assert.equal(file.last, tokens.at(-1), 'the token file records the last token handed out');
    assert.ok(file.hwm > file.last, 'the durable high-water mark is ahead of every token handed out');
    assert.deepEqual(markersIn(dir), []);
  });

  it('never go back when the token file’s last value is from another boot: the next token is above the high-water mark', async (t) => {
    const dir = tmpDir(t);
    const seen: number[] = [];
    for (let i = 0; i < 3; i++) {
      const l = await lock(dir);
      seen.push(l.token!);
      await l.release();
    }
    const before = readTokenFile(dir);
    assert.equal(before.last, seen.at(-1));
    assert.ok(before.hwm > before.last);
    // As after a power loss: `last` lost (an old value), written in an earlier boot.
    const otherBoot = before.boot.replace(/[0-9a-f]/g, (c) => (c === '0' ? '1' : '0'));
    assert.notEqual(otherBoot, before.boot);
    fs.writeFileSync(path.join(dir, '.lock-token'), `1 ${otherBoot} ${before.hwm}`.padEnd(63) + '\n', 'latin1');

    const l = await lock(dir);
    const token = l.token!;
    await l.release();
    assert.ok(token > before.hwm, `token ${token} must be above the high-water mark ${before.hwm}`);
    assert.ok(token > Math.max(...seen));
    const after = readTokenFile(dir);
    assert.equal(after.last, token);
    assert.equal(after.boot, before.boot, 'the file is back on this boot');
    assert.ok(after.hwm > token, 'a new high-water mark was made durable ahead of the token');

    // And counting goes on from there, strictly.
    const next = await lock(dir);
    assert.ok(next.token! > token);
    await next.release();
  });
});
