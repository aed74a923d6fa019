/**
 * writeFiles releases every source it was given when the batch fails: on a failed entry
 * the other workers stop waiting on their streams (a stalled stream must not hold the
 * batch open forever), the sources of entries never started are closed (a file read
 * stream holds a descriptor until destroyed), and a bad entry found while validating
 * releases the sources made for the entries before it.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { once } from 'node:events';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { AtomfsError, writeFiles } from '../../src/index.js';
import { tempsUnder } from '../helpers/real-fs.js';
import { list, tmpDir } from '../helpers/tmp.js';
import { within } from '../helpers/wait.js';

const T = { timeout: 15_000 };

/** Descriptors of this process open on `file` (Linux /proc). */
function fdsOn(file: string): string[] {
  const out: string[] = [];
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      if (fs.readlinkSync(`/proc/self/fd/${fd}`) === file) out.push(fd);
    } catch {
      // closed meanwhile (the descriptor readdir itself used)
    }
  }
  return out;
}

/** Waits for each stream's 'close' (its descriptor released); fails saying how many never closed. */
async function allClosed(streams: readonly fs.ReadStream[], ms: number, what: string): Promise<void> {
  try {
    await within(Promise.all(streams.map((s) => (s.closed ? undefined : once(s, 'close')))), ms, what);
  } catch {
    assert.fail(`${what}: ${streams.filter((s) => !s.closed).length} of ${streams.length} streams never closed`);
  }
}

/** Waits until no descriptor of this process is open on `file`; returns the ones left after `ms`. */
async function fdsLeftOn(file: string, ms = 1000): Promise<string[]> {
  const end = Date.now() + ms;
  for (;;) {
    const left = fdsOn(file);
    if (left.length === 0 || Date.now() > end) return left;
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A Readable that yields one chunk and then stalls until destroyed. */
function stalledReadable(): Readable {
  const r = new Readable({ read() {} });
  r.push(Buffer.from('first chunk'));
  return r;
}

/** An async generator that yields once and then waits forever (until the process ends). */
function stalledGenerator(): AsyncGenerator<string> {
  return (async function* () {
    yield 'first chunk';
    await new Promise(() => {});
  })();
}

describe('writeFiles releases its sources when the batch fails', () => {
  it('a failing entry frees the workers waiting on stalled sources (a Readable and an async generator): the batch rejects at once', T, async (t) => {
    const dir = tmpDir(t);
    const readable = stalledReadable();
    const broken = Object.assign(new Error('the producer broke'), { code: 'EPIPE' });
    const pending = writeFiles([
      { path: path.join(dir, 'a'), data: readable },
      { path: path.join(dir, 'b'), data: stalledGenerator() },
      // Fails once the two above are waiting for a chunk that never comes.
      {
        path: path.join(dir, 'c'),
        data: (async function* () {
          yield 'some';
          await new Promise((r) => setTimeout(r, 50));
          throw broken;
        })(),
      },
    ]);
    const err = await within(
      pending.then(
        () => assert.fail('the batch resolved'),
        (e: unknown) => e,
      ),
      3000,
      'writeFiles with stalled sources',
    );
    assert.ok(err instanceof AtomfsError, String(err));
    assert.equal(err.code, 'EPIPE');
    assert.equal(err.path, path.join(dir, 'c'));
    assert.equal(err.cause, broken);
    assert.ok(readable.destroyed, 'the stalled Readable was destroyed');
    assert.deepEqual(tempsUnder(dir), []);
    assert.deepEqual(list(dir), []);
  });

  it('entries never started (more than run at once) have their file read streams closed', T, async (t) => {
    const dir = tmpDir(t);
    const src = path.join(dir, 'source.bin');
    fs.writeFileSync(src, randomBytes(256 * 1024));
    fs.mkdirSync(path.join(dir, 'folder'));
    const streams = Array.from({ length: 48 }, () => fs.createReadStream(src, { highWaterMark: 1024 }));
    const entries = [
      { path: path.join(dir, 'folder'), data: 'x' },
      ...streams.map((s, i) => ({ path: path.join(dir, `out-${i}`), data: s })),
    ];
    await assert.rejects(within(writeFiles(entries), 5000, 'writeFiles'), { code: 'EISDIR' });
    await allClosed(streams, 2000, 'the source streams');
    assert.deepEqual(await fdsLeftOn(src), [], 'no descriptor is left open on the source file');
    assert.ok(streams.every((s) => s.destroyed), `${streams.filter((s) => !s.destroyed).length} streams were left undestroyed`);
    assert.deepEqual(tempsUnder(dir), []);
    assert.deepEqual(list(dir), ['folder', 'source.bin']);
  });

  it('a bad entry found while validating releases the sources of the entries before it, and touches nothing', T, async (t) => {
    const dir = tmpDir(t);
    const src = path.join(dir, 'source.bin');
    fs.writeFileSync(src, randomBytes(64 * 1024));
    const bad: [string, (s: fs.ReadStream[]) => unknown[]][] = [
      ['bad data', (s) => [{ path: path.join(dir, 'a'), data: s[0] }, { path: path.join(dir, 'b'), data: s[1] }, { path: path.join(dir, 'c'), data: 42 }]],
      ['the same path twice', (s) => [{ path: path.join(dir, 'a'), data: s[0] }, { path: path.join(dir, 'b'), data: s[1] }, { path: path.join(dir, 'a'), data: 'x' }]],
      ['a bad option', (s) => [{ path: path.join(dir, 'a'), data: s[0] }, { path: path.join(dir, 'b'), data: s[1] }, { path: path.join(dir, 'c'), data: 'x', mode: -1 }]],
      ['an entry that is not an object', (s) => [{ path: path.join(dir, 'a'), data: s[0] }, { path: path.join(dir, 'b'), data: s[1] }, 7]],
    ];
    for (const [what, make] of bad) {
      const streams = [fs.createReadStream(src), fs.createReadStream(src)];
      await assert.rejects(writeFiles(make(streams) as Parameters<typeof writeFiles>[0]), { code: 'EINVAL' }, what);
      await allClosed(streams, 2000, what);
      assert.deepEqual(await fdsLeftOn(src), [], `${what}: no descriptor is left open on the source file`);
      assert.ok(streams.every((s) => s.destroyed), `${what}: the streams of the earlier entries were destroyed`);
      assert.deepEqual(list(dir), ['source.bin'], what);
    }
  });
});
