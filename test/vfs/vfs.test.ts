/**
 * The VirtualFileSystem itself: the mount table (longest prefix, nesting, the skeleton of
 * folders above mount points), unmount rules, O(1) folder renames in MemoryMount (counted
 * in operations, not time), LocalMount's copy fallback when its root holds another device,
 * and errors in the caller's terms.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { AtomfsError, LocalMount, MemoryMount, ReadOnlyMount, VirtualFileSystem, type VirtualMount } from '../../src/index.js';
import { requireRoot } from '../helpers/root.js';
import { tmpDir } from '../helpers/tmp.js';
import { FaultMount, rejection } from './kit.js';

describe('mount table', () => {
  it('resolves a path to the mount with the longest prefix', async () => {
    const outer = new MemoryMount();
    const inner = new MemoryMount();
    const vfs = new VirtualFileSystem();
    vfs.mount('/data', outer);
    vfs.mount('/data/cache', inner);
    await vfs.writeFile('/data/a', 'outer');
    await vfs.writeFile('/data/cache/b', 'inner');
    await vfs.writeFile('/data/cachex', 'outer, not under /data/cache');
    assert.deepEqual(await outer.list('/'), ['a', 'cachex']);
    assert.deepEqual(await inner.list('/'), ['b']);
    // The mount point shows in its parent's listing.
    assert.deepEqual(await vfs.list('/data'), ['a', 'cache', 'cachex']);
  });

  it('folders above mount points exist (read-only skeleton); nothing else outside mounts does', async () => {
    const vfs = new VirtualFileSystem();
    vfs.mount('/srv/app/data', new MemoryMount());
    assert.deepEqual(await vfs.list('/'), ['srv']);
    assert.deepEqual(await vfs.list('/srv/app'), ['data']);
    assert.equal((await vfs.stat('/srv')).kind, 'dir');
    assert.equal((await rejection(vfs.stat('/nope'))).code, 'ENOENT');
    assert.equal((await rejection(vfs.readFile('/srv'))).code, 'EISDIR');
    assert.equal((await rejection(vfs.writeFile('/srv/app/x', 'x'))).code, 'EROFS');
    assert.equal((await rejection(vfs.remove('/srv/app'))).code, 'EBUSY');
    assert.equal((await rejection(vfs.mkdir('/srv'))).code, 'EEXIST');
    await vfs.mkdir('/srv', { recursive: true });
    assert.equal((await rejection(vfs.rename('/srv', '/srv2'))).code, 'EBUSY');
  });

  it('a folder that exists only because a nested mount lies under it can be listed', async () => {
    const vfs = new VirtualFileSystem();
    vfs.mount('/m', new MemoryMount());
    vfs.mount('/m/a/b', new MemoryMount());
    assert.deepEqual(await vfs.list('/m'), ['a']);
    assert.deepEqual(await vfs.list('/m/a'), ['b']);
    assert.equal((await vfs.stat('/m/a')).kind, 'dir');
    assert.equal((await rejection(vfs.stat('/m/c'))).code, 'ENOENT');
  });

  it('owns its mounts: two instances share nothing', async () => {
    const a = new VirtualFileSystem();
    const b = new VirtualFileSystem();
    a.mount('/m', new MemoryMount());
    assert.equal((await rejection(b.stat('/m'))).code, 'ENOENT');
  });

  it('refuses a second mount at the same prefix (EBUSY), a non-mount and bad prefixes (EINVAL)', () => {
    const vfs = new VirtualFileSystem();
    vfs.mount('/m/', new MemoryMount()); // a trailing slash is the same prefix
    assert.throws(() => vfs.mount('/m', new MemoryMount()), { code: 'EBUSY', path: '/m' });
    assert.throws(() => vfs.mount('/x', {} as VirtualMount), { code: 'EINVAL' });
    assert.throws(() => vfs.mount('x', new MemoryMount()), { code: 'EINVAL' });
    assert.throws(() => vfs.mount('/y', new MemoryMount(), { readOnly: 1 as never }), { code: 'EINVAL' });
    assert.throws(() => vfs.unmount('/nothing'), { code: 'EINVAL', path: '/nothing' });
  });

  it('unmount waits for open files (EBUSY), then frees the prefix', async () => {
    const vfs = new VirtualFileSystem();
    vfs.mount('/m', new MemoryMount());
    const h = await vfs.open('/m/f', 'w');
    assert.throws(() => vfs.unmount('/m'), { code: 'EBUSY' });
    await h[Symbol.asyncDispose]();
    vfs.unmount('/m');
    assert.equal((await rejection(vfs.stat('/m/f'))).code, 'ENOENT');
  });

  it('reports mount errors with the caller\'s virtual path, the code and the mount\'s error as cause', async () => {
    const vfs = new VirtualFileSystem();
    vfs.mount('/deep/m', new ReadOnlyMount(new MemoryMount()));
    const err = await rejection(vfs.readFile('/deep/m/missing.txt'));
    assert.ok(err instanceof AtomfsError);
    assert.equal(err.code, 'ENOENT');
    assert.equal(err.path, '/deep/m/missing.txt');
    assert.equal(err.operation, 'vfs.readFile');
    assert.match(err.message, /^ENOENT: no such file or directory, read '\/deep\/m\/missing.txt'$/);
    assert.equal(((err as Error).cause as NodeJS.ErrnoException).path, '/missing.txt');
    const ro = await rejection(vfs.mkdir('/deep/m/d'));
    assert.equal(ro.code, 'EROFS');
    assert.equal(ro.path, '/deep/m/d');
  });

  it('a mount\'s code-less AbortError (a DOMException) becomes ABORT_ERR with the caller\'s path, the original as cause', async () => {
    const inner = new MemoryMount();
    await inner.create('/f', { dir: false });
    const m = new FaultMount(inner);
    const abort = new DOMException('the backend gave up', 'AbortError');
    m.before = (_n, name) => {
      if (name === 'read') throw abort;
    };
    const vfs = new VirtualFileSystem();
    vfs.mount('/m', m);
    const err = await rejection(vfs.readFile('/m/f'));
    assert.ok(err instanceof AtomfsError);
    assert.equal(err.code, 'ABORT_ERR');
    assert.equal(err.path, '/m/f');
    assert.equal(err.syscall, 'read');
    assert.equal((err as Error).cause, abort);
  });

  it('a ReadOnlyMount used directly refuses every change with EROFS and the path', async () => {
    const inner = new MemoryMount();
    await inner.create('/f', { dir: false });
    const ro = new ReadOnlyMount(inner);
    const calls: Promise<unknown>[] = [
      ro.create('/x', { dir: false }),
      ro.write('/f', new Uint8Array(1)),
      ro.delete('/f'),
      ro.truncate('/f', 0),
      ro.rename('/f', '/g'),
      ro.setMetadata('/f', { mtimeMs: 0 }),
    ];
    for (const c of calls) {
      const e = await rejection(c);
      assert.equal(e.code, 'EROFS');
      assert.ok(e.path === '/x' || e.path === '/f');
    }
    assert.equal((await ro.stat('/f')).kind, 'file');
  });
});

describe('MemoryMount', () => {
  async function build(n: number): Promise<{ vfs: VirtualFileSystem; mem: MemoryMount; counted: FaultMount }> {
    const mem = new MemoryMount();
    await mem.create('/big', { dir: true });
    await mem.create('/big/sub', { dir: true });
    await mem.create('/big/sub/deeper', { dir: false });
    // The entries sit directly in the renamed folder: a rename that touched each child
    // (or copied the folder) would show in the counts.
    for (let i = 0; i < n; i++) await mem.create(`/big/f${i}`, { dir: false });
    await mem.create('/to', { dir: true });
    const counted = new FaultMount(mem);
    const vfs = new VirtualFileSystem();
    vfs.mount('/m', counted);
    return { vfs, mem, counted };
  }

  it('renames a folder of 100,000 entries with the same number of operations as one of 10', async () => {
    const cost = async (n: number): Promise<{ visits: number; calls: number }> => {
      const { vfs, mem, counted } = await build(n);
      const visits0 = mem.nodeVisits;
      await vfs.rename('/m/big', '/m/to/moved');
      const out = { visits: mem.nodeVisits - visits0, calls: counted.calls.length };
      assert.equal((await mem.list('/to/moved')).length, n + 1);
      return out;
    };
    const small = await cost(10);
    const large = await cost(100_000);
    assert.deepEqual(large, small);
    assert.ok(small.calls < 10, `mount calls: ${small.calls}`);
    assert.ok(small.visits < 40, `node visits: ${small.visits}`);
  });

  it('a case-insensitive mount keeps spellings and finds names in any case', async () => {
    const m = new MemoryMount({ caseInsensitive: true });
    await m.create('/Docs', { dir: true });
    await m.create('/docs/ReadMe.md', { dir: false });
    assert.deepEqual(await m.list('/DOCS'), ['ReadMe.md']);
    assert.equal((await rejection(m.create('/DOCS', { dir: true }))).code, 'EEXIST');
    await m.rename('/docs/readme.md', '/docs/README.md');
    assert.deepEqual(await m.list('/docs'), ['README.md']);
  });

  it('keeps per-file metadata and reads gaps as zeros', async () => {
    const m = new MemoryMount();
    await m.create('/f', { dir: false, mode: 0o600 });
    await m.write('/f', new TextEncoder().encode('abcdef'));
    await m.truncate('/f', 2);
    await m.write('/f', new TextEncoder().encode('Z'), { offset: 4 });
    assert.deepEqual([...(await m.read('/f'))], [97, 98, 0, 0, 90]);
    assert.deepEqual([...(await m.read('/f', { offset: 1, length: 2 }))], [98, 0]);
    await m.setMetadata('/f', { mtimeMs: 123_000, mode: 0o640 });
    const st = await m.stat('/f');
    assert.equal(st.mtimeMs, 123_000);
    assert.equal(st.mode, 0o640);
    assert.equal((await rejection(m.delete('/'))).code, 'EBUSY');
  });
});

describe('LocalMount', () => {
  it('makes no system call when constructed, and fails with the root\'s error once used', async (t) => {
    const dir = tmpDir(t);
    const m = new LocalMount(path.join(dir, 'missing'));
    const vfs = new VirtualFileSystem();
    vfs.mount('/m', m);
    assert.equal((await rejection(vfs.stat('/m'))).code, 'ENOENT');
    fs.mkdirSync(path.join(dir, 'missing'));
    assert.equal((await vfs.stat('/m')).kind, 'dir');
  });

  it('writeFile leaves no temp file and keeps the mode of the file it replaces', async (t) => {
    const dir = tmpDir(t);
    fs.writeFileSync(path.join(dir, 'f'), 'old', { mode: 0o640 });
    fs.chmodSync(path.join(dir, 'f'), 0o640);
    const vfs = new VirtualFileSystem();
    vfs.mount('/m', new LocalMount(dir));
    await vfs.writeFile('/m/f', 'new');
    assert.equal(fs.readFileSync(path.join(dir, 'f'), 'utf8'), 'new');
    assert.equal(fs.statSync(path.join(dir, 'f')).mode & 0o777, 0o640);
    assert.deepEqual(fs.readdirSync(dir), ['f']);
  });

  it('falls back to copy and delete when its root holds another device (EXDEV inside one mount)', async (t) => {
    if (!requireRoot(t)) return;
    // Registered before tmpDir's hook so the tmpfs is unmounted before the folder is
    // removed (node:test runs after hooks in registration order).
    let inside: string | undefined;
    t.after(() => {
      if (inside !== undefined) execFileSync('umount', [inside]);
    });
    const dir = tmpDir(t);
    fs.mkdirSync(path.join(dir, 'a'));
    fs.writeFileSync(path.join(dir, 'a', 'f'), 'data');
    fs.utimesSync(path.join(dir, 'a', 'f'), 1_500_000_000, 1_500_000_000);
    fs.mkdirSync(path.join(dir, 'other'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0755', 'tmpfs', path.join(dir, 'other')]);
    inside = path.join(dir, 'other');
    assert.notEqual(fs.statSync(inside).dev, fs.statSync(dir).dev);
    const vfs = new VirtualFileSystem();
    vfs.mount('/m', new LocalMount(dir));
    await vfs.rename('/m/a', '/m/other/a');
    assert.equal(fs.readFileSync(path.join(inside, 'a', 'f'), 'utf8'), 'data');
    assert.equal(fs.statSync(path.join(inside, 'a', 'f')).mtimeMs, 1_500_000_000_000);
    assert.ok(!fs.existsSync(path.join(dir, 'a')));
  });
});
