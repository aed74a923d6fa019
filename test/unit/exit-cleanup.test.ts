/**
 * A process ended by SIGINT, SIGTERM or SIGHUP mid-operation leaves no temp (issue 17.1):
 * one process-wide set of handlers removes the live temps and raises the signal again, so
 * the process still ends by it. When the application listens itself, the exit is its own:
 * its handler runs, atomfs does not end the process, and the temp goes when it exits.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isTempFile, writeFile } from '../../src/index.js';
import { liveTempState } from '../../src/internal/live-temps.js';
import { exited, spawnNode, waitForLine } from '../helpers/child.js';
import { otherDevices } from '../helpers/move-kit.js';
import { tmpDir } from '../helpers/tmp.js';

const CHILD = fileURLToPath(new URL('./fixtures/signal-child.js', import.meta.url));

const temps = (dir: string): string[] => fs.readdirSync(dir).filter(isTempFile);

async function signalled(t: TestContext, args: string[], sig: NodeJS.Signals, watch: string): Promise<{ end: { code: number | null; signal: NodeJS.Signals | null }; out: string }> {
  const child = spawnNode(t, CHILD, args);
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const end = exited(child);
  await waitForLine(child, 'READY', 20_000).catch((e: Error) => {
    throw new Error(`${e.message}; stderr: ${err}`);
  });
  assert.ok(temps(watch).length > 0, `a temp exists in ${watch} before the signal`);
  child.kill(sig);
  return { end: await end, out };
}

describe('temps are removed when a signal ends the process', () => {
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    it(`${sig} mid-write (writeFile from a stream): no temp left, the target untouched, the process ends by ${sig}`, async (t) => {
      const dir = tmpDir(t);
      const target = path.join(dir, 'f');
      fs.writeFileSync(target, 'old');
      const { end } = await signalled(t, ['write', target], sig, dir);
      assert.deepEqual(end, { code: null, signal: sig });
      assert.deepEqual(fs.readdirSync(dir), ['f']);
      assert.equal(fs.readFileSync(target, 'utf8'), 'old');
    });
  }

  it('SIGTERM with an open openAtomic file: no temp left, no target made', async (t) => {
    const dir = tmpDir(t);
    const { end } = await signalled(t, ['open', path.join(dir, 'new')], 'SIGTERM', dir);
    assert.deepEqual(end, { code: null, signal: 'SIGTERM' });
    assert.deepEqual(fs.readdirSync(dir), []);
  });

  it('SIGINT mid-move, a kernel copy on one device: the partial copy goes, the source stays', async (t) => {
    const dir = tmpDir(t);
    const src = path.join(dir, 'src.bin');
    fs.writeFileSync(src, Buffer.alloc(300_000, 9));
    const { end } = await signalled(t, ['move-kernel', path.join(dir, 'dest.bin'), src], 'SIGINT', dir);
    assert.deepEqual(end, { code: null, signal: 'SIGINT' });
    assert.deepEqual(fs.readdirSync(dir), ['src.bin']);
  });

  it('SIGTERM mid-move, a streamed copy to another device: the partial copy goes, the source stays', async (t) => {
    const other = otherDevices(t)[0];
    if (!other) return t.skip('no other device (needs root for a tmpfs, or /dev/shm on another device)');
    const dir = tmpDir(t);
    const src = path.join(dir, 'big.bin');
    fs.writeFileSync(src, Buffer.alloc(9 * 1024 * 1024, 1));
    const to = fs.mkdtempSync(path.join(other.dir, 'sig-'));
    const { end } = await signalled(t, ['move-stream', path.join(to, 'big.bin'), src], 'SIGTERM', to);
    assert.deepEqual(end, { code: null, signal: 'SIGTERM' });
    assert.deepEqual(fs.readdirSync(to), []);
    assert.equal(fs.statSync(src).size, 9 * 1024 * 1024);
  });

  it('with an application listener: its handler runs (the temp still there), atomfs does not end the process, and the temp goes at exit', async (t) => {
    const dir = tmpDir(t);
    const { end, out } = await signalled(t, ['write', path.join(dir, 'f'), '', 'app'], 'SIGTERM', dir);
    assert.match(out, /^APP true$/m, out);
    assert.deepEqual(end, { code: 0, signal: null }, 'the application chose the exit');
    assert.deepEqual(fs.readdirSync(dir), [], 'the temp went at exit');
  });

  it('cleanupOnExit: false keeps the temp (for cleanupOrphans)', async (t) => {
    const dir = tmpDir(t);
    const { end } = await signalled(t, ['write', path.join(dir, 'f'), '', 'keep'], 'SIGTERM', dir);
    assert.deepEqual(end, { code: null, signal: 'SIGTERM' });
    assert.equal(temps(dir).length, 1);
  });

  it('the handlers are installed while a temp is live, and a loop of writes leaves none behind', async (t) => {
    const dir = tmpDir(t);
    const before = process.listenerCount('SIGTERM');
    for (let i = 0; i < 50; i++) await writeFile(path.join(dir, `f${i % 5}`), String(i), { fsync: false });
    assert.equal(liveTempState().live, 0, 'no temp is tracked after the writes');
    // Still installed for a moment (the next write of a loop pays nothing), never twice.
    assert.ok(process.listenerCount('SIGTERM') <= before + 1);
    assert.deepEqual(temps(dir), []);
  });
});
