/**
 * `atomfs mv` interrupted mid-copy (issue 17.1): SIGINT, SIGTERM and SIGHUP abort the move
 * through its AbortSignal, so the partial copy in the destination goes (it used to stay: an
 * 847 MB `.big.bin.*.tmp` for a 2 GB file), the source stays whole, and the exit is 128+N.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { isTempFile } from '../../src/index.js';
import { BIN, closed, collect, runProcess, shQuote, spawnCli } from '../helpers/cli.js';
import { mountTmpfs, requireRoot } from '../helpers/root.js';
import { tmpDir } from '../helpers/tmp.js';

const SIZE = 2 * 1024 ** 3;

describe('atomfs mv interrupted mid-copy', () => {
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    it(`${sig}: no temp left in the destination, the source whole, exit 128+N`, { timeout: 120_000 }, async (t) => {
      if (!requireRoot(t)) return;
      const dir = tmpDir(t);
      // A sparse source: 2 GiB to copy, read from holes, nothing to write beforehand.
      const src = path.join(dir, 'big.bin');
      fs.closeSync(fs.openSync(src, 'w'));
      fs.truncateSync(src, SIZE);
      const to = mountTmpfs(t, '3g');
      const child = spawnCli(t, ['mv', src, path.join(to, 'big.bin')]);
      const err = collect(child.stderr);
      const end = closed(child, 60_000);
      // Midway: the temp holds 64 MiB or more.
      const until = Date.now() + 30_000;
      for (;;) {
        const temp = fs.readdirSync(to).find(isTempFile);
        if (temp && fs.statSync(path.join(to, temp)).size >= 64 * 1024 * 1024) break;
        if (Date.now() > until || child.exitCode !== null) throw new Error(`no growing temp: ${fs.readdirSync(to).join(', ')}; ${err.text()}`);
        await sleep(5);
      }
      child.kill(sig);
      assert.deepEqual(await end, { code: 128 + os.constants.signals[sig], signal: null }, err.text());
      assert.equal(err.text(), '');
      assert.deepEqual(fs.readdirSync(to), [], 'the partial copy went with the abort');
      assert.equal(fs.statSync(src).size, SIZE, 'the source is whole');
    });
  }

  it('SIGINT on a terminal: the progress bar gives the cursor back (hidden, then shown), no temp left', { timeout: 120_000 }, async (t) => {
    if (!requireRoot(t)) return;
    const dir = tmpDir(t);
    const src = path.join(dir, 'big.bin');
    fs.closeSync(fs.openSync(src, 'w'));
    fs.truncateSync(src, SIZE);
    const to = mountTmpfs(t, '3g');
    const pidFile = path.join(dir, 'pid');
    // Under a pseudo-terminal (util-linux script), so the bar is drawn; the shell gives its
    // pid to atomfs by exec, so the signal reaches atomfs itself, as Ctrl-C would.
    const cmd = `echo $$ > ${shQuote(pidFile)}; exec ${[process.execPath, BIN, 'mv', src, path.join(to, 'big.bin')].map(shQuote).join(' ')}`;
    const run = runProcess('script', ['-qec', cmd, '/dev/null'], { timeoutMs: 90_000 });
    const until = Date.now() + 30_000;
    for (;;) {
      const temp = fs.readdirSync(to).find(isTempFile);
      if (temp && fs.statSync(path.join(to, temp)).size >= 64 * 1024 * 1024 && fs.existsSync(pidFile)) break;
      if (Date.now() > until) throw new Error(`no growing temp: ${fs.readdirSync(to).join(', ')}`);
      await sleep(5);
    }
    process.kill(Number(fs.readFileSync(pidFile, 'utf8')), 'SIGINT');
    const r = await run;
    const hide = r.stdout.indexOf('\x1b[?25l');
    const show = r.stdout.lastIndexOf('\x1b[?25h');
    assert.ok(hide >= 0, 'the bar hid the cursor');
    assert.ok(show > hide, `the cursor is shown again after the interrupt: ${JSON.stringify(r.stdout.slice(-200))}`);
    assert.deepEqual(fs.readdirSync(to), [], 'no temp left');
    assert.equal(fs.statSync(src).size, SIZE);
  });
});
