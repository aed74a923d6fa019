/**
 * Failing sources and cancellation on a real file system: a source that breaks midway, an
 * aborted signal, an AtomicFile that is aborted or disposed, a write stream destroyed with
 * an error. In each case the target must stay byte-identical and no temp may remain.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, it, type TestContext } from 'node:test';
import { AtomfsError, createWriteStream, openAtomic, writeFile, writeFiles, writeFileSync } from '../../src/index.js';
import { FaultOps } from '../helpers/fault-ops.js';
import { loggedTempPaths, recordingLogger, snapshot, tempsUnder } from '../helpers/real-fs.js';
import { list, tmpDir } from '../helpers/tmp.js';

const OLD = randomBytes(4096);
const CHUNK = randomBytes(1024);
const T = { timeout: 10_000 };

function setup(t: TestContext): { dir: string; p: string } {
  const dir = tmpDir(t);
  const p = path.join(dir, 'data.bin');
  fs.writeFileSync(p, OLD);
  return { dir, p };
}

function assertUntouched(dir: string, p: string): void {
  assert.deepEqual(fs.readFileSync(p), OLD, 'target byte-identical');
  assert.deepEqual(tempsUnder(dir), [], 'no temp left');
  assert.deepEqual(list(dir), [path.basename(p)]);
}

/** A FaultOps that resolves `written` at the first write(2) into a temp file. */
function watchFirstWrite(): { ops: FaultOps; written: Promise<void> } {
  const ops = new FaultOps();
  let resolve!: () => void;
  const written = new Promise<void>((r) => (resolve = r));
  ops.before = (name) => {
    if (name === 'write') resolve();
  };
  return { ops, written };
}

/** A Readable that yields one chunk and then stalls until destroyed. */
function stalled(): Readable {
  const r = new Readable({ read() {} });
  r.push(CHUNK);
  return r;
}

/** Resolves on 'close' with the first 'error' it emitted, if any. */
function closeOf(ws: Writable): Promise<Error | undefined> {
  return new Promise((resolve) => {
    let err: Error | undefined;
    ws.on('error', (e) => (err ??= e));
    ws.once('close', () => resolve(err));
  });
}

describe('a failing source leaves the target byte-identical and no temp', () => {
  it('a Node Readable destroyed with an error midway rejects with the path and the stream error as cause', T, async (t) => {
    const { dir, p } = setup(t);
    const { ops, written } = watchFirstWrite();
    const src = stalled();
    const boom = new Error('source broke midway');
    void written.then(() => src.destroy(boom));
    const err: unknown = await writeFile(p, src, { fs: ops }).catch((e: unknown) => e);
    assert.ok(err instanceof AtomfsError, String(err));
    assert.equal(err.path, p);
    assert.equal(err.cause, boom);
    assert.match(err.message, /source broke midway/);
    assertUntouched(dir, p);
  });

  it('an async generator that throws after yielding rejects with its code and the path', T, async (t) => {
    const { dir, p } = setup(t);
    async function* failing(): AsyncGenerator<Uint8Array> {
      yield CHUNK;
      yield CHUNK;
      throw Object.assign(new Error('connection reset'), { code: 'ECONNRESET' });
    }
    await assert.rejects(writeFile(p, failing()), { code: 'ECONNRESET', path: p, operation: 'writeFile' });
    const other = path.join(dir, 'other.bin');
    await assert.rejects(
      writeFiles([
        { path: other, data: 'fine' },
        { path: p, data: failing() },
      ]),
      { code: 'ECONNRESET', path: p, operation: 'writeFiles' },
    );
    assertUntouched(dir, p);
  });

  it('a sync generator that throws makes writeFileSync throw with its code and the path', (t) => {
    const { dir, p } = setup(t);
    function* failing(): Generator<Uint8Array> {
      yield CHUNK;
      throw Object.assign(new Error('bad data'), { code: 'EBADMSG' });
    }
    assert.throws(() => writeFileSync(p, failing()), { code: 'EBADMSG', path: p, operation: 'writeFileSync' });
    assertUntouched(dir, p);
  });

  it('a web ReadableStream that errors midway rejects with the path', T, async (t) => {
    const { dir, p } = setup(t);
    const boom = new Error('web stream broke');
    let n = 0;
    const web = new ReadableStream<Uint8Array>({
      pull(c) {
        if (n++ < 2) c.enqueue(CHUNK);
        else c.error(boom);
      },
    });
    await assert.rejects(writeFile(p, web), (e: unknown) => e instanceof AtomfsError && e.path === p && e.cause === boom);
    assertUntouched(dir, p);
  });

  it('a failing source piped into createWriteStream fails the pipeline and removes the temp', T, async (t) => {
    const { dir, p } = setup(t);
    async function* failing(): AsyncGenerator<Uint8Array> {
      yield CHUNK;
      await new Promise((r) => setTimeout(r, 5));
      throw new Error('upstream failed');
    }
    const ws = createWriteStream(p);
    const closed = closeOf(ws);
    await assert.rejects(pipeline(Readable.from(failing()), ws), /upstream failed/);
    await closed;
    assertUntouched(dir, p);
  });
});

describe('an aborted signal leaves the target byte-identical and no temp', () => {
  it('a signal aborted before the call rejects every writer with ABORT_ERR and creates nothing', T, async (t) => {
    const { dir, p } = setup(t);
    const fresh = path.join(dir, 'sub', 'fresh.bin');
    const before = snapshot(dir);
    const ac = new AbortController();
    const reason = new Error('user cancelled');
    ac.abort(reason);
    const signal = ac.signal;
    for (const target of [p, fresh]) {
      const shape = (op: string) => (e: unknown) =>
        e instanceof AtomfsError && e.code === 'ABORT_ERR' && e.path === target && e.operation === op && e.cause === reason;
      await assert.rejects(writeFile(target, 'new', { signal }), shape('writeFile'));
      await assert.rejects(writeFile(target, Readable.from(['new']), { signal }), shape('writeFile'));
      assert.throws(() => writeFileSync(target, 'new', { signal }), shape('writeFileSync'));
      await assert.rejects(openAtomic(target, { signal }), shape('openAtomic'));
      await assert.rejects(writeFiles([{ path: target, data: 'new' }], { signal }), shape('writeFiles'));
      const ws = createWriteStream(target, { signal });
      const closed = closeOf(ws);
      ws.end('new');
      const err = await closed;
      assert.ok(err instanceof AtomfsError && err.code === 'ABORT_ERR' && err.path === target, String(err));
    }
    assert.deepEqual(snapshot(dir), before);
  });

  it('aborting while a source stream is stalled rejects with ABORT_ERR, releases the stream and removes the temp', T, async (t) => {
    const { dir, p } = setup(t);
    const { ops, written } = watchFirstWrite();
    const { logger, events } = recordingLogger();
    const src = stalled();
    const ac = new AbortController();
    const reason = new Error('took too long');
    const pending = writeFile(p, src, { signal: ac.signal, fs: ops, logger });
    await written; // some bytes are in the temp; the source now stalls
    const [tempPath] = loggedTempPaths(events);
    assert.ok(tempPath && fs.existsSync(tempPath), 'the temp exists while the write is under way');
    ac.abort(reason);
    await assert.rejects(pending, (e: unknown) => e instanceof AtomfsError && e.code === 'ABORT_ERR' && e.path === p && e.cause === reason);
    assert.equal(fs.existsSync(tempPath), false);
    assertUntouched(dir, p);
    // The stalled stream is released, not left waiting for a reader that is gone.
    for (let i = 0; i < 50 && !src.destroyed; i++) await new Promise((r) => setTimeout(r, 2));
    assert.ok(src.destroyed, 'the source stream was destroyed');
  });

  it('aborting a writeFiles batch while one source is stalled touches no file of the batch', T, async (t) => {
    const { dir, p } = setup(t);
    const other = path.join(dir, 'other.bin');
    const { ops, written } = watchFirstWrite();
    const ac = new AbortController();
    const pending = writeFiles(
      [
        { path: other, data: 'complete' },
        { path: p, data: stalled() },
      ],
      { signal: ac.signal, fs: ops },
    );
    await written;
    setTimeout(() => ac.abort(), 10);
    await assert.rejects(pending, { code: 'ABORT_ERR' });
    assertUntouched(dir, p);
  });

  it('an AtomicFile whose signal fires before commit rejects the commit with ABORT_ERR; abort then leaves no temp', T, async (t) => {
    const { dir, p } = setup(t);
    const ac = new AbortController();
    const f = await openAtomic(p, { signal: ac.signal });
    await f.write(CHUNK);
    ac.abort();
    await assert.rejects(f.commit(), { code: 'ABORT_ERR', path: p });
    assert.deepEqual(fs.readFileSync(p), OLD);
    await f.abort();
    assertUntouched(dir, p);
  });
});

describe('abandoning an AtomicFile or a write stream leaves the target byte-identical and no temp', () => {
  it('openAtomic then abort() removes the temp that held the written bytes', T, async (t) => {
    const { dir, p } = setup(t);
    const f = await openAtomic(p);
    await f.write(CHUNK);
    await f.write('more');
    assert.equal(fs.statSync(f.tempPath).size, CHUNK.length + 4, 'the bytes were in the temp');
    await f.abort();
    assert.equal(f.state, 'aborted');
    assert.equal(fs.existsSync(f.tempPath), false);
    await f.abort(); // twice is safe
    await assert.rejects(f.write('late'), { code: 'EINVAL', path: p });
    await assert.rejects(f.commit(), { code: 'EINVAL', path: p });
    assertUntouched(dir, p);
  });

  it('await using an AtomicFile removes its temp when the block throws before commit', T, async (t) => {
    const { dir, p } = setup(t);
    let tempPath = '';
    await assert.rejects(async () => {
      await using f = await openAtomic(p);
      tempPath = f.tempPath;
      await f.write(CHUNK);
      assert.ok(fs.existsSync(tempPath));
      throw new Error('the block failed');
    }, /the block failed/);
    assert.notEqual(tempPath, '');
    assert.equal(fs.existsSync(tempPath), false);
    assertUntouched(dir, p);
    // And a block that commits keeps its result.
    {
      await using g = await openAtomic(p);
      await g.write('committed');
      await g.commit();
    }
    assert.equal(fs.readFileSync(p, 'utf8'), 'committed');
    assert.deepEqual(list(dir), ['data.bin']);
  });

  it('createWriteStream destroyed with an error after some writes emits that error and removes its temp', T, async (t) => {
    const { dir, p } = setup(t);
    const ws = createWriteStream(p);
    const closed = closeOf(ws);
    await new Promise<void>((resolve, reject) => ws.write(CHUNK, (e) => (e ? reject(e) : resolve())));
    assert.equal(tempsUnder(dir).length, 1, 'the temp holds the first chunk');
    const boom = new Error('producer gave up');
    ws.destroy(boom);
    assert.equal(await closed, boom);
    assertUntouched(dir, p);
  });

  it('createWriteStream destroyed before it finished opening removes the temp it opened', T, async (t) => {
    const { dir, p } = setup(t);
    const { logger, events } = recordingLogger();
    const ws = createWriteStream(p, { logger });
    const closed = closeOf(ws);
    ws.write(CHUNK);
    const boom = new Error('changed my mind');
    ws.destroy(boom);
    assert.equal(await closed, boom);
    assert.equal(loggedTempPaths(events).length, 1, 'a temp had been opened');
    assertUntouched(dir, p);
  });
});
