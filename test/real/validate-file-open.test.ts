/**
 * validateFile opens the file it stat'ed, once, and never waits on a FIFO: a FIFO (or
 * another file) put in the file's place between the stat and the open is reported, not
 * read; a symlinked file is opened with one call.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { validateFile, type FsOps } from '../../src/index.js';
import { realOps } from '../../src/internal/fs-ops.js';
import { tmpDir } from '../helpers/tmp.js';
import { within } from '../helpers/wait.js';

const T = { timeout: 15_000 };

/** Real calls; `afterStat` runs after each stat, before its result is returned; opens are counted. */
function seam(afterStat: (p: string) => void): { ops: FsOps; opens: string[] } {
  const opens: string[] = [];
  const ops: FsOps = {
    sync: realOps.sync,
    async: {
      ...realOps.async,
      stat: async (p) => {
        const st = await realOps.async.stat(p);
        afterStat(p);
        return st;
      },
      open: (p, flags, mode) => {
        opens.push(p);
        return realOps.async.open(p, flags, mode);
      },
    },
  };
  return { ops, opens };
}

describe('validateFile opens what it stat\'ed, without blocking', () => {
  it('a FIFO put in the file\'s place after the stat is reported as a FIFO, and the open does not wait for a writer', T, async (t) => {
    const dir = tmpDir(t);
    const p = path.join(dir, 'data.json');
    fs.writeFileSync(p, '{"ok":true}');
    const { ops } = seam((s) => {
      if (s !== p) return;
      fs.unlinkSync(p);
      execFileSync('mkfifo', [p]);
    });
    try {
      const r = await within(validateFile(p, { json: true, fs: ops }), 3000, 'validateFile');
      assert.deepEqual(r, { valid: false, code: 'EINVAL', reason: 'not a regular file: a FIFO', size: 0 });
    } finally {
      // Should an open be waiting on the FIFO (a thread of libuv's pool), a writer releases it.
      try {
        fs.closeSync(fs.openSync(p, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK));
      } catch {
        // ENXIO: nobody is waiting to read it
      }
    }
  });

  it('another file renamed into the file\'s place after the stat is reported (EAGAIN), not validated instead', T, async (t) => {
    const dir = tmpDir(t);
    const p = path.join(dir, 'data.json');
    fs.writeFileSync(p, '{"ok":true}');
    const other = path.join(dir, 'other.json');
    fs.writeFileSync(other, '{"other":true}');
    const { ops } = seam((s) => {
      if (s === p && fs.existsSync(other)) fs.renameSync(other, p);
    });
    const r = await validateFile(p, { json: true, fs: ops });
    assert.equal(r.valid, false);
    assert.equal(r.code, 'EAGAIN');
    assert.match(r.reason ?? '', /replaced/);
    // Asked again, the file now there is checked.
    assert.deepEqual(await validateFile(p, { json: true, fs: ops }), { valid: true, size: '{"other":true}'.length });
  });

  it('a file reached through a symlink is opened with one call and checked', T, async (t) => {
    const dir = tmpDir(t);
    const target = path.join(dir, 'real.json');
    fs.writeFileSync(target, '[1,2,3]');
    const link = path.join(dir, 'link.json');
    fs.symlinkSync('real.json', link);
    const { ops, opens } = seam(() => {});
    assert.deepEqual(await validateFile(link, { json: true, fs: ops }), { valid: true, size: 7 });
    assert.deepEqual(opens, [link], 'one open, following the link');
  });
});
