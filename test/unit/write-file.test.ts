import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { AtomfsError, isTempFile, LOG_EVENTS, writeFile, writeFileSync, type Logger } from '../../src/index.js';
import { list, tmpDir } from '../helpers/tmp.js';

describe('writeFile', () => {
  it('creates a new file with the given content and no temp left', async (t) => {
    const dir = tmpDir(t);
    const p = path.join(dir, 'a.txt');
    await writeFile(p, 'hello');
    assert.equal(fs.readFileSync(p, 'utf8'), 'hello');
    assert.deepEqual(list(dir), ['a.txt']);
  });

  it('replaces an existing file', async (t) => {
    const p = path.join(tmpDir(t), 'a.txt');
    fs.writeFileSync(p, 'old content that is longer');
    await writeFile(p, 'new');
    assert.equal(fs.readFileSync(p, 'utf8'), 'new');
  });

  it('accepts every kind of data', async (t) => {
    const dir = tmpDir(t);
    const cases: [string, unknown, string][] = [
      ['string', 'abc', 'abc'],
      ['buffer', Buffer.from('abc'), 'abc'],
      ['uint16 view', new Uint16Array([0x6261, 0x6463]), 'abcd'],
      ['dataview', new DataView(new TextEncoder().encode('xyz').buffer), 'xyz'],
      ['array of chunks', ['a', Buffer.from('b'), 'c'], 'abc'],
      ['generator', (function* () { yield 'g'; yield 'h'; })(), 'gh'],
      ['async generator', (async function* () { yield 'i'; yield Buffer.from('j'); })(), 'ij'],
      ['node readable', Readable.from(['k', 'l']), 'kl'],
      ['web stream', new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode('mn')); c.close(); } }), 'mn'],
      ['empty', '', ''],
    ];
    for (const [name, data, expected] of cases) {
      const p = path.join(dir, name);
      await writeFile(p, data as string);
      assert.equal(fs.readFileSync(p, 'utf8'), expected, name);
    }
    assert.ok(!list(dir).some(isTempFile));
  });

  it('encodes strings with the encoding option', async (t) => {
    const p = path.join(tmpDir(t), 'b64');
    await writeFile(p, 'aGVsbG8=', { encoding: 'base64' });
    assert.equal(fs.readFileSync(p, 'utf8'), 'hello');
  });

  it('creates missing parent folders with mkdirp, and fails with ENOENT without it', async (t) => {
    const dir = tmpDir(t);
    const deep = path.join(dir, 'x', 'y', 'z', 'f.txt');
    await writeFile(deep, 'deep');
    assert.equal(fs.readFileSync(deep, 'utf8'), 'deep');
    const other = path.join(dir, 'q', 'f.txt');
    await assert.rejects(writeFile(other, 'x', { mkdirp: false }), { code: 'ENOENT', path: other, operation: 'writeFile' });
    assert.equal(fs.existsSync(path.join(dir, 'q')), false);
  });

  it('overwrite: false fails with EEXIST and leaves the target alone', async (t) => {
    const dir = tmpDir(t);
    const p = path.join(dir, 'keep');
    fs.writeFileSync(p, 'original');
    await assert.rejects(writeFile(p, 'new', { overwrite: false }), { code: 'EEXIST', path: p });
    assert.equal(fs.readFileSync(p, 'utf8'), 'original');
    assert.deepEqual(list(dir), ['keep']);
    const fresh = path.join(dir, 'fresh');
    await writeFile(fresh, 'v', { overwrite: false });
    assert.equal(fs.readFileSync(fresh, 'utf8'), 'v');
    assert.deepEqual(list(dir), ['fresh', 'keep']);
  });

  it('overwrite: false lets exactly one of many racing writers win', async (t) => {
    const dir = tmpDir(t);
    const p = path.join(dir, 'race');
    const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => writeFile(p, `w${i}`, { overwrite: false, fsync: false })));
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    for (const r of results) if (r.status === 'rejected') assert.equal((r.reason as AtomfsError).code, 'EEXIST');
    assert.deepEqual(list(dir), ['race']);
  });

  it('rejects bad input with EINVAL before touching anything', async (t) => {
    const dir = tmpDir(t);
    const p = path.join(dir, 'f');
    const bad: [string, () => Promise<void>, string, string | undefined][] = [
      ['empty path', () => writeFile('', 'x'), 'EINVAL', ''],
      ['NUL byte', () => writeFile(p + '\0x', 'x'), 'EINVAL', p + '\0x'],
      ['number path', () => writeFile(42 as unknown as string, 'x'), 'EINVAL', undefined],
      ['null data', () => writeFile(p, null as unknown as string), 'EINVAL', p],
      ['number data', () => writeFile(p, 5 as unknown as string), 'EINVAL', p],
      ['bad mode', () => writeFile(p, 'x', { mode: 0o10000 }), 'EINVAL', p],
      ['string mode', () => writeFile(p, 'x', { mode: '644' as unknown as number }), 'EINVAL', p],
      ['bad fsync', () => writeFile(p, 'x', { fsync: 'yes' as unknown as boolean }), 'EINVAL', p],
      ['bad encoding', () => writeFile(p, 'x', { encoding: 'klingon' as BufferEncoding }), 'EINVAL', p],
      ['bad symlinks', () => writeFile(p, 'x', { symlinks: 'maybe' as 'follow' }), 'EINVAL', p],
      ['bad signal', () => writeFile(p, 'x', { signal: {} as AbortSignal }), 'EINVAL', p],
      ['bad logger', () => writeFile(p, 'x', { logger: {} as Logger }), 'EINVAL', p],
      ['bad chown', () => writeFile(p, 'x', { chown: { uid: -1, gid: 0 } }), 'EINVAL', p],
      ['options not an object', () => writeFile(p, 'x', 'utf8' as unknown as object), 'EINVAL', p],
      ['trailing slash', () => writeFile(dir + '/sub/', 'x'), 'EISDIR', dir + '/sub/'],
    ];
    for (const [name, fn, code, expectedPath] of bad) {
      await assert.rejects(fn(), (e: unknown) => {
        assert.ok(e instanceof AtomfsError, name);
        assert.equal(e.code, code, name);
        assert.equal(e.path, expectedPath, name);
        return true;
      });
    }
    assert.deepEqual(list(dir), []);
  });

  it('rejects a folder target with EISDIR and a file parent with ENOTDIR', async (t) => {
    const dir = tmpDir(t);
    fs.mkdirSync(path.join(dir, 'sub'));
    fs.writeFileSync(path.join(dir, 'file'), 'x');
    await assert.rejects(writeFile(path.join(dir, 'sub'), 'x'), { code: 'EISDIR', path: path.join(dir, 'sub') });
    await assert.rejects(writeFile(path.join(dir, 'file', 'child'), 'x'), { code: 'ENOTDIR', path: path.join(dir, 'file', 'child') });
    assert.deepEqual(list(dir), ['file', 'sub']);
    assert.deepEqual(list(path.join(dir, 'sub')), []);
  });

  it('formats messages like libuv and keeps the cause', async (t) => {
    const p = path.join(tmpDir(t), 'nope', 'f');
    const err: unknown = await writeFile(p, 'x', { mkdirp: false }).catch((e: unknown) => e);
    assert.ok(err instanceof AtomfsError);
    assert.equal(err.name, 'AtomfsError');
    assert.equal(err.message, `ENOENT: no such file or directory, open '${p}'`);
    assert.equal(err.syscall, 'open');
    assert.equal((err.cause as NodeJS.ErrnoException).code, 'ENOENT');
  });

  it('an aborted signal rejects with ABORT_ERR and leaves the target untouched', async (t) => {
    const dir = tmpDir(t);
    const p = path.join(dir, 'f');
    fs.writeFileSync(p, 'old');
    const ac = new AbortController();
    ac.abort(new Error('stop'));
    await assert.rejects(writeFile(p, 'new', { signal: ac.signal }), { code: 'ABORT_ERR', path: p });
    // Aborting while a stream is being read.
    const ac2 = new AbortController();
    const slow = new Readable({ read() {} });
    slow.push('partial');
    const pending = writeFile(p, slow, { signal: ac2.signal });
    setTimeout(() => ac2.abort(), 20);
    await assert.rejects(pending, (e: any) => e.code === 'ABORT_ERR' && e.path === p);
    assert.equal(fs.readFileSync(p, 'utf8'), 'old');
    assert.deepEqual(list(dir), ['f']);
  });

  it('a failing source stream leaves the target untouched and no temp', async (t) => {
    const dir = tmpDir(t);
    const p = path.join(dir, 'f');
    fs.writeFileSync(p, 'old');
    async function* failing(): AsyncGenerator<string> {
      yield 'some data';
      throw Object.assign(new Error('source broke'), { code: 'ECONNRESET' });
    }
    await assert.rejects(writeFile(p, failing()), { code: 'ECONNRESET', path: p });
    const r = new Readable({ read() {} });
    r.push('abc');
    setTimeout(() => r.destroy(new Error('boom')), 10);
    await assert.rejects(writeFile(p, r), (e: any) => e instanceof AtomfsError && /boom/.test(e.message));
    assert.equal(fs.readFileSync(p, 'utf8'), 'old');
    assert.deepEqual(list(dir), ['f']);
  });

  it('logs the seed-004 events with their fields, never the content', async (t) => {
    const p = path.join(tmpDir(t), 'logged');
    const events: { level: string; fields: Record<string, unknown>; msg: string }[] = [];
    const logger: Logger = {
      debug: (fields, msg) => events.push({ level: 'debug', fields, msg }),
      warn: (fields, msg) => events.push({ level: 'warn', fields, msg }),
      error: (fields, msg) => events.push({ level: 'error', fields, msg }),
    };
    await writeFile(p, 'secret-content', { logger });
    assert.deepEqual(
      events.map((e) => e.msg),
      [LOG_EVENTS.writeStarted, LOG_EVENTS.tempWritten, LOG_EVENTS.renamed, LOG_EVENTS.writeCompleted],
    );
    assert.equal(events[0]!.fields['targetPath'], p);
    assert.ok(isTempFile(events[0]!.fields['tempPath'] as string));
    assert.equal(events[1]!.fields['size'], 14);
    assert.equal(typeof events[3]!.fields['duration'], 'number');
    assert.ok(!JSON.stringify(events).includes('secret-content'));
    events.length = 0;
    await writeFile(path.join(p, 'x'), 'y', { logger }).catch(() => {});
    assert.equal(events.at(-1)!.msg, LOG_EVENTS.writeFailed);
    assert.equal(events.at(-1)!.fields['errorCode'], 'ENOTDIR');
  });

  it('runs 1,000 unawaited writes to one path in order; the last call wins', async (t) => {
    const p = path.join(tmpDir(t), 'hot');
    const all = Array.from({ length: 1000 }, (_, i) => writeFile(p, `v${i}`));
    await Promise.all(all);
    assert.equal(fs.readFileSync(p, 'utf8'), 'v999');
  });
});

describe('writeFileSync', () => {
  it('writes, replaces and rejects like writeFile', (t) => {
    const dir = tmpDir(t);
    const p = path.join(dir, 'deep', 's.txt');
    writeFileSync(p, 'one');
    writeFileSync(p, ['t', 'w', 'o']);
    assert.equal(fs.readFileSync(p, 'utf8'), 'two');
    assert.throws(() => writeFileSync(p, 'x', { overwrite: false }), { code: 'EEXIST', path: p, operation: 'writeFileSync' });
    assert.throws(() => writeFileSync(dir, 'x'), { code: 'EISDIR' });
    assert.throws(() => writeFileSync(p, Readable.from(['a']) as unknown as string[]), { code: 'EINVAL' });
    assert.equal(fs.readFileSync(p, 'utf8'), 'two');
    assert.deepEqual(list(path.join(dir, 'deep')), ['s.txt']);
  });
});
