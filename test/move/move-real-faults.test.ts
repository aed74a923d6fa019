/**
 * Real faults from real file systems (root: mounts): a destination that fills up mid-copy
 * (a 1 MiB tmpfs), and EXDEV from rename between the repo's file system and a tmpfs.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { move, rename } from '../../src/index.js';
import { FaultOps } from '../helpers/fault-ops.js';
import { exists, makeTree, mountTmpfsSafe, snapshot, tempsUnder } from '../helpers/move-kit.js';
import { requireRoot } from '../helpers/root.js';
import { list, tmpDir } from '../helpers/tmp.js';

const MiB = 1024 * 1024;

function bigFile(p: string, size: number): void {
  const buf = Buffer.alloc(size);
  for (let i = 0; i < size; i += 512) buf.writeUInt32BE(i, i);
  fs.writeFileSync(p, buf);
}

describe('a destination that fills up mid-copy (ENOSPC on a 1 MiB tmpfs)', () => {
  it('a 4 MiB file: rejects with ENOSPC, the source intact, no destination and no temp, with every verify mode', async (t) => {
    if (!requireRoot(t)) return;
    const small = mountTmpfsSafe(t, '1m');
    const dir = tmpDir(t);
    const src = path.join(dir, 'big.bin');
    bigFile(src, 4 * MiB);
    const before = snapshot(src, { times: true });
    for (const verify of ['size', 'checksum', 'none'] as const) {
      const dest = path.join(small, 'big.bin');
      await assert.rejects(move(src, dest, { verify }), { name: 'AtomfsError', code: 'ENOSPC', path: src, dest, operation: 'move' }, verify);
      assert.deepEqual(snapshot(src, { times: true }), before, `${verify}: source intact`);
      assert.deepEqual(list(small), [], `${verify}: no destination, no temp`);
      assert.equal(fs.statfsSync(small).bfree, fs.statfsSync(small).blocks, `${verify}: the space is given back`);
    }
  });

  it('overwrite: true keeps the pre-existing destination intact when the copy does not fit', async (t) => {
    if (!requireRoot(t)) return;
    const small = mountTmpfsSafe(t, '1m');
    const dir = tmpDir(t);
    const src = path.join(dir, 'big.bin');
    bigFile(src, 4 * MiB);
    const dest = path.join(small, 'target.bin');
    fs.writeFileSync(dest, 'the old destination');
    const before = snapshot(src, { times: true });
    const old = snapshot(dest, { times: true });
    for (const verify of ['size', 'checksum'] as const) {
      await assert.rejects(move(src, dest, { overwrite: true, verify }), { code: 'ENOSPC', path: src, dest });
      assert.deepEqual(snapshot(dest, { times: true }), old, `${verify}: destination intact`);
      assert.deepEqual(snapshot(src, { times: true }), before, `${verify}: source intact`);
      assert.deepEqual(list(small), ['target.bin'], `${verify}: no temp`);
    }
  });

  it('a tree that does not fit: rejects with ENOSPC, the whole temp copy removed, the source tree intact', async (t) => {
    if (!requireRoot(t)) return;
    const small = mountTmpfsSafe(t, '1m');
    const dir = tmpDir(t);
    const src = path.join(dir, 'tree');
    makeTree(src);
    for (let i = 0; i < 6; i++) bigFile(path.join(src, 'a', `part${i}`), 300 * 1024);
    const before = snapshot(src, { times: true });
    await assert.rejects(move(src, path.join(small, 'sub', 'tree')), { code: 'ENOSPC', path: src, dest: path.join(small, 'sub', 'tree') });
    assert.deepEqual(snapshot(src, { times: true }), before);
    assert.deepEqual(tempsUnder(small), []);
    assert.equal(exists(path.join(small, 'sub', 'tree')), false);
  });

  it('a move that fits after the failed one succeeds (nothing was left taking space)', async (t) => {
    if (!requireRoot(t)) return;
    const small = mountTmpfsSafe(t, '1m');
    const dir = tmpDir(t);
    bigFile(path.join(dir, 'big'), 4 * MiB);
    bigFile(path.join(dir, 'fits'), 700 * 1024);
    await assert.rejects(move(path.join(dir, 'big'), path.join(small, 'big')), { code: 'ENOSPC' });
    const r = await move(path.join(dir, 'fits'), path.join(small, 'fits'));
    assert.deepEqual(r, { strategy: 'copy', bytes: 700 * 1024, files: 1 });
    assert.deepEqual(list(small), ['fits']);
  });
});

describe('rename between the repo file system and a mounted tmpfs', () => {
  it('fails with EXDEV both ways, for files and folders, copying nothing', async (t) => {
    if (!requireRoot(t)) return;
    const mnt = mountTmpfsSafe(t, '8m');
    const dir = tmpDir(t);
    fs.writeFileSync(path.join(dir, 'f'), 'disk file');
    makeTree(path.join(dir, 'tree'));
    fs.writeFileSync(path.join(mnt, 'g'), 'tmpfs file');
    fs.mkdirSync(path.join(mnt, 'folder'));
    // The folders' own times may change (a folder rename without overwrite claims the name
    // with an empty folder first, removed again at the EXDEV): compare their contents.
    const diskBefore = snapshot(dir, { times: true }).slice(1);
    const mntBefore = snapshot(mnt, { times: true }).slice(1);
    const pairs: [string, string][] = [
      [path.join(dir, 'f'), path.join(mnt, 'f')],
      [path.join(dir, 'tree'), path.join(mnt, 'tree')],
      [path.join(dir, 'f'), path.join(mnt, 'new', 'parents', 'f')],
      [path.join(mnt, 'g'), path.join(dir, 'g')],
      [path.join(mnt, 'folder'), path.join(dir, 'folder')],
    ];
    for (const [src, dest] of pairs) {
      for (const overwrite of [true, false]) {
        const ops = new FaultOps();
        await assert.rejects(rename(src, dest, { overwrite, fs: ops }), { name: 'AtomfsError', code: 'EXDEV', path: src, dest, operation: 'rename' });
        assert.ok(!ops.names().some((n) => ['copyFile', 'write', 'symlink'].includes(n)), `never copies: ${ops.names().join(' ')}`);
        assert.equal(exists(dest), false, `${src} -> ${dest}: nothing at the destination`);
      }
    }
    fs.rmSync(path.join(mnt, 'new'), { recursive: true, force: true }); // parents mkdirp made before the EXDEV
    assert.deepEqual(snapshot(dir, { times: true }).slice(1), diskBefore);
    assert.deepEqual(snapshot(mnt, { times: true }).slice(1), mntBefore);
  });

  it('move() over the same pair copies instead (the documented way across devices)', async (t) => {
    if (!requireRoot(t)) return;
    const mnt = mountTmpfsSafe(t, '8m');
    const dir = tmpDir(t);
    makeTree(path.join(dir, 'tree'));
    const before = snapshot(path.join(dir, 'tree'), { times: true, owner: true });
    assert.equal((await move(path.join(dir, 'tree'), path.join(mnt, 'tree'))).strategy, 'copy');
    assert.deepEqual(snapshot(path.join(mnt, 'tree'), { times: true, owner: true }), before);
    assert.equal((await move(path.join(mnt, 'tree'), path.join(dir, 'back'))).strategy, 'copy');
    assert.deepEqual(snapshot(path.join(dir, 'back'), { times: true, owner: true }), before);
    assert.deepEqual(list(mnt), []);
  });
});
