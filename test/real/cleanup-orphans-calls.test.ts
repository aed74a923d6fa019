/**
 * cleanupOrphans' calls per temp on a real disk: a temp file or temp-named symlink is
 * lstat'ed once and unlinked (no second lstat); a temp-named folder is removed with its
 * contents, never through a symlink inside it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { cleanupOrphans } from '../../src/index.js';
import { FaultOps } from '../helpers/fault-ops.js';
import { requireRoot } from '../helpers/root.js';
import { list, tmpDir } from '../helpers/tmp.js';

describe('cleanupOrphans calls', () => {
  it('an old temp file and a temp-named symlink are each lstat\'ed once and unlinked; a temp folder is emptied and removed', async (t) => {
    const dir = tmpDir(t);
    const file = path.join(dir, '.a.txt.0123456789abcdef.tmp');
    const link = path.join(dir, '.b.txt.0123456789abcdef.tmp');
    const folder = path.join(dir, '.c.0123456789abcdef.tmp');
    const keep = path.join(dir, 'keep.txt');
    fs.writeFileSync(file, 'old');
    fs.writeFileSync(keep, 'kept');
    fs.symlinkSync('keep.txt', link);
    fs.mkdirSync(folder);
    fs.writeFileSync(path.join(folder, 'inner'), 'x');
    fs.symlinkSync(keep, path.join(folder, 'to-keep'));
    const ops = new FaultOps();
    const r = await cleanupOrphans(dir, { olderThan: 0, fs: ops });
    assert.deepEqual([...r.removed].sort(), [file, link, folder].sort());
    assert.deepEqual(list(dir), ['keep.txt']);
    assert.equal(fs.readFileSync(keep, 'utf8'), 'kept');
    const on = (name: string, p: string): number => ops.calls.filter((c) => c.name === name && c.args[0] === p).length;
    for (const p of [file, link]) {
      assert.equal(on('lstat', p), 1, `one lstat of ${path.basename(p)}`);
      assert.equal(on('unlink', p), 1, `one unlink of ${path.basename(p)}`);
    }
    assert.equal(on('rmdir', folder), 1);
  });

  it('a temp tree with read-only folders (a move killed after it set the copy\'s modes) is removed, also by a user who is not root', (t) => {
    if (!requireRoot(t)) return;
    const NOBODY = 65534;
    const dir = tmpDir(t);
    const tree = path.join(dir, '.films.0123456789abcdef.tmp');
    fs.mkdirSync(path.join(tree, 'sub', 'deeper'), { recursive: true });
    fs.writeFileSync(path.join(tree, 'sub', 'deeper', 'f'), 'x');
    fs.writeFileSync(path.join(tree, 'sub', 'g'), 'y');
    for (const p of [dir, tree, path.join(tree, 'sub'), path.join(tree, 'sub', 'deeper'), path.join(tree, 'sub', 'deeper', 'f'), path.join(tree, 'sub', 'g')]) fs.chownSync(p, NOBODY, NOBODY);
    fs.chmodSync(path.join(tree, 'sub', 'deeper'), 0o555);
    fs.chmodSync(path.join(tree, 'sub'), 0o555);
    // Root ignores modes: the cleanup runs in a child that drops to nobody first.
    const index = pathToFileURL(path.resolve('build/src/index.js')).href;
    // Loaded as root, then the drop: the checkout may sit where nobody cannot enter.
    const code = `const { cleanupOrphans } = await import(${JSON.stringify(index)});
      process.setgroups([]); process.setgid(${NOBODY}); process.setuid(${NOBODY});
      const r = await cleanupOrphans(${JSON.stringify(dir)}, { olderThan: 0 });
      process.stdout.write(JSON.stringify(r));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { removed: [tree], kept: 0 });
    assert.deepEqual(list(dir), []);
  });
});
