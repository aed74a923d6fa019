/**
 * cleanupOrphans (issue 5, part 4): what it removes (old temp files and temp-named
 * folders), what it never touches (other files, young temps, anything reached through a
 * symlink), dryRun, recursion, and cancellation.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { cleanupOrphans } from '../../src/index.js';
import { FaultOps } from '../helpers/fault-ops.js';
import { tmpDir } from '../helpers/tmp.js';

const HEX = '0123456789abcdef';
const TWO_HOURS_AGO = (): number => Date.now() / 1000 - 7200;

/** A file (with parents) at `rel` under `dir`; old unless `young`. */
function file(dir: string, rel: string, young = false): string {
  const p = path.join(dir, rel);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, `content of ${rel}`);
  if (!young) age(p);
  return p;
}

function age(p: string): string {
  const old = TWO_HOURS_AGO();
  fs.lutimesSync(p, old, old);
  return p;
}

/** Every path under `dir` (not following symlinks), sorted. */
function tree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      out.push(path.relative(dir, p) + (e.isDirectory() ? '/' : e.isSymbolicLink() ? '@' : ''));
      if (e.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out.sort();
}

/** A folder with a bit of everything; returns what a cleanup may remove, flat and recursive. */
function populate(t: TestContext): { dir: string; outside: string; flat: string[]; deep: string[] } {
  const dir = tmpDir(t);
  const outside = tmpDir(t);
  const oldTop = file(dir, `.report.pdf.${HEX}.tmp`);
  file(dir, `.fresh.pdf.${HEX}.tmp`, true); // young: a live writer's
  file(dir, 'report.pdf'); // not a temp name, however old
  file(dir, `report.${HEX}.tmp`); // no leading dot
  file(dir, `.report.${HEX.toUpperCase()}.tmp`); // upper-case hex
  file(dir, `.report.${HEX}.tmp.bak`);
  const oldNested = file(dir, `sub/.a.${HEX}.tmp`);
  file(dir, `sub/.b.${HEX}.tmp`, true);
  const oldDeeper = file(dir, `sub/deeper/.c.${HEX}.tmp`);
  file(dir, 'sub/deeper/keep.txt');
  // Outside the folder, reachable only through symlinks: never touched.
  const outsideTemp = file(outside, `.o.${HEX}.tmp`);
  file(outside, `nested/.p.${HEX}.tmp`);
  fs.symlinkSync(outside, path.join(dir, 'linked-dir'));
  // Old symlinks named like temps (a killed move of a symlink leaves one): the links
  // themselves are unlinked; what they point to is never touched.
  const linkDir = path.join(dir, `.linked-dir.${HEX}.tmp`);
  const linkFile = path.join(dir, `.linked-file.${HEX}.tmp`);
  fs.symlinkSync(outside, linkDir);
  fs.symlinkSync(outsideTemp, linkFile);
  age(linkDir);
  age(linkFile);
  fs.symlinkSync(path.join(outside, 'nested'), path.join(dir, 'sub', 'linked-nested'));
  const flat = [oldTop, linkDir, linkFile].sort();
  return { dir, outside, flat, deep: [...flat, oldNested, oldDeeper] };
}

describe('cleanupOrphans', () => {
  it('removes old temp files and temp-named symlinks (the links, never their targets) only, leaving other names, young temps and files behind symlinked folders alone', async (t) => {
    const { dir, outside, flat, deep } = populate(t);
    const outsideBefore = tree(outside);
    const before = tree(dir);

    const r1 = await cleanupOrphans(dir);
    assert.deepEqual(r1.removed.sort(), flat);
    assert.equal(r1.kept, 1, 'the young top-level temp is kept');
    const r2 = await cleanupOrphans(dir, { recursive: true });
    assert.deepEqual(r2.removed.sort(), deep.filter((p) => !flat.includes(p)).sort());
    assert.equal(r2.kept, 2, 'the two young temps are kept');

    const removedRel = deep.map((p) => path.relative(dir, p));
    assert.deepEqual(tree(dir), before.filter((p) => !removedRel.includes(p.replace(/@$/, ''))), 'nothing else changed');
    assert.deepEqual(tree(outside), outsideBefore, 'nothing behind a symlink is touched');
    assert.ok(!fs.existsSync(path.join(dir, `.linked-dir.${HEX}.tmp`)) && fs.existsSync(outside), 'the link went, its target stayed');
    assert.ok(!fs.existsSync(path.join(dir, `.linked-file.${HEX}.tmp`)));

    // Nothing left to remove: a second run is a no-op.
    assert.deepEqual(await cleanupOrphans(dir, { recursive: true }), { removed: [], kept: 2 });
    // olderThan 0 takes the young ones too, still nothing else.
    const r3 = await cleanupOrphans(dir, { recursive: true, olderThan: 0 });
    assert.deepEqual(r3.removed.sort(), [path.join(dir, `.fresh.pdf.${HEX}.tmp`), path.join(dir, `sub/.b.${HEX}.tmp`)].sort());
    assert.deepEqual(tree(outside), outsideBefore);
  });

  it('dryRun removes nothing and reports exactly the list a real run then removes', async (t) => {
    for (const recursive of [false, true]) {
      const { dir, deep, flat } = populate(t);
      const before = tree(dir);
      const dry = await cleanupOrphans(dir, { dryRun: true, recursive });
      assert.deepEqual(tree(dir), before, `dryRun (recursive ${recursive}) removes nothing`);
      assert.deepEqual(dry.removed.sort(), (recursive ? deep : flat).sort());
      const real = await cleanupOrphans(dir, { recursive });
      assert.deepEqual(real.removed.sort(), dry.removed, `a real run (recursive ${recursive}) removes the same list`);
      assert.equal(real.kept, dry.kept);
    }
  });

  it('removes an old temp-named folder (a move\'s unfinished copy) with its contents, without following symlinks inside it', async (t) => {
    const dir = tmpDir(t);
    const outside = tmpDir(t);
    const precious = file(outside, 'precious.txt');
    const copy = path.join(dir, `.photos.${HEX}.tmp`);
    file(copy, 'a.jpg');
    file(copy, 'albums/2024/b.jpg');
    fs.symlinkSync(outside, path.join(copy, 'albums', 'link-to-outside'));
    fs.symlinkSync(precious, path.join(copy, 'link-to-file'));
    age(path.join(copy, 'albums', 'link-to-outside'));
    age(path.join(copy, 'link-to-file'));
    for (const d of [path.join(copy, 'albums', '2024'), path.join(copy, 'albums'), copy]) age(d);
    const youngCopy = path.join(dir, `.videos.${HEX}.tmp`);
    file(youngCopy, 'c.mp4');
    // An old folder whose content is still growing (a move copying a large file into it:
    // the folder's own mtime does not change) is judged by its newest entry, and kept.
    const growing = path.join(dir, `.film.${HEX}.tmp`);
    file(growing, 'film.mkv', true);
    age(growing);
    // A folder with a normal name is never removed, even when recursive.
    file(dir, 'photos/kept.jpg');
    age(path.join(dir, 'photos'));

    const dry = await cleanupOrphans(dir, { dryRun: true, recursive: true });
    assert.deepEqual(dry.removed, [copy]);
    const r = await cleanupOrphans(dir, { recursive: true });
    assert.deepEqual(r, { removed: [copy], kept: 2 });
    assert.ok(fs.existsSync(path.join(growing, 'film.mkv')), 'a temp folder with a fresh file inside is kept');
    assert.ok(!fs.existsSync(copy), 'the old temp folder is gone with everything in it');
    assert.ok(fs.existsSync(path.join(youngCopy, 'c.mp4')), 'a young temp folder is kept');
    assert.ok(fs.existsSync(path.join(dir, 'photos', 'kept.jpg')));
    assert.equal(fs.readFileSync(precious, 'utf8'), 'content of precious.txt', 'the symlinks inside were removed, not followed');
    assert.deepEqual(tree(outside), ['precious.txt']);
  });

  it('rejects with ABORT_ERR when the signal fires, before or during the walk, leaving the rest in place', async (t) => {
    const { dir, deep } = populate(t);
    await assert.rejects(cleanupOrphans(dir, { signal: AbortSignal.abort(), recursive: true }), { code: 'ABORT_ERR', path: dir });
    assert.ok(deep.every((p) => fs.existsSync(p)), 'a pre-aborted signal removes nothing');

    // Abort while the top folder is being read: the sub-folders are never visited.
    const ac = new AbortController();
    const ops = new FaultOps();
    ops.before = (name, args) => {
      if (name === 'readdir' && args[0] === dir) ac.abort(new Error('stop'));
    };
    await assert.rejects(cleanupOrphans(dir, { signal: ac.signal, recursive: true, fs: ops }), { code: 'ABORT_ERR', path: dir });
    assert.ok(fs.existsSync(path.join(dir, `sub/.a.${HEX}.tmp`)), 'nothing in a sub-folder is removed after the abort');
    assert.ok(fs.existsSync(path.join(dir, `sub/deeper/.c.${HEX}.tmp`)));
  });

  it('rejects a missing folder with ENOENT, a file with ENOTDIR and bad options with EINVAL', async (t) => {
    const dir = tmpDir(t);
    const f = file(dir, 'plain');
    await assert.rejects(cleanupOrphans(path.join(dir, 'missing')), { code: 'ENOENT', path: path.join(dir, 'missing') });
    await assert.rejects(cleanupOrphans(f), { code: 'ENOTDIR', path: f });
    await assert.rejects(cleanupOrphans(''), { code: 'EINVAL' });
    await assert.rejects(cleanupOrphans(dir, { olderThan: -1 }), { code: 'EINVAL', path: dir });
    await assert.rejects(cleanupOrphans(dir, { recursive: 'yes' as never }), { code: 'EINVAL', path: dir });
    await assert.rejects(cleanupOrphans(dir, { dryRun: 1 as never }), { code: 'EINVAL', path: dir });
    await assert.rejects(cleanupOrphans(dir, 'x' as never), { code: 'EINVAL', path: dir });
    assert.ok(fs.existsSync(f));
  });
});
