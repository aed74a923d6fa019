/**
 * A rerun of a move removes the source only when the destination holds exactly what this
 * move would have made (SPEC §3): resemblance is never a licence to delete. Each test below
 * builds an exact copy by hand (the control: it resumes), then changes one dimension alone
 * (bytes, mode, time, owner, a symlink's target or time, a folder's entries) and expects
 * `EEXIST` with both sides untouched. And the real resume, a move SIGKILLed between its
 * publish and the source's removal, run again, still completes.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { exited, spawnNode } from '../helpers/child.js';
import { copyTimes, exists, listTree, makeTree, matchTimes, OLD_MS, otherDeviceOrSkip, snapshot, tempsUnder, MOVE_DRIVERS, type MoveDriver } from '../helpers/move-kit.js';
import { IS_ROOT, NEED_ROOT } from '../helpers/root.js';
import { within } from '../helpers/wait.js';
import { tmpDir } from '../helpers/tmp.js';

const KILLER = fileURLToPath(new URL('./fixtures/kill-before-removal.js', import.meta.url));
const SNAP = { exactTimes: true, owner: true } as const;

/** A source folder here and a destination folder on another device, or undefined (skipped). */
function places(t: TestContext): { from: string; to: string } | undefined {
  const other = otherDeviceOrSkip(t);
  if (!other) return undefined;
  return { from: tmpDir(t), to: fs.mkdtempSync(path.join(other.dir, 'resume-')) };
}

/** Makes `dest` exactly what a move of `src` makes: content, modes, owners, times. */
function exactCopy(src: string, dest: string): void {
  fs.cpSync(src, dest, { recursive: true, verbatimSymlinks: true });
  const st = fs.lstatSync(src);
  const rels = st.isDirectory() ? ['', ...listTree(src)] : [''];
  for (const rel of rels) {
    const s = fs.lstatSync(path.join(src, rel));
    const d = path.join(dest, rel);
    if (IS_ROOT) fs.lchownSync(d, s.uid, s.gid);
    if (!s.isSymbolicLink()) fs.chmodSync(d, s.mode & 0o7777);
  }
  matchTimes(src, dest);
}

/** `move(src, dest)` must fail with EEXIST and leave both exactly as they were. */
async function refuses(move: MoveDriver['move'], src: string, dest: string, what: string, options = {}): Promise<void> {
  const a = snapshot(src, SNAP);
  const b = snapshot(dest, SNAP);
  await assert.rejects(move(src, dest, options), { code: 'EEXIST' }, `${what}: resumed onto a destination that differs`);
  assert.deepEqual(snapshot(src, SNAP), a, `${what}: the source changed`);
  assert.deepEqual(snapshot(dest, SNAP), b, `${what}: the destination changed`);
}

/** `move(src, dest)` must resume: source removed, destination as it was. */
async function resumes(move: MoveDriver['move'], src: string, dest: string, what: string): Promise<void> {
  const b = snapshot(dest, SNAP);
  const r = await move(src, dest);
  assert.equal(r.resumed, true, what);
  assert.equal(exists(src), false, `${what}: source removed`);
  assert.deepEqual(snapshot(dest, SNAP), b, `${what}: destination untouched`);
}

/** Sets a path's own times (a symlink's own) to `ms`. */
function setTime(p: string, ms: number): void {
  if (fs.lstatSync(p).isSymbolicLink()) fs.lutimesSync(p, ms / 1000, ms / 1000);
  else fs.utimesSync(p, ms / 1000, ms / 1000);
}

for (const { name: driver, sync, move } of MOVE_DRIVERS) describe(`${driver} resumes only onto exactly what it would have made`, () => {
  it('a single file: bytes, mode, modification time (a second, 10 µs) and kind each alone are EEXIST; the exact copy resumes', async (t) => {
    const at = places(t);
    if (!at) return;
    const fresh = (name: string): { src: string; dest: string } => {
      const src = path.join(at.from, name);
      fs.writeFileSync(src, Buffer.alloc(10_000, 7));
      fs.chmodSync(src, 0o644);
      setTime(src, OLD_MS + 123.456);
      const dest = path.join(at.to, name);
      exactCopy(src, dest);
      return { src, dest };
    };
    {
      const { src, dest } = fresh('bytes');
      const buf = fs.readFileSync(dest);
      buf[5_000] = 8;
      fs.writeFileSync(dest, buf);
      setTime(dest, OLD_MS + 123.456);
      await refuses(move, src, dest, 'one byte');
    }
    {
      const { src, dest } = fresh('mode');
      fs.chmodSync(dest, 0o600);
      await refuses(move, src, dest, 'mode 0644 vs 0600');
    }
    {
      const { src, dest } = fresh('second');
      setTime(dest, OLD_MS + 1123.456);
      await refuses(move, src, dest, 'a second later');
    }
    {
      const { src, dest } = fresh('micro');
      setTime(dest, OLD_MS + 123.466);
      await refuses(move, src, dest, '10 µs later');
    }
    {
      const { src, dest } = fresh('kind');
      fs.rmSync(dest);
      fs.symlinkSync('x'.repeat(10), dest);
      await refuses(move, src, dest, 'a symlink where the file was');
    }
    {
      const { src, dest } = fresh('same');
      await resumes(move, src, dest, 'the exact copy');
    }
    {
      const { src, dest } = fresh('untimed');
      await refuses(move, src, dest, 'preserveTimestamps: false', { preserveTimestamps: false });
    }
  });

  it('a symlink: the same target text made a second apart is EEXIST, another target is EEXIST, the exact copy resumes', async (t) => {
    const at = places(t);
    if (!at) return;
    const fresh = (name: string): { src: string; dest: string } => {
      const src = path.join(at.from, name);
      fs.symlinkSync('../shared/config.json', src);
      setTime(src, OLD_MS + 5_000.25);
      const dest = path.join(at.to, name);
      exactCopy(src, dest);
      return { src, dest };
    };
    {
      const { src, dest } = fresh('later');
      setTime(dest, OLD_MS + 6_000.25);
      await refuses(move, src, dest, 'same text, a second apart');
    }
    {
      const { src, dest } = fresh('text');
      fs.rmSync(dest);
      fs.symlinkSync('../shared/config.jsom', dest);
      setTime(dest, OLD_MS + 5_000.25);
      await refuses(move, src, dest, 'another target');
    }
    {
      const { src, dest } = fresh('same');
      await resumes(move, src, dest, 'the exact link');
    }
  });

  it('a folder tree: a file mode (0755 vs 0600), a folder mode, a nested time, a nested symlink time or an extra entry alone is EEXIST; the exact copy resumes', async (t) => {
    const at = places(t);
    if (!at) return;
    const fresh = (name: string): { src: string; dest: string } => {
      const src = path.join(at.from, name);
      makeTree(src);
      fs.chmodSync(path.join(src, 'a', 'b', 'c', 'run.sh'), 0o755);
      setTime(path.join(src, 'a', 'b', 'c', 'run.sh'), OLD_MS + 77.5);
      const dest = path.join(at.to, name);
      exactCopy(src, dest);
      return { src, dest };
    };
    const cases: [string, (dest: string) => void][] = [
      ['a file 0600 where the source has 0755', (d) => fs.chmodSync(path.join(d, 'a', 'b', 'c', 'run.sh'), 0o600)],
      ['a folder 0755 where the source has 0750', (d) => fs.chmodSync(path.join(d, 'a', 'b'), 0o755)],
      ['a nested file a second later', (d) => setTime(path.join(d, 'a', 'b', 'two.txt'), fs.statSync(path.join(d, 'a', 'b', 'two.txt')).mtimeMs + 1000)],
      ['a nested symlink a second later', (d) => setTime(path.join(d, 'a', 'rel-link'), fs.lstatSync(path.join(d, 'a', 'rel-link')).mtimeMs + 1000)],
      ['a nested folder a second later', (d) => setTime(path.join(d, 'a', 'empty-too'), fs.statSync(path.join(d, 'a', 'empty-too')).mtimeMs + 1000)],
      [
        'an extra entry (its folder time put back)',
        (d) => {
          const t0 = fs.statSync(path.join(d, 'empty')).mtimeMs;
          fs.writeFileSync(path.join(d, 'empty', 'extra'), '');
          setTime(path.join(d, 'empty'), t0);
        },
      ],
    ];
    let n = 0;
    for (const [what, change] of cases) {
      const { src, dest } = fresh(`tree${n++}`);
      change(dest);
      await refuses(move, src, dest, what);
    }
    const { src, dest } = fresh('exact');
    await resumes(move, src, dest, 'the exact tree');
  });

  it('as root, a different owner alone (a file, a nested file, a symlink) is EEXIST', async (t) => {
    if (!IS_ROOT) return t.skip(NEED_ROOT);
    const at = places(t);
    if (!at) return;
    const file = path.join(at.from, 'f');
    fs.writeFileSync(file, 'owned');
    fs.chownSync(file, 4321, 4321);
    exactCopy(file, path.join(at.to, 'f'));
    fs.chownSync(path.join(at.to, 'f'), 4321, 4322);
    await refuses(move, file, path.join(at.to, 'f'), 'a file of another group');
    const tree = path.join(at.from, 'tree');
    makeTree(tree);
    exactCopy(tree, path.join(at.to, 'tree'));
    fs.lchownSync(path.join(at.to, 'tree', 'a', 'one.bin'), 1234, 0);
    await refuses(move, tree, path.join(at.to, 'tree'), 'a nested file of another user');
    const tree2 = path.join(at.from, 'tree2');
    makeTree(tree2);
    exactCopy(tree2, path.join(at.to, 'tree2'));
    fs.lchownSync(path.join(at.to, 'tree2', 'broken-link'), 1234, 1234);
    await refuses(move, tree2, path.join(at.to, 'tree2'), 'a symlink of another user');
    exactCopy(file, path.join(at.to, 'g'));
    fs.renameSync(file, path.join(at.from, 'g'));
    await resumes(move, path.join(at.from, 'g'), path.join(at.to, 'g'), 'the exact copy of a file of another user');
  });

  it(`the real resume: a ${driver} SIGKILLed between its publish and the source removal, run again, completes (a file, a tree, a symlink)`, { timeout: 60_000 }, async (t) => {
    const at = places(t);
    if (!at) return;
    fs.writeFileSync(path.join(at.from, 'f'), Buffer.alloc(70_000, 5));
    makeTree(path.join(at.from, 'tree'));
    fs.symlinkSync('some/target', path.join(at.from, 'l'));
    setTime(path.join(at.from, 'l'), OLD_MS + 1.5);
    // Every time in the middle of its microsecond: the move copies times from a stat's
    // double of milliseconds, which holds a time only to about a quarter of a microsecond,
    // so a time within that of a boundary may be copied onto the next one (the README says
    // so; the resume check allows it). This test is about the resume, not that rounding.
    for (const rel of ['f', 'tree', ...listTree(path.join(at.from, 'tree')).map((r) => path.join('tree', r))]) copyTimes(path.join(at.from, rel), path.join(at.from, rel));
    for (const item of ['f', 'tree', 'l']) {
      const src = path.join(at.from, item);
      const dest = path.join(at.to, item);
      const before = snapshot(src, SNAP);
      const child = spawnNode(t, KILLER, [src, dest, ...(sync ? ['sync'] : [])]);
      const end = await within(exited(child), 30_000, `the mover of ${item} to be killed`);
      assert.equal(end.signal, 'SIGKILL', `${item}: the mover was killed at the source's removal`);
      assert.deepEqual(snapshot(src, SNAP), before, `${item}: the source is whole`);
      assert.deepEqual(snapshot(dest, SNAP), before, `${item}: the destination is complete`);
      await resumes(move, src, dest, item);
    }
    assert.deepEqual(tempsUnder(at.from).concat(tempsUnder(at.to)), []);
  });
});
