/**
 * A reader process reads one destination path in a tight loop while the test moves 200
 * new versions onto it with overwrite: true, alternating a rename on one device and a
 * verified copy from another device. The reader must never find the path missing
 * (ENOENT) nor a partial or mixed file.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { move } from '../../src/index.js';
import { spawnNode } from '../helpers/child.js';
import { closed, collectText, itemContent, Lines, otherDevices, reap, seeded } from '../helpers/move-kit.js';
import { tmpDir } from '../helpers/tmp.js';

const READER = fileURLToPath(new URL('./fixtures/reader.js', import.meta.url));
const MOVES = 200;

describe('a concurrent reader during overwrite-moves', () => {
  it(`never finds the destination missing or partial during ${MOVES} overwrite-moves onto it (renames on one device, copies across devices)`, { timeout: 120_000 }, async (t) => {
    const disk = tmpDir(t);
    const other = otherDevices(t)[0];
    if (!other) t.diagnostic('no other device here (needs root or /dev/shm): renames on one device only');
    const stageSame = path.join(disk, 'stage');
    const stageOther = other ? path.join(other.dir, 'stage') : stageSame;
    fs.mkdirSync(stageSame);
    fs.mkdirSync(stageOther, { recursive: true });
    fs.mkdirSync(path.join(disk, 'dest'));
    const dest = path.join(disk, 'dest', 'current.dat');
    const rand = seeded(12345);
    const version = (i: number): Buffer => itemContent(`v${i}`, 1000 + Math.floor(rand() * 200_000), 'reader');
    fs.writeFileSync(dest, version(0));

    const reader = spawnNode(t, READER, [dest], { stdio: ['pipe', 'pipe', 'pipe'] });
    const done = closed(reader);
    reader.stdin!.on('error', () => {});
    const lines = new Lines(reader.stdout!);
    const stderr = collectText(reader.stderr);
    try {
      await lines.waitFor('READY', 15_000);
      const strategies = new Map<string, number>();
      for (let i = 1; i <= MOVES; i++) {
        const src = path.join(i % 2 === 0 ? stageSame : stageOther, `v${i}`);
        fs.writeFileSync(src, version(i));
        const r = await move(src, dest, { overwrite: true });
        strategies.set(r.strategy, (strategies.get(r.strategy) ?? 0) + 1);
      }
      t.diagnostic(`strategies: ${JSON.stringify(Object.fromEntries(strategies))}`);
      assert.equal(strategies.get('rename'), other ? MOVES / 2 : MOVES);
      if (other) assert.equal(strategies.get('copy'), MOVES / 2);
    } finally {
      reader.stdin!.end();
      await reap(reader, done, 15_000);
    }
    const line = lines.lines.find((l) => l.startsWith('RESULT '));
    assert.ok(line, `the reader reported; stderr:\n${stderr()}`);
    const res = JSON.parse(line.slice('RESULT '.length)) as { reads: number; enoent: number; partial: number; otherErrors: number; versions: number; firstBad: string };
    t.diagnostic(`reader: ${JSON.stringify(res)}`);
    assert.equal(res.enoent, 0, `the destination was missing ${res.enoent} times (${res.firstBad})`);
    assert.equal(res.partial, 0, `a partial destination was read ${res.partial} times (${res.firstBad})`);
    assert.equal(res.otherErrors, 0, res.firstBad);
    assert.ok(res.reads >= MOVES, `the reader read while the moves ran (${res.reads} reads)`);
    assert.ok(res.versions >= 10, `the reader saw the versions change (${res.versions})`);
    assert.ok(fs.readFileSync(dest).toString('latin1').startsWith(`ITEM v${MOVES} `), 'the last version is in place');
    assert.deepEqual(fs.readdirSync(path.join(disk, 'dest')), ['current.dat'], 'no temp left');
  });
});
