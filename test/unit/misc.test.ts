import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import {
  cleanupOrphans,
  isTempFile,
  readFile,
  readJson,
  tempPath,
  writeFile,
  writeFiles,
  writeJson,
} from '../../src/index.js';
import { realOps } from '../../src/internal/fs-ops.js';
import { removeTree } from '../../src/internal/remove-tree.js';
import { BLOCKING_STREAK_MAX, blockingView } from '../../src/internal/steps.js';
import { setRandomSource } from '../../src/options.js';
import { FaultOps } from '../helpers/fault-ops.js';
import { list, tmpDir } from '../helpers/tmp.js';

describe('temp names', () => {
  it('tempPath makes unique, recognisable names beside the target', () => {
    const a = tempPath('/data/report.pdf');
    const b = tempPath('/data/report.pdf');
    assert.notEqual(a, b);
    assert.match(path.basename(a), /^\.report\.pdf\.[0-9a-f]{16}\.tmp$/);
    assert.equal(path.dirname(a), '/data');
    assert.ok(isTempFile(a));
    assert.match(path.basename(tempPath('/x/y', { prefix: 'up-' })), /^\.up-y\.[0-9a-f]{16}\.tmp$/);
    assert.throws(() => tempPath('/x/y', { prefix: 'a/b' }), { code: 'EINVAL' });
    assert.throws(() => tempPath(''), { code: 'EINVAL' });
  });

  it('tempPath refuses options that are not an object, and its errors name the path as given (a file URL as its path)', () => {
    for (const bad of [null, 5, 'prefix', ['a']]) {
      assert.throws(() => tempPath('/x/y', bad as never), { code: 'EINVAL', path: '/x/y', operation: 'tempPath' }, String(bad));
    }
    assert.throws(() => tempPath(new URL('file:///x/y'), { prefix: 'a/b' }), { code: 'EINVAL', path: '/x/y' });
    assert.match(path.basename(tempPath('/x/y', {})), /^\.y\.[0-9a-f]{16}\.tmp$/);
  });

  it('isTempFile accepts only the pattern', () => {
    const yes = ['.a.0123456789abcdef.tmp', '/d/.a b.c.fedcba9876543210.tmp', '.x.y.z.0000000000000000.tmp'];
    const no = ['a.0123456789abcdef.tmp', '.a.0123456789ABCDEF.tmp', '.a.0123456789abcde.tmp', '.a.0123456789abcdef.tmp.bak', 'a.json', '..0123456789abcdef.tmp'];
    for (const n of yes) assert.ok(isTempFile(n), n);
    for (const n of no) assert.ok(!isTempFile(n), n);
  });

  it('shortens a long basename so the temp name fits in 255 bytes', () => {
    const long = 'é'.repeat(127); // 254 bytes
    const t = path.basename(tempPath('/d/' + long));
    assert.ok(Buffer.byteLength(t) <= 255, String(Buffer.byteLength(t)));
    assert.ok(isTempFile(t));
    assert.ok(!t.includes('\uFFFD'), 'no character is cut in half');
  });

  it('draws a new name when the random one is taken (EEXIST), never opening an existing file', async (t) => {
    const dir = tmpDir(t);
    const target = path.join(dir, 'f');
    const ops = new FaultOps();
    // Random source: the same bytes twice, then different ones.
    let n = 0;
    setRandomSource(ops, (b) => b.fill(n++ < 2 ? 0xaa : 0xbb));
    const squatter = path.join(dir, '.f.aaaaaaaaaaaaaaaa.tmp');
    fs.writeFileSync(squatter, 'not yours');
    await writeFile(target, 'mine', { fs: ops });
    assert.equal(fs.readFileSync(target, 'utf8'), 'mine');
    assert.equal(fs.readFileSync(squatter, 'utf8'), 'not yours');
    assert.equal(ops.names().filter((x) => x === 'open').length >= 3, true);
  });
});

describe('writeFiles', () => {
  it('writes every file and fsyncs each folder once (group commit)', async (t) => {
    const dir = tmpDir(t);
    const entries = Array.from({ length: 30 }, (_, i) => ({ path: path.join(dir, i % 2 ? 'odd' : 'even', `f${i}`), data: `content ${i}` }));
    const ops = new FaultOps();
    const res = await writeFiles(entries, { fs: ops });
    assert.equal(res.paths.length, 30);
    assert.equal(res.folderSyncs, 2);
    for (const e of entries) assert.equal(fs.readFileSync(e.path, 'utf8'), e.data);
    const renames = ops.names().filter((n) => n === 'rename').length;
    assert.equal(renames, 30);
    // 30 file fsyncs + 2 folder fsyncs after the renames + 1 for the parent of the new folders.
    const fsyncs = ops.names().filter((n) => n === 'fsync').length;
    assert.ok(fsyncs <= 30 + 2 + 2, `fsyncs: ${fsyncs}`);
  });

  it('rejects duplicate paths and bad entries before writing anything', async (t) => {
    const dir = tmpDir(t);
    const p = path.join(dir, 'x');
    await assert.rejects(writeFiles([{ path: p, data: 'a' }, { path: p, data: 'b' }]), { code: 'EINVAL', path: p });
    await assert.rejects(writeFiles([{ path: p, data: 'a' }, { path: '', data: 'b' }]), { code: 'EINVAL' });
    await assert.rejects(writeFiles(null as unknown as []), { code: 'EINVAL' });
    assert.deepEqual(list(dir), []);
    assert.deepEqual(await writeFiles([]), { paths: [], bytes: 0, folderSyncs: 0 });
  });

  it('leaves every target untouched when one file cannot be written', async (t) => {
    const dir = tmpDir(t);
    fs.writeFileSync(path.join(dir, 'a'), 'old-a');
    fs.mkdirSync(path.join(dir, 'b'));
    await assert.rejects(
      writeFiles([
        { path: path.join(dir, 'a'), data: 'new-a' },
        { path: path.join(dir, 'b'), data: 'new-b' },
      ]),
      { code: 'EISDIR', path: path.join(dir, 'b') },
    );
    assert.equal(fs.readFileSync(path.join(dir, 'a'), 'utf8'), 'old-a');
    assert.deepEqual(list(dir), ['a', 'b']);
  });
});

describe('concurrent writes', () => {
  it('coalesces a burst of writes to one path: 1,000 calls in one tick make one write', async (t) => {
    const p = path.join(tmpDir(t), 'hot');
    const ops = new FaultOps();
    const calls = Array.from({ length: 1000 }, (_, i) => writeFile(p, `v${i}`, { fs: ops }));
    await Promise.all(calls);
    assert.equal(fs.readFileSync(p, 'utf8'), 'v999');
    assert.equal(ops.names().filter((n) => n === 'rename').length, 1);
  });

  it('writes arriving while one runs coalesce into one more write', async (t) => {
    const p = path.join(tmpDir(t), 'hot2');
    const ops = new FaultOps();
    const first = writeFile(p, 'first', { fs: ops });
    await Promise.resolve(); // the first write has started (it starts in a microtask)
    const rest = Array.from({ length: 100 }, (_, i) => writeFile(p, `v${i}`, { fs: ops }));
    await Promise.all([first, ...rest]);
    assert.equal(fs.readFileSync(p, 'utf8'), 'v99');
    assert.equal(ops.names().filter((n) => n === 'rename').length, 2);
  });

  it('never coalesces no-overwrite writes: each is an exclusive create', async (t) => {
    const p = path.join(tmpDir(t), 'excl');
    const results = await Promise.allSettled(Array.from({ length: 5 }, (_, i) => writeFile(p, `w${i}`, { overwrite: false })));
    assert.deepEqual(
      results.map((r) => r.status),
      ['fulfilled', 'rejected', 'rejected', 'rejected', 'rejected'],
    );
    assert.equal(fs.readFileSync(p, 'utf8'), 'w0');
  });

  it('does not coalesce writes with different options; they run in call order', async (t) => {
    const p = path.join(tmpDir(t), 'ordered');
    const ops = new FaultOps();
    const calls = [writeFile(p, 'a', { fs: ops }), writeFile(p, 'b', { fs: ops, mode: 0o600 }), writeFile(p, 'c', { fs: ops })];
    await Promise.all(calls);
    assert.equal(fs.readFileSync(p, 'utf8'), 'c');
    assert.equal(ops.names().filter((n) => n === 'rename').length, 3);
  });

  it('a skipped write settles with the outcome of the write that replaced it', async (t) => {
    const dir = tmpDir(t);
    const p = path.join(dir, 'f');
    const ops = new FaultOps().failOn('rename', 'EIO', { nth: 2 });
    const first = writeFile(p, '1', { fs: ops });
    await Promise.resolve(); // the first write has started; the next two wait behind it
    const second = writeFile(p, '2', { fs: ops });
    const third = writeFile(p, '3', { fs: ops });
    await first;
    await assert.rejects(second, { code: 'EIO' });
    await assert.rejects(third, { code: 'EIO' });
    assert.equal(fs.readFileSync(p, 'utf8'), '1');
  });

  it('groups the folder fsyncs of concurrent writes into one folder', async (t) => {
    const dir = tmpDir(t);
    const ops = new FaultOps();
    await Promise.all(Array.from({ length: 64 }, (_, i) => writeFile(path.join(dir, `f${i}`), 'x', { fs: ops })));
    const dirOpens = ops.calls.filter((c) => c.name === 'open' && c.args[0] === dir).length;
    assert.ok(dirOpens < 64, `folder fsyncs: ${dirOpens}`);
    assert.equal(list(dir).length, 64);
  });
});

describe('JSON and reading', () => {
  it('writeJson writes formatted JSON with a trailing newline; readJson reads it back', async (t) => {
    const p = path.join(tmpDir(t), 'c.json');
    await writeJson(p, { a: 1, b: [true] });
    assert.equal(fs.readFileSync(p, 'utf8'), '{\n  "a": 1,\n  "b": [\n    true\n  ]\n}\n');
    await writeJson(p, { a: 2 }, { spaces: 0 });
    assert.deepEqual(await readJson(p), { a: 2 });
    await assert.rejects(writeJson(p, undefined), { code: 'EINVAL' });
    const cyc: Record<string, unknown> = {};
    cyc['self'] = cyc;
    await assert.rejects(writeJson(p, cyc), { code: 'EINVAL' });
    fs.writeFileSync(p, '{"truncated": ');
    await assert.rejects(readJson(p), { code: 'EINVAL', path: p });
  });

  it('readFile returns bytes or text and retries transient errors', async (t) => {
    const p = path.join(tmpDir(t), 'r');
    fs.writeFileSync(p, 'x'.repeat(20_000));
    assert.equal((await readFile(p)).length, 20_000);
    assert.equal(await readFile(p, { encoding: 'utf8' }), 'x'.repeat(20_000));
    const ops = new FaultOps().failOn('open', 'EMFILE', { nth: 1 }).failOn('open', 'EBUSY', { nth: 2 });
    assert.equal(await readFile(p, { fs: ops, encoding: 'latin1' }), 'x'.repeat(20_000));
    assert.equal(ops.hits.length, 2);
    await assert.rejects(readFile(p, { fs: new FaultOps().failOn('open', 'EAGAIN'), retries: 0 }), { code: 'EAGAIN', path: p });
    await assert.rejects(readFile(p + '.missing'), { code: 'ENOENT', path: p + '.missing' });
    await assert.rejects(readFile(p, { retries: -1 }), { code: 'EINVAL' });
  });
});

describe('cleanupOrphans', () => {
  it('removes only old temp names, never follows symlinks, and dryRun removes nothing', async (t) => {
    const dir = tmpDir(t);
    const old = Date.now() / 1000 - 7200;
    const mk = (rel: string, age = old): string => {
      const p = path.join(dir, rel);
      fs.mkdirSync(path.dirname(p), { recursive: true });
      fs.writeFileSync(p, 'x');
      fs.utimesSync(p, age, age);
      return p;
    };
    const oldTemp = mk('.a.0123456789abcdef.tmp');
    mk('.young.0123456789abcdef.tmp', Date.now() / 1000);
    mk('keep.txt');
    mk('not-a-temp.0123456789abcdef.tmp');
    const nested = mk('sub/.b.0123456789abcdef.tmp');
    const outside = tmpDir(t);
    const outsideTemp = path.join(outside, '.o.0123456789abcdef.tmp');
    fs.writeFileSync(outsideTemp, 'x');
    fs.utimesSync(outsideTemp, old, old);
    fs.symlinkSync(outside, path.join(dir, 'linked-dir'));
    const tempLink = path.join(dir, '.l.0123456789abcdef.tmp');
    fs.symlinkSync(outsideTemp, tempLink);

    const dry = await cleanupOrphans(dir, { dryRun: true, recursive: true });
    assert.deepEqual(dry.removed.sort(), [oldTemp, nested].sort());
    assert.ok(fs.existsSync(oldTemp));
    const flat = await cleanupOrphans(dir);
    assert.deepEqual(flat, { removed: [oldTemp], kept: 2 }, 'the young temp and the young temp-named link are kept');
    const deep = await cleanupOrphans(dir, { recursive: true, olderThan: 0 });
    assert.ok(deep.removed.includes(nested));
    assert.ok(deep.removed.includes(tempLink), 'a temp-named symlink is unlinked itself');
    assert.ok(fs.existsSync(outsideTemp), 'nothing behind a symlink is touched');
    assert.ok(fs.existsSync(path.join(dir, 'keep.txt')));
    assert.ok(fs.existsSync(path.join(dir, 'not-a-temp.0123456789abcdef.tmp')));
    await assert.rejects(cleanupOrphans(path.join(dir, 'missing')), { code: 'ENOENT' });
    await assert.rejects(cleanupOrphans(dir, { olderThan: -5 }), { code: 'EINVAL' });
  });
});

describe('moves with blocking metadata calls', () => {
  it('rename and move with blocking: true behave as without it', async (t) => {
    const { move, rename } = await import('../../src/index.js');
    const dir = tmpDir(t);
    fs.writeFileSync(path.join(dir, 'a'), 'one');
    await rename(path.join(dir, 'a'), path.join(dir, 'b'), { blocking: true });
    await assert.rejects(rename(path.join(dir, 'missing'), path.join(dir, 'c'), { blocking: true }), { code: 'ENOENT' });
    const r = await move(path.join(dir, 'b'), path.join(dir, 'sub', 'c'), { blocking: true });
    assert.equal(r.strategy, 'rename');
    assert.equal(fs.readFileSync(path.join(dir, 'sub', 'c'), 'utf8'), 'one');
    fs.writeFileSync(path.join(dir, 'd'), 'two');
    await assert.rejects(move(path.join(dir, 'd'), path.join(dir, 'sub', 'c'), { blocking: true }), { code: 'EEXIST' });
    if (fs.existsSync('/dev/shm')) {
      const shm = fs.mkdtempSync('/dev/shm/atomfs-');
      t.after(() => fs.rmSync(shm, { recursive: true, force: true }));
      const x = await move(path.join(dir, 'd'), path.join(shm, 'd'), { blocking: true, verify: 'checksum' });
      assert.equal(x.strategy, 'copy');
      assert.equal(fs.readFileSync(path.join(shm, 'd'), 'utf8'), 'two');
      assert.ok(!fs.existsSync(path.join(dir, 'd')));
    }
  });
});

describe('blocking metadata calls and the event loop', () => {
  it('a long run of blocking calls lets the event loop turn every BLOCKING_STREAK_MAX calls', async (t) => {
    const dir = tmpDir(t);
    const files = 4 * BLOCKING_STREAK_MAX;
    fs.mkdirSync(path.join(dir, 'tree'));
    for (let i = 0; i < files; i++) fs.writeFileSync(path.join(dir, 'tree', `f${i}`), '');
    let turns = 0;
    let done = false;
    const spin = (): void => {
      turns++;
      if (!done) setImmediate(spin);
    };
    setImmediate(spin);
    // Each file costs one lstat and one unlink, all cheap calls made synchronously.
    await removeTree(blockingView(realOps), path.join(dir, 'tree'));
    done = true;
    assert.ok(!fs.existsSync(path.join(dir, 'tree')));
    assert.ok(turns >= Math.floor((2 * files) / BLOCKING_STREAK_MAX) - 1, `the event loop turned ${turns} times during ${2 * files} calls`);
  });
});
