/**
 * SIGKILL torture for move(): a child moves self-validating files and small trees back and
 * forth between two folders on the repo's file system and a tmpfs the test mounts (so both
 * same-device renames/links and cross-device copies), with random strategies and
 * verification, and is killed with SIGKILL at a random moment, again and again.
 *
 * After every kill:
 *   - every item exists complete in at least one place, and whatever bears its name
 *     anywhere is complete (never partial at a destination name), with one tolerated
 *     exception by design: the EMPTY folder a folder move claims its destination with
 *     (a re-run replaces it; counted as emptyClaims);
 *   - it is in two places only as the source and destination of the interrupted move;
 *   - re-running the interrupted move (the child printed `MOVE {src, dest, options}`)
 *     completes it: the destination complete, the source gone;
 *   - cleanupOrphans({ olderThan: 0, recursive: true }) leaves nothing but the items.
 *
 * Knobs: ATOMFS_MOVE_KILLS (default 200 with CI=true, which is also CI's minimum; 60
 * otherwise), ATOMFS_MOVE_SEED (to replay a run).
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { cleanupOrphans, move, type MoveOptions } from '../../src/index.js';
import { spawnNode } from '../helpers/child.js';
import { killsKnob, seedKnob } from '../helpers/knobs.js';
import { checkItemFile, checkItemTree, closed, collectText, exists, itemContent, Lines, makeItemTree, mountTmpfsSafe, reap, seeded } from '../helpers/move-kit.js';
import { requireRoot } from '../helpers/root.js';
import { tmpDir } from '../helpers/tmp.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/mover.js', import.meta.url));
const KILLS = killsKnob('ATOMFS_MOVE_KILLS', 200, 60);
const SEED = seedKnob('ATOMFS_MOVE_SEED');
/** Wall-clock bound for the kill loop; reaching it before KILLS kills fails the test. */
const TIME_BUDGET_MS = 150_000;
/** The longest a child may take to start, or to die after SIGKILL. */
const CHILD_MS = 15_000;
/** Children started ahead of their round. */
const AHEAD = 2;
/** Kills land this long (random, ms) after the child is ready. */
const MAX_DELAY_MS = 40;

const FILES = [
  { name: 'small.dat', size: 700 },
  { name: 'medium.dat', size: 200_000 },
  { name: 'large.dat', size: 1_500_000 },
  // Above the 8 MiB streaming threshold: a cross-device move streams it, and into the repo's
  // file system (ext4 or XFS) by direct I/O, so kills also land inside those copies.
  { name: 'huge.dat', size: 9_437_000 },
];
const TREES = [
  { name: 'tree-a', files: 4 },
  { name: 'tree-b', files: 6 },
];
const ITEMS = [...FILES.map((f) => f.name), ...TREES.map((t) => t.name)];
const isTree = (item: string): boolean => item.startsWith('tree-');

function check(p: string, item: string): string | undefined {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(p);
  } catch {
    return 'missing';
  }
  if (isTree(item)) return st.isDirectory() ? checkItemTree(p, item) : `not a folder (mode ${st.mode.toString(8)})`;
  return st.isFile() ? checkItemFile(p, item) : `not a file (mode ${st.mode.toString(8)})`;
}

interface Mover {
  readonly child: ChildProcess;
  readonly done: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly lines: Lines;
  readonly stderr: () => string;
}

interface Interrupted {
  readonly src: string;
  readonly dest: string;
  readonly options: MoveOptions;
}

describe('SIGKILL torture of move()', () => {
  it(`every item is complete in at least one place after SIGKILL at a random moment, never partial at a destination, and re-running the interrupted move completes it (${KILLS} kills)`, { timeout: TIME_BUDGET_MS + 60_000 }, async (t) => {
    if (!requireRoot(t)) return;
    t.diagnostic(`seed ${SEED} (replay with ATOMFS_MOVE_SEED=${SEED}), kills ${KILLS}`);
    const rand = seeded(SEED);
    const disk = tmpDir(t);
    const places = [path.join(disk, 'here'), path.join(disk, 'there'), mountTmpfsSafe(t, '64m')];
    fs.mkdirSync(places[0]!);
    fs.mkdirSync(places[1]!);
    for (const f of FILES) fs.writeFileSync(path.join(places[0]!, f.name), itemContent(f.name, f.size, String(SEED)));
    for (const tr of TREES) makeItemTree(path.join(places[0]!, tr.name), tr.name, String(SEED), tr.files);

    const stats = { kills: 0, midMove: 0, emptyClaims: 0, bothThere: 0, destOnly: 0, srcOnly: 0, resumed: 0, reruns: 0, movesDone: 0, tempsRemoved: 0 };
    // Each child is started ahead (it waits for GO on stdin), so its start-up overlaps the checks.
    const startMover = (k: number): Mover => {
      const child = spawnNode(t, FIXTURE, [JSON.stringify({ places, items: ITEMS, seed: (SEED + k * 7919) >>> 0, max: 100_000 })], { stdio: ['pipe', 'pipe', 'pipe'] });
      child.stdin!.on('error', () => {}); // a killed child's stdin may be closed under us
      return { child, done: closed(child), lines: new Lines(child.stdout!), stderr: collectText(child.stderr) };
    };
    // Children started ahead, waiting for GO: their start-up overlaps the kills and checks.
    const ahead: Mover[] = [];
    let spawned = 0;
    const topUp = (): void => {
      while (ahead.length < AHEAD && spawned < KILLS) ahead.push(startMover(spawned++));
    };
    t.after(async () => {
      // Children started for rounds that never came: their stdin ends, they exit; reap them.
      for (const m of ahead) m.child.stdin!.end();
      for (const m of ahead) await reap(m.child, m.done, CHILD_MS);
    });
    topUp();
    const started = Date.now();
    for (let k = 0; k < KILLS; k++) {
      if (Date.now() - started > TIME_BUDGET_MS) assert.fail(`time budget of ${TIME_BUDGET_MS} ms spent after ${k} of ${KILLS} kills (seed ${SEED})`);
      const { child, done, lines, stderr } = ahead.shift()!;
      const ctx = (): string => `kill #${k + 1} (seed ${SEED}); child output (tail):\n${lines.lines.slice(-6).join('\n')}\nstderr:\n${stderr()}`;
      child.stdin!.write('GO\n');
      try {
        await lines.waitFor('READY', CHILD_MS);
      } catch (e) {
        child.kill('SIGKILL');
        await reap(child, done, CHILD_MS);
        assert.fail(`${(e as Error).message}; ${ctx()}`);
      }
      // Every fourth round lets the child finish one move before the kill, so the run always
      // covers completed moves too, however slow a loaded machine makes the children (a
      // fixed delay after READY alone landed every kill inside the first move under load).
      if (k % 4 === 0) {
        try {
          await lines.waitFor('DONE', CHILD_MS);
        } catch (e) {
          child.kill('SIGKILL');
          await reap(child, done, CHILD_MS);
          assert.fail(`${(e as Error).message}; ${ctx()}`);
        }
      }
      await sleep(Math.floor(rand() * MAX_DELAY_MS));
      child.kill('SIGKILL');
      const exit = await reap(child, done, CHILD_MS);
      assert.equal(exit.signal, 'SIGKILL', `the child was killed, not crashed: ${ctx()}`);
      topUp();
      stats.kills++;
      stats.movesDone += lines.lines.filter((l) => l === 'DONE').length;

      // The interrupted move: a MOVE line with no DONE after it.
      let lastMove = -1;
      for (let i = lines.lines.length - 1; i >= 0 && lastMove < 0; i--) if (lines.lines[i]!.startsWith('MOVE ')) lastMove = i;
      let interrupted: Interrupted | undefined;
      if (lastMove >= 0 && lines.lines[lastMove + 1] !== 'DONE') {
        const text = lines.lines[lastMove]!.slice('MOVE '.length);
        assert.ok(!text.endsWith('<cut>'), `a MOVE line is written whole before the move starts: ${ctx()}`);
        interrupted = JSON.parse(text) as Interrupted;
      }

      for (const item of ITEMS) {
        const at = places.filter((p) => exists(path.join(p, item)));
        for (const p of at) {
          const full = path.join(p, item);
          // One tolerated state, by design (src/move/rename.ts, renameNoReplace): a folder
          // move without overwrite claims the destination name with an EMPTY folder, then
          // renames onto it; a kill in between leaves that empty folder (never a partly
          // filled one), the source complete, and a re-run replaces it.
          if (interrupted && full === interrupted.dest && isTree(item) && fs.lstatSync(full).isDirectory() && fs.readdirSync(full).length === 0 && check(interrupted.src, item) === undefined) {
            stats.emptyClaims++;
            continue;
          }
          const bad = check(full, item);
          if (bad) assert.fail(`${full} is not complete: ${bad}\ninterrupted move: ${JSON.stringify(interrupted)}\n${ctx()}`);
        }
        const complete = at.filter((p) => check(path.join(p, item), item) === undefined);
        assert.ok(complete.length >= 1, `${item} is complete nowhere; ${ctx()}`);
        if (at.length > 1) {
          const pair = interrupted && path.basename(interrupted.src) === item ? [path.dirname(interrupted.src), path.dirname(interrupted.dest)].sort() : [];
          assert.deepEqual([...at].sort(), pair, `${item} is in ${at.join(', ')}, not just the interrupted move's two ends; ${ctx()}`);
        }
      }

      if (interrupted) {
        stats.midMove++;
        const srcThere = exists(interrupted.src);
        const destThere = exists(interrupted.dest);
        if (srcThere && destThere) stats.bothThere++;
        else if (destThere) stats.destOnly++;
        else stats.srcOnly++;
        if (srcThere) {
          // Re-run the interrupted move as the child would have: it must finish.
          stats.reruns++;
          let r;
          try {
            r = await move(interrupted.src, interrupted.dest, interrupted.options);
          } catch (e) {
            assert.fail(`re-running ${JSON.stringify(interrupted)} failed: ${String(e)}\n(source there: ${srcThere}, destination there: ${destThere}${destThere ? `, destination entries: ${fs.readdirSync(interrupted.dest, { recursive: true }).length}` : ''})\n${ctx()}`);
          }
          if (r.resumed) stats.resumed++;
          assert.equal(exists(interrupted.src), false, `the re-run removed the source; ${ctx()}`);
          const item = path.basename(interrupted.dest);
          assert.equal(check(interrupted.dest, item), undefined, `the re-run left the destination complete; ${ctx()}`);
        }
      }

      // Temps left by the kill: cleanupOrphans removes them all, and only them.
      await sleep(2); // olderThan: 0 compares with Date.now() in whole ms
      for (const p of places) {
        const res = await cleanupOrphans(p, { olderThan: 0, recursive: true });
        stats.tempsRemoved += res.removed.length;
        const left = fs.readdirSync(p);
        assert.ok(left.every((n) => ITEMS.includes(n)), `only items are left in ${p}: ${left.join(', ')}; ${ctx()}`);
      }
      for (const item of ITEMS) assert.equal(places.filter((p) => exists(path.join(p, item))).length, 1, `${item} is in exactly one place; ${ctx()}`);
    }
    t.diagnostic(`${JSON.stringify(stats)} in ${Date.now() - started} ms`);
    assert.equal(stats.kills, KILLS);
    assert.ok(stats.movesDone >= KILLS / 4, `the children made progress (${stats.movesDone} moves completed)`);
    assert.ok(stats.midMove > KILLS / 4, `most kills land mid-move (${stats.midMove})`);
  });
});
