/**
 * Paths on a real file system: folders, file parents, bad paths, name-length limits and
 * symlinks. Every failure must write nothing anywhere; every success must leave no temp.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, it } from 'node:test';
import { createWriteStream, isTempFile, openAtomic, writeFile, writeFiles, writeFileSync } from '../../src/index.js';
import { FaultOps } from '../helpers/fault-ops.js';
import { loggedTempPaths, recordingLogger, snapshot } from '../helpers/real-fs.js';
import { list, tmpDir } from '../helpers/tmp.js';

const bytes = (s: string): number => Buffer.byteLength(s, 'utf8');

/** Runs every writer on `p` and checks each fails with `code` and the path. */
async function everyWriterRejects(p: string, code: string): Promise<void> {
  await assert.rejects(writeFile(p, 'x'), { code, path: p, operation: 'writeFile' });
  assert.throws(() => writeFileSync(p, 'x'), { code, path: p, operation: 'writeFileSync' });
  await assert.rejects(openAtomic(p), { code, path: p, operation: 'openAtomic' });
  await assert.rejects(writeFiles([{ path: p, data: 'x' }]), { code, path: p, operation: 'writeFiles' });
  // createWriteStream may throw at once (a bad spelling) or emit 'error' (an I/O failure).
  await assert.rejects(async () => pipeline(Readable.from(['x']), createWriteStream(p)), { code, path: p });
}

/** The temp names a write used, seen through the FaultOps seam (exclusive creates). */
function tempOpens(ops: FaultOps): string[] {
  return ops.calls.filter((c) => c.name === 'open' && isTempFile(String(c.args[0]))).map((c) => String(c.args[0]));
}

describe('target and parent errors on a real file system', () => {
  it('a folder as target rejects with EISDIR from every writer and nothing is created anywhere', async (t) => {
    const dir = tmpDir(t);
    fs.mkdirSync(path.join(dir, 'sub'));
    fs.writeFileSync(path.join(dir, 'sub', 'inside.txt'), 'keep');
    const before = snapshot(dir);
    await everyWriterRejects(path.join(dir, 'sub'), 'EISDIR');
    await everyWriterRejects(dir, 'EISDIR');
    // Spelled as a folder (trailing slash), whether or not it exists.
    await everyWriterRejects(path.join(dir, 'sub') + '/', 'EISDIR');
    await everyWriterRejects(path.join(dir, 'nothing-here') + '/', 'EISDIR');
    // 'replace' replaces symlinks, never folders.
    await assert.rejects(writeFile(path.join(dir, 'sub'), 'x', { symlinks: 'replace' }), { code: 'EISDIR' });
    assert.deepEqual(snapshot(dir), before);
  });

  it('a file as parent rejects with ENOTDIR from every writer and nothing is created anywhere', async (t) => {
    const dir = tmpDir(t);
    fs.writeFileSync(path.join(dir, 'file'), 'keep');
    const before = snapshot(dir);
    await everyWriterRejects(path.join(dir, 'file', 'child'), 'ENOTDIR');
    await everyWriterRejects(path.join(dir, 'file', 'deeper', 'child'), 'ENOTDIR');
    assert.deepEqual(snapshot(dir), before);
  });

  it('a FIFO as target (directly or through a symlink) is refused with EINVAL by every writer, never opened, and nothing blocks', { timeout: 10_000 }, async (t) => {
    const dir = tmpDir(t);
    const fifo = path.join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const link = path.join(dir, 'link');
    fs.symlinkSync('fifo', link);
    const before = snapshot(dir);
    await everyWriterRejects(fifo, 'EINVAL');
    await everyWriterRejects(link, 'EINVAL');
    // Refused from its lstat: the FIFO is never opened (an open would wait for a writer).
    const ops = new FaultOps();
    await assert.rejects(writeFile(fifo, 'x', { fs: ops }), { code: 'EINVAL', path: fifo, syscall: 'open' });
    assert.throws(() => writeFileSync(link, 'x', { fs: ops }), { code: 'EINVAL', path: link });
    assert.deepEqual(ops.calls.filter((c) => c.name === 'open'), []);
    assert.ok(fs.lstatSync(fifo).isFIFO());
    assert.deepEqual(snapshot(dir), before);
    // 'replace' replaces the link itself, never touching the FIFO it points to.
    await writeFile(link, 'file now', { symlinks: 'replace' });
    assert.equal(fs.readFileSync(link, 'utf8'), 'file now');
    assert.ok(fs.lstatSync(fifo).isFIFO());
  });

  it('an empty path rejects with EINVAL from every writer and creates nothing in the working folder', async (t) => {
    const cwdTemps = (): string[] => fs.readdirSync(process.cwd()).filter(isTempFile);
    const cwdBefore = cwdTemps();
    const dir = tmpDir(t);
    await assert.rejects(writeFile('', 'x'), { code: 'EINVAL', path: '' });
    assert.throws(() => writeFileSync('', 'x'), { code: 'EINVAL', path: '' });
    await assert.rejects(openAtomic(''), { code: 'EINVAL', path: '' });
    await assert.rejects(writeFiles([{ path: '', data: 'x' }]), { code: 'EINVAL', path: '' });
    assert.throws(() => createWriteStream(''), { code: 'EINVAL', path: '' });
    assert.deepEqual(cwdTemps(), cwdBefore);
    assert.deepEqual(list(dir), []);
  });

  it('a NUL byte in the path rejects with EINVAL and never writes the name cut at the NUL', async (t) => {
    const dir = tmpDir(t);
    for (const p of [path.join(dir, 'a\0b'), path.join(dir, 'a\0'), path.join(dir, 'sub\0', 'f'), '\0']) {
      await assert.rejects(writeFile(p, 'x'), { code: 'EINVAL', path: p });
      assert.throws(() => writeFileSync(p, 'x'), { code: 'EINVAL', path: p });
      await assert.rejects(openAtomic(p), { code: 'EINVAL', path: p });
      await assert.rejects(writeFiles([{ path: p, data: 'x' }]), { code: 'EINVAL', path: p });
      assert.throws(() => createWriteStream(p), { code: 'EINVAL', path: p });
    }
    assert.deepEqual(list(dir), []);
  });
});

describe('file name length limits (255 bytes)', () => {
  it('a 255-byte name works, and its temp name stays within 255 bytes', async (t) => {
    const dir = tmpDir(t);
    const name = 'n'.repeat(255);
    const p = path.join(dir, name);
    const { logger, events } = recordingLogger();
    const ops = new FaultOps();
    await writeFile(p, 'async', { logger, fs: ops });
    assert.equal(fs.readFileSync(p, 'utf8'), 'async');
    writeFileSync(p, 'sync', { logger, fs: ops });
    assert.equal(fs.readFileSync(p, 'utf8'), 'sync');
    const f = await openAtomic(p, { logger, fs: ops });
    assert.ok(fs.existsSync(f.tempPath), 'the shortened temp name was really created');
    await f.write('atomic');
    await f.commit();
    assert.equal(fs.readFileSync(p, 'utf8'), 'atomic');
    const temps = [...new Set([...loggedTempPaths(events), ...tempOpens(ops), f.tempPath])];
    assert.ok(temps.length >= 3, 'three temps observed');
    for (const tp of temps) {
      assert.equal(path.dirname(tp), dir);
      assert.ok(bytes(path.basename(tp)) <= 255, `${bytes(path.basename(tp))} bytes`);
      assert.ok(isTempFile(tp));
    }
    assert.deepEqual(list(dir), [name]);
  });

  it('a 256-byte name rejects with ENAMETOOLONG from every writer and writes nothing anywhere', async (t) => {
    const dir = tmpDir(t);
    fs.writeFileSync(path.join(dir, 'other'), 'keep');
    const before = snapshot(dir);
    await everyWriterRejects(path.join(dir, 'n'.repeat(256)), 'ENAMETOOLONG');
    await everyWriterRejects(path.join(dir, '€'.repeat(86)), 'ENAMETOOLONG'); // 258 bytes
    // A folder name that is too long, with mkdirp.
    await everyWriterRejects(path.join(dir, 'd'.repeat(256), 'f.txt'), 'ENAMETOOLONG');
    assert.deepEqual(snapshot(dir), before);
  });

  it('multi-byte UTF-8 names at the 255-byte limit work, with temp names cut at a character boundary', async (t) => {
    const dir = tmpDir(t);
    const names = ['é'.repeat(127) + 'a', '€'.repeat(85), '😀'.repeat(63) + 'abc', 'a' + '😀'.repeat(63) + 'bc', 'ab' + '€'.repeat(84) + 'c'];
    for (const name of names) assert.equal(bytes(name), 255, name);
    const { logger, events } = recordingLogger();
    for (const name of names) {
      const p = path.join(dir, name);
      await writeFile(p, name, { logger });
      assert.equal(fs.readFileSync(p, 'utf8'), name);
      writeFileSync(p, `${name}!`, { logger });
      assert.equal(fs.readFileSync(p, 'utf8'), `${name}!`);
    }
    const temps = loggedTempPaths(events);
    assert.equal(temps.length, names.length * 2);
    for (const tp of temps) {
      const base = path.basename(tp);
      assert.ok(bytes(base) <= 255, `${bytes(base)} bytes`);
      assert.ok(!base.includes('\uFFFD'), 'no character was split');
      assert.ok(isTempFile(base));
    }
    assert.deepEqual(list(dir), [...names].sort());
  });
});

describe('symlinks on a real file system', () => {
  it("'follow' (the default) keeps a relative link and replaces the file it points to", async (t) => {
    const dir = tmpDir(t);
    const target = path.join(dir, 'target.txt');
    const link = path.join(dir, 'link');
    fs.writeFileSync(target, 'old');
    fs.symlinkSync('target.txt', link);
    await writeFile(link, 'one');
    assert.equal(fs.readlinkSync(link), 'target.txt');
    assert.equal(fs.readFileSync(target, 'utf8'), 'one');
    writeFileSync(link, 'two', { symlinks: 'follow' });
    assert.equal(fs.readlinkSync(link), 'target.txt');
    assert.equal(fs.readFileSync(target, 'utf8'), 'two');
    assert.deepEqual(list(dir), ['link', 'target.txt']);
  });

  it("'follow' keeps an absolute link and a chain of links, replacing only the last pointee", async (t) => {
    const dir = tmpDir(t);
    const target = path.join(dir, 'target.txt');
    fs.writeFileSync(target, 'old');
    fs.symlinkSync(target, path.join(dir, 'l3')); // absolute
    fs.symlinkSync('l3', path.join(dir, 'l2'));
    fs.symlinkSync(path.join(dir, 'l2'), path.join(dir, 'l1'));
    const links = () => ['l1', 'l2', 'l3'].map((l) => fs.readlinkSync(path.join(dir, l)));
    const before = links();
    await writeFile(path.join(dir, 'l3'), 'abs');
    assert.equal(fs.readFileSync(target, 'utf8'), 'abs');
    await writeFile(path.join(dir, 'l1'), 'chain');
    assert.equal(fs.readFileSync(target, 'utf8'), 'chain');
    writeFileSync(path.join(dir, 'l1'), 'chain sync');
    assert.equal(fs.readFileSync(target, 'utf8'), 'chain sync');
    assert.deepEqual(links(), before);
    for (const l of ['l1', 'l2', 'l3']) assert.ok(fs.lstatSync(path.join(dir, l)).isSymbolicLink());
    assert.deepEqual(list(dir), ['l1', 'l2', 'l3', 'target.txt']);
  });

  it("'follow' through a link into another folder creates the temp in the pointee's folder", async (t) => {
    const dir = tmpDir(t);
    const a = path.join(dir, 'a');
    const b = path.join(dir, 'b');
    fs.mkdirSync(a);
    fs.mkdirSync(b);
    const target = path.join(b, 'target.txt');
    const link = path.join(a, 'link');
    fs.writeFileSync(target, 'old');
    fs.symlinkSync('../b/target.txt', link);
    const { logger, events } = recordingLogger();
    const ops = new FaultOps();
    await writeFile(link, 'async', { logger, fs: ops });
    assert.equal(fs.readFileSync(target, 'utf8'), 'async');
    writeFileSync(link, 'sync', { logger, fs: ops });
    assert.equal(fs.readFileSync(target, 'utf8'), 'sync');
    const f = await openAtomic(link, { logger });
    assert.equal(path.dirname(f.tempPath), b);
    await f.write('atomic');
    await f.commit();
    assert.equal(fs.readFileSync(target, 'utf8'), 'atomic');
    await pipeline(Readable.from(['stream']), createWriteStream(link));
    assert.equal(fs.readFileSync(target, 'utf8'), 'stream');
    await writeFiles([{ path: link, data: 'batch' }]);
    assert.equal(fs.readFileSync(target, 'utf8'), 'batch');

    const temps = [...loggedTempPaths(events), ...tempOpens(ops)];
    assert.ok(temps.length >= 3);
    for (const tp of temps) assert.equal(path.dirname(tp), b, `temp ${tp} is in the pointee's folder`);
    assert.equal(fs.readlinkSync(link), '../b/target.txt');
    assert.deepEqual(list(a), ['link']);
    assert.deepEqual(list(b), ['target.txt']);
  });

  it("'replace' swaps the link itself for a regular file and leaves the pointee alone", async (t) => {
    const dir = tmpDir(t);
    const target = path.join(dir, 'target.txt');
    const link = path.join(dir, 'link');
    const link2 = path.join(dir, 'link2');
    fs.writeFileSync(target, 'old', { mode: 0o600 });
    fs.symlinkSync('target.txt', link);
    fs.symlinkSync(target, link2);
    await writeFile(link, 'replaced', { symlinks: 'replace' });
    writeFileSync(link2, 'replaced sync', { symlinks: 'replace' });
    for (const [p, content] of [
      [link, 'replaced'],
      [link2, 'replaced sync'],
    ] as const) {
      const st = fs.lstatSync(p);
      assert.ok(st.isFile() && !st.isSymbolicLink(), `${p} is now a regular file`);
      assert.equal(fs.readFileSync(p, 'utf8'), content);
    }
    assert.equal(fs.readFileSync(target, 'utf8'), 'old');
    assert.equal(fs.statSync(target).mode & 0o777, 0o600);
    assert.deepEqual(list(dir), ['link', 'link2', 'target.txt']);
  });

  it("'follow' on a dangling link creates the pointee and keeps the link", async (t) => {
    const dir = tmpDir(t);
    const link = path.join(dir, 'dangling');
    fs.symlinkSync('missing.txt', link);
    await writeFile(link, 'created');
    assert.equal(fs.readlinkSync(link), 'missing.txt');
    assert.equal(fs.readFileSync(path.join(dir, 'missing.txt'), 'utf8'), 'created');
    const link2 = path.join(dir, 'dangling2');
    fs.symlinkSync(path.join(dir, 'missing2.txt'), link2);
    writeFileSync(link2, 'created sync');
    assert.equal(fs.readFileSync(path.join(dir, 'missing2.txt'), 'utf8'), 'created sync');
    assert.ok(fs.lstatSync(link2).isSymbolicLink());
    assert.deepEqual(list(dir), ['dangling', 'dangling2', 'missing.txt', 'missing2.txt']);
  });

  it('a link loop rejects with ELOOP from every writer and writes nothing', async (t) => {
    const dir = tmpDir(t);
    fs.symlinkSync('b', path.join(dir, 'a'));
    fs.symlinkSync('a', path.join(dir, 'b'));
    fs.symlinkSync('self', path.join(dir, 'self'));
    fs.symlinkSync('a', path.join(dir, 'into-loop'));
    const before = snapshot(dir);
    for (const name of ['a', 'self', 'into-loop']) await everyWriterRejects(path.join(dir, name), 'ELOOP');
    assert.deepEqual(snapshot(dir), before);
  });

  it("'follow' resolves a relative link with '..' from the link's real folder, as the kernel does, when reached through a symlinked folder", async (t) => {
    const dir = tmpDir(t);
    fs.mkdirSync(path.join(dir, 'real', 'sub'), { recursive: true });
    const target = path.join(dir, 'real', 'target.txt');
    fs.writeFileSync(target, 'old');
    fs.symlinkSync('real/sub', path.join(dir, 'alias'));
    fs.symlinkSync('../target.txt', path.join(dir, 'real', 'sub', 'link'));
    const via = path.join(dir, 'alias', 'link');
    assert.equal(fs.readFileSync(via, 'utf8'), 'old', 'the kernel resolves the link to real/target.txt');
    await writeFile(via, 'new');
    assert.equal(fs.readFileSync(target, 'utf8'), 'new', 'the file the link points to was replaced');
    assert.equal(fs.readFileSync(via, 'utf8'), 'new');
    assert.ok(fs.lstatSync(path.join(dir, 'real', 'sub', 'link')).isSymbolicLink());
    assert.deepEqual(list(dir), ['alias', 'real'], 'no stray file beside the symlinked folder');
  });

  it("a caller's path with '..' after a symlinked folder names the same file it names for fs.writeFile", async (t) => {
    const dir = tmpDir(t);
    fs.mkdirSync(path.join(dir, 'real', 'sub'), { recursive: true });
    fs.symlinkSync('real/sub', path.join(dir, 'alias'));
    const p = path.join(dir, 'alias') + '/../f.txt';
    fs.writeFileSync(p, 'by node');
    assert.equal(fs.readFileSync(path.join(dir, 'real', 'f.txt'), 'utf8'), 'by node', 'the kernel resolves .. physically');
    await writeFile(p, 'by atomfs');
    assert.equal(fs.readFileSync(path.join(dir, 'real', 'f.txt'), 'utf8'), 'by atomfs');
    assert.deepEqual(list(dir), ['alias', 'real'], 'no stray file beside the symlinked folder');
  });
});
