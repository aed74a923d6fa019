/**
 * The staging area's publish step: once link(2) (or the rename) has put the file in the
 * final folder it is published, and a staging name that cannot be removed afterwards is a
 * warning, not a failure; a cross-device temp copy that cannot be removed after a failed
 * publish is logged and attached to the error as `suppressed`.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { createStagingArea, isTempFile, type LogFields, type Logger } from '../../src/index.js';
import { FaultOps } from '../helpers/fault-ops.js';
import { IS_ROOT, mountTmpfs } from '../helpers/root.js';
import { list, tmpDir } from '../helpers/tmp.js';

function recordingLogger(): Logger & { warns: { fields: LogFields; msg: string }[] } {
  const warns: { fields: LogFields; msg: string }[] = [];
  return { warns, debug: () => {}, error: () => {}, warn: (fields, msg) => void warns.push({ fields, msg }) };
}

/** A final folder on another device than the repo: a tmpfs mounted for the test (root), else /dev/shm. */
function otherDevice(t: TestContext): string {
  if (IS_ROOT) return mountTmpfs(t, '64m');
  return tmpDir(t, '/dev/shm');
}

describe('staging area: publishing', () => {
  for (const cross of [false, true]) {
    const label = cross ? 'across devices' : 'on one device';
    it(`${label}: a staging name that cannot be removed once the file is published is a warning; write() and commit() resolve`, async (t) => {
      const root = tmpDir(t);
      const stagingDir = path.join(root, 'staging');
      const finalDir = cross ? path.join(otherDevice(t), 'final') : path.join(root, 'final');
      const logger = recordingLogger();
      // The first unlink of a name in the staging folder fails (write), then the next one (commit).
      const ops = new FaultOps().failOn('unlink', 'EIO', { pathMatch: /\/staging\//, nth: 1 }).failOn('unlink', 'EIO', { pathMatch: /\/staging\//, nth: 2 });
      const a = await createStagingArea({ stagingDir, finalDir, allowCrossDevice: cross, fs: ops, logger });
      t.after(() => a.close());
      assert.equal(a.crossDevice, cross);

      const r = await a.write('one.txt', 'published');
      assert.deepEqual(r, { name: 'one.txt', path: path.join(finalDir, 'one.txt'), size: 9 });
      const f = await a.open('two.txt');
      await f.write('also published');
      assert.equal((await f.commit()).size, 14);

      assert.equal(ops.hits.length, 2, 'both unlinks failed');
      assert.deepEqual(list(finalDir), ['one.txt', 'two.txt']);
      assert.equal(fs.readFileSync(path.join(finalDir, 'one.txt'), 'utf8'), 'published');
      assert.equal(fs.readFileSync(path.join(finalDir, 'two.txt'), 'utf8'), 'also published');
      // What is left is only a temp name, which cleanup() removes.
      const left = list(stagingDir);
      assert.equal(left.length, 2);
      assert.ok(left.every((n) => isTempFile(n)), left.join(', '));
      assert.deepEqual(
        logger.warns.map((w) => [w.msg, w.fields['cleanupErrorCode']]),
        [
          ['Failed to clean up temp file', 'EIO'],
          ['Failed to clean up temp file', 'EIO'],
        ],
      );
      assert.deepEqual((await a.cleanup()).removed, []); // younger than orphanAge
      const b = await createStagingArea({ stagingDir, finalDir, allowCrossDevice: cross, orphanAge: 0 });
      assert.equal((await b.cleanup()).removed.length, 2);
      assert.deepEqual(list(stagingDir), []);
      assert.deepEqual(list(finalDir), ['one.txt', 'two.txt']);
    });
  }

  it('on one device: a final folder whose flush fails after the link rejects with that error, the file published and no staging name left', async (t) => {
    const root = tmpDir(t);
    const ops = new FaultOps();
    const a = await createStagingArea({ stagingDir: path.join(root, 'staging'), finalDir: path.join(root, 'final'), fs: ops });
    t.after(() => a.close());
    // From here on, fsync 1 is the file's (seal), 2 the final folder's after the link.
    ops.failOn('fsync', 'EIO', { nth: 2 });
    await assert.rejects(a.write('f.txt', 'data'), { code: 'EIO', path: 'f.txt' });
    assert.equal(ops.hits.length, 1);
    assert.equal(fs.readFileSync(path.join(root, 'final', 'f.txt'), 'utf8'), 'data', 'published (not known durable)');
    assert.deepEqual(list(path.join(root, 'staging')), []);
  });

  it('across devices: a temp copy that cannot be removed after a failed publish is logged and attached as suppressed', async (t) => {
    const root = tmpDir(t);
    const finalDir = path.join(otherDevice(t), 'final');
    const logger = recordingLogger();
    // The publish (link of the copy to its name) fails; so does the removal of the copy.
    const ops = new FaultOps().failOn('link', 'EIO', { pathMatch: /\/final\/\..*\.tmp$/ }).failOn('unlink', 'EBUSY', { pathMatch: /\/final\/\..*\.tmp$/ });
    const a = await createStagingArea({ stagingDir: path.join(root, 'staging'), finalDir, allowCrossDevice: true, fs: ops, logger });
    t.after(() => a.close());
    const e = await a.write('x.bin', Buffer.alloc(1000, 1)).then(
      () => assert.fail('resolved'),
      (x: unknown) => x as Error & { code: string; path: string; suppressed?: NodeJS.ErrnoException },
    );
    assert.equal(e.code, 'EIO');
    assert.equal(e.path, 'x.bin');
    assert.equal(e.suppressed?.code, 'EBUSY');
    const left = list(finalDir);
    assert.equal(left.length, 1);
    assert.ok(isTempFile(left[0]!), 'only the temp copy whose removal failed');
    const warn = logger.warns.find((w) => w.msg === 'Failed to clean up temp file');
    assert.ok(warn, JSON.stringify(logger.warns));
    assert.equal(warn.fields['tempPath'], path.join(finalDir, left[0]!));
    assert.equal(warn.fields['cleanupErrorCode'], 'EBUSY');
    assert.deepEqual(list(path.join(root, 'staging')), [], 'the staging file is discarded');
  });
});
