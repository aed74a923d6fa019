/**
 * A cross-device move checks first that it will be able to remove its source (SPEC §3):
 * before, a move out of a folder the process may not write copied the whole tree,
 * published it, then failed with EACCES, leaving the content twice. Run as an unprivileged
 * uid (root bypasses permissions), so these need root to set up; the same-device rename
 * keeps the kernel's own answer.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { makeTree, MOVE_DRIVERS, otherDeviceOrSkip, runMoveAs, snapshot, tempsUnder } from '../helpers/move-kit.js';
import { requireRoot } from '../helpers/root.js';
import { list, tmpDir } from '../helpers/tmp.js';

const NOBODY = 65534;
const OTHER_USER = 4242;

/** A source folder on the repo's disk and a destination on another device, both open to every uid. */
function places(t: TestContext): { base: string; to: string } | undefined {
  if (!requireRoot(t)) return undefined;
  const other = otherDeviceOrSkip(t);
  if (!other) return undefined;
  const base = tmpDir(t);
  const to = fs.mkdtempSync(path.join(other.dir, 'removable-'));
  for (const d of [base, to, path.dirname(base)]) fs.chmodSync(d, 0o777);
  return { base, to };
}

async function refused(t: TestContext, src: string, to: string, code: string, sync: boolean): Promise<void> {
  const before = snapshot(path.dirname(src), { exactTimes: true, owner: true });
  const res = await runMoveAs(t, { uid: NOBODY, gid: NOBODY, src, dest: path.join(to, path.basename(src)), sync });
  assert.equal(res.uid, NOBODY, 'the child really dropped its privileges');
  assert.equal(res.ok, false, JSON.stringify(res));
  assert.equal(res.code, code, JSON.stringify(res));
  assert.equal(res.name, 'AtomfsError');
  assert.match(String((res as { message?: string }).message ?? ''), /nothing was copied/, JSON.stringify(res));
  assert.deepEqual(snapshot(path.dirname(src), { exactTimes: true, owner: true }), before, 'the source is untouched');
  assert.deepEqual(list(to), [], 'nothing at the destination, not even a temp');
  assert.deepEqual(tempsUnder(to), []);
}

for (const { name: driver, sync } of MOVE_DRIVERS) describe(`a cross-device ${driver} that could not remove its source fails before it copies`, () => {
  it('a file in a read-only folder: EACCES, nothing copied', async (t) => {
    const at = places(t);
    if (!at) return;
    const ro = path.join(at.base, 'ro');
    fs.mkdirSync(ro);
    fs.writeFileSync(path.join(ro, 'f'), Buffer.alloc(100_000, 1));
    fs.chownSync(ro, NOBODY, NOBODY);
    fs.chownSync(path.join(ro, 'f'), NOBODY, NOBODY);
    fs.chmodSync(ro, 0o555);
    await refused(t, path.join(ro, 'f'), at.to, 'EACCES', sync);
  });

  it('a tree with a read-only folder deep inside: EACCES, nothing copied', async (t) => {
    const at = places(t);
    if (!at) return;
    const tree = path.join(at.base, 'tree');
    makeTree(tree);
    for (const rel of ['', 'a', 'a/b', 'a/b/c', 'a/empty-too', 'empty']) fs.chmodSync(path.join(tree, rel), 0o777);
    for (const p of [tree, ...fs.readdirSync(tree, { recursive: true }).map((r) => path.join(tree, String(r)))]) fs.lchownSync(p, NOBODY, NOBODY);
    fs.chmodSync(path.join(tree, 'a', 'b', 'c'), 0o555);
    await refused(t, tree, at.to, 'EACCES', sync);
  });

  it("another user's file in a sticky folder: EPERM (as unlink says), nothing copied", async (t) => {
    const at = places(t);
    if (!at) return;
    const sticky = path.join(at.base, 'sticky');
    fs.mkdirSync(sticky);
    fs.chmodSync(sticky, 0o1777);
    fs.writeFileSync(path.join(sticky, 'theirs'), 'not yours to remove');
    fs.chownSync(path.join(sticky, 'theirs'), OTHER_USER, OTHER_USER);
    fs.chmodSync(path.join(sticky, 'theirs'), 0o644);
    await refused(t, path.join(sticky, 'theirs'), at.to, 'EPERM', sync);
    // One's own file in the same sticky folder moves.
    fs.writeFileSync(path.join(sticky, 'mine'), 'mine');
    fs.chownSync(path.join(sticky, 'mine'), NOBODY, NOBODY);
    const res = await runMoveAs(t, { uid: NOBODY, gid: NOBODY, src: path.join(sticky, 'mine'), dest: path.join(at.to, 'mine'), sync });
    assert.equal(res.ok, true, JSON.stringify(res));
    assert.equal(fs.readFileSync(path.join(at.to, 'mine'), 'utf8'), 'mine');
    assert.equal(fs.existsSync(path.join(sticky, 'mine')), false);
  });

  it('on one device the rename keeps the kernel’s own answer (EACCES from rename)', async (t) => {
    const at = places(t);
    if (!at) return;
    const ro = path.join(at.base, 'ro');
    fs.mkdirSync(ro);
    fs.writeFileSync(path.join(ro, 'f'), 'x');
    fs.chmodSync(ro, 0o555);
    const res = await runMoveAs(t, { uid: NOBODY, gid: NOBODY, src: path.join(ro, 'f'), dest: path.join(at.base, 'g'), sync });
    assert.equal(res.ok, false, JSON.stringify(res));
    assert.equal(res.code, 'EACCES');
    assert.equal((res as { syscall?: string }).syscall, 'rename', JSON.stringify(res));
    assert.deepEqual(list(ro), ['f']);
  });
});
