/**
 * createStagingArea and StagingArea (issue 5, part 3): folders, devices, names, EEXIST,
 * validation, size, streaming, concurrency within and across processes, and the periodic
 * cleanup timer.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { createStagingArea, isTempFile, type FsOps, type LogFields, type Logger, type StagingArea } from '../../src/index.js';
import { realOps } from '../../src/internal/fs-ops.js';
import { exited, spawnNode } from '../helpers/child.js';
import { FaultOps } from '../helpers/fault-ops.js';
import { IS_ROOT, mountTmpfs } from '../helpers/root.js';
import { badFiles, checkFile, Lines, makePayload, MiB, seededRandom, withTimeout } from '../helpers/staging-kit.js';
import { list, tmpDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.js';
import type { ProducerRequest } from './fixtures/producer.js';

const FIXTURES = new URL('./fixtures/', import.meta.url);
const PRODUCER = fileURLToPath(new URL('producer.js', FIXTURES));
const WATCHER = fileURLToPath(new URL('watch-final.js', FIXTURES));
const INTERVAL_EXIT = fileURLToPath(new URL('interval-exit.js', FIXTURES));

/** A staging and a final folder on the repo's file system. */
async function area(t: TestContext, extra: Record<string, unknown> = {}): Promise<StagingArea & { readonly root: string }> {
  const root = tmpDir(t);
  const a = await createStagingArea({ stagingDir: path.join(root, 'staging'), finalDir: path.join(root, 'final'), ...extra });
  t.after(() => a.close());
  return Object.assign(a, { root });
}

/** A fresh folder on another device than the repo: a tmpfs mounted for the test (root), else /dev/shm. */
function otherDevice(t: TestContext): string {
  if (IS_ROOT) return mountTmpfs(t, '256m');
  return tmpDir(t, '/dev/shm');
}

/** Collects log calls. */
function recordingLogger(): Logger & { readonly warns: LogFields[] } {
  const warns: LogFields[] = [];
  return { warns, debug() {}, warn: (fields: LogFields) => void warns.push(fields), error() {} };
}

function oldTemp(dir: string, name: string): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, 'left by a killed writer');
  const old = Date.now() / 1000 - 7200;
  fs.utimesSync(p, old, old);
  return p;
}

describe('createStagingArea', () => {
  it('creates both folders, with missing parents, and reports them as absolute paths', async (t) => {
    const root = tmpDir(t);
    const rel = path.relative(process.cwd(), root);
    const a = await createStagingArea({ stagingDir: path.join(rel, 'deep', 'er', 'staging'), finalDir: path.join(rel, 'x', 'final') });
    // Absolute, and the same folders (spelling may keep '..' when the test folder is outside cwd).
    assert.ok(path.isAbsolute(a.stagingDir) && path.isAbsolute(a.finalDir));
    assert.equal(fs.realpathSync(a.stagingDir), fs.realpathSync(path.join(root, 'deep', 'er', 'staging')));
    assert.equal(fs.realpathSync(a.finalDir), fs.realpathSync(path.join(root, 'x', 'final')));
    assert.ok(fs.statSync(a.stagingDir).isDirectory());
    assert.ok(fs.statSync(a.finalDir).isDirectory());
    assert.equal(a.crossDevice, false);
    await a.close();
    // Existing folders are fine too.
    const again = await createStagingArea({ stagingDir: a.stagingDir, finalDir: a.finalDir });
    await again.write('x', 'x');
    assert.equal(fs.readFileSync(path.join(a.finalDir, 'x'), 'utf8'), 'x');
  });

  it('refuses bad options with EINVAL and a folder path that is a file with ENOTDIR', async (t) => {
    const root = tmpDir(t);
    const s = path.join(root, 's');
    const f = path.join(root, 'f');
    await assert.rejects(createStagingArea({ stagingDir: s, finalDir: s }), { code: 'EINVAL', path: s, dest: s });
    await assert.rejects(createStagingArea(null as never), { code: 'EINVAL' });
    await assert.rejects(createStagingArea({ stagingDir: '', finalDir: f }), { code: 'EINVAL' });
    await assert.rejects(createStagingArea({ stagingDir: s } as never), { code: 'EINVAL' });
    await assert.rejects(createStagingArea({ stagingDir: s, finalDir: f, cleanupInterval: 0 }), { code: 'EINVAL', path: s });
    await assert.rejects(createStagingArea({ stagingDir: s, finalDir: f, orphanAge: -1 }), { code: 'EINVAL', path: s });
    await assert.rejects(createStagingArea({ stagingDir: s, finalDir: f, allowCrossDevice: 'yes' as never }), { code: 'EINVAL', path: s });
    assert.deepEqual(list(root), [], 'nothing is created for bad options');
    fs.writeFileSync(f, 'a file');
    await assert.rejects(createStagingArea({ stagingDir: s, finalDir: f }), { code: 'ENOTDIR', path: f });
  });

  it('refuses one folder under two spellings (a trailing slash, a symlink) as both stagingDir and finalDir with EINVAL', async (t) => {
    const root = tmpDir(t);
    const s = path.join(root, 's');
    fs.mkdirSync(s);
    fs.symlinkSync(s, path.join(root, 'alias'));
    const spellings = { 'trailing slash': s + '/', 'dot component': `${root}/./s`, 'double slash': `${root}//s`, symlink: path.join(root, 'alias') };
    const outcomes: Record<string, string> = {};
    for (const [what, finalDir] of Object.entries(spellings)) {
      outcomes[what] = await createStagingArea({ stagingDir: s, finalDir }).then(
        async (a) => {
          await a.close();
          return 'created';
        },
        (e: NodeJS.ErrnoException) => `${e.code} ${e.path}`,
      );
    }
    assert.deepEqual(outcomes, Object.fromEntries(Object.keys(spellings).map((k) => [k, `EINVAL ${s}`])));
  });

  it('refuses folders on different devices with EXDEV unless allowCrossDevice is set', async (t) => {
    const staging = path.join(tmpDir(t), 'staging');
    const final = path.join(otherDevice(t), 'final');
    await assert.rejects(createStagingArea({ stagingDir: staging, finalDir: final }), { code: 'EXDEV', path: staging, dest: final });
    const a = await createStagingArea({ stagingDir: staging, finalDir: final, allowCrossDevice: true });
    assert.equal(a.crossDevice, true);
    const p = makePayload('x-', 0, 70_000);
    assert.deepEqual(await a.write(p.name, p.data), { name: p.name, path: path.join(final, p.name), size: p.data.length });
    assert.equal(checkFile(final, p.name), undefined);
    assert.deepEqual(list(staging), []);
    await a.close();
  });

  it('across devices, copies into a temp name inside finalDir first, so no partial file ever appears under a final name', { timeout: 60_000 }, async (t) => {
    const root = tmpDir(t);
    const staging = path.join(root, 'staging');
    const final = path.join(otherDevice(t), 'final');
    fs.mkdirSync(final);
    const stop = path.join(root, 'stop');
    const watcher = spawnNode(t, WATCHER, [final, stop]);
    const wout = new Lines(watcher.stdout);
    await wout.waitFor((l) => l === 'ready', 10_000);

    // The seam sees every system call; before each one, every final name must be complete.
    const ops = new FaultOps();
    const copies: { src: string; dest: string }[] = [];
    const verified = new Set<string>();
    const seenPartial: string[] = [];
    ops.before = (name, args) => {
      if (name === 'copyFile') copies.push({ src: args[0] as string, dest: args[1] as string });
      for (const n of fs.readdirSync(final)) {
        if (isTempFile(n) || verified.has(n)) continue;
        const why = checkFile(final, n);
        if (why === undefined) verified.add(n);
        else seenPartial.push(`${n} before ${name}: ${why}`);
      }
    };
    const a = await createStagingArea({ stagingDir: staging, finalDir: final, allowCrossDevice: true, fs: ops });
    const rand = seededRandom(7);
    const names: string[] = [];
    for (let i = 0; i < 30; i++) {
      const p = makePayload('c', i, i === 0 ? 0 : i === 1 ? 4 * MiB : Math.floor(rand() * MiB));
      names.push(p.name);
      if (i % 2 === 0) {
        await a.write(p.name, p.data, { size: p.data.length });
      } else {
        const f = await a.open(p.name);
        for (let off = 0; off < p.data.length; off += 100_000) await f.write(p.data.subarray(off, off + 100_000));
        await f.commit();
      }
    }
    fs.writeFileSync(stop, '');
    const summary = (await wout.waitFor((l) => l.startsWith('summary '), 20_000)).line;
    assert.deepEqual(await exited(watcher), { code: 0, signal: null });
    t.diagnostic(`watcher: ${summary} (scans, complete names, temp names sighted)`);

    assert.deepEqual(wout.words('partial'), [], 'the watcher process never saw a partial file under a final name');
    assert.deepEqual(seenPartial, [], 'no partial file under a final name between any two system calls');
    assert.equal(copies.length, 30, 'each publish copies once');
    for (const c of copies) {
      assert.equal(path.dirname(c.dest), final, 'the copy goes into finalDir');
      assert.ok(isTempFile(c.dest), `the copy targets a temp name, not the final name: ${c.dest}`);
      assert.equal(path.dirname(c.src), staging);
    }
    assert.deepEqual(list(final), [...names].sort(), 'final holds the files and no temp');
    assert.deepEqual(badFiles(final), []);
    assert.deepEqual(list(staging), [], 'the staging files are removed after the copy');

    // A taken name: the copy's temp in finalDir and the staging file are both removed.
    await assert.rejects(a.write(names[3]!, 'other'), { code: 'EEXIST', path: names[3], dest: path.join(final, names[3]!) });
    assert.deepEqual(list(final), [...names].sort());
    assert.deepEqual(list(staging), []);
    await a.close();
  });
});

describe('StagingArea names', () => {
  it("refuses names with '/', '\\\\', '..', '.', a NUL byte, '', a temp-name look-alike or over 255 bytes with EINVAL, creating nothing", async (t) => {
    const a = await area(t);
    const bad = ['a/b', '/abs', 'sub/', 'a\\b', '..', '.', '../escape', 'nul\0byte', '', '.x.0123456789abcdef.tmp', 'n'.repeat(256), 'é'.repeat(128)];
    for (const name of bad) {
      await assert.rejects(a.write(name, 'data'), { code: 'EINVAL', path: name, operation: 'StagingArea.write' }, JSON.stringify(name));
      await assert.rejects(a.open(name), { code: 'EINVAL', path: name, operation: 'StagingArea.open' }, JSON.stringify(name));
    }
    await assert.rejects(a.write(42 as never, 'data'), { code: 'EINVAL' });
    await assert.rejects(a.open(undefined as never), { code: 'EINVAL' });
    assert.deepEqual(list(a.stagingDir), []);
    assert.deepEqual(list(a.finalDir), []);
    assert.deepEqual(list(a.root), ['final', 'staging'], 'nothing escaped the two folders');
    // Names that merely contain dots are fine.
    await a.write('..hidden..', 'ok');
    await a.write('n'.repeat(255), 'ok');
    assert.deepEqual(list(a.finalDir), ['..hidden..', 'n'.repeat(255)]);
  });
});

describe('StagingArea publishing', () => {
  it('never publishes over an existing name: EEXIST, the existing file untouched, staging left clean', async (t) => {
    const a = await area(t);
    fs.writeFileSync(path.join(a.finalDir, 'taken'), 'original');
    const dest = path.join(a.finalDir, 'taken');
    await assert.rejects(a.write('taken', 'new'), { code: 'EEXIST', path: 'taken', dest });
    await assert.rejects(
      a.write('taken', (async function* () {
        yield 'new ';
        yield 'streamed';
      })()),
      { code: 'EEXIST', path: 'taken' },
    );
    const f = await a.open('taken');
    await f.write('new');
    await assert.rejects(f.commit(), { code: 'EEXIST', path: 'taken', dest });
    await assert.rejects(f.write('more'), { code: 'EINVAL', path: 'taken' }, 'a failed commit ends the file');
    // A folder or a symlink under the name counts as taken too.
    fs.mkdirSync(path.join(a.finalDir, 'dir'));
    fs.symlinkSync('/nonexistent', path.join(a.finalDir, 'link'));
    await assert.rejects(a.write('dir', 'x'), { code: 'EEXIST', path: 'dir' });
    await assert.rejects(a.write('link', 'x'), { code: 'EEXIST', path: 'link' });
    assert.equal(fs.readFileSync(dest, 'utf8'), 'original');
    assert.equal(fs.readlinkSync(path.join(a.finalDir, 'link')), '/nonexistent');
    assert.deepEqual(list(a.stagingDir), [], 'no staging file is left');
    assert.deepEqual(list(a.finalDir), ['dir', 'link', 'taken']);
  });

  it('rejects with EINVAL when validateFile options fail, publishing nothing and leaving no staging file', async (t) => {
    const a = await area(t);
    const cases: [string, string | Uint8Array, Record<string, unknown>, RegExp][] = [
      ['trunc.json', '{"a": [1, 2', { json: true }, /invalid JSON/],
      ['bad-utf8.txt', Uint8Array.from([0x61, 0xff, 0x62]), {}, /UTF-8/],
      ['sha.bin', 'abc', { sha256: '0'.repeat(64), encoding: null }, /SHA-256/],
      ['small.txt', 'ab', { minSize: 3 }, /too small/],
      ['big.txt', 'abcd', { maxSize: 3 }, /too large/],
    ];
    for (const [name, data, validate, why] of cases) {
      await assert.rejects(a.write(name, data, { validate }), (e: NodeJS.ErrnoException & { reason?: string }) => {
        assert.equal(e.code, 'EINVAL');
        assert.equal(e.path, name);
        assert.equal(e.reason, 'validation');
        assert.match(e.message, why);
        return true;
      });
      const f = await a.open(name, { validate });
      await f.write(data);
      await assert.rejects(f.commit(), { code: 'EINVAL', path: name, reason: 'validation' });
    }
    assert.deepEqual(list(a.finalDir), [], 'nothing published');
    assert.deepEqual(list(a.stagingDir), [], 'no staging file left');
    // Passing checks publish.
    const sha = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'; // sha256('abc')
    await a.write('ok.json', '{"a": [1, 2]}', { validate: { json: true, minSize: 2, maxSize: 100 } });
    await a.write('ok.bin', 'abc', { validate: { sha256: sha.toUpperCase() } });
    assert.deepEqual(list(a.finalDir), ['ok.bin', 'ok.json']);
    assert.deepEqual(list(a.stagingDir), []);
  });

  it('a validator function sees the complete staging temp; false, a string or a throw rejects, true or nothing publishes', async (t) => {
    const a = await area(t);
    const seen: { tempPath: string; name: string; size: number; content: string }[] = [];
    const look = (tempPath: string, info: { name: string; size: number }): void => {
      seen.push({ tempPath, ...info, content: fs.readFileSync(tempPath, 'utf8') });
    };
    await a.write('yes', 'hello', { validate: (p, i) => (look(p, i), true) });
    await a.write('void', 'hello', { validate: async (p, i) => void look(p, i) });
    assert.equal(seen.length, 2);
    for (const s of seen) {
      assert.equal(path.dirname(s.tempPath), a.stagingDir, 'the validator is handed the staging temp');
      assert.ok(isTempFile(s.tempPath));
      assert.equal(s.size, 5);
      assert.equal(s.content, 'hello', 'the temp is complete when it is checked');
    }
    assert.deepEqual(seen.map((s) => s.name), ['yes', 'void']);

    await assert.rejects(a.write('no', 'x', { validate: () => false }), { code: 'EINVAL', path: 'no', reason: 'validation', message: /rejected/ });
    await assert.rejects(a.write('why', 'x', { validate: async () => 'header missing' }), { code: 'EINVAL', path: 'why', reason: 'validation', message: /header missing/ });
    await assert.rejects(a.write('empty-why', 'x', { validate: () => '' }), { code: 'EINVAL', path: 'empty-why' }, 'an empty reason still rejects');
    await assert.rejects(
      a.write('throws', 'x', {
        validate: () => {
          throw Object.assign(new Error('checker crashed'), { code: 'EBADMSG' });
        },
      }),
      { code: 'EBADMSG', path: 'throws' },
    );
    const f = await a.open('streamed', { validate: () => 'no thanks' });
    await f.write('x');
    await assert.rejects(f.commit(), { code: 'EINVAL', path: 'streamed', reason: 'validation' });
    assert.deepEqual(list(a.finalDir), ['void', 'yes']);
    assert.deepEqual(list(a.stagingDir), [], 'no staging file is left by any rejection');
  });

  it('refuses a bad options object or validate option with EINVAL before writing anything', async (t) => {
    const a = await area(t);
    for (const options of ['x', 42, null, [], { validate: 42 }, { validate: 'json' }, { validate: null }, { size: -1 }, { size: 1.5 }]) {
      await assert.rejects(a.write('f', 'data', options as never), { code: 'EINVAL', path: 'f' }, JSON.stringify(options));
      await assert.rejects(a.open('f', options as never), { code: 'EINVAL', path: 'f' }, JSON.stringify(options));
    }
    await assert.rejects(a.write('f', 'data', { validate: { json: 'yes' } as never }), { code: 'EINVAL' });
    await assert.rejects(a.write('f', 'data', { validate: { sha256: 'abc' } }), { code: 'EINVAL' });
    assert.deepEqual(list(a.stagingDir), []);
    assert.deepEqual(list(a.finalDir), []);
  });

  it('rejects a size mismatch with EINVAL, publishing nothing; the exact size publishes', async (t) => {
    const a = await area(t);
    await assert.rejects(a.write('short', 'abc', { size: 4 }), { code: 'EINVAL', path: 'short', message: /size 3 differs from the expected 4/ });
    await assert.rejects(a.write('long', Buffer.alloc(10), { size: 9 }), { code: 'EINVAL', path: 'long' });
    await assert.rejects(a.write('empty', '', { size: 1 }), { code: 'EINVAL', path: 'empty' });
    const f = await a.open('streamed', { size: 6 });
    await f.write('abc');
    await assert.rejects(f.commit(), { code: 'EINVAL', path: 'streamed' });
    assert.deepEqual(list(a.finalDir), []);
    assert.deepEqual(list(a.stagingDir), []);
    await a.write('exact', 'abc', { size: 3 });
    await a.write('zero', '', { size: 0 });
    const g = await a.open('streamed', { size: 6 });
    await g.write('abc');
    await g.write(Buffer.from('def'));
    assert.deepEqual(await g.commit(), { name: 'streamed', path: path.join(a.finalDir, 'streamed'), size: 6 });
    assert.equal(fs.readFileSync(path.join(a.finalDir, 'streamed'), 'utf8'), 'abcdef');
    assert.deepEqual(list(a.finalDir), ['exact', 'streamed', 'zero']);
    assert.deepEqual(list(a.stagingDir), []);
  });

  it('a staged file is invisible in final until commit; abort and dispose discard it; it cannot be used after commit or abort', async (t) => {
    const a = await area(t);
    const f = await a.open('clip');
    assert.equal(path.dirname(f.tempPath), a.stagingDir);
    assert.ok(isTempFile(f.tempPath));
    await f.write('part 1, ');
    assert.deepEqual(list(a.finalDir), [], 'nothing in final while writing');
    await f.write('part 2');
    await f.commit();
    assert.equal(fs.readFileSync(path.join(a.finalDir, 'clip'), 'utf8'), 'part 1, part 2');
    await assert.rejects(f.write('more'), { code: 'EINVAL', path: 'clip' });
    await assert.rejects(f.commit(), { code: 'EINVAL', path: 'clip' });
    await f.abort(); // after commit: nothing happens
    assert.ok(fs.existsSync(path.join(a.finalDir, 'clip')));

    const g = await a.open('dropped');
    await g.write('x');
    await g.abort();
    await g.abort();
    await assert.rejects(g.commit(), { code: 'EINVAL', path: 'dropped' });
    {
      await using h = await a.open('disposed');
      await h.write('y');
    }
    assert.deepEqual(list(a.finalDir), ['clip']);
    assert.deepEqual(list(a.stagingDir), []);
  });

  it('an aborted signal stops the publish with ABORT_ERR and leaves nothing behind', async (t) => {
    const a = await area(t);
    const ac = new AbortController();
    const f = await a.open('late', { signal: ac.signal });
    await f.write('data');
    ac.abort();
    await assert.rejects(f.commit(), { code: 'ABORT_ERR', path: 'late' });
    await assert.rejects(a.write('early', 'data', { signal: AbortSignal.abort() }), { code: 'ABORT_ERR' });
    const ac2 = new AbortController();
    const src = (async function* () {
      yield 'one ';
      ac2.abort();
      yield 'two';
    })();
    await assert.rejects(a.write('mid-stream', src, { signal: ac2.signal }), { code: 'ABORT_ERR' });
    assert.deepEqual(list(a.finalDir), []);
    assert.deepEqual(list(a.stagingDir), []);
  });

  it('a staged file whose chunk failed to write is never published by commit', async (t) => {
    const root = tmpDir(t);
    // The second write(2) of the staging file fails (EIO): the file holds only the first chunk.
    const ops = new FaultOps().failOn('write', 'EIO', { nth: 2 });
    const a = await createStagingArea({ stagingDir: path.join(root, 'staging'), finalDir: path.join(root, 'final'), fs: ops });
    const f = await a.open('torn');
    await f.write('first chunk, ');
    await assert.rejects(f.write('second chunk'), { code: 'EIO' });
    // A caller that ignores the failed write and commits must not get a truncated file published.
    await assert.rejects(f.commit(), { code: 'EIO' }, 'commit fails with the write error');
    assert.deepEqual(list(a.finalDir), [], 'the truncated file is not published');
    assert.deepEqual(list(a.stagingDir), [], 'the staging file is discarded');
    await a.close();
  });

  it("errors from every stage carry the caller's file name as path, never the staging path", async (t) => {
    const root = tmpDir(t);
    const a = await createStagingArea({ stagingDir: path.join(root, 'staging'), finalDir: path.join(root, 'final') });
    fs.writeFileSync(path.join(a.finalDir, 'taken'), 'x');
    const errors: Record<string, unknown> = {};
    const grab = async (stage: string, p: Promise<unknown>): Promise<void> => {
      await p.then(
        () => assert.fail(`${stage}: expected a rejection`),
        (e: NodeJS.ErrnoException) => void (errors[stage] = { code: e.code, path: e.path }),
      );
    };
    await grab('name', a.write('a/b', 'x'));
    await grab('exists', a.write('taken', 'x'));
    await grab('size', a.write('sized', 'x', { size: 2 }));
    await grab('validate', a.write('checked', 'x', { validate: () => false }));
    await grab('abort before', a.write('aborted', 'x', { signal: AbortSignal.abort() }));
    const ac = new AbortController();
    await grab('abort mid-stream', a.write('streamed', (async function* () {
      yield 'x';
      ac.abort();
      yield 'y';
    })(), { signal: ac.signal }));
    const failing = new FaultOps().failOn('write', 'EIO', { nth: 1 }).failOn('write', 'EIO', { nth: 2 });
    const b = await createStagingArea({ stagingDir: a.stagingDir, finalDir: a.finalDir, fs: failing });
    await grab('write', b.write('written', 'x'));
    const f = await b.open('chunked');
    await grab('chunk', f.write('x'));
    await f.abort();
    assert.deepEqual(errors, {
      name: { code: 'EINVAL', path: 'a/b' },
      exists: { code: 'EEXIST', path: 'taken' },
      size: { code: 'EINVAL', path: 'sized' },
      validate: { code: 'EINVAL', path: 'checked' },
      'abort before': { code: 'ABORT_ERR', path: 'aborted' },
      'abort mid-stream': { code: 'ABORT_ERR', path: 'streamed' },
      write: { code: 'EIO', path: 'written' },
      chunk: { code: 'EIO', path: 'chunked' },
    });
    assert.deepEqual(list(a.stagingDir), []);
    assert.deepEqual(list(a.finalDir), ['taken']);
  });
});

describe('StagingArea concurrency', () => {
  it('100 parallel area.write calls (and 20 open files) in one process all publish complete files, and of 10 racing writers of one name exactly one wins', { timeout: 30_000 }, async (t) => {
    const a = await area(t);
    const rand = seededRandom(11);
    const payloads = Array.from({ length: 120 }, (_, i) => makePayload('p', i, Math.floor(rand() * 200_000)));
    async function* chunked(data: Buffer): AsyncGenerator<Buffer> {
      for (let off = 0; off < data.length; off += 16_384) {
        yield data.subarray(off, off + 16_384);
        await new Promise((r) => setImmediate(r));
      }
    }
    const results = await Promise.all(
      payloads.map((p, i) =>
        i >= 100
          ? a.open(p.name, { size: p.data.length }).then(async (f) => {
              await f.write(p.data.subarray(0, 1000));
              await f.write(p.data.subarray(1000));
              return f.commit();
            })
          : i % 2 === 0
            ? a.write(p.name, p.data, { size: p.data.length })
            : a.write(p.name, chunked(p.data), { validate: { sha256: p.sha256, encoding: null } }),
      ),
    );
    assert.deepEqual(results.map((r) => r.name).sort(), payloads.map((p) => p.name).sort());
    assert.deepEqual(results.map((r) => r.size), payloads.map((p) => p.data.length));
    assert.deepEqual(badFiles(a.finalDir), []);
    assert.equal(list(a.finalDir).length, 120);

    const race = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => a.write('contended', `writer ${i}`)));
    const won = race.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
    assert.equal(won.length, 1, 'exactly one writer wins');
    for (const r of race) if (r.status === 'rejected') assert.equal((r.reason as NodeJS.ErrnoException).code, 'EEXIST');
    assert.equal(fs.readFileSync(path.join(a.finalDir, 'contended'), 'utf8'), `writer ${won[0]}`);
    assert.deepEqual(list(a.stagingDir), []);
  });

  it('4 processes writing 50 files each into one area publish every file complete, and each contended name has exactly one winner', { timeout: 60_000 }, async (t) => {
    const root = tmpDir(t);
    const staging = path.join(root, 'staging');
    const final = path.join(root, 'final');
    const SHARED = 10;
    const children = Array.from({ length: 4 }, (_, id) => {
      const req: ProducerRequest = {
        mode: 'staged',
        stagingDir: staging,
        finalDir: final,
        count: 50,
        seed: 100 + id,
        prefix: `c${id}-`,
        concurrency: 4,
        pauseMs: 1,
        chunkSize: 16 * 1024,
        style: 'mixed',
        big: false,
        fsync: true,
        shared: SHARED,
        id,
      };
      const child = spawnNode(t, PRODUCER, [JSON.stringify(req)]);
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      return { child, out: new Lines(child.stdout), stderr: () => stderr };
    });
    for (const c of children) {
      const ex = await withTimeout(exited(c.child), 45_000, 'a producer did not finish within 45 s');
      await c.out.ended;
      assert.deepEqual(ex, { code: 0, signal: null }, `a producer failed: ${c.stderr()}`);
      assert.deepEqual(c.out.words('done'), [['50']]);
    }
    const names = list(final);
    const own = names.filter((n) => !n.startsWith('shared-'));
    assert.equal(own.length, 200);
    for (const n of own) assert.equal(checkFile(final, n), undefined, n);
    for (let k = 0; k < SHARED; k++) {
      const name = `shared-${k}`;
      const winners = children.flatMap((c, id) => (c.out.words('published').some((w) => w[0] === name) ? [id] : []));
      const losers = children.filter((c) => c.out.words('eexist').some((w) => w[0] === name)).length;
      assert.equal(winners.length, 1, `${name}: exactly one winner`);
      assert.equal(losers, 3, `${name}: the others get EEXIST`);
      assert.equal(fs.readFileSync(path.join(final, name), 'utf8'), `shared ${k} written by producer ${winners[0]}\n`);
    }
    assert.equal(names.length, 200 + SHARED);
    assert.deepEqual(list(staging), [], 'no staging leftovers');
  });
});

describe('StagingArea periodic cleanup', () => {
  it('the cleanupInterval timer does not keep the process alive: a child that creates an area and returns exits by itself', { timeout: 30_000 }, async (t) => {
    const root = tmpDir(t);
    const child = spawnNode(t, INTERVAL_EXIT, [path.join(root, 'staging'), path.join(root, 'final')]);
    const out = new Lines(child.stdout);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const returnedAt = out.waitFor((l) => l === 'returning', 20_000).then(
      () => Date.now(),
      () => undefined,
    );
    const ex = await withTimeout(
      exited(child).then((e) => ({ ...e, at: Date.now() })),
      20_000,
      `the child did not exit by itself: the cleanup timer keeps it alive (output: ${out.lines.join(' | ')})`,
    );
    await out.ended;
    const t0 = await returnedAt;
    assert.deepEqual({ code: ex.code, signal: ex.signal }, { code: 0, signal: null }, `the child failed; output: ${out.lines.join(' | ')}; stderr: ${stderr}`);
    assert.ok(t0 !== undefined, `the child never printed 'returning'; output: ${out.lines.join(' | ')}`);
    // Exiting at all is the property: a timer that kept the process alive (every 5 ms) would
    // keep it alive for ever, which the 20 s bound on its exit reports. How soon it exited is the
    // machine's business.
    t.diagnostic(`exited ${ex.at - t0} ms after returning`);
    assert.equal(fs.readFileSync(path.join(root, 'final', 'hello.txt'), 'utf8'), 'hello\n');
  });

  it('cleanupInterval removes old leftovers on its own, failures are only logged, and close() stops it', { timeout: 30_000 }, async (t) => {
    const logger = recordingLogger();
    const a = await area(t, { cleanupInterval: 10, orphanAge: 60_000, logger });
    const first = oldTemp(a.stagingDir, '.a.0123456789abcdef.tmp');
    const inFinal = oldTemp(a.finalDir, '.b.0123456789abcdef.tmp');
    const young = path.join(a.stagingDir, '.c.0123456789abcdef.tmp');
    fs.writeFileSync(young, 'fresh');
    assert.ok(await until(() => !fs.existsSync(first) && !fs.existsSync(inFinal), 5_000), 'the timer removed the old leftovers');
    assert.ok(fs.existsSync(young), 'a young leftover is kept');

    await a.close();
    await a.close(); // twice is fine
    // A run that started just before close() may still be finishing (see the next test).
    await sleep(200);
    const second = oldTemp(a.stagingDir, '.d.0123456789abcdef.tmp');
    await sleep(150);
    assert.ok(fs.existsSync(second), 'after close() the timer no longer runs');
    assert.deepEqual(logger.warns, []);

    // A failing background cleanup (the staging folder vanished) is logged, never thrown.
    const logger2 = recordingLogger();
    const b = await area(t, { cleanupInterval: 10, logger: logger2 });
    fs.rmSync(b.stagingDir, { recursive: true });
    assert.ok(await until(() => logger2.warns.length > 0, 5_000), 'the failure is logged');
    assert.equal(logger2.warns[0]!['operation'], 'stagingCleanup');
    assert.equal(logger2.warns[0]!['errorCode'], 'ENOENT');
    await b.close();
    await sleep(100);
    const n = logger2.warns.length;
    await sleep(100);
    assert.equal(logger2.warns.length, n, 'no more attempts after close()');
  });

  it('close() waits for a background cleanup already under way: nothing is removed after it resolves', { timeout: 30_000 }, async (t) => {
    const root = tmpDir(t);
    const stagingDir = path.join(root, 'staging');
    // The seam: every readdir of the staging folder takes 150 ms, so a run is still under way.
    let readdirs = 0;
    const slow: FsOps = {
      sync: realOps.sync,
      async: {
        ...realOps.async,
        readdir: async (p: string) => {
          if (p === stagingDir) {
            readdirs++;
            await sleep(150);
          }
          return realOps.async.readdir(p);
        },
      },
    };
    const a = await createStagingArea({ stagingDir, finalDir: path.join(root, 'final'), cleanupInterval: 10, orphanAge: 60_000, fs: slow });
    t.after(() => a.close());
    assert.ok(await until(() => readdirs > 0, 5_000), 'a background cleanup started');
    await a.close();
    // Left by a killed writer long ago, but placed after close() resolved.
    const later = oldTemp(stagingDir, '.late.0123456789abcdef.tmp');
    await sleep(400);
    assert.ok(fs.existsSync(later), 'a cleanup still running after close() resolved removed a file');
  });
});
