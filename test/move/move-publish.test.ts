/**
 * The publish step of a cross-device move and what a failure there leaves behind: a file
 * published without overwrite where link(2) is refused, a folder onto a non-empty folder
 * refused before anything is copied, and the temp copy removed after a failed publish even
 * when the copy holds a folder its owner may not write (a process that is not root), with
 * a cleanup that still fails logged and attached to the error as `suppressed`.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { type LogFields, type Logger } from '../../src/index.js';
import { spawnNode } from '../helpers/child.js';
import { FaultOps } from '../helpers/fault-ops.js';
import { closed, collectText, exists, makeTree, otherDeviceOrSkip, reap, snapshot, tempsUnder, MOVE_DRIVERS } from '../helpers/move-kit.js';
import { requireRoot } from '../helpers/root.js';
import { list, tmpDir } from '../helpers/tmp.js';

/** A folder on the repo's file system and one on another device, or undefined (the test skips). */
function crossPair(t: TestContext): { from: string; to: string } | undefined {
  const other = otherDeviceOrSkip(t);
  return other && { from: tmpDir(t), to: other.dir };
}

function recordingLogger(): Logger & { warns: { fields: LogFields; msg: string }[] } {
  const warns: { fields: LogFields; msg: string }[] = [];
  return { warns, debug: () => {}, error: () => {}, warn: (fields, msg) => void warns.push({ fields, msg }) };
}

for (const { name: driver, sync, move } of MOVE_DRIVERS) {
describe(`${driver} across devices: publishing`, () => {
  it('overwrite: false publishes a file where link(2) is refused (no hard links: EPERM), over an exclusive placeholder', async (t) => {
    const pair = crossPair(t);
    if (!pair) return;
    const { from, to } = pair;
    for (const verify of ['size', 'checksum'] as const) {
      const src = path.join(from, `f-${verify}`);
      const dest = path.join(to, `f-${verify}`);
      fs.writeFileSync(src, Buffer.alloc(200_000, verify));
      const before = snapshot(src, { times: true });
      // Every link(2) into the destination folder fails as on FAT.
      const ops = new FaultOps();
      ops.before = (name, args) => {
        if (name === 'link' && typeof args[1] === 'string' && args[1].startsWith(to + path.sep)) throw Object.assign(new Error('EPERM: no hard links here'), { code: 'EPERM', syscall: 'link' });
      };
      const r = await move(src, dest, { fs: ops, verify });
      const sha256 = verify === 'checksum' ? { sha256: createHash('sha256').update(Buffer.alloc(200_000, verify)).digest('hex') } : {};
      assert.deepEqual(r, { strategy: 'copy', bytes: 200_000, files: 1, ...sha256 }, verify);
      assert.ok(ops.names().includes('link'), `${verify}: a link was tried`);
      assert.deepEqual(snapshot(dest, { times: true }), before, `${verify}: the copy is complete`);
      assert.equal(exists(src), false, `${verify}: source removed`);
    }
    // Still never over an existing file.
    fs.writeFileSync(path.join(from, 'g'), 'new');
    fs.writeFileSync(path.join(to, 'g'), 'old');
    const ops = new FaultOps();
    ops.before = (name) => {
      if (name === 'link') throw Object.assign(new Error('EPERM: no hard links here'), { code: 'EPERM', syscall: 'link' });
    };
    await assert.rejects(move(path.join(from, 'g'), path.join(to, 'g'), { fs: ops }), { code: 'EEXIST' });
    assert.equal(fs.readFileSync(path.join(to, 'g'), 'utf8'), 'old');
    assert.equal(fs.readFileSync(path.join(from, 'g'), 'utf8'), 'new');
    assert.deepEqual(tempsUnder(to), []);
  });

  it('overwrite: true of a folder onto a non-empty folder fails with ENOTEMPTY before anything is copied', async (t) => {
    const pair = crossPair(t);
    if (!pair) return;
    const { from, to } = pair;
    makeTree(path.join(from, 'tree'), 'tree', 1 << 20);
    fs.mkdirSync(path.join(to, 'tree'));
    fs.writeFileSync(path.join(to, 'tree', 'keep'), 'k');
    const before = snapshot(path.join(from, 'tree'), { times: true });
    const ops = new FaultOps();
    await assert.rejects(move(path.join(from, 'tree'), path.join(to, 'tree'), { overwrite: true, fs: ops }), {
      code: 'ENOTEMPTY',
      path: path.join(from, 'tree'),
      dest: path.join(to, 'tree'),
    });
    const made = ops.calls.filter((c) => ['mkdir', 'copyFile', 'open', 'symlink', 'write'].includes(c.name));
    assert.deepEqual(made, [], 'nothing was copied');
    assert.deepEqual(snapshot(path.join(from, 'tree'), { times: true }), before);
    assert.deepEqual(list(path.join(to, 'tree')), ['keep']);
    assert.deepEqual(list(to), ['tree'], 'no temp');
  });
});

// Run as nobody: move a tree whose copy holds a folder without owner write permission,
// failing the publish (the rename of the temp), and report what happened.
const CHILD = `
const [lib, faults, root, req] = process.argv.slice(1);
const { move, moveSync } = await import(lib);
const { FaultOps } = await import(faults);
const { dropPrivileges } = await import(root);
const { src, dest, sync } = JSON.parse(req);
dropPrivileges(65534, 65534);
const warns = [];
const logger = { debug() {}, error() {}, warn: (f, m) => warns.push({ f, m }) };
const ops = new FaultOps().failOn('rename', 'EIO', { pathMatch: /\\.tmp$/ });
try {
  const options = { fs: ops, logger, overwrite: true };
  if (sync) moveSync(src, dest, options);
  else await move(src, dest, options);
  console.log('RESULT ' + JSON.stringify({ ok: true, uid: process.getuid() }));
} catch (e) {
  console.log('RESULT ' + JSON.stringify({ ok: false, uid: process.getuid(), code: e.code, suppressed: e.suppressed?.code, warns }));
}
`;

const here = (rel: string): string => new URL(rel, import.meta.url).href;

describe(`${driver} across devices: the temp copy after a failed publish`, () => {
  it('is removed by a process that is not root, even with a read-only folder inside it', async (t) => {
    if (!requireRoot(t)) return;
    const pair = crossPair(t);
    if (!pair) return;
    const { from, to } = pair;
    for (const d of [from, to]) fs.chmodSync(d, 0o777);
    makeTree(path.join(from, 'tree'));
    fs.writeFileSync(path.join(from, 'tree', 'empty', 'in-ro'), 'x');
    chownTree(path.join(from, 'tree'), 65534);
    // No owner write, so its copy (nobody's, with that mode) needs a chmod to be removed; yet
    // the source stays removable by nobody through the group bits (another user's folder,
    // nobody's group), or the move would be refused before it copies.
    fs.chownSync(path.join(from, 'tree', 'empty'), 4242, 65534);
    fs.chmodSync(path.join(from, 'tree', 'empty'), 0o575);
    const before = snapshot(path.join(from, 'tree'), { times: true });
    const child = spawnNode(t, '--input-type=module', [
      '-e',
      CHILD,
      here('../../src/index.js'),
      here('../helpers/fault-ops.js'),
      here('../helpers/root.js'),
      JSON.stringify({ src: path.join(from, 'tree'), dest: path.join(to, 'tree'), sync }),
    ]);
    const done = closed(child);
    const out = collectText(child.stdout);
    const err = collectText(child.stderr);
    await reap(child, done, 15_000);
    const line = out().split('\n').find((l) => l.startsWith('RESULT '));
    assert.ok(line, `no RESULT; stdout: ${out()} stderr: ${err()}`);
    const res = JSON.parse(line.slice(7)) as { ok: boolean; uid: number; code?: string; suppressed?: string; warns?: unknown[] };
    assert.equal(res.uid, 65534, 'the child really dropped to nobody');
    assert.equal(res.ok, false);
    assert.equal(res.code, 'EIO', JSON.stringify(res));
    assert.equal(res.suppressed, undefined, JSON.stringify(res));
    assert.deepEqual(res.warns, [], 'no cleanup failure');
    assert.deepEqual(list(to), [], 'the temp copy is gone');
    assert.deepEqual(snapshot(path.join(from, 'tree'), { times: true }), before, 'the source is intact');
  });

  it('a cleanup that still fails is logged and attached to the error as suppressed, never replacing it', async (t) => {
    const pair = crossPair(t);
    if (!pair) return;
    const { from, to } = pair;
    makeTree(path.join(from, 'tree'));
    const before = snapshot(path.join(from, 'tree'), { times: true });
    const logger = recordingLogger();
    const ops = new FaultOps().failOn('rename', 'EIO', { pathMatch: /\.tmp$/ }).failOn('rmdir', 'EBUSY', { pathMatch: /\.tmp$/ });
    const e = await move(path.join(from, 'tree'), path.join(to, 'tree'), { fs: ops, logger, overwrite: true }).then(
      () => assert.fail('resolved'),
      (x: unknown) => x as Error & { code: string; suppressed?: NodeJS.ErrnoException },
    );
    assert.equal(e.code, 'EIO');
    assert.equal(e.suppressed?.code, 'EBUSY');
    const temps = tempsUnder(to);
    assert.equal(temps.length, 1, 'the temp whose removal failed');
    assert.equal(logger.warns.length, 1);
    assert.equal(logger.warns[0]!.msg, 'Failed to clean up temp file');
    assert.equal(logger.warns[0]!.fields['tempPath'], temps[0]);
    assert.equal(logger.warns[0]!.fields['cleanupErrorCode'], 'EBUSY');
    assert.deepEqual(snapshot(path.join(from, 'tree'), { times: true }), before);
    fs.rmSync(temps[0]!, { recursive: true });
  });
});
}

/** Gives a tree to `uid` (so the unprivileged child may read all of it). */
function chownTree(root: string, uid: number): void {
  fs.lchownSync(root, uid, uid);
  if (fs.lstatSync(root).isDirectory()) for (const n of fs.readdirSync(root)) chownTree(path.join(root, n), uid);
}
