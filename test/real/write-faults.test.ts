/**
 * Real faults from real file systems, no mocks: a full tmpfs (ENOSPC), a read-only bind
 * mount (EROFS) and an unprivileged user (EACCES). Each failure must reject with the
 * caller's path and leave the target byte-identical and no temp file behind.
 *
 * Needs root (mount, setuid); skips with a message otherwise.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, it, type TestContext } from 'node:test';
import { AtomfsError, createWriteStream, openAtomic, writeFile, writeFiles, writeFileSync } from '../../src/index.js';
import { FaultOps } from '../helpers/fault-ops.js';
import { readOnlyBind, sharedTmpDir, snapshot, tempsUnder, tmpfs, writeAsUser } from '../helpers/real-fs.js';
import { fillUp, requireRoot } from '../helpers/root.js';
import { list, tmpDir } from '../helpers/tmp.js';

const OLD = randomBytes(1500);
// Free room left on the full disk: the write gets this far (a SHORT write), then ENOSPC.
const ROOM = 8192;
const BIG = randomBytes(48 * 1024);
const NOBODY = 65534;

interface FullDisk {
  readonly mnt: string;
  readonly target: string;
  readonly existing: boolean;
}

/** A 64 KiB tmpfs holding (optionally) the target with OLD, then filled up to ROOM bytes free. */
function fullDisk(t: TestContext, existing: boolean): FullDisk {
  const mnt = tmpfs(t, '64k');
  const target = path.join(mnt, 'data.bin');
  if (existing) fs.writeFileSync(target, OLD);
  fillUp(mnt, ROOM);
  const st = fs.statfsSync(mnt);
  const free = st.bavail * st.bsize;
  assert.ok(free > 0 && free < BIG.length, `the disk has a little room left (${free} bytes), less than the write needs`);
  return { mnt, target, existing };
}

/** The target has its old content (or still does not exist) and no temp is left. */
function assertUntouched(d: FullDisk): void {
  if (d.existing) assert.deepEqual(fs.readFileSync(d.target), OLD, 'old content byte-identical');
  else assert.equal(fs.existsSync(d.target), false, 'no target created');
  assert.deepEqual(tempsUnder(d.mnt), [], 'no temp file left');
  assert.deepEqual(list(d.mnt), d.existing ? ['data.bin', 'filler'] : ['filler']);
}

/** The failure came from the kernel's write(2) after a short write made some progress. */
function assertShortThenENOSPC(ops: FaultOps, err: unknown): void {
  const writes = ops.calls.filter((c) => c.name === 'write').length;
  assert.ok(writes >= 2, `the first write was short and the loop went on (${writes} write calls)`);
  assert.ok(err instanceof AtomfsError);
  assert.equal(err.syscall, 'write');
  assert.equal((err.cause as NodeJS.ErrnoException | undefined)?.code, 'ENOSPC', 'the kernel reported ENOSPC');
}

const scenarios = [
  { name: 'a new file', existing: false },
  { name: 'an existing file', existing: true },
] as const;

describe('ENOSPC on a real, nearly full 64 KiB tmpfs', () => {
  for (const { name, existing } of scenarios) {
    it(`writeFile of ${name} rejects with ENOSPC and the target path after a short write, leaving no trace`, async (t) => {
      if (!requireRoot(t)) return;
      const d = fullDisk(t, existing);
      const ops = new FaultOps();
      const err: unknown = await writeFile(d.target, BIG, { fs: ops }).catch((e: unknown) => e);
      assert.ok(err instanceof AtomfsError, String(err));
      assert.equal(err.code, 'ENOSPC');
      assert.equal(err.path, d.target);
      assert.equal(err.operation, 'writeFile');
      assertShortThenENOSPC(ops, err);
      assertUntouched(d);
    });

    it(`writeFileSync of ${name} throws ENOSPC with the target path, leaving no trace`, (t) => {
      if (!requireRoot(t)) return;
      const d = fullDisk(t, existing);
      const ops = new FaultOps();
      let err: unknown;
      assert.throws(
        () => {
          try {
            writeFileSync(d.target, BIG, { fs: ops });
          } catch (e) {
            err = e;
            throw e;
          }
        },
        { code: 'ENOSPC', path: d.target, operation: 'writeFileSync' },
      );
      assertShortThenENOSPC(ops, err);
      assertUntouched(d);
    });

    it(`openAtomic of ${name}: the write rejects with ENOSPC, commit is never reached, abort leaves no trace`, async (t) => {
      if (!requireRoot(t)) return;
      const d = fullDisk(t, existing);
      const f = await openAtomic(d.target);
      const outcome = await (async (): Promise<unknown> => {
        try {
          for (let off = 0; off < BIG.length; off += 16 * 1024) await f.write(BIG.subarray(off, off + 16 * 1024));
          await f.commit();
          return undefined;
        } catch (e) {
          await f.abort();
          return e;
        }
      })();
      assert.ok(outcome instanceof AtomfsError, 'the write failed');
      assert.equal(outcome.code, 'ENOSPC');
      assert.equal(outcome.path, d.target);
      assert.equal(f.state, 'aborted');
      assertUntouched(d);
    });

    it(`createWriteStream of ${name} fails the pipeline with ENOSPC and removes its temp`, async (t) => {
      if (!requireRoot(t)) return;
      const d = fullDisk(t, existing);
      const ws = createWriteStream(d.target);
      const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
      const chunks = [BIG.subarray(0, 20_000), BIG.subarray(20_000)];
      await assert.rejects(pipeline(Readable.from(chunks), ws), { code: 'ENOSPC', path: d.target });
      assertUntouched(d);
      await closed;
      assertUntouched(d);
    });

    it(`writeFiles with ${name} rejects with ENOSPC and the failing entry's path, leaving no trace`, async (t) => {
      if (!requireRoot(t)) return;
      const d = fullDisk(t, existing);
      await assert.rejects(writeFiles([{ path: d.target, data: BIG }]), { code: 'ENOSPC', path: d.target, operation: 'writeFiles' });
      assertUntouched(d);
    });
  }

  it('writeFile into a disk with no room at all rejects with ENOSPC and leaves no temp', async (t) => {
    if (!requireRoot(t)) return;
    const mnt = tmpfs(t, '64k');
    const target = path.join(mnt, 'data.bin');
    fs.writeFileSync(target, OLD);
    fillUp(mnt, 0);
    await assert.rejects(writeFile(target, BIG), { code: 'ENOSPC', path: target });
    assert.deepEqual(fs.readFileSync(target), OLD);
    assert.deepEqual(list(mnt), ['data.bin', 'filler']);
  });

  it('writeFiles touches no file of the batch when one entry is on a full disk and another on a roomy one', async (t) => {
    if (!requireRoot(t)) return;
    const d = fullDisk(t, true);
    const roomyDir = tmpDir(t);
    const roomy = path.join(roomyDir, 'roomy.txt');
    fs.writeFileSync(roomy, 'roomy old');
    const fresh = path.join(roomyDir, 'fresh.txt');
    await assert.rejects(
      writeFiles([
        { path: roomy, data: 'roomy new' },
        { path: fresh, data: 'fresh' },
        { path: d.target, data: BIG },
      ]),
      { code: 'ENOSPC', path: d.target },
    );
    assertUntouched(d);
    assert.equal(fs.readFileSync(roomy, 'utf8'), 'roomy old');
    assert.deepEqual(list(roomyDir), ['roomy.txt']);
  });

  it('openAtomic: commit after a write that failed with ENOSPC rejects and never publishes the truncated data', async (t) => {
    if (!requireRoot(t)) return;
    const d = fullDisk(t, true);
    const f = await openAtomic(d.target);
    try {
      await assert.rejects(f.write(BIG), { code: 'ENOSPC', path: d.target });
      // The disk has room again, as it may a moment later in real life: the lost bytes are
      // still lost, so the file must not be committed.
      fs.unlinkSync(path.join(d.mnt, 'filler'));
      await assert.rejects(f.commit(), { code: 'ENOSPC', path: d.target });
      assert.deepEqual(fs.readFileSync(d.target), OLD, 'old content byte-identical, no truncated file published');
    } finally {
      await f.abort();
    }
    assert.deepEqual(tempsUnder(d.mnt), []);
  });
});

describe('EROFS on a real read-only bind mount', () => {
  function roSetup(t: TestContext): { src: string; mnt: string; file: string; before: string[] } {
    const src = tmpDir(t);
    fs.writeFileSync(path.join(src, 'file.txt'), OLD);
    fs.mkdirSync(path.join(src, 'sub'));
    const mnt = readOnlyBind(t, src);
    return { src, mnt, file: path.join(mnt, 'file.txt'), before: snapshot(src) };
  }

  it('writeFile over an existing file rejects with EROFS and the path; the file is unchanged', async (t) => {
    if (!requireRoot(t)) return;
    const { src, mnt, file, before } = roSetup(t);
    await assert.rejects(writeFile(file, 'new'), { code: 'EROFS', path: file, syscall: 'open', operation: 'writeFile' });
    assert.deepEqual(fs.readFileSync(file), OLD);
    assert.deepEqual(snapshot(src), before);
    assert.deepEqual(snapshot(mnt), before);
  });

  it('every writer rejects with EROFS and the path for new and existing files, writing nothing', async (t) => {
    if (!requireRoot(t)) return;
    const { src, mnt, file, before } = roSetup(t);
    const fresh = path.join(mnt, 'fresh.txt');
    const nested = path.join(mnt, 'missing', 'deeper', 'f.txt');
    for (const p of [file, fresh, path.join(mnt, 'sub', 'f.txt')]) {
      assert.throws(() => writeFileSync(p, 'new'), { code: 'EROFS', path: p, operation: 'writeFileSync' });
      await assert.rejects(openAtomic(p), { code: 'EROFS', path: p, operation: 'openAtomic' });
      await assert.rejects(writeFiles([{ path: p, data: 'new' }]), { code: 'EROFS', path: p });
      await assert.rejects(pipeline(Readable.from(['new']), createWriteStream(p)), { code: 'EROFS', path: p });
    }
    // A missing parent folder: mkdirp's mkdir is what fails.
    await assert.rejects(writeFile(nested, 'new'), { code: 'EROFS', path: nested, syscall: 'mkdir' });
    assert.deepEqual(fs.readFileSync(file), OLD);
    assert.deepEqual(snapshot(src), before);
  });
});

describe('EACCES for an unprivileged user (uid 65534, in a child process)', () => {
  it('writing a new file into a root-owned 0755 folder rejects with EACCES and the path, creating nothing', async (t) => {
    if (!requireRoot(t)) return;
    const dir = sharedTmpDir(t);
    fs.writeFileSync(path.join(dir, 'root.txt'), OLD, { mode: 0o644 });
    const before = snapshot(dir);
    for (const op of ['writeFile', 'writeFileSync'] as const) {
      for (const p of [path.join(dir, 'new.txt'), path.join(dir, 'root.txt'), path.join(dir, 'sub', 'deep', 'new.txt')]) {
        const r = await writeAsUser(t, { uid: NOBODY, gid: NOBODY, op, path: p, data: 'mine' });
        assert.equal(r.uid, NOBODY, 'the child really dropped its privileges');
        assert.ok(!r.ok, `${op} ${p} must fail`);
        assert.equal(r.name, 'AtomfsError');
        assert.equal(r.code, 'EACCES', `${op} ${p}: ${r.message}`);
        assert.equal(r.path, p);
      }
    }
    assert.deepEqual(snapshot(dir), before, 'nothing created or changed');
  });

  it('without mkdirp, a missing folder is ENOENT for the unprivileged user too, and nothing is created', async (t) => {
    if (!requireRoot(t)) return;
    const dir = sharedTmpDir(t);
    const p = path.join(dir, 'nope', 'f.txt');
    const r = await writeAsUser(t, { uid: NOBODY, gid: NOBODY, op: 'writeFile', path: p, data: 'x', mkdirp: false });
    assert.ok(!r.ok);
    assert.equal(r.code, 'ENOENT');
    assert.equal(r.path, p);
    assert.deepEqual(fs.readdirSync(dir), []);
  });

  it('the owner of a folder replaces a 0444 file in it by rename (which fs.writeFileSync cannot), and the new file keeps mode 0444', async (t) => {
    if (!requireRoot(t)) return;
    const dir = sharedTmpDir(t);
    fs.chownSync(dir, NOBODY, NOBODY);
    const own = path.join(dir, 'own-readonly.txt');
    const roots = path.join(dir, 'root-readonly.txt');
    fs.writeFileSync(own, 'old own', { mode: 0o444 });
    fs.chownSync(own, NOBODY, NOBODY);
    fs.chmodSync(own, 0o444);
    fs.writeFileSync(roots, 'old root', { mode: 0o444 });
    fs.chmodSync(roots, 0o444);

    // node's fs opens the file for writing: the 0444 mode forbids it.
    const plain = await writeAsUser(t, { uid: NOBODY, gid: NOBODY, op: 'node:fs.writeFileSync', path: own, data: 'via fs' });
    assert.ok(!plain.ok);
    assert.equal(plain.code, 'EACCES');
    assert.equal(fs.readFileSync(own, 'utf8'), 'old own');

    // atomfs renames a new file over it, which only needs write access to the folder.
    for (const [p, op] of [
      [own, 'writeFile'],
      [roots, 'writeFileSync'],
    ] as const) {
      const r = await writeAsUser(t, { uid: NOBODY, gid: NOBODY, op, path: p, data: `new by ${op}` });
      assert.ok(r.ok, JSON.stringify(r));
      assert.equal(fs.readFileSync(p, 'utf8'), `new by ${op}`);
      const st = fs.statSync(p);
      assert.equal(st.mode & 0o7777, 0o444, 'mode 0444 kept on the new file');
      // An unprivileged process cannot give a file away: the new file is its own, even
      // where the old one was root's (the chown attempt fails with EPERM and is ignored).
      assert.equal(st.uid, NOBODY);
      assert.equal(st.gid, NOBODY);
    }
    assert.deepEqual(tempsUnder(dir), []);
    assert.deepEqual(fs.readdirSync(dir).sort(), ['own-readonly.txt', 'root-readonly.txt']);
  });
});
