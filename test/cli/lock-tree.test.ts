/**
 * `atomfs lock PATH -- CMD` holds the lock for as long as CMD and everything it started run,
 * whatever happens to atomfs itself (issue 16.2). Before, the marker named the CLI's pid:
 * SIGKILL the CLI and a second locker got in while the command was still running (flock(1)
 * keeps its lock on a descriptor the command inherits; atomfs now does the same, fd 3).
 * Every check here is one of order (the monotonic clock is shared by all processes of the
 * host), never of duration.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { lock } from '../../src/index.js';
import { exited } from '../helpers/child.js';
import { shQuote, spawnCli } from '../helpers/cli.js';
import { list, tmpDir } from '../helpers/tmp.js';

// A command that says it is running (its pid), waits (bounded) for a release file, then
// writes the moment it ends. Its stdio is not atomfs's: a grandchild holding the test's
// pipes would keep them open after atomfs is killed.
const HOLDER = `
const fs = require('node:fs');
const [ready, release, end] = process.argv.slice(1);
fs.writeFileSync(ready, String(process.pid));
const until = Date.now() + 60000;
const tick = () => {
  if (fs.existsSync(release) || Date.now() > until) {
    fs.writeFileSync(end, String(process.hrtime.bigint()));
    process.exit(0);
  }
  setTimeout(tick, 10);
};
tick();
`;
const ENTRANT = `require('node:fs').writeFileSync(process.argv[1], String(process.hrtime.bigint()))`;

function holderCommand(dir: string, background = false): string[] {
  const args = [process.execPath, '-e', HOLDER, path.join(dir, 'ready'), path.join(dir, 'release'), path.join(dir, 'end')].map(shQuote).join(' ');
  return background ? ['sh', '-c', `${args} </dev/null >/dev/null 2>&1 & exit 0`] : ['sh', '-c', `exec ${args} </dev/null >/dev/null 2>&1`];
}

/** Waits (bounded) for a file to appear. */
async function appears(p: string, what: string, ms = 20_000): Promise<void> {
  const until = Date.now() + ms;
  while (!fs.existsSync(p)) {
    if (Date.now() > until) throw new Error(`${what}: ${p} did not appear within ${ms} ms`);
    await sleep(10);
  }
}

function markers(dir: string): string[] {
  return list(dir).filter((n) => n.startsWith('.lock-exclusive-') || n.startsWith('.lock-shared-'));
}

function end(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return exited(child);
}

describe('atomfs lock: the lock lives as long as the command and what it started', () => {
  it('SIGKILL of atomfs mid-command: a second `atomfs lock` gets in only after the command has ended (3 tries)', { timeout: 120_000 }, async (t) => {
    for (let round = 0; round < 3; round++) {
      const dir = tmpDir(t);
      const locked = path.join(dir, 'locked');
      fs.mkdirSync(locked);
      const first = spawnCli(t, ['lock', locked, '--', ...holderCommand(dir)], { stdio: 'ignore' });
      const firstEnd = end(first);
      await appears(path.join(dir, 'ready'), 'the first command');
      process.kill(first.pid!, 'SIGKILL');
      assert.equal((await firstEnd).signal, 'SIGKILL');
      const got = path.join(dir, 'got');
      const second = spawnCli(t, ['lock', '--timeout', '60s', locked, '--', process.execPath, '-e', ENTRANT, got], { stdio: 'ignore' });
      const secondEnd = end(second);
      // Let the second locker try for a while before the first command ends.
      await sleep(300);
      fs.writeFileSync(path.join(dir, 'release'), '');
      assert.deepEqual(await secondEnd, { code: 0, signal: null });
      const gotAt = BigInt(fs.readFileSync(got, 'utf8'));
      const endedAt = BigInt(fs.readFileSync(path.join(dir, 'end'), 'utf8'));
      assert.ok(gotAt > endedAt, `round ${round}: the second locker got in ${Number(endedAt - gotAt) / 1e6} ms BEFORE the first command ended`);
      assert.deepEqual(markers(locked), [], 'no marker left');
    }
  });

  it('SIGKILL of the command itself: atomfs exits 137 and the lock is free at once', { timeout: 60_000 }, async (t) => {
    const dir = tmpDir(t);
    const locked = path.join(dir, 'locked');
    fs.mkdirSync(locked);
    const first = spawnCli(t, ['lock', locked, '--', ...holderCommand(dir)], { stdio: 'ignore' });
    const firstEnd = end(first);
    await appears(path.join(dir, 'ready'), 'the command');
    process.kill(Number(fs.readFileSync(path.join(dir, 'ready'), 'utf8')), 'SIGKILL');
    assert.deepEqual(await firstEnd, { code: 137, signal: null });
    const l = await lock(locked, { timeout: 0 });
    await l.release();
    assert.deepEqual(markers(locked), []);
  });

  it('a background child that outlives the command keeps the lock (as with flock(1)) until it exits; then the next locker takes it at once', { timeout: 60_000 }, async (t) => {
    const dir = tmpDir(t);
    const locked = path.join(dir, 'locked');
    fs.mkdirSync(locked);
    const first = spawnCli(t, ['lock', locked, '--', ...holderCommand(dir, true)], { stdio: 'ignore' });
    assert.deepEqual(await end(first), { code: 0, signal: null }, 'the command (the shell) ended at once');
    await appears(path.join(dir, 'ready'), 'the background child');
    await assert.rejects(lock(locked, { timeout: 0 }), { code: 'ETIMEDOUT' }, 'the background child still holds the lock');
    assert.equal(markers(locked).length, 1, 'its marker stays');
    const waiting = lock(locked, { timeout: 30_000 });
    await sleep(100);
    fs.writeFileSync(path.join(dir, 'release'), '');
    const l = await waiting;
    const gotAt = process.hrtime.bigint();
    await l.release();
    const endedAt = BigInt(fs.readFileSync(path.join(dir, 'end'), 'utf8'));
    assert.ok(gotAt > endedAt, 'taken only after the background child ended');
    assert.deepEqual(markers(locked), [], 'the abandoned marker was reclaimed, ours released');
  });
});
