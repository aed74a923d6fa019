/**
 * cleanupOrphans' calls per temp on a real disk: a temp file or temp-named symlink is
 * lstat'ed once and unlinked (no second lstat); a temp-named folder is removed with its
 * contents, never through a symlink inside it.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { cleanupOrphans } from '../../src/index.js';
import { FaultOps } from '../helpers/fault-ops.js';
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
});
