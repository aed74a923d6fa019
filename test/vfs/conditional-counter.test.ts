/**
 * The ifMatch counter (#22): N writers increment one counter file with a read-version /
 * ifMatch-write retry loop and lose no update. MemoryMount: concurrent async loops in one
 * process (all that can share it). LocalMount: real worker processes on one folder. The
 * control, the same loop without ifMatch, loses updates, so the counter can fail.
 * (PostgresMount: test/postgres/pg-conditional.test.ts.)
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { LocalMount, MemoryMount, VirtualFileSystem } from '../../src/index.js';
import { tmpDir } from '../helpers/tmp.js';
import { runCounterWorkers } from './counter-kit.js';

// One in-process loop: stat (the version) before reading, so a write that passes ifMatch
// replaces exactly what was read.
async function loop(vfs: VirtualFileSystem, file: string, increments: number, conditional: boolean): Promise<number> {
  let conflicts = 0;
  for (let ok = 0; ok < increments; ) {
    if (conflicts > 100_000) throw new Error('too many conflicts');
    const { version } = await vfs.stat(file);
    const n = Number(await vfs.readFile(file, { encoding: 'utf8' }));
    await sleep(0);
    try {
      await vfs.writeFile(file, String(n + 1), conditional ? { ifMatch: version! } : {});
      ok++;
    } catch (e) {
      if ((e as { code?: unknown }).code !== 'ECANCELED') throw e;
      conflicts++;
    }
  }
  return conflicts;
}

describe('ifMatch counter: MemoryMount, 8 concurrent loops in one process', () => {
  const loops = 8;
  const increments = 100;
  const run = async (conditional: boolean): Promise<{ value: number; conflicts: number }> => {
    const vfs = new VirtualFileSystem();
    vfs.mount('/m', new MemoryMount());
    await vfs.writeFile('/m/counter', '0');
    const conflicts = await Promise.all(Array.from({ length: loops }, () => loop(vfs, '/m/counter', increments, conditional)));
    assert.deepEqual(await vfs.list('/m'), ['counter'], 'no temp files left');
    return { value: Number(await vfs.readFile('/m/counter', { encoding: 'utf8' })), conflicts: conflicts.reduce((a, b) => a + b, 0) };
  };

  it('8 loops x 100 ifMatch increments lose no update (the conflicts were retried)', async () => {
    const r = await run(true);
    assert.equal(r.value, loops * increments);
    assert.ok(r.conflicts > 0, 'the loops did collide');
  });

  it('control: the same loops without ifMatch lose updates', async () => {
    const r = await run(false);
    assert.equal(r.conflicts, 0);
    assert.ok(r.value < loops * increments, `expected lost updates, got ${r.value}`);
  });
});

describe('ifMatch counter: LocalMount, 6 worker processes on one folder', () => {
  const procs = 6;
  const increments = 30;
  const setup = (t: import('node:test').TestContext): { dir: string; scratch: string } => {
    const dir = tmpDir(t);
    const scratch = tmpDir(t);
    fs.writeFileSync(path.join(dir, 'counter'), '0');
    return { dir, scratch };
  };

  it('6 processes x 30 ifMatch increments lose no update; no temp file or lock marker is left', async (t) => {
    const { dir, scratch } = setup(t);
    const results = await runCounterWorkers(t, { kind: 'local', target: dir, procs, increments, mode: 'ifMatch', pauseMs: 1, scratch });
    assert.deepEqual(results.map((r) => r.ok), Array(procs).fill(increments));
    assert.equal(Number(fs.readFileSync(path.join(dir, 'counter'), 'utf8')), procs * increments);
    assert.ok(results.some((r) => r.conflicts > 0), 'the processes did collide');
    assert.deepEqual(fs.readdirSync(dir), ['counter']);
    assert.deepEqual(await new LocalMount(dir).list('/'), ['counter']);
  });

  it('control: the same processes without ifMatch lose updates', async (t) => {
    const { dir, scratch } = setup(t);
    const results = await runCounterWorkers(t, { kind: 'local', target: dir, procs, increments, mode: 'blind', pauseMs: 1, scratch });
    assert.deepEqual(results.map((r) => r.ok), Array(procs).fill(increments));
    const value = Number(fs.readFileSync(path.join(dir, 'counter'), 'utf8'));
    assert.ok(value < procs * increments, `expected lost updates, got ${value}`);
  });
});
