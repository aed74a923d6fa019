/**
 * move() and rename() onto another spelling of the source itself: `dir/x/../f` (x a real
 * folder: atomfs keeps `..` as the kernel resolves it) and `dir/ln/f` (ln a symlink to
 * dir) name the source's own directory entry. That is a no-op, never "two names of one
 * file, remove the old one": the source is the only copy. Also two hard links whose names
 * differ only in case (a case-sensitive file system: two entries), a folder under a bind
 * mount (one inode, two entries that are not hard links), and a folder copied into its own
 * subtree through a symlink.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { rename } from '../../src/index.js';
import { exists, makeTree, MOVE_DRIVERS, snapshot, tempsUnder } from '../helpers/move-kit.js';
import { mountPoint, requireRoot } from '../helpers/root.js';
import { list, tmpDir } from '../helpers/tmp.js';

/** A folder with a file `f`, a tree `tree`, a real subfolder `x` and a symlink `ln` to the folder itself. */
function aliasDir(t: TestContext): string {
  const dir = tmpDir(t);
  fs.writeFileSync(path.join(dir, 'f'), 'the only copy');
  makeTree(path.join(dir, 'tree'));
  fs.mkdirSync(path.join(dir, 'x'));
  fs.symlinkSync(dir, path.join(dir, 'ln'));
  return dir;
}

/** The spellings of `dir/name` that lead to the same entry. */
const spellings = (dir: string, name: string): Record<string, string> => ({
  "'..' after a real folder": `${dir}/x/../${name}`,
  'a symlinked parent folder': `${dir}/ln/${name}`,
  "a symlinked parent and '..'": `${dir}/ln/x/../${name}`,
});

for (const { name: driver, move } of MOVE_DRIVERS) describe(`${driver} and rename onto another spelling of the source itself`, () => {
  it('move of a file or a folder tree is a no-op with every strategy and overwrite: the source stays whole', async (t) => {
    const dir = aliasDir(t);
    const before = snapshot(dir, { times: true });
    for (const name of ['f', 'tree']) {
      for (const [how, dest] of Object.entries(spellings(dir, name))) {
        for (const strategy of ['auto', 'hardlink', 'copy'] as const) {
          for (const overwrite of [false, true]) {
            const what = `${name} via ${how}, ${strategy}, overwrite ${overwrite}`;
            const r = await move(path.join(dir, name), dest, { strategy, overwrite });
            assert.deepEqual(r, { strategy: 'rename', bytes: 0, files: 0 }, what);
            assert.deepEqual(snapshot(dir, { times: true }), before, what);
          }
        }
      }
    }
    assert.deepEqual(tempsUnder(dir), []);
  });

  it('rename of a file or a folder tree is a no-op, with and without overwrite', async (t) => {
    const dir = aliasDir(t);
    const before = snapshot(dir, { times: true });
    for (const name of ['f', 'tree']) {
      for (const [how, dest] of Object.entries(spellings(dir, name))) {
        for (const overwrite of [true, false]) {
          await rename(path.join(dir, name), dest, { overwrite });
          assert.deepEqual(snapshot(dir, { times: true }), before, `${name} via ${how}, overwrite ${overwrite}`);
        }
      }
    }
  });

  it('two hard links whose names differ only in case are two entries: move finishes the hard-link move, rename without overwrite says EEXIST', async (t) => {
    const dir = tmpDir(t);
    fs.writeFileSync(path.join(dir, 'a'), 'linked');
    fs.linkSync(path.join(dir, 'a'), path.join(dir, 'A'));
    await assert.rejects(rename(path.join(dir, 'a'), path.join(dir, 'A'), { overwrite: false }), { code: 'EEXIST', path: path.join(dir, 'a'), dest: path.join(dir, 'A') });
    assert.deepEqual(list(dir), ['A', 'a']);
    const r = await move(path.join(dir, 'a'), path.join(dir, 'A'));
    assert.deepEqual(r, { strategy: 'hardlink', bytes: 0, files: 1, resumed: true });
    assert.deepEqual(list(dir), ['A']);
    assert.equal(fs.readFileSync(path.join(dir, 'A'), 'utf8'), 'linked');
    assert.equal(fs.statSync(path.join(dir, 'A')).nlink, 1);
  });

  it('a folder seen again through a bind mount (one inode, two entries) is refused with EINVAL, never removed', async (t) => {
    if (!requireRoot(t)) return;
    const dir = tmpDir(t);
    makeTree(path.join(dir, 'tree'));
    const before = snapshot(path.join(dir, 'tree'), { times: true });
    const { mnt, mounted } = mountPoint(t);
    execFileSync('mount', ['--bind', path.join(dir, 'tree'), mnt], { timeout: 10_000 });
    mounted();
    for (const strategy of ['auto', 'copy'] as const) {
      await assert.rejects(move(path.join(dir, 'tree'), mnt, { strategy, overwrite: true }), { code: 'EINVAL', path: path.join(dir, 'tree'), dest: mnt });
      assert.deepEqual(snapshot(path.join(dir, 'tree'), { times: true }), before, strategy);
    }
    assert.deepEqual(list(dir), ['tree']);
  });

  it('a folder copied into its own subtree through a symlink is refused with EINVAL before anything is copied', async (t) => {
    const dir = tmpDir(t);
    makeTree(path.join(dir, 'tree'));
    fs.symlinkSync(path.join(dir, 'tree'), path.join(dir, 'in'));
    const before = snapshot(dir, { times: true });
    for (const dest of [path.join(dir, 'in', 'a', 'moved'), path.join(dir, 'in', 'new', 'deeper', 'moved')]) {
      await assert.rejects(move(path.join(dir, 'tree'), dest, { strategy: 'copy' }), { code: 'EINVAL', path: path.join(dir, 'tree'), dest });
      assert.deepEqual(snapshot(dir, { times: true }), before, dest);
    }
    assert.equal(exists(path.join(dir, 'tree', 'new')), false, 'no parent folder made');
  });
});
