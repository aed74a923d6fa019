/**
 * Modes and owners on a real file system: new files get exactly what fs.writeFileSync
 * gives them under every umask; existing files keep their mode and owner; the explicit
 * `chown` option works; the temp file is private (0600) while it is written.
 *
 * This file changes the process umask, so its tests run one at a time and every test
 * restores the umask it found.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, it, type TestContext } from 'node:test';
import { createWriteStream, isTempFile, openAtomic, writeFile, writeFiles, writeFileSync } from '../../src/index.js';
import { FaultOps } from '../helpers/fault-ops.js';
import { sharedTmpDir, tempsUnder, writeAsUser, type AsUserRequest } from '../helpers/real-fs.js';
import { IS_ROOT, requireRoot } from '../helpers/root.js';
import { tmpDir } from '../helpers/tmp.js';

const UMASKS = [0o022, 0o077, 0o002, 0o000, 0o027];
const MODES = [0o644, 0o600, 0o666, 0o755, 0o640, 0o4755];
const NOBODY = 65534;
const oct = (n: number): string => `0o${n.toString(8).padStart(3, '0')}`;
const modeOf = (p: string): number => fs.statSync(p).mode & 0o7777;

const RESTORE = Symbol('umask restore registered');

/** Sets the umask for this test (as often as needed); the umask found first is restored after it. */
function withUmask(t: TestContext, mask: number): void {
  const previous = process.umask(mask);
  const st = t as TestContext & { [RESTORE]?: true };
  if (st[RESTORE]) return;
  st[RESTORE] = true;
  t.after(() => void process.umask(previous));
}
/** Every atomfs writer, writing `data` to `p` with `options`. */
const WRITERS: readonly [string, (p: string, data: string, options?: Parameters<typeof writeFile>[2]) => Promise<void>][] = [
  ['writeFile', (p, d, o) => writeFile(p, d, o)],
  ['writeFileSync', async (p, d, o) => writeFileSync(p, d, o)],
  [
    'openAtomic',
    async (p, d, o) => {
      const f = await openAtomic(p, o);
      await f.write(d);
      await f.commit();
    },
  ],
  ['createWriteStream', (p, d, o) => pipeline(Readable.from([d]), createWriteStream(p, o))],
  ['writeFiles', async (p, d, o) => void (await writeFiles([{ path: p, data: d }], o))],
];

describe('new files get the mode fs.writeFileSync gives them, under every umask', { concurrency: false }, () => {
  let saved = 0;
  before(() => {
    saved = process.umask(0o022);
  });
  after(() => {
    process.umask(saved);
  });

  for (const umask of UMASKS) {
    it(`under umask ${oct(umask)}, every writer creates files with fs.writeFileSync's mode for ${MODES.map(oct).join(', ')}`, async (t) => {
      const dir = tmpDir(t);
      withUmask(t, umask);
      for (const mode of MODES) {
        if (mode & 0o6000 && !IS_ROOT) {
          // Without CAP_FSETID the kernel strips set-id bits when fs.writeFileSync writes
          // the data after creating the file; atomfs sets the mode after writing.
          t.diagnostic(`${oct(mode)} compared only as root (CAP_FSETID)`);
          continue;
        }
        const ref = path.join(dir, `ref-${oct(mode)}`);
        fs.writeFileSync(ref, 'data', { mode });
        const expected = modeOf(ref);
        for (const [name, write] of WRITERS) {
          const p = path.join(dir, `${name}-${oct(mode)}`);
          await write(p, 'data', { mode });
          assert.equal(oct(modeOf(p)), oct(expected), `${name}, mode ${oct(mode)}, umask ${oct(umask)}`);
        }
      }
      assert.deepEqual(tempsUnder(dir), []);
    });
  }

  it('without a mode option a new file is 0o644 reduced by the umask', async (t) => {
    const dir = tmpDir(t);
    for (const umask of UMASKS) {
      withUmask(t, umask);
      for (const [name, write] of WRITERS) {
        const p = path.join(dir, `${name}-${oct(umask)}`);
        await write(p, 'data');
        assert.equal(oct(modeOf(p)), oct(0o644 & ~umask), `${name}, umask ${oct(umask)}`);
      }
    }
  });
});

describe('set-id bits of a new file written by a user without CAP_FSETID (uid 65534, in a child process)', () => {
  it("every set-id mode gives what fs.writeFileSync gives: set-user-id cleared, set-group-id cleared only with group-execute", async (t) => {
    if (!requireRoot(t)) return;
    const dir = path.join(sharedTmpDir(t), 'nobody');
    fs.mkdirSync(dir);
    fs.chownSync(dir, NOBODY, NOBODY);
    const modes = [0o2755, 0o2775, 0o2711, 0o2745, 0o2700, 0o4755, 0o6755, 0o6745, 0o755];
    for (const mode of modes) {
      const modeOfWrite = async (op: AsUserRequest['op']): Promise<number> => {
        const p = path.join(dir, `${op}-${oct(mode)}`);
        const req = { uid: NOBODY, gid: NOBODY, op, path: p, data: 'data', mode, umask: 0o022 };
        const r = await writeAsUser(t, req as AsUserRequest);
        assert.ok(r.ok, `${op} ${oct(mode)}: ${JSON.stringify(r)}`);
        assert.equal(fs.statSync(p).uid, NOBODY);
        return modeOf(p);
      };
      const expected = await modeOfWrite('node:fs.writeFileSync');
      for (const op of ['writeFile', 'writeFileSync'] as const) {
        assert.equal(oct(await modeOfWrite(op)), oct(expected), `${op}, mode ${oct(mode)}`);
      }
    }
    assert.deepEqual(tempsUnder(dir), []);
  });
});

describe('existing files keep their mode and owner', { concurrency: false }, () => {
  it('0600, 0755, 0444, 0640 and 04755 files keep their mode whatever the mode option and umask', async (t) => {
    const dir = tmpDir(t);
    withUmask(t, 0o077);
    for (const mode of [0o600, 0o755, 0o444, 0o640, 0o4755]) {
      for (const [name, write] of WRITERS) {
        const p = path.join(dir, `${name}-${oct(mode)}`);
        fs.writeFileSync(p, 'old');
        fs.chmodSync(p, mode);
        await write(p, `new ${name}`, { mode: 0o666 });
        assert.equal(fs.readFileSync(p, 'utf8'), `new ${name}`);
        assert.equal(oct(modeOf(p)), oct(mode), `${name} kept ${oct(mode)}`);
      }
    }
    assert.deepEqual(tempsUnder(dir), []);
  });

  it("root rewriting a file owned by another uid/gid keeps that owner, and the mode's set-id bits", async (t) => {
    if (!requireRoot(t)) return;
    const dir = tmpDir(t);
    const owners = [
      [NOBODY, NOBODY],
      [NOBODY, 0],
      [0, NOBODY],
      [1234, 5678],
    ] as const;
    for (const [uid, gid] of owners) {
      for (const mode of [0o640, 0o4755, 0o2755]) {
        for (const [name, write] of WRITERS) {
          const p = path.join(dir, `${name}-${uid}-${gid}-${oct(mode)}`);
          fs.writeFileSync(p, 'old');
          fs.chownSync(p, uid, gid);
          fs.chmodSync(p, mode); // after chown, which clears set-id bits
          await write(p, 'rewritten by root');
          const st = fs.statSync(p);
          const what = `${name}, ${uid}:${gid}, ${oct(mode)}`;
          assert.equal(fs.readFileSync(p, 'utf8'), 'rewritten by root', what);
          assert.equal(st.uid, uid, what);
          assert.equal(st.gid, gid, what);
          assert.equal(oct(st.mode & 0o7777), oct(mode), what);
        }
      }
    }
    assert.deepEqual(tempsUnder(dir), []);
  });

  it('the chown option sets the owner of new and existing files', async (t) => {
    if (!requireRoot(t)) return;
    const dir = tmpDir(t);
    withUmask(t, 0o022);
    for (const [name, write] of WRITERS) {
      const fresh = path.join(dir, `${name}-fresh`);
      await write(fresh, 'x', { chown: { uid: NOBODY, gid: NOBODY }, mode: 0o640 });
      let st = fs.statSync(fresh);
      assert.deepEqual([st.uid, st.gid, oct(st.mode & 0o7777)], [NOBODY, NOBODY, oct(0o640)], `${name} new`);

      // An existing file owned by someone else: the explicit owner wins over keeping it.
      const other = path.join(dir, `${name}-other`);
      fs.writeFileSync(other, 'old', { mode: 0o4750 });
      fs.chownSync(other, 1234, 5678);
      fs.chmodSync(other, 0o4750);
      await write(other, 'y', { chown: { uid: 4321, gid: NOBODY } });
      st = fs.statSync(other);
      assert.deepEqual([st.uid, st.gid, oct(st.mode & 0o7777)], [4321, NOBODY, oct(0o4750)], `${name} existing`);
      assert.equal(fs.readFileSync(other, 'utf8'), 'y');
    }
    assert.deepEqual(tempsUnder(dir), []);
  });
});

describe('the temp file is private (0600) while it is being written', { concurrency: false }, () => {
  it('openAtomic: the temp is 0600 before commit, for new and existing files, whatever the mode and umask', async (t) => {
    const dir = tmpDir(t);
    for (const umask of [0o000, 0o022, 0o077]) {
      withUmask(t, umask);
      const fresh = path.join(dir, `fresh-${oct(umask)}`);
      const existing = path.join(dir, `existing-${oct(umask)}`);
      fs.writeFileSync(existing, 'old');
      fs.chmodSync(existing, 0o644);
      for (const [p, expected] of [
        [fresh, 0o666 & ~umask],
        [existing, 0o644],
      ] as const) {
        const f = await openAtomic(p, { mode: 0o666 });
        assert.equal(oct(fs.statSync(f.tempPath).mode & 0o7777), oct(0o600), `temp of ${path.basename(p)} when opened`);
        await f.write('secret');
        assert.equal(oct(fs.statSync(f.tempPath).mode & 0o7777), oct(0o600), `temp of ${path.basename(p)} after a write`);
        await f.commit();
        assert.equal(oct(modeOf(p)), oct(expected), `final mode of ${path.basename(p)}`);
      }
    }
    assert.deepEqual(tempsUnder(dir), []);
  });

  it('writeFile and writeFileSync: the temp is 0600 at every write(2), even when the target is 0666', async (t) => {
    const dir = tmpDir(t);
    withUmask(t, 0o000);
    const p = path.join(dir, 'public.txt');
    const seen: number[] = [];
    const ops = new FaultOps();
    ops.before = (name) => {
      if (name !== 'write') return;
      const opened = ops.calls.filter((c) => c.name === 'open' && isTempFile(String(c.args[0])));
      const temp = opened[opened.length - 1];
      assert.ok(temp, 'a temp was opened before the write');
      seen.push(fs.statSync(String(temp.args[0])).mode & 0o7777);
    };
    await writeFile(p, 'async', { mode: 0o666, fs: ops });
    writeFileSync(p, 'sync', { fs: ops });
    fs.unlinkSync(p);
    writeFileSync(p, 'sync new', { mode: 0o666, fs: ops });
    assert.ok(seen.length >= 3);
    assert.deepEqual(seen.map(oct), seen.map(() => oct(0o600)));
    assert.equal(oct(modeOf(p)), oct(0o666));
  });
});
