import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, it } from 'node:test';
import { AtomicFile, createWriteStream, isTempFile, openAtomic } from '../../src/index.js';
import { FaultOps } from '../helpers/fault-ops.js';
import { list, tmpDir } from '../helpers/tmp.js';

describe('openAtomic', () => {
  it('streams chunks into a private temp and commits them in one step', async (t) => {
    const dir = tmpDir(t);
    const p = path.join(dir, 'out.txt');
    fs.writeFileSync(p, 'old');
    const f = await openAtomic(p);
    assert.ok(f instanceof AtomicFile);
    assert.equal(f.path, p);
    assert.ok(isTempFile(f.tempPath));
    assert.equal(path.dirname(f.tempPath), dir);
    assert.equal(fs.statSync(f.tempPath).mode & 0o777, 0o600);
    await f.write('new ');
    await f.write(Buffer.from('content'));
    assert.equal(fs.readFileSync(p, 'utf8'), 'old', 'not visible before commit');
    await f.commit();
    assert.equal(f.state, 'committed');
    assert.equal(f.size, 11);
    assert.equal(fs.readFileSync(p, 'utf8'), 'new content');
    assert.deepEqual(list(dir), ['out.txt']);
    await f.abort(); // after commit: a no-op
    await f[Symbol.asyncDispose]();
    assert.equal(fs.readFileSync(p, 'utf8'), 'new content');
    await assert.rejects(f.write('x'), { code: 'EINVAL' });
    await assert.rejects(f.commit(), { code: 'EINVAL' });
  });

  it('abort discards the temp and leaves the target; twice is safe', async (t) => {
    const dir = tmpDir(t);
    const p = path.join(dir, 'out.txt');
    fs.writeFileSync(p, 'old');
    const f = await openAtomic(p);
    await f.write('never');
    await f.abort();
    await f.abort();
    assert.equal(f.state, 'aborted');
    assert.deepEqual(list(dir), ['out.txt']);
    assert.equal(fs.readFileSync(p, 'utf8'), 'old');
  });

  it('await using aborts an uncommitted file when the block throws', async (t) => {
    const dir = tmpDir(t);
    const p = path.join(dir, 'out.txt');
    let temp = '';
    await assert.rejects(
      (async () => {
        await using f = await openAtomic(p);
        temp = f.tempPath;
        await f.write('partial');
        throw new Error('producer failed');
      })(),
      /producer failed/,
    );
    assert.ok(temp && !fs.existsSync(temp));
    assert.deepEqual(list(dir), []);
    {
      await using g = await openAtomic(p);
      await g.write('done');
      await g.commit();
    }
    assert.equal(fs.readFileSync(p, 'utf8'), 'done');
  });

  it('a commit whose rename fails keeps the temp so the caller can retry', async (t) => {
    const dir = tmpDir(t);
    const p = path.join(dir, 'out.txt');
    const ops = new FaultOps().failOn('rename', 'EBUSY');
    const f = await openAtomic(p, { fs: ops });
    await f.write('data');
    await assert.rejects(f.commit(), { code: 'EBUSY', path: p });
    assert.equal(f.state, 'open');
    assert.ok(fs.existsSync(f.tempPath));
    await f.commit();
    assert.equal(fs.readFileSync(p, 'utf8'), 'data');
    assert.deepEqual(list(dir), ['out.txt']);
    // The retry neither reopened nor re-flushed the temp: one open and one fsync for the
    // file, one open and one fsync for the folder after the successful rename.
    assert.equal(ops.names().filter((n) => n === 'open').length, 2);
    assert.equal(ops.names().filter((n) => n === 'fsync').length, 2);
  });

  it('a commit whose fsync fails discards the temp for good', async (t) => {
    const dir = tmpDir(t);
    const p = path.join(dir, 'out.txt');
    const f = await openAtomic(p, { fs: new FaultOps().failOn('fsync', 'EIO') });
    await f.write('data');
    await assert.rejects(f.commit(), { code: 'EIO', syscall: 'fsync', path: p });
    assert.equal(f.state, 'aborted');
    assert.deepEqual(list(dir), []);
  });

  it('keeps write order when writes are not awaited', async (t) => {
    const p = path.join(tmpDir(t), 'order');
    const f = await openAtomic(p);
    const parts = Array.from({ length: 200 }, (_, i) => `${i},`);
    await Promise.all(parts.map((s) => f.write(s)));
    await f.commit();
    assert.equal(fs.readFileSync(p, 'utf8'), parts.join(''));
  });
});

describe('createWriteStream', () => {
  it('commits on end: finish fires after the rename', async (t) => {
    const dir = tmpDir(t);
    const p = path.join(dir, 's.bin');
    const ws = createWriteStream(p);
    const finished = new Promise<string>((resolve) => ws.on('finish', () => resolve(fs.readFileSync(p, 'utf8'))));
    ws.write('abc');
    ws.write(Buffer.from('def'));
    ws.end('ghi');
    assert.equal(await finished, 'abcdefghi');
    assert.deepEqual(list(dir), ['s.bin']);
  });

  it('works in a pipeline with a large source', async (t) => {
    const p = path.join(tmpDir(t), 'big');
    const chunk = Buffer.alloc(1 << 16, 7);
    await pipeline(Readable.from(Array.from({ length: 64 }, () => chunk)), createWriteStream(p));
    assert.equal(fs.statSync(p).size, 64 << 16);
  });

  it('destroy(err) aborts and leaves the target untouched', async (t) => {
    const dir = tmpDir(t);
    const p = path.join(dir, 's.bin');
    fs.writeFileSync(p, 'old');
    const failing = new Readable({ read() {} });
    failing.push('partial data');
    setTimeout(() => failing.destroy(new Error('source died')), 10);
    const ws = createWriteStream(p);
    const closed = new Promise((r) => ws.once('close', r));
    await assert.rejects(pipeline(failing, ws), /source died/);
    // 'close' fires once destroy() has finished aborting (the temp is gone by then).
    await closed;
    assert.equal(fs.readFileSync(p, 'utf8'), 'old');
    assert.deepEqual(list(dir), ['s.bin']);
  });

  it('emits an open failure as an error event and validates options at once', async (t) => {
    const dir = tmpDir(t);
    fs.mkdirSync(path.join(dir, 'd'));
    const ws = createWriteStream(path.join(dir, 'd'));
    await assert.rejects(new Promise((_, reject) => ws.on('error', reject)), { code: 'EISDIR' });
    assert.throws(() => createWriteStream(path.join(dir, 'x'), { mode: -1 }), { code: 'EINVAL' });
  });
});
