/**
 * SIGKILL torture: a child rewrites one self-validating file in a loop with writeFile and
 * is killed with SIGKILL at a random moment, hundreds of times, restarting each time.
 * After every kill the target must be a complete version (the last one whose write
 * resolved, or the one in flight), and everything else in the folder must be a temp file
 * that cleanupOrphans removes.
 *
 * Knobs: ATOMFS_TORTURE_KILLS (default 300 with CI=true, 100 otherwise; CI never runs
 * fewer than 300), ATOMFS_TORTURE_SEED (to replay a run).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { cleanupOrphans, isTempFile } from '../../src/index.js';
import { spawnNode } from '../helpers/child.js';
import { killsKnob, seedKnob } from '../helpers/knobs.js';
import { collect, LineReader } from '../helpers/lines.js';
import { tmpDir } from '../helpers/tmp.js';
import { decode, seededRandom } from '../helpers/versioned.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/torture-writer.js', import.meta.url));
const KILLS = killsKnob('ATOMFS_TORTURE_KILLS', 300, 100);
const SEED = seedKnob('ATOMFS_TORTURE_SEED');
/** Wall-clock bound for the whole loop; reaching it before KILLS kills fails the test. */
const TIME_BUDGET_MS = 200_000;
/** Orphans are removed every this many kills, so they never pile up to gigabytes. */
const CLEANUP_EVERY = 25;
const VERSIONS_PER_CHILD = 1_000_000;

interface Outcome {
  kills: number;
  midWriteKills: number;
  killsAfterRename: number;
  orphansSeen: number;
  orphansRemoved: number;
  writesCompleted: number;
}

describe('SIGKILL torture', () => {
  it(`a file rewritten by writeFile is always a complete version after SIGKILL at a random moment (${KILLS} kills), and cleanupOrphans removes every temp left behind`, { timeout: TIME_BUDGET_MS + 60_000 }, async (t) => {
    t.diagnostic(`seed ${SEED} (replay with ATOMFS_TORTURE_SEED=${SEED}), kills ${KILLS}`);
    const rand = seededRandom(SEED);
    const dir = tmpDir(t);
    const name = 'state.bin';
    const target = path.join(dir, name);
    const started = Date.now();
    const out: Outcome = { kills: 0, midWriteKills: 0, killsAfterRename: 0, orphansSeen: 0, orphansRemoved: 0, writesCompleted: 0 };
    // The version on disk as of the last check; undefined until a write has landed.
    let onDisk: number | undefined;
    // Orphans present now (each kill leaves at most one).
    let orphans = new Set<string>();

    const cleanupAndCheck = async (): Promise<void> => {
      // olderThan: 0 means "modified before now": let the current millisecond pass, so a
      // temp the last kill interrupted cannot share it.
      await sleep(2);
      const res = await cleanupOrphans(dir, { olderThan: 0 });
      assert.deepEqual(new Set(res.removed.map((p) => path.basename(p))), orphans, 'cleanupOrphans removes exactly the temp files left behind');
      assert.equal(res.kept, 0);
      assert.deepEqual(fs.readdirSync(dir), onDisk === undefined ? [] : [name], 'only the target is left');
      out.orphansRemoved += res.removed.length;
      orphans = new Set();
    };

    for (let i = 0; i < KILLS; i++) {
      if (Date.now() - started > TIME_BUDGET_MS) {
        assert.fail(`time budget of ${TIME_BUDGET_MS} ms spent after ${i} of ${KILLS} kills (seed ${SEED})`);
      }
      const first = (i + 1) * VERSIONS_PER_CHILD;
      const child = spawnNode(t, FIXTURE, [target, String((SEED + i) >>> 0), String(first)]);
      const lines = new LineReader(child.stdout!);
      const stderr = collect(child.stderr);
      const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
        child.once('close', (code, signal) => resolve({ code, signal })),
      );
      const ctx = (): string => `kill #${i + 1} (seed ${SEED}); child output:\n${lines.lines.slice(-10).join('\n')}\nstderr:\n${stderr()}`;

      // Kill a random 0-30 ms after the k-th write starts, so kills land mid-write often.
      const k = 1 + Math.floor(rand() * 3);
      await lines.waitFor((l) => l.startsWith('start '), 20_000, { count: k }).catch((e: Error) => assert.fail(`${e.message}\n${ctx()}`));
      const delay = rand() * 30;
      if (delay >= 1) await sleep(delay);
      assert.ok(child.pid !== undefined);
      process.kill(child.pid, 'SIGKILL');
      const stopTimer = new AbortController();
      const bound = sleep(15_000, 'timeout' as const, { signal: stopTimer.signal }).catch(() => 'timeout' as const);
      const exit = await Promise.race([closed, bound]);
      stopTimer.abort();
      assert.notEqual(exit, 'timeout', `the child did not go away within 15 s after SIGKILL\n${ctx()}`);
      await lines.ended;
      if (exit === 'timeout') return;
      assert.equal(exit.signal, 'SIGKILL', `the child died of SIGKILL, not of its own accord\n${ctx()}`);
      out.kills++;

      // What the child managed: writes are awaited one by one, so at most one is in flight.
      let lastDone: number | undefined;
      const sizes = new Map<number, number>();
      let lastStart: number | undefined;
      for (const l of lines.lines) {
        const m = /^(start|done) (\d+)(?: (\d+) ([01]))?$/.exec(l);
        assert.ok(m, `unexpected child output line ${JSON.stringify(l)}\n${ctx()}`);
        const v = Number(m[2]);
        if (m[1] === 'start') {
          lastStart = v;
          sizes.set(v, Number(m[3]));
        } else {
          lastDone = v;
          out.writesCompleted++;
        }
      }
      const committed = lastDone ?? onDisk;
      const inFlight = lastStart !== undefined && lastStart !== lastDone ? lastStart : undefined;

      // The target: a complete version, the last completed one or the one in flight.
      let bytes: Buffer | undefined;
      try {
        bytes = fs.readFileSync(target);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
      if (bytes === undefined) {
        assert.equal(committed, undefined, `the target vanished after version ${committed} had been written\n${ctx()}`);
      } else {
        const d = decode(bytes);
        assert.ok(d.ok, `the target is not a complete version: ${d.ok ? '' : d.reason}\n${ctx()}`);
        const allowed = [committed, inFlight].filter((v) => v !== undefined);
        assert.ok(allowed.includes(d.version), `the target holds version ${d.version}; expected one of ${allowed.join(', ')}\n${ctx()}`);
        const size = sizes.get(d.version);
        if (size !== undefined) assert.equal(d.payloadLen, size, `version ${d.version} has the payload size it was written with`);
        if (d.version === inFlight) out.killsAfterRename++;
        onDisk = d.version;
      }

      // Everything else: temp files of this target, at most one new per kill.
      const others = fs.readdirSync(dir).filter((n) => n !== name);
      for (const n of others) {
        assert.ok(isTempFile(n), `leftover ${JSON.stringify(n)} is not recognised by isTempFile\n${ctx()}`);
        assert.ok(n.startsWith(`.${name}.`), `leftover ${JSON.stringify(n)} is a temp of the target`);
        assert.ok(fs.lstatSync(path.join(dir, n)).isFile(), `leftover ${n} is a regular file`);
      }
      const fresh = others.filter((n) => !orphans.has(n));
      assert.ok(fresh.length <= 1, `one kill left ${fresh.length} temp files: ${fresh.join(', ')}\n${ctx()}`);
      assert.equal(others.length, orphans.size + fresh.length, 'no earlier orphan disappeared on its own');
      if (fresh.length === 1) {
        out.midWriteKills++;
        out.orphansSeen++;
        orphans.add(fresh[0]!);
      }
      if ((i + 1) % CLEANUP_EVERY === 0) await cleanupAndCheck();
    }
    await cleanupAndCheck();
    assert.ok(onDisk !== undefined, 'at least one write landed');
    assert.equal(out.kills, KILLS);
    t.diagnostic(
      `${out.kills} kills in ${((Date.now() - started) / 1000).toFixed(1)} s: ${out.midWriteKills} left a temp (killed before the rename), ` +
        `${out.killsAfterRename} landed after the rename but before the call resolved, ${out.writesCompleted} writes completed, ` +
        `${out.orphansRemoved} orphans removed by cleanupOrphans`,
    );
    // The kills must actually have hit writes in progress, or the test proves little.
    assert.ok(out.midWriteKills >= Math.ceil(KILLS / 10), `only ${out.midWriteKills} of ${KILLS} kills landed mid-write`);
  });
});
