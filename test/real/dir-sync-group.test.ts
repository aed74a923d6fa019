/**
 * Folder fsyncs are grouped across operations on one seam: a rename (which runs through
 * the seam's blocking view) into a folder whose fsync is under way joins the next folder
 * fsync with the writes that wait for it, instead of starting one of its own. Real disk,
 * with a seam that holds the first folder fsync until released.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { rename, writeFile, type FsOps } from '../../src/index.js';
import { O, realOps } from '../../src/internal/fs-ops.js';
import { tmpDir } from '../helpers/tmp.js';

/** Real calls; fsyncs of folder descriptors are counted, and the first one waits for `release()`. */
function gatedFolderSyncs(): { ops: FsOps; folderSyncs: () => number; release: () => void } {
  const dirFds = new Set<number>();
  let count = 0;
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const isDirOpen = (flags: number): boolean => (flags & O.DIRECTORY) !== 0;
  const ops: FsOps = {
    sync: {
      ...realOps.sync,
      open: (p, flags, mode) => {
        const fd = realOps.sync.open(p, flags, mode);
        if (isDirOpen(flags)) dirFds.add(fd);
        return fd;
      },
      close: (fd) => {
        dirFds.delete(fd);
        realOps.sync.close(fd);
      },
    },
    async: {
      ...realOps.async,
      open: async (p, flags, mode) => {
        const fd = await realOps.async.open(p, flags, mode);
        if (isDirOpen(flags)) dirFds.add(fd);
        return fd;
      },
      close: async (fd) => {
        dirFds.delete(fd);
        await realOps.async.close(fd);
      },
      fsync: async (fd) => {
        if (dirFds.has(fd) && ++count === 1) await gate;
        await realOps.async.fsync(fd);
      },
    },
  };
  return { ops, folderSyncs: () => count, release };
}

const tick = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('folder fsyncs are shared between writes and renames', () => {
  it('a rename into a folder whose fsync is running joins the writes waiting for the next one: two folder fsyncs in all', { timeout: 10_000 }, async (t) => {
    const dir = tmpDir(t);
    fs.writeFileSync(path.join(dir, 'src'), 'moved');
    const { ops, folderSyncs, release } = gatedFolderSyncs();
    const first = writeFile(path.join(dir, 'a'), 'a', { fs: ops });
    for (let i = 0; i < 500 && folderSyncs() === 0; i++) await tick(2);
    assert.equal(folderSyncs(), 1, 'the first write is in its folder fsync');
    const renamed = rename(path.join(dir, 'src'), path.join(dir, 'dest'), { fs: ops });
    const second = writeFile(path.join(dir, 'b'), 'b', { fs: ops });
    // Both have made their rename(2) and now wait for a folder fsync.
    for (let i = 0; i < 500 && !(fs.existsSync(path.join(dir, 'dest')) && fs.existsSync(path.join(dir, 'b'))); i++) await tick(2);
    await tick(20);
    assert.equal(folderSyncs(), 1, 'no folder fsync starts while one is running');
    release();
    await Promise.all([first, renamed, second]);
    assert.equal(folderSyncs(), 2, 'the rename and the second write shared one folder fsync');
    assert.equal(fs.readFileSync(path.join(dir, 'dest'), 'utf8'), 'moved');
  });
});
