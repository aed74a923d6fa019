/**
 * moveSync and signals: a blocking call cannot run a signal handler mid-copy, so with
 * `cleanupOnExit` (whose handlers are installed for the copy) Node holds SIGINT until the
 * move is over: the process then ends by the signal (at the next turn of its event loop) with
 * the move complete and no temp.
 * Without the handlers the default action kills it mid-copy, leaving the partial temp for
 * cleanupOrphans (the control that shows the test can tell the two apart).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { exited, spawnNode, waitForLine } from '../helpers/child.js';
import { otherDeviceOrSkip, tempsUnder } from '../helpers/move-kit.js';
import { list, tmpDir } from '../helpers/tmp.js';
import { within } from '../helpers/wait.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/sync-signal.js', import.meta.url));
const SIZE = 24 * 1024 * 1024;

describe('moveSync across devices and SIGINT', () => {
  for (const cleanupOnExit of [true, false]) {
    it(
      cleanupOnExit
        ? 'with cleanupOnExit the signal waits for the move: the process ends by SIGINT after it, the destination complete, the source removed, no temp'
        : 'without cleanupOnExit (the control) SIGINT ends the process mid-copy: the source intact, the partial copy left under a temp name',
      { timeout: 60_000 },
      async (t) => {
        const other = otherDeviceOrSkip(t);
        if (!other) return;
        const from = tmpDir(t);
        const to = fs.mkdtempSync(path.join(other.dir, 'sig-'));
        const src = path.join(from, 'big');
        const dest = path.join(to, 'big');
        const data = Buffer.alloc(SIZE);
        for (let i = 0; i < SIZE; i += 4096) data.writeUInt32LE(i, i);
        fs.writeFileSync(src, data);
        const child = spawnNode(t, FIXTURE, [JSON.stringify({ src, dest, cleanupOnExit })]);
        const end = exited(child);
        const out: string[] = [];
        child.stdout!.on('data', (d: Buffer) => out.push(d.toString()));
        await waitForLine(child, 'MID', 20_000);
        process.kill(child.pid!, 'SIGINT');
        const { signal } = await within(end, 30_000, 'the mover to exit');
        assert.equal(signal, 'SIGINT', 'ended by the signal');
        if (cleanupOnExit) {
          assert.match(out.join(''), /^RESULT .*"strategy":"copy"/m, 'moveSync returned');
          assert.doesNotMatch(out.join(''), /NO SIGNAL/, 'the held signal was handled at the next turn');
          assert.ok(fs.readFileSync(dest).equals(data), 'the destination is complete');
          assert.equal(fs.existsSync(src), false, 'the source was removed');
          assert.deepEqual(list(to), ['big'], 'no temp');
        } else {
          assert.ok(fs.readFileSync(src).equals(data), 'the source is intact');
          assert.equal(fs.existsSync(dest), false, 'nothing published');
          const temps = tempsUnder(to);
          assert.equal(temps.length, 1, 'the partial copy, under a temp name');
          assert.ok(fs.statSync(temps[0]!).size < SIZE, 'partial');
        }
      },
    );
  }
});
