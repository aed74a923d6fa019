/**
 * writeJsonSync and readJsonSync (issue 18.5): the same serialisation, steps and retries as
 * their async twins. One suite, two drivers: each check runs over both.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { AtomfsError, isTempFile, readJson, readJsonSync, writeJson, writeJsonSync, type WriteJsonOptions } from '../../src/index.js';
import type { ReadFileOptions } from '../../src/index.js';
import { FaultOps } from '../helpers/fault-ops.js';
import { fillUp, mountTmpfs, requireRoot } from '../helpers/root.js';
import { tmpDir } from '../helpers/tmp.js';

const drivers = [
  { name: 'async', write: (p: string, v: unknown, o?: WriteJsonOptions) => writeJson(p, v, o), read: (p: string, o?: ReadFileOptions) => readJson(p, o) },
  { name: 'sync', write: async (p: string, v: unknown, o?: WriteJsonOptions) => writeJsonSync(p, v, o), read: async (p: string, o?: ReadFileOptions) => readJsonSync(p, o) },
];

for (const d of drivers) {
  describe(`JSON (${d.name})`, () => {
    it('round-trips a value with a trailing newline, a BOM is skipped, bad JSON and unserialisable values are EINVAL', async (t) => {
      const dir = tmpDir(t);
      const f = path.join(dir, 'v.json');
      await d.write(f, { a: [1, 'two'] });
      assert.equal(fs.readFileSync(f, 'utf8'), '{\n  "a": [\n    1,\n    "two"\n  ]\n}\n');
      assert.deepEqual(await d.read(f), { a: [1, 'two'] });
      fs.writeFileSync(f, '\ufeff{"b":2}');
      assert.deepEqual(await d.read(f), { b: 2 });
      fs.writeFileSync(f, '{nope');
      await assert.rejects(d.read(f), { code: 'EINVAL', reason: 'json' });
      const cycle: Record<string, unknown> = {};
      cycle['self'] = cycle;
      await assert.rejects(d.write(f, cycle), { code: 'EINVAL' });
      await assert.rejects(d.write(f, undefined), { code: 'EINVAL' });
      await assert.rejects(d.write(f, {}, { spacs: 1 } as never), { code: 'EINVAL' });
      await assert.rejects(d.read(path.join(dir, 'missing')), { code: 'ENOENT' });
      assert.deepEqual(fs.readdirSync(dir), ['v.json']);
    });

    it('every system call of the write failed in turn: an AtomfsError, the old content or the new, never a temp left', async (t) => {
      const dir = tmpDir(t);
      const f = path.join(dir, 'v.json');
      let cases = 0;
      for (let i = 0; i < 40; i++) {
        fs.writeFileSync(f, '{"old":true}\n');
        const ops = new FaultOps().failAt(i, 'EIO');
        let err: unknown;
        try {
          await d.write(f, { new: true }, { fs: ops });
        } catch (e) {
          err = e;
        }
        if (ops.hits.length === 0) break; // past the last call
        cases++;
        assert.ok(err instanceof AtomfsError, `call ${i}: ${String(err)}`);
        const now = fs.readFileSync(f, 'utf8');
        assert.ok(now === '{"old":true}\n' || now === '{\n  "new": true\n}\n', `call ${i}: ${now}`);
        assert.deepEqual(fs.readdirSync(dir).filter(isTempFile), [], `call ${i}: temp left`);
      }
      assert.ok(cases >= 5, `${cases} calls failed in turn`);
    });

    it('a full disk (a real tmpfs): ENOSPC, the old file intact, no temp', async (t) => {
      if (!requireRoot(t)) return;
      const mnt = mountTmpfs(t, '256k');
      const f = path.join(mnt, 'v.json');
      fs.writeFileSync(f, '{"old":true}\n');
      fillUp(mnt);
      await assert.rejects(d.write(f, { big: 'x'.repeat(200_000) }), { code: 'ENOSPC' });
      assert.equal(fs.readFileSync(f, 'utf8'), '{"old":true}\n');
      assert.deepEqual(fs.readdirSync(mnt).filter(isTempFile), []);
    });
  });
}
