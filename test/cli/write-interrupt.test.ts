/**
 * `atomfs write` interrupted while stdin is still open: the target keeps its old bytes.
 * SIGTERM and SIGINT abort the write, which removes its temp, and the exit is 128+N;
 * after SIGKILL only temp names are left, for `atomfs cleanup`. And what a failing
 * producer in a plain pipe does.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { isTempFile } from '../../src/index.js';
import { BIN, closed, collect, runCli, runProcess, shQuote, spawnCli } from '../helpers/cli.js';
import { list, tmpDir } from '../helpers/tmp.js';

/** Waits (bounded) until a temp beside `file` holds at least `min` bytes; returns its name. */
async function tempGrows(dir: string, min: number, ms = 10_000): Promise<string> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    for (const n of list(dir)) {
      if (!isTempFile(n)) continue;
      try {
        if (fs.statSync(path.join(dir, n)).size >= min) return n;
      } catch {
        // racing with the writer
      }
    }
    await sleep(10);
  }
  throw new Error(`no temp file with ${min} bytes appeared in ${dir}: ${list(dir).join(', ')}`);
}

describe('atomfs write interrupted before stdin ends', () => {
  for (const sig of ['SIGKILL', 'SIGTERM', 'SIGINT'] as const) {
    it(`keeps the old file byte-identical when the CLI gets ${sig} mid-stream; ${sig === 'SIGKILL' ? 'only temp names are left' : 'no temp is left, exit 128+N'}`, async (t) => {
      const dir = tmpDir(t);
      const file = path.join(dir, 'data.bin');
      const old = randomBytes(200_000);
      fs.writeFileSync(file, old);
      const child = spawnCli(t, ['write', file]);
      const stderr = collect(child.stderr);
      child.stdin!.on('error', () => {}); // EPIPE once it is dead
      // Part of the new content: 1 MiB, and stdin stays open.
      child.stdin!.write(randomBytes(1 << 20));
      const temp = await tempGrows(dir, 64 * 1024);
      assert.ok(temp.startsWith('.data.bin.'), temp);
      child.kill(sig);
      const end = await closed(child);
      if (sig === 'SIGKILL') assert.equal(end.signal, sig, `exited by the signal (${JSON.stringify(end)}): ${stderr.text()}`);
      else {
        assert.deepEqual(end, { code: 128 + os.constants.signals[sig], signal: null }, stderr.text());
        assert.equal(stderr.text(), '', 'an interrupt is no error message');
        assert.deepEqual(list(dir), ['data.bin'], 'the aborted write removed its temp');
      }
      assert.ok(fs.readFileSync(file).equals(old), 'the old content is intact');
      const names = list(dir);
      assert.ok(names.includes('data.bin'));
      for (const n of names) if (n !== 'data.bin') assert.ok(isTempFile(n), `leftover '${n}' is a temp name`);
      // The leftovers are what `atomfs cleanup` is for.
      const c = await runCli(['cleanup', '--older-than', '0', dir]);
      assert.equal(c.code, 0, c.stderr);
      assert.deepEqual(list(dir), ['data.bin']);
      assert.ok(fs.readFileSync(file).equals(old));
    });
  }

  it('a producer that fails still replaces FILE in a plain pipe: the CLI only sees end-of-input (pipefail reports it, too late)', async (t) => {
    // `producer | atomfs write FILE`: when the producer exits 1 after printing part of its
    // output, the pipe simply ends; atomfs cannot tell a failed producer from a finished
    // one, commits what it read, and the pipeline's status is atomfs' own 0. With
    // `set -o pipefail` the shell reports the producer's 1, but FILE is already replaced.
    // To keep FILE on a producer failure, write to FILE only if the producer succeeded,
    // e.g. `out=$(producer) && printf %s "$out" | atomfs write FILE`.
    const dir = tmpDir(t);
    const file = path.join(dir, 'f');
    const cmd = `sh -c 'echo partial; exit 1' | ${shQuote(process.execPath)} ${shQuote(BIN)} write ${shQuote(file)}`;

    fs.writeFileSync(file, 'old\n');
    const plain = await runProcess('sh', ['-c', cmd]);
    assert.equal(plain.code, 0, plain.stderr);
    assert.equal(plain.stderr, '');
    assert.equal(fs.readFileSync(file, 'utf8'), 'partial\n', 'FILE replaced by the partial output');

    fs.writeFileSync(file, 'old\n');
    const pipefail = await runProcess('bash', ['-o', 'pipefail', '-c', cmd]);
    assert.equal(pipefail.code, 1, 'pipefail: the pipeline fails with the producer');
    assert.equal(fs.readFileSync(file, 'utf8'), 'partial\n', 'yet FILE was replaced all the same');

    fs.writeFileSync(file, 'old\n');
    const guarded = await runProcess('sh', [
      '-c',
      `out=$(sh -c 'echo partial; exit 1') && printf '%s\\n' "$out" | ${shQuote(process.execPath)} ${shQuote(BIN)} write ${shQuote(file)}`,
    ]);
    assert.equal(guarded.code, 1);
    assert.equal(fs.readFileSync(file, 'utf8'), 'old\n', 'running the producer first keeps FILE');
    assert.deepEqual(list(dir), ['f']);
  });
});
