/**
 * readFile on a real disk, through a seam whose open(2) of the file fails with a transient
 * code a chosen number of times: transient errors are retried; a signal that fires during
 * an attempt or during the back-off ends the read with ABORT_ERR (never with the transient
 * code), and no attempt follows the abort.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { AtomfsError, readFile, type FsOps } from '../../src/index.js';
import { realOps } from '../../src/internal/fs-ops.js';
import { tmpDir } from '../helpers/tmp.js';

/** Real calls, except that opening `file` fails with `code` `times` times; `onFail` runs at each failure. */
function failingOpens(file: string, code: string, times: number, onFail: (n: number) => void = () => {}): { ops: FsOps; opens: () => number } {
  let opens = 0;
  const open: FsOps['async']['open'] = (p, flags, mode) => {
    if (p !== file) return realOps.async.open(p, flags, mode);
    opens++;
    if (opens > times) return realOps.async.open(p, flags, mode);
    onFail(opens);
    const e = Object.assign(new Error(`${code}: injected, open '${p}'`), { code, syscall: 'open', path: p });
    return Promise.reject(e);
  };
  return { ops: { sync: realOps.sync, async: { ...realOps.async, open } }, opens: () => opens };
}

describe('readFile retries and aborts (real disk, failing opens)', () => {
  it('transient EMFILE and EBUSY are retried and the content is returned', async (t) => {
    const p = path.join(tmpDir(t), 'data.txt');
    fs.writeFileSync(p, 'content');
    for (const code of ['EMFILE', 'EBUSY']) {
      const { ops, opens } = failingOpens(p, code, 2);
      assert.equal(await readFile(p, { encoding: 'utf8', fs: ops }), 'content', code);
      assert.equal(opens(), 3, code);
    }
  });

  it('a signal that fires during the back-off rejects with ABORT_ERR (cause: its reason), and no attempt follows', async (t) => {
    const p = path.join(tmpDir(t), 'data.txt');
    fs.writeFileSync(p, 'content');
    const ac = new AbortController();
    const reason = new Error('no longer needed');
    // The abort comes once the failed attempt has been handled: in the back-off's wait.
    const { ops, opens } = failingOpens(p, 'EMFILE', Infinity, () => setImmediate(() => ac.abort(reason)));
    const err = await readFile(p, { retries: 5, signal: ac.signal, fs: ops }).catch((e: unknown) => e);
    assert.ok(err instanceof AtomfsError, String(err));
    assert.equal(err.code, 'ABORT_ERR');
    assert.equal(err.path, p);
    assert.equal(err.operation, 'readFile');
    assert.equal(err.cause, reason);
    assert.equal(opens(), 1, 'no attempt after the abort');
  });

  it('a signal that fires during an attempt that then fails transiently rejects with ABORT_ERR', async (t) => {
    const p = path.join(tmpDir(t), 'data.txt');
    fs.writeFileSync(p, 'content');
    const ac = new AbortController();
    const { ops, opens } = failingOpens(p, 'EBUSY', Infinity, () => ac.abort());
    await assert.rejects(readFile(p, { retries: 5, signal: ac.signal, fs: ops }), { code: 'ABORT_ERR', path: p });
    assert.equal(opens(), 1, 'no attempt after the abort');
  });

  it('without a signal, the transient code is reported after the last retry', async (t) => {
    const p = path.join(tmpDir(t), 'data.txt');
    fs.writeFileSync(p, 'content');
    const { ops, opens } = failingOpens(p, 'EMFILE', Infinity);
    await assert.rejects(readFile(p, { retries: 2, fs: ops }), { code: 'EMFILE', path: p, operation: 'readFile' });
    assert.equal(opens(), 3);
  });
});
