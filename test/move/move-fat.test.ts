/**
 * The hard-link strategy on a file system without hard links (FAT) falls back cleanly.
 *
 * The kernel here may have no vfat driver (no modules), so a FAT image made by mkfs.vfat
 * (Debian: dosfstools) is mounted through FUSE with fusefat (Debian: fusefat), whose link()
 * fails with EPERM as FAT's does. Without root, /dev/fuse or those tools, the tests skip
 * and say why.
 *
 * Only files are moved within FAT here: fusefat 0.1a loses a folder's contents when the
 * folder is renamed (rename(2) of a non-empty folder leaves an empty one, also after a
 * remount), a bug of that driver that says nothing about atomfs.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { AtomfsError, move, openAtomic, rename, writeFile, writeFileSync } from '../../src/index.js';
import { FaultOps } from '../helpers/fault-ops.js';
import { exists, fatSupport, mountFat, snapshot, tempsUnder } from '../helpers/move-kit.js';
import { list, tmpDir } from '../helpers/tmp.js';

async function fat(t: TestContext): Promise<string | undefined> {
  const s = fatSupport();
  if (!s.ok) {
    t.skip(`no FAT file system here: ${s.why}`);
    return undefined;
  }
  return mountFat(t);
}

describe('move and rename on FAT (no hard links)', () => {
  it("strategy 'hardlink' falls back to one rename on the same FAT file system, with and without overwrite", async (t) => {
    const mnt = await fat(t);
    if (!mnt) return;
    // FAT really refuses hard links here.
    fs.writeFileSync(path.join(mnt, 'probe'), 'p');
    assert.throws(() => fs.linkSync(path.join(mnt, 'probe'), path.join(mnt, 'probe2')), { code: 'EPERM' });
    fs.rmSync(path.join(mnt, 'probe'));

    fs.writeFileSync(path.join(mnt, 'a.txt'), 'content a');
    const ops = new FaultOps();
    const r = await move(path.join(mnt, 'a.txt'), path.join(mnt, 'sub', 'b.txt'), { strategy: 'hardlink', fs: ops });
    assert.deepEqual(r, { strategy: 'rename', bytes: 0, files: 1 });
    assert.ok(ops.names().includes('link'), 'a link was tried first');
    assert.ok(!ops.names().includes('copyFile'), 'and it fell back to a rename, not a copy');
    assert.equal(fs.readFileSync(path.join(mnt, 'sub', 'b.txt'), 'utf8'), 'content a');
    assert.equal(exists(path.join(mnt, 'a.txt')), false);

    fs.writeFileSync(path.join(mnt, 'c.txt'), 'old c');
    const r2 = await move(path.join(mnt, 'sub', 'b.txt'), path.join(mnt, 'c.txt'), { strategy: 'hardlink', overwrite: true });
    assert.deepEqual(r2, { strategy: 'rename', bytes: 0, files: 1 });
    assert.equal(fs.readFileSync(path.join(mnt, 'c.txt'), 'utf8'), 'content a');

    fs.writeFileSync(path.join(mnt, 'd.txt'), 'd');
    await assert.rejects(move(path.join(mnt, 'c.txt'), path.join(mnt, 'd.txt'), { strategy: 'hardlink' }), {
      code: 'EEXIST',
      path: path.join(mnt, 'c.txt'),
      dest: path.join(mnt, 'd.txt'),
    });
    assert.equal(fs.readFileSync(path.join(mnt, 'd.txt'), 'utf8'), 'd');

    assert.deepEqual(list(mnt), ['c.txt', 'd.txt', 'sub']);
    assert.deepEqual(tempsUnder(mnt), []);
  });

  it('rename with overwrite: false works without hard links: EEXIST when taken, and exactly one of many racers wins', async (t) => {
    const mnt = await fat(t);
    if (!mnt) return;
    fs.writeFileSync(path.join(mnt, 'src'), 'source');
    fs.writeFileSync(path.join(mnt, 'taken'), 'taken');
    await assert.rejects(rename(path.join(mnt, 'src'), path.join(mnt, 'taken'), { overwrite: false }), { code: 'EEXIST', path: path.join(mnt, 'src'), dest: path.join(mnt, 'taken') });
    assert.equal(fs.readFileSync(path.join(mnt, 'taken'), 'utf8'), 'taken');
    await rename(path.join(mnt, 'src'), path.join(mnt, 'free'), { overwrite: false });
    assert.equal(fs.readFileSync(path.join(mnt, 'free'), 'utf8'), 'source');

    const srcs = Array.from({ length: 8 }, (_, i) => path.join(mnt, `r${i}`));
    srcs.forEach((s, i) => fs.writeFileSync(s, `racer ${i}`));
    const results = await Promise.allSettled(srcs.map((s) => rename(s, path.join(mnt, 'prize'), { overwrite: false })));
    const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
    assert.equal(winners.length, 1, results.map((r) => (r.status === 'rejected' ? String(r.reason) : 'ok')).join(' | '));
    for (const r of results) if (r.status === 'rejected') assert.equal((r.reason as AtomfsError).code, 'EEXIST');
    assert.equal(fs.readFileSync(path.join(mnt, 'prize'), 'utf8'), `racer ${winners[0]}`);
    assert.equal(list(mnt).filter((n) => n.startsWith('r')).length, 7, 'the losers keep their sources');
  });

  it("strategy 'hardlink' between FAT and another device falls back to a verified copy out of FAT, and into FAT completes or fails cleanly", async (t) => {
    const mnt = await fat(t);
    if (!mnt) return;
    const disk = tmpDir(t);
    fs.writeFileSync(path.join(mnt, 'out.bin'), Buffer.alloc(100_000, 'o'));
    const r = await move(path.join(mnt, 'out.bin'), path.join(disk, 'out.bin'), { strategy: 'hardlink', verify: 'checksum' });
    assert.deepEqual(r, { strategy: 'copy', bytes: 100_000, files: 1, sha256: createHash('sha256').update(Buffer.alloc(100_000, 'o')).digest('hex') });
    assert.equal(exists(path.join(mnt, 'out.bin')), false);

    // Into FAT: fusefat implements no chmod, and the kernel copy (libuv's copyfile) sets the
    // mode, so this may fail with ENOSYS. Either way nothing is lost or left behind.
    fs.writeFileSync(path.join(disk, 'in.bin'), Buffer.alloc(100_000, 'i'));
    const before = snapshot(path.join(disk, 'in.bin'));
    try {
      const r2 = await move(path.join(disk, 'in.bin'), path.join(mnt, 'in.bin'), { strategy: 'hardlink' });
      assert.equal(r2.strategy, 'copy');
      assert.equal(fs.statSync(path.join(mnt, 'in.bin')).size, 100_000);
      assert.equal(exists(path.join(disk, 'in.bin')), false);
      t.diagnostic('a move into FAT completed');
    } catch (e) {
      assert.ok(e instanceof AtomfsError, String(e));
      assert.equal(e.path, path.join(disk, 'in.bin'));
      assert.equal(e.dest, path.join(mnt, 'in.bin'));
      assert.deepEqual(snapshot(path.join(disk, 'in.bin')), before, 'the source is intact');
      assert.equal(exists(path.join(mnt, 'in.bin')), false, 'nothing at the destination');
      t.diagnostic(`a move into FAT failed cleanly: ${e.code} (${e.message})`);
    }
    assert.deepEqual(tempsUnder(mnt), [], 'no temp left in FAT');
  });

  it('a cross-device move into FAT with overwrite: false publishes the copy without a hard link, and never over an existing file', async (t) => {
    const mnt = await fat(t);
    if (!mnt) return;
    const disk = tmpDir(t);
    // fusefat has no chmod: libuv's copyfile, which sets the copy's mode, fails with ENOSYS
    // (and removes its copy); the move then copies by itself, leaving FAT its own mode.
    const ops = new FaultOps();
    fs.writeFileSync(path.join(disk, 'in.bin'), Buffer.alloc(100_000, 'i'));
    const r = await move(path.join(disk, 'in.bin'), path.join(mnt, 'in.bin'), { overwrite: false, fs: ops });
    assert.deepEqual(r, { strategy: 'copy', bytes: 100_000, files: 1 });
    assert.ok(ops.names().includes('link'), 'a link was tried first');
    assert.ok(ops.names().includes('copyFile'), 'the kernel copy was tried first');
    assert.deepEqual(fs.readFileSync(path.join(mnt, 'in.bin')), Buffer.alloc(100_000, 'i'));
    assert.equal(exists(path.join(disk, 'in.bin')), false, 'the source is removed');

    fs.writeFileSync(path.join(disk, 'taken.bin'), 'new');
    fs.writeFileSync(path.join(mnt, 'taken.bin'), 'old');
    await assert.rejects(move(path.join(disk, 'taken.bin'), path.join(mnt, 'taken.bin'), { overwrite: false, fs: new FaultOps() }), {
      code: 'EEXIST',
      path: path.join(disk, 'taken.bin'),
      dest: path.join(mnt, 'taken.bin'),
    });
    assert.equal(fs.readFileSync(path.join(mnt, 'taken.bin'), 'utf8'), 'old');
    assert.equal(fs.readFileSync(path.join(disk, 'taken.bin'), 'utf8'), 'new');
    assert.deepEqual(list(mnt), ['in.bin', 'taken.bin']);
    assert.deepEqual(tempsUnder(mnt), [], 'no temp left in FAT');
  });
});

describe('writes on FAT (no hard links)', () => {
  it('writes and moves in work without chmod; overwrite: false creates the file (writeFile, writeFileSync, openAtomic), EEXIST when taken, and one of many racers wins', async (t) => {
    const mnt = await fat(t);
    if (!mnt) return;
    // fusefat has no chmod (ENOSYS): the files keep the mode FAT gives them.
    await writeFile(path.join(mnt, 'plain'), 'replaced');
    await writeFile(path.join(mnt, 'plain'), 'replaced twice', { mode: 0o600 });
    assert.equal(fs.readFileSync(path.join(mnt, 'plain'), 'utf8'), 'replaced twice');
    // A streamed move (9 MiB: our own copy, which sets the mode too). Not with checksum:
    // fusefat 0.1a reads a file's last partial cluster wrong through the descriptor that
    // wrote it (at the wrong offset), and the read-back catches that as a mismatch.
    const disk = tmpDir(t);
    const big = Buffer.alloc(9 * 1024 * 1024 + 123, 's');
    fs.writeFileSync(path.join(disk, 'sum'), big);
    await move(path.join(disk, 'sum'), path.join(mnt, 'sum'));
    assert.ok(fs.readFileSync(path.join(mnt, 'sum')).equals(big));
    await writeFile(path.join(mnt, 'a'), 'async', { overwrite: false });
    writeFileSync(path.join(mnt, 'b'), 'sync', { overwrite: false });
    const f = await openAtomic(path.join(mnt, 'c'), { overwrite: false });
    await f.write('streamed');
    await f.commit();
    assert.deepEqual(['a', 'b', 'c'].map((n) => fs.readFileSync(path.join(mnt, n), 'utf8')), ['async', 'sync', 'streamed']);
    await assert.rejects(writeFile(path.join(mnt, 'a'), 'again', { overwrite: false }), { code: 'EEXIST', path: path.join(mnt, 'a') });
    assert.throws(() => writeFileSync(path.join(mnt, 'b'), 'again', { overwrite: false }), { code: 'EEXIST', path: path.join(mnt, 'b') });
    assert.deepEqual(['a', 'b'].map((n) => fs.readFileSync(path.join(mnt, n), 'utf8')), ['async', 'sync']);

    const results = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => writeFile(path.join(mnt, 'prize'), `racer ${i}`, { overwrite: false })));
    const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
    assert.equal(winners.length, 1, results.map((r) => (r.status === 'rejected' ? String(r.reason) : 'ok')).join(' | '));
    for (const r of results) if (r.status === 'rejected') assert.equal((r.reason as AtomfsError).code, 'EEXIST');
    assert.equal(fs.readFileSync(path.join(mnt, 'prize'), 'utf8'), `racer ${winners[0]}`);
    assert.deepEqual(tempsUnder(mnt), []);
    assert.deepEqual(list(mnt).sort(), ['a', 'b', 'c', 'plain', 'prize', 'sum']);
  });
});
