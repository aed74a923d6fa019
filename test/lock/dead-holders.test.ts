/**
 * Dead holders: a holder killed with SIGKILL is replaced by the process already waiting at
 * its first look after the holder is gone, and several processes reclaiming one stale lock
 * at the same instant never end up holding it together (by process liveness, and by lease
 * in leaseOnly mode).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { lock } from '../../src/index.js';
import { realOps } from '../../src/internal/fs-ops.js';
import { markerName, orderKey, shortBoot, thisHost } from '../../src/lock/markers.js';
import { describeOverlap, findOverlap, hrNow, LockClient, markersIn, ms, reap, type Interval } from '../helpers/lock-kit.js';
import { tmpDir } from '../helpers/tmp.js';

/** Starts `n` lock clients and waits until each is ready. */
async function clients(t: TestContext, n: number, name: string): Promise<LockClient[]> {
  const cs = Array.from({ length: n }, (_, i) => new LockClient(t, `${name} ${i}`));
  await Promise.all(cs.map((c) => c.ready()));
  return cs;
}

async function exitAll(cs: LockClient[]): Promise<void> {
  const codes = await Promise.all(cs.map((c) => c.exit()));
  assert.deepEqual(codes, cs.map(() => 0), 'every client exits cleanly');
}

describe('a holder killed with SIGKILL', () => {
  it('is replaced by the process already waiting: its first attempt after the holder is gone reclaims the marker and takes the lock (5 times)', { timeout: 120_000 }, async (t) => {
    const dir = tmpDir(t);
    const REPS = 5;
    const cs = await clients(t, REPS + 1, 'client');
    const latencies: number[] = [];
    cs[0]!.send({ op: 'lock', path: dir });
    await cs[0]!.next('locked');
    for (let i = 0; i < REPS; i++) {
      const holder = cs[i]!;
      const waiter = cs[i + 1]!;
      waiter.send({ op: 'lock', path: dir, opts: { timeout: 60_000 }, attempts: true });
      await waiter.next('waiting');
      // It has looked a few times and found the holder alive each time.
      for (let k = 0; k < 3; k++) await waiter.next('attempt');
      assert.equal(waiter.lines.some((l) => l.startsWith('locked')), false, 'the waiter must not get the lock while the holder lives');
      const killedAt = hrNow();
      process.kill(holder.pid, 'SIGKILL');
      // Reaped: from here on the holder's pid names no process (or another one).
      const end = await reap(holder.child, 10_000, holder.name);
      assert.equal(end.signal, 'SIGKILL', 'the holder died of the signal');
      const goneAt = hrNow();
      const got = LockClient.hr(await waiter.next('locked', 60_000));
      latencies.push(ms(got - killedAt));
      const attemptsAfter = waiter.lines.filter((l) => l.startsWith('attempt ') && LockClient.hr(l) > goneAt).length;
      // A waiter polls for what raises no event (a killed holder removes nothing): it takes
      // the lock at the first look that finds the holder dead, not after a grace period.
      assert.ok(attemptsAfter <= 1, `round ${i}: ${attemptsAfter} attempts after the holder was reaped before the waiter took the lock`);
    }
    t.diagnostic(`kill -> acquire (ms): ${latencies.map((l) => l.toFixed(1)).join(', ')}`);
    const last = cs[REPS]!;
    last.send({ op: 'release' });
    await last.next('release-done');
    await exitAll([last]);
    assert.deepEqual(markersIn(dir), [], 'the dead holders’ markers were reclaimed and the last one released');
  });
});

describe('a holder that exits without releasing', () => {
  it('leaves no marker behind, so the next taker gets the lock at once', { timeout: 30_000 }, async (t) => {
    const dir = tmpDir(t);
    const [c] = await clients(t, 1, 'client');
    c!.send({ op: 'lock', path: dir });
    await c!.next('locked');
    assert.equal(markersIn(dir).length, 1);
    assert.equal(await c!.exit(), 0);
    assert.deepEqual(markersIn(dir), [], 'the exit hook removed the marker');
    const l = await lock(dir, { timeout: 0 });
    await l.release();
  });
});

/**
 * Runs `rounds` rounds: in each, `prepare(roundDir)` plants a stale marker, then three
 * clients start lock() at the same instant of the shared clock, each holding for a few ms.
 * Fails at the first round where two of them held the lock at once.
 */
async function reclaimRace(
  t: TestContext,
  rounds: number,
  base: string,
  prepare: (roundDir: string) => string,
  opts: Record<string, unknown>,
): Promise<void> {
  const cs = await clients(t, 3, 'reclaimer');
  for (let r = 0; r < rounds; r++) {
    const roundDir = path.join(base, `round-${r}`);
    fs.mkdirSync(roundDir);
    const stale = prepare(roundDir);
    // A few ms ahead, so every client is spinning on the clock when the instant comes.
    const startAt = String(hrNow() + 15_000_000n);
    for (const c of cs) c.send({ op: 'lock', path: roundDir, opts: { timeout: 10_000, ...opts }, holdMs: 3, startAt });
    const intervals: Interval[] = [];
    for (const c of cs) {
      const start = LockClient.hr(await c.next('locked', 15_000));
      const end = LockClient.hr(await c.next('released', 15_000));
      await c.next('release-done', 15_000);
      intervals.push({ start, end, who: `round ${r} ${c.name}` });
    }
    const overlap = findOverlap(intervals);
    assert.equal(overlap, undefined, `round ${r}: two holders at once: ${describeOverlap(overlap)}`);
    assert.equal(fs.existsSync(path.join(roundDir, stale)), false, `round ${r}: the stale marker was reclaimed`);
    assert.deepEqual(markersIn(roundDir), [], `round ${r}: no marker is left behind`);
    assert.deepEqual(
      fs.readdirSync(roundDir).filter((n) => n !== '.lock-token'),
      [],
      `round ${r}: nothing but the token file is left (no reclaim leftovers)`,
    );
  }
  await exitAll(cs);
}

describe('three processes reclaiming one stale lock at the same instant', () => {
  it('never hold it together when the stale marker is a dead process’s (50 rounds)', { timeout: 90_000 }, async (t) => {
    const base = tmpDir(t);
    // A pid that surely belonged to a process that is gone now.
    const gone = spawnSync('true');
    assert.equal(gone.status, 0);
    const deadPid = gone.pid!;
    const boot = shortBoot(realOps.sync.bootId());
    const started = Date.now();
    await reclaimRace(
      t,
      50,
      base,
      (roundDir) => {
        const name = markerName('.lock-', {
          mode: 'exclusive',
          pid: deadPid,
          hostName: thisHost(),
          boot,
          // Even if the pid is reused meanwhile, this start time is not its owner's.
          start: 1,
          order: orderKey(Date.now() - 60_000, 'deadbeef'),
        });
        fs.writeFileSync(path.join(roundDir, name), '');
        return name;
      },
      {},
    );
    t.diagnostic(`50 rounds in ${Date.now() - started} ms`);
  });

  it('never hold it together in leaseOnly mode when the stale marker’s lease ran out (50 rounds)', { timeout: 90_000 }, async (t) => {
    const base = tmpDir(t);
    const boot = shortBoot(realOps.sync.bootId());
    // The marker names a LIVE process (this one): only its old lease makes it stale.
    const me = { pid: process.pid, start: realOps.sync.processStart(process.pid) ?? 0 };
    const plant = (roundDir: string): string => {
      const name = markerName('.lock-', { mode: 'exclusive', ...me, hostName: thisHost(), boot, order: orderKey(Date.now() - 60_000, 'deadbeef') });
      const p = path.join(roundDir, name);
      fs.writeFileSync(p, '');
      const past = (Date.now() - 60_000) / 1000;
      fs.utimesSync(p, past, past);
      return name;
    };
    // Judged by its process, that marker is a live holder: it blocks.
    const probe = path.join(base, 'probe');
    fs.mkdirSync(probe);
    plant(probe);
    await assert.rejects(lock(probe, { timeout: 50 }), { code: 'ETIMEDOUT', path: probe });
    const started = Date.now();
    await reclaimRace(t, 50, base, plant, { leaseOnly: true, stale: 2_000 });
    t.diagnostic(`50 rounds in ${Date.now() - started} ms`);
  });
});
