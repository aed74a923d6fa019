/**
 * The simulated disk's own system-call semantics, where they must match the kernel's for
 * the code run on it (LocalMount, the writers) to behave as it does on a real disk.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LocalMount, VirtualFileSystem } from '../../src/index.js';
import { O } from '../../src/internal/fs-ops.js';
import { SimulatedDisk, type TraceStep } from '../../src/testing/index.js';

describe('SimulatedDisk system calls', () => {
  it('O_APPEND: every write goes to the end of the file, whatever the position', () => {
    const disk = new SimulatedDisk();
    disk.mkdirp('/d');
    disk.writeFile('/d/log', 'one\n');
    const steps: TraceStep[] = [];
    disk.record((s) => steps.push(s));
    const s = disk.fs.sync;
    const fd = s.open('/d/log', O.WRONLY | O.APPEND, 0);
    s.write(fd, Buffer.from('two\n'), 0, 4);
    // Someone else appends through another descriptor: the next append lands after it.
    const other = s.open('/d/log', O.WRONLY | O.APPEND, 0);
    s.write(other, Buffer.from('three\n'), 0, 6);
    s.close(other);
    s.write(fd, Buffer.from('four\n'), 0, 5);
    s.close(fd);
    disk.record(undefined);
    assert.equal(disk.readFile('/d/log')?.toString(), 'one\ntwo\nthree\nfour\n');
    assert.match(steps[0]!.call, /^open\("\/d\/log", O_WRONLY\|O_APPEND\)$/);
  });

  it('O_APPEND writes reach the disk at the end too (a crash keeps a prefix of the appends)', () => {
    const disk = new SimulatedDisk();
    disk.mkdirp('/d');
    disk.writeFile('/d/log', 'one\n');
    disk.syncAll();
    const s = disk.fs.sync;
    const fd = s.open('/d/log', O.WRONLY | O.APPEND, 0);
    s.write(fd, Buffer.from('two\n'), 0, 4);
    s.close(fd);
    const snap = disk.snapshot();
    const inode = [...snap.pendingData.keys()][0]!;
    const after = SimulatedDisk.restart(snap, new Set(), new Map([[inode, { ops: 1, partial: 0 }]]));
    assert.equal(after.readFile('/d/log')?.toString(), 'one\ntwo\n');
  });

  it('a LocalMount over the simulated disk appends (vfs.open with "a", mount.write at the end)', async () => {
    const disk = new SimulatedDisk();
    disk.mkdirp('/root');
    disk.syncAll();
    const mount = new LocalMount('/root', { fs: disk.fs });
    const vfs = new VirtualFileSystem();
    vfs.mount('/m', mount);
    await vfs.writeFile('/m/log', 'one\n');
    {
      await using f = await vfs.open('/m/log', 'a');
      await f.write('two\n');
      await f.write('three\n');
    }
    await mount.write('/log', new TextEncoder().encode('four\n'), { offset: 14 });
    assert.equal(await vfs.readFile('/m/log', { encoding: 'utf8' }), 'one\ntwo\nthree\nfour\n');
    assert.equal(disk.readFile('/root/log')?.toString(), 'one\ntwo\nthree\nfour\n');
  });
});
