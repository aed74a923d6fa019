/**
 * Fault stepping through the seam: a copy move (strategy 'copy' on one device, so it runs
 * everywhere and takes the cross-device path) of a file and of a small tree, with every
 * system call failed in turn with EIO and with ENOSPC.
 *
 * After each failure:
 *   - the move rejects with an AtomfsError carrying the injected code and the caller's
 *     paths (or resolves, when the failed call was a best-effort one after the publish);
 *   - every item exists complete in at least one place: the source byte-identical (whole
 *     tree), or the destination complete; the destination is absent (or the old file it
 *     replaces) or complete, never partial;
 *   - up to and including a failed publish nothing is left: no destination, no temp; after it the only temp
 *     names allowed are a trashed source (a temp-named folder beside the source) or a
 *     second name of the published file, and cleanupOrphans({ olderThan: 0, recursive })
 *     removes them;
 *   - running the move again completes it (resumed when both complete copies exist).
 * Every violation is collected, so a failure lists every bad step at once.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { AtomfsError, cleanupOrphans, type MoveOptions } from '../../src/index.js';
import { FaultOps } from '../helpers/fault-ops.js';
import { exists, MOVE_DRIVERS, OLD_MS, snapshot, tempsUnder, type MoveDriver } from '../helpers/move-kit.js';
import { tmpDir } from '../helpers/tmp.js';

interface Scenario {
  readonly name: string;
  readonly kind: 'file' | 'tree' | 'symlink';
  readonly options: MoveOptions;
  /** An existing destination file the move replaces (overwrite: true). */
  readonly oldDest?: string;
}

const SCENARIOS: readonly Scenario[] = [
  { name: 'a file to a new destination', kind: 'file', options: { strategy: 'copy' } },
  { name: 'a file replacing a destination (overwrite: true)', kind: 'file', options: { strategy: 'copy', overwrite: true }, oldDest: 'old destination content' },
  { name: 'a file with verify: checksum', kind: 'file', options: { strategy: 'copy', verify: 'checksum' } },
  { name: 'a small tree to a new destination', kind: 'tree', options: { strategy: 'copy' } },
  { name: 'a small tree with overwrite: true', kind: 'tree', options: { strategy: 'copy', overwrite: true } },
  { name: 'a symlink', kind: 'symlink', options: { strategy: 'copy' } },
];

const CODES = ['EIO', 'ENOSPC'] as const;

async function stepThrough(t: { after(fn: () => void): void }, sc: Scenario, { name: driver, move }: MoveDriver): Promise<{ cases: number; violations: string[]; outcomes: Map<string, number> }> {
  const root = tmpDir(t);
  const srcDir = path.join(root, 'from');
  const destDir = path.join(root, 'to');
  const src = path.join(srcDir, 'item');
  const dest = path.join(destDir, 'item');
  const setup = (): void => {
    fs.rmSync(srcDir, { recursive: true, force: true });
    fs.rmSync(destDir, { recursive: true, force: true });
    fs.mkdirSync(srcDir);
    fs.mkdirSync(destDir);
    if (sc.kind === 'file') {
      fs.writeFileSync(src, Buffer.alloc(40_000, 'x'));
      fs.chmodSync(src, 0o640);
      fs.utimesSync(src, OLD_MS / 1000, OLD_MS / 1000);
    } else if (sc.kind === 'tree') makeSmallTree(src);
    else fs.symlinkSync('../elsewhere/target', src);
    if (sc.oldDest !== undefined) fs.writeFileSync(dest, sc.oldDest);
  };
  setup();
  const want = snapshot(src, { times: true });
  const wantDest = want.map((l) => l); // the same lines: snapshot paths are relative
  const okRun = new FaultOps();
  await move(src, dest, { ...sc.options, fs: okRun });
  assert.deepEqual(snapshot(dest, { times: true }), wantDest, `${sc.name}: clean run`);
  assert.equal(exists(src), false);
  const calls = okRun.calls;
  // The publish: the call that makes the destination name hold the copy.
  const publish = calls.findIndex((c) => (c.name === 'rename' || c.name === 'link') && c.args[1] === dest);
  assert.ok(publish > 0, `${sc.name}: a publish call (${okRun.names().join(' ')})`);

  const violations: string[] = [];
  const outcomes = new Map<string, number>();
  let cases = 0;
  for (let i = 0; i < calls.length; i++) {
    for (const code of CODES) {
      setup();
      const call = calls[i]!;
      const label = `${sc.name}: ${code} at call ${i} ${call.name}(${call.args.filter((a) => typeof a === 'string').map((a) => path.relative(root, a as string)).join(', ')})`;
      const bad = (what: string): void => void violations.push(`${label}: ${what}`);
      const ops = new FaultOps().failAt(i, code);
      let error: unknown;
      try {
        await move(src, dest, { ...sc.options, fs: ops });
      } catch (e) {
        error = e;
      }
      cases++;
      if (ops.hits.length !== 1) bad(`the fault was hit ${ops.hits.length} times`);
      if (error !== undefined) {
        if (!(error instanceof AtomfsError)) bad(`rejected with a non-AtomfsError: ${String(error)}`);
        else {
          if (error.code !== code) bad(`code ${error.code}, expected ${code} (${error.message})`);
          if (error.path !== src || error.dest !== dest) bad(`paths ${error.path} -> ${error.dest}`);
          if (error.operation !== driver) bad(`operation ${error.operation}`);
        }
      }
      const srcState = !exists(src) ? 'absent' : snapshotOr(src) === want.join('\n') ? 'intact' : 'CHANGED';
      const destSnap = exists(dest) ? snapshotOr(dest) : undefined;
      const destState =
        destSnap === undefined
          ? 'absent'
          : destSnap === wantDest.join('\n')
            ? 'complete'
            : sc.oldDest !== undefined && fs.readFileSync(dest, 'utf8') === sc.oldDest
              ? 'old'
              : 'PARTIAL';
      const temps = tempsUnder(root);
      const outcome = `${error === undefined ? 'resolved' : 'rejected'}, source ${srcState}, destination ${destState}, ${temps.length} temp(s)`;
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      if (srcState === 'CHANGED') bad(`the source changed:\n${snapshotOr(src)}`);
      if (destState === 'PARTIAL') bad(`the destination is partial:\n${destSnap}`);
      if (srcState !== 'intact' && destState !== 'complete') bad(`the item is complete nowhere (source ${srcState}, destination ${destState})`);
      if (i <= publish) {
        if (error === undefined) bad('resolved although a call before the publish failed');
        if (srcState !== 'intact') bad(`source ${srcState} before the publish`);
        if (destState !== 'absent' && destState !== 'old') bad(`destination ${destState} before the publish`);
        if (temps.length > 0) bad(`temp(s) left before the publish: ${temps.map((p) => path.relative(root, p)).join(', ')}`);
      } else {
        if (destState !== 'complete') bad(`destination ${destState} after the publish`);
        if (error === undefined && srcState !== 'absent') bad('resolved but the source is still there');
        for (const tp of temps) {
          const trashedSource = path.dirname(tp) === srcDir && srcState === 'absent';
          const secondName = path.dirname(tp) === destDir && fs.lstatSync(tp).ino === fs.lstatSync(dest).ino;
          if (!trashedSource && !secondName) bad(`unexpected temp left after the publish: ${path.relative(root, tp)}`);
        }
      }
      // Whatever is left, cleanupOrphans removes every temp name, and a second run completes the move.
      // (olderThan: 0 compares with Date.now() in whole ms: let this millisecond pass.)
      if (temps.length > 0) await sleep(3);
      try {
        await cleanupOrphans(root, { olderThan: 0, recursive: true });
      } catch (e) {
        bad(`cleanupOrphans failed: ${String(e)}`);
      }
      const left = tempsUnder(root);
      if (left.length > 0) bad(`cleanupOrphans left ${left.map((p) => path.relative(root, p)).join(', ')}`);
      if (srcState === 'intact') {
        try {
          const r = await move(src, dest, { ...sc.options, fsync: false }); // durability is not what this re-run checks
          if (destState === 'complete' && r.resumed !== true) bad(`the re-run did not resume: ${JSON.stringify(r)}`);
        } catch (e) {
          bad(`the re-run failed: ${String(e)}`);
        }
      }
      if (exists(src) || !exists(dest) || snapshotOr(dest) !== wantDest.join('\n')) bad('after the re-run the move is not complete');
    }
  }
  return { cases, violations, outcomes };
}

/** A small tree: a nested folder, an empty folder, two files and a relative symlink, with fixed times. */
function makeSmallTree(root: string): void {
  fs.mkdirSync(path.join(root, 'sub', 'empty'), { recursive: true });
  fs.writeFileSync(path.join(root, 'a.txt'), 'file a\n');
  fs.writeFileSync(path.join(root, 'sub', 'b.bin'), Buffer.alloc(20_000, 'b'));
  fs.chmodSync(path.join(root, 'sub', 'b.bin'), 0o600);
  fs.symlinkSync('../a.txt', path.join(root, 'sub', 'link'));
  for (const p of ['sub/empty', 'sub/b.bin', 'a.txt', 'sub', '.']) fs.utimesSync(path.join(root, p), OLD_MS / 1000, OLD_MS / 1000);
}

function snapshotOr(p: string): string {
  try {
    return snapshot(p, { times: true }).join('\n');
  } catch (e) {
    return `unreadable: ${String(e)}`;
  }
}

for (const d of MOVE_DRIVERS) describe(`a copy ${d.name} with every system call failed in turn`, () => {
  for (const sc of SCENARIOS) {
    it(`${sc.name}: rejects cleanly at every step, the item always complete somewhere, never partial at the destination, and a re-run completes it`, async (t) => {
      const { cases, violations, outcomes } = await stepThrough(t, sc, d);
      t.diagnostic(`${cases} cases; outcomes: ${[...outcomes].map(([k, v]) => `${v}x ${k}`).join('; ')}`);
      assert.ok(cases >= 20, `${cases} cases`);
      assert.deepEqual(violations, [], `${violations.length} violation(s):\n${violations.join('\n')}`);
    });
  }
});
