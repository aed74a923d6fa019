/**
 * Real faults from real file systems (root: mounts): a destination that fills up mid-copy
 * (a 1 MiB tmpfs), a read-only destination or source (EROFS: a read-only bind mount), and
 * EXDEV from rename between the repo's file system and a tmpfs. The move tests run once per
 * driver (move and moveSync: one step list).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { rename } from '../../src/index.js';
import { FaultOps } from '../helpers/fault-ops.js';
import { exists, makeTree, mountTmpfsSafe, MOVE_DRIVERS, snapshot, tempsUnder } from '../helpers/move-kit.js';
import { mountReadOnly, requireRoot } from '../helpers/root.js';
import { list, tmpDir } from '../helpers/tmp.js';

const MiB = 1024 * 1024;

function bigFile(p: string, size: number): void {
  const buf = Buffer.alloc(size);
  for (let i = 0; i < size; i += 512) buf.writeUInt32BE(i, i);
  fs.writeFileSync(p, buf);
}

for (const { name: driver, move } of MOVE_DRIVERS) {
describe(`${driver}: a destination that fills up mid-copy (ENOSPC on a 1 MiB tmpfs)`, () => {
  it('a 4 MiB file: rejects with ENOSPC, the source intact, no destination and no temp, with every verify mode', async (t) => {
    if (!requireRoot(t)) return;
    const small = mountTmpfsSafe(t, '1m');
    const dir = tmpDir(t);
    const src = path.join(dir, 'big.bin');
    bigFile(src, 4 * MiB);
    const before = snapshot(src, { times: true });
    for (const verify of ['size', 'checksum', 'none'] as const) {
      const dest = path.join(small, 'big.bin');
      await assert.rejects(move(src, dest, { verify }), { name: 'AtomfsError', code: 'ENOSPC', path: src, dest, operation: driver }, verify);
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

describe(`${driver} between the repo file system and a mounted tmpfs (EXDEV from rename)`, () => {
  it('copies where rename says EXDEV (the documented way across devices)', async (t) => {
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

describe(`${driver} and a read-only file system (EROFS from a read-only bind mount)`, () => {
  it('into a read-only destination: EROFS, the source intact, nothing created there (one device and across devices)', async (t) => {
    if (!requireRoot(t)) return;
    const dir = tmpDir(t);
    const ro = mountReadOnly(t, tmpDir(t));
    const other = mountTmpfsSafe(t, '8m');
    const before = list(ro);
    for (const [label, from] of [['disk', dir], ['tmpfs', other]] as const) {
      fs.writeFileSync(path.join(from, 'f'), `file on ${label}`);
      makeTree(path.join(from, 'tree'));
      const snaps = [snapshot(path.join(from, 'f'), { times: true }), snapshot(path.join(from, 'tree'), { times: true })];
      for (const [i, name] of ['f', 'tree'].entries()) {
        for (const options of [{}, { overwrite: true }, { strategy: 'copy' as const }, { dest: 'new/parents' }]) {
          const { dest: sub, ...o } = { dest: '', ...options };
          const dest = path.join(ro, sub, name);
          const what = `${label} ${name} ${JSON.stringify(options)}`;
          await assert.rejects(move(path.join(from, name), dest, o), { name: 'AtomfsError', code: 'EROFS', path: path.join(from, name), dest, operation: driver }, what);
          assert.deepEqual(snapshot(path.join(from, name), { times: true }), snaps[i], `${what}: source intact`);
          assert.deepEqual(list(ro), before, `${what}: nothing created`);
        }
      }
    }
  });

  it('out of a read-only source across devices: EROFS (reason source-not-removable) before anything is copied', async (t) => {
    if (!requireRoot(t)) return;
    const inner = tmpDir(t);
    fs.writeFileSync(path.join(inner, 'f'), 'read-only file');
    makeTree(path.join(inner, 'tree'));
    const ro = mountReadOnly(t, inner);
    const to = mountTmpfsSafe(t, '8m');
    for (const name of ['f', 'tree']) {
      const before = snapshot(path.join(ro, name), { times: true });
      await assert.rejects(move(path.join(ro, name), path.join(to, name)), { name: 'AtomfsError', code: 'EROFS', reason: 'source-not-removable', path: path.join(ro, name), dest: path.join(to, name) }, name);
      assert.deepEqual(snapshot(path.join(ro, name), { times: true }), before, `${name}: source intact`);
      assert.deepEqual(list(to), [], `${name}: nothing copied, no temp`);
    }
  });
});
}

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
});
