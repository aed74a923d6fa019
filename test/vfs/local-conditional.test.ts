/**
 * LocalMount's conditional writes (#22) beyond the conformance suite: they take the file's
 * atomfs lock (so they wait for any holder of `lock(file)`, in any process), its markers
 * are hidden from `list`, a marker left by a killed holder does not keep a folder from
 * being removed, and versions never come back along conditional writes even when the file
 * system reuses inode numbers within one timestamp tick.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LocalMount, VirtualFileSystem, lock } from '../../src/index.js';
import { realOps, type FileStat, type FsOps } from '../../src/internal/fs-ops.js';
import { exited, spawnNode, waitForLine } from '../helpers/child.js';
import { tmpDir } from '../helpers/tmp.js';

const HOLDER = fileURLToPath(new URL('./fixtures/hold-lock.js', import.meta.url));

function mounted(dir: string, fsync = true, fsOps?: FsOps): VirtualFileSystem {
  const vfs = new VirtualFileSystem();
  vfs.mount('/l', new LocalMount(dir, fsOps === undefined ? { fsync } : { fsync, fs: fsOps }));
  return vfs;
}

// The real file system seen through a coarse clock: times as a kernel with 20 ms timestamp
// ticks reports them (this machine's kernel keeps fine-grained ones), so that many writes
// share one tick, as on older kernels and coarser file systems.
const TICK_MS = 20;
function coarse(st: FileStat): FileStat {
  const c = Object.assign(Object.create(Object.getPrototypeOf(st) as object) as FileStat, st);
  return Object.assign(c, { mtimeMs: Math.floor(st.mtimeMs / TICK_MS) * TICK_MS, ctimeMs: Math.floor((st.ctimeMs ?? 0) / TICK_MS) * TICK_MS });
}
const coarseOps: FsOps = {
  sync: { ...realOps.sync, stat: (p) => coarse(realOps.sync.stat(p)), lstat: (p) => coarse(realOps.sync.lstat(p)), fstat: (fd) => coarse(realOps.sync.fstat(fd)) },
  async: {
    ...realOps.async,
    stat: async (p) => coarse(await realOps.async.stat(p)),
    lstat: async (p) => coarse(await realOps.async.lstat(p)),
    fstat: async (fd) => coarse(await realOps.async.fstat(fd)),
  },
  watchFile: realOps.watchFile,
};

describe('LocalMount conditional writes and the file lock', () => {
  it("an ifMatch write waits for another process's lock(file) and lands after its release", async (t) => {
    const dir = tmpDir(t);
    fs.writeFileSync(path.join(dir, 'f'), 'old');
    const vfs = mounted(dir);
    const { version } = await vfs.stat('/l/f');
    const holder = spawnNode(t, HOLDER, [path.join(dir, 'f'), '300']);
    await waitForLine(holder, 'HELD');
    const events: string[] = [];
    const released = waitForLine(holder, 'RELEASED').then(() => events.push('released'));
    await vfs.writeFile('/l/f', 'new', { ifMatch: version! });
    events.push('written');
    await released;
    assert.deepEqual(events, ['released', 'written']);
    assert.equal(fs.readFileSync(path.join(dir, 'f'), 'utf8'), 'new');
    assert.equal((await exited(holder)).code, 0);
  });

  it('lock markers are hidden from list; a live holder keeps its folder (ENOTEMPTY) until released', async (t) => {
    const dir = tmpDir(t);
    fs.mkdirSync(path.join(dir, 'd'));
    const vfs = mounted(dir);
    const l = await lock(path.join(dir, 'd', 'ghost'));
    try {
      assert.equal(fs.readdirSync(path.join(dir, 'd')).length, 1, 'the marker is there on disk');
      assert.deepEqual(await vfs.list('/l/d'), []);
      await assert.rejects(vfs.remove('/l/d'), { code: 'ENOTEMPTY', path: '/l/d' });
    } finally {
      await l.release();
    }
    await vfs.remove('/l/d');
    assert.deepEqual(fs.readdirSync(dir), []);
  });

  it('a marker left by a holder killed with SIGKILL does not keep its folder from being removed', async (t) => {
    const dir = tmpDir(t);
    fs.mkdirSync(path.join(dir, 'd'));
    fs.writeFileSync(path.join(dir, 'd', 'f'), 'x');
    const holder = spawnNode(t, HOLDER, [path.join(dir, 'd', 'f')]);
    await waitForLine(holder, 'HELD');
    process.kill(holder.pid!, 'SIGKILL');
    await exited(holder);
    const vfs = mounted(dir);
    assert.deepEqual(await vfs.list('/l/d'), ['f']);
    await vfs.remove('/l/d/f');
    assert.equal(fs.readdirSync(path.join(dir, 'd')).length, 1, 'the dead holder left its marker');
    assert.deepEqual(await vfs.list('/l/d'), []);
    await vfs.remove('/l/d');
    assert.deepEqual(fs.readdirSync(dir), []);
  });

  it('80 conditional same-size rewrites in a row, many per (20 ms) timestamp tick, with inode numbers reused, give 81 distinct versions', async (t) => {
    const dir = tmpDir(t);
    fs.writeFileSync(path.join(dir, 'f'), 'aaaa');
    const vfs = mounted(dir, false, coarseOps);
    const seen = [(await vfs.stat('/l/f')).version!];
    const inodes = new Set<number>([fs.statSync(path.join(dir, 'f')).ino]);
    for (let i = 0; i < 80; i++) {
      await vfs.writeFile('/l/f', i % 2 === 0 ? 'bbbb' : 'aaaa', { ifMatch: seen[seen.length - 1]! });
      seen.push((await vfs.stat('/l/f')).version!);
      inodes.add(fs.statSync(path.join(dir, 'f')).ino);
    }
    assert.equal(new Set(seen).size, seen.length, `a version came back: ${seen.join(' ')}`);
    // What makes the row worth having: the file system did reuse inode numbers.
    assert.ok(inodes.size < 81, `inode numbers: ${inodes.size} distinct of 81`);
    t.diagnostic(`distinct inode numbers over 81 files: ${inodes.size}`);
  });
});
