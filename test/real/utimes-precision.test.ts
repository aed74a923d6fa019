/**
 * Times set through the seam keep the millisecond (and microsecond) they were given: a copy
 * that preserves timestamps must not come out a millisecond early. `ms / 1000` as a double
 * can fall just below the intended time, and libuv cuts to whole microseconds.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { realOps } from '../../src/internal/fs-ops.js';
import { tmpDir } from '../helpers/tmp.js';

describe('utimes through the seam', () => {
  it('copies a time to the microsecond, also one exactly on a millisecond (it used to come back 1 ms early)', async (t) => {
    const dir = tmpDir(t);
    const src = path.join(dir, 'src');
    const dst = path.join(dir, 'dst');
    fs.writeFileSync(src, 'x');
    fs.writeFileSync(dst, 'y');
    // (A time a fraction of a microsecond before a millisecond is not among them: Node's own
    // mtimeMs already rounds it up into the next millisecond, before the seam sees it.)
    for (const at of ['1795330199.704000000', '1795330199.704000100', '1795330199.703998000', '1700000000.000000001']) {
      execFileSync('touch', ['-m', '-d', `@${at}`, src]);
      const st = fs.statSync(src);
      const a = fs.statSync(src, { bigint: true }).mtimeNs;
      for (const form of ['sync', 'async'] as const) {
        fs.utimesSync(dst, 0, 0);
        if (form === 'sync') realOps.sync.utimes(dst, st.atimeMs, st.mtimeMs);
        else await realOps.async.utimes(dst, st.atimeMs, st.mtimeMs);
        const b = fs.statSync(dst, { bigint: true }).mtimeNs;
        assert.equal(b / 1_000_000n, a / 1_000_000n, `${form} ${at}: the same millisecond`);
        // These times are exact enough in a double of ms (mtimeMs) to keep the microsecond too.
        assert.equal(b / 1000n, a / 1000n, `${form} ${at}: the same microsecond`);
      }
    }
  });
});
