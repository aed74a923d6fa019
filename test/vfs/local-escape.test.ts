/**
 * LocalMount confinement: `..`, absolute paths, symlinks to /etc and to a folder beside the
 * root, and a symlink swapped in at every system call of an operation. An auditing seam
 * records where each call really lands: nothing outside the root may be read, written,
 * listed or changed, whatever the outcome of the call.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { LocalMount, VirtualFileSystem } from '../../src/index.js';
import { O, OP_NAMES, realOps, type AsyncFsOps, type FsOps } from '../../src/internal/fs-ops.js';
import { FaultOps } from '../helpers/fault-ops.js';
import { tmpDir } from '../helpers/tmp.js';
import { rejection } from './kit.js';

/** A seam that passes every call to node:fs and notes any that lands outside `root`. */
function auditOps(root: string, violations: string[]): FsOps {
  const realRoot = fs.realpathSync(root);
  const inside = (p: string | undefined): boolean => p !== undefined && (p === realRoot || p.startsWith(realRoot + path.sep));
  const real = (p: string): string | undefined => {
    try {
      return fs.realpathSync(p);
    } catch {
      return undefined;
    }
  };
  // Where an entry is: its folder resolved, its own name not followed (as unlink, rename,
  // mkdir and O_NOFOLLOW opens see it).
  const entry = (p: string): string | undefined => {
    const dir = real(path.dirname(p));
    return dir === undefined ? undefined : path.join(dir, path.basename(p));
  };
  const fdTarget = (fd: number): string | undefined => {
    try {
      return fs.readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      return undefined;
    }
  };
  const isDir = (p: string): boolean => {
    try {
      return fs.statSync(p).isDirectory();
    } catch {
      return false;
    }
  };
  const note = (what: string, where: string | undefined): void => {
    if (!inside(where)) violations.push(`${what} -> ${where ?? '?'}`);
  };
  const inner = realOps.async;
  const a = {} as Record<string, (...args: unknown[]) => Promise<unknown>>;
  for (const name of OP_NAMES) a[name] = (...args: unknown[]) => (inner[name] as (...x: unknown[]) => Promise<unknown>)(...args);
  const changes = ['mkdir', 'rmdir', 'unlink', 'symlink', 'link', 'chmod', 'lchown'] as const;
  for (const name of changes) {
    a[name] = async (...args) => {
      note(`${name} ${String(args[0])}`, entry(args[0] as string));
      return (inner[name] as (...x: unknown[]) => Promise<unknown>)(...args);
    };
  }
  a['rename'] = async (from, to) => {
    note(`rename from ${String(from)}`, entry(from as string));
    note(`rename to ${String(to)}`, entry(to as string));
    return inner.rename(from as string, to as string);
  };
  a['utimes'] = async (p, at, mt) => {
    note(`utimes ${String(p)}`, real(p as string)); // follows, as utimes does
    return inner.utimes(p as string, at as number, mt as number);
  };
  a['readdir'] = async (p) => {
    note(`readdir ${String(p)}`, real(p as string));
    return inner.readdir(p as string);
  };
  a['lstat'] = async (p) => {
    note(`lstat ${String(p)}`, entry(p as string));
    return inner.lstat(p as string);
  };
  a['open'] = async (p, flags, mode) => {
    const f = flags as number;
    const changing = (f & (O.WRONLY | O.RDWR | O.CREAT | O.TRUNC)) !== 0;
    if (changing) note(`open for writing ${String(p)}`, entry(p as string));
    const fd = await inner.open(p as string, f, mode as number);
    // Opening a folder read-only reads nothing (the mount opens, checks and refuses);
    // a file opened outside would be read.
    if (!changing && (f & O.DIRECTORY) === 0) {
      const t = fdTarget(fd);
      if (t !== undefined && !isDir(t)) note(`open ${String(p)}`, t);
    }
    return fd;
  };
  for (const name of ['read', 'write', 'fsync', 'fchmod', 'fchown'] as const) {
    a[name] = async (...args) => {
      const t = fdTarget(args[0] as number);
      if (t !== undefined) note(`${name} fd ${String(args[0])}`, t);
      return (inner[name] as (...x: unknown[]) => Promise<unknown>)(...args);
    };
  }
  return { sync: realOps.sync, async: a as unknown as AsyncFsOps };
}

/** Everything under a folder with mode, size, mtime and content. */
function deepSnapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, sub: string): void => {
    for (const name of fs.readdirSync(d).sort()) {
      const p = path.join(d, name);
      const st = fs.lstatSync(p);
      const head = `${sub}${name} ${st.mode.toString(8)} ${st.mtimeMs}`;
      if (st.isSymbolicLink()) out.push(`${head} -> ${fs.readlinkSync(p)}`);
      else if (st.isDirectory()) {
        out.push(`${head} dir`);
        walk(p, `${sub}${name}/`);
      } else out.push(`${head} ${fs.readFileSync(p, 'utf8')}`);
    }
  };
  walk(dir, '');
  return out;
}

interface World {
  root: string;
  outside: string;
  vfs: VirtualFileSystem;
  mount: LocalMount;
  ops: FaultOps;
  violations: string[];
}

function world(t: TestContext | { after(fn: () => void): void }): World {
  const base = tmpDir(t);
  const root = path.join(base, 'root');
  const outside = path.join(base, 'outside');
  fs.mkdirSync(root);
  fs.mkdirSync(outside);
  fs.writeFileSync(path.join(outside, 'f'), 'OUTSIDE SECRET');
  fs.writeFileSync(path.join(outside, 'only-outside'), 'x');
  fs.mkdirSync(path.join(outside, 'victim'));
  fs.writeFileSync(path.join(outside, 'victim', 'v'), 'victim');
  fs.utimesSync(path.join(outside, 'f'), 1_000_000, 1_000_000);
  fs.mkdirSync(path.join(root, 'sub'));
  fs.writeFileSync(path.join(root, 'sub', 'f'), 'inside');
  fs.writeFileSync(path.join(root, 'g'), 'g');
  const violations: string[] = [];
  const ops = new FaultOps(auditOps(root, violations));
  const mount = new LocalMount(root, { fs: ops });
  const vfs = new VirtualFileSystem();
  vfs.mount('/m', mount);
  return { root, outside, vfs, mount, ops, violations };
}

describe('LocalMount confinement: paths', () => {
  it('`..` and absolute paths never leave the root', async (t) => {
    const w = world(t);
    const before = deepSnapshot(w.outside);
    // The VFS resolves `..` by spelling: above /m there is no mount.
    assert.equal((await rejection(w.vfs.readFile('/m/../../etc/passwd'))).code, 'ENOENT');
    assert.equal((await rejection(w.vfs.readFile('/m/../outside/f'))).code, 'ENOENT');
    // '/etc/passwd' inside the mount is <root>/etc/passwd, which does not exist.
    assert.equal((await rejection(w.vfs.readFile('/m//etc/passwd'))).code, 'ENOENT');
    // Used directly, the mount refuses `..` (EACCES) and paths not in normal form (EINVAL).
    for (const p of ['/../outside/f', '/sub/../../outside/f', '/..']) {
      assert.equal((await rejection(w.mount.read(p))).code, 'EACCES', p);
      assert.equal((await rejection(w.mount.create(p + '/x', { dir: false }))).code, 'EACCES', p);
    }
    for (const p of ['sub/f', '', '/sub//f', '/sub/./f', 'x\0']) assert.equal((await rejection(w.mount.read(p))).code, 'EINVAL', p);
    assert.deepEqual(deepSnapshot(w.outside), before);
    assert.deepEqual(w.violations, []);
  });

  it('symlinks to /etc are refused with EACCES for every reading call', async (t) => {
    const w = world(t);
    fs.symlinkSync('/etc', path.join(w.root, 'etc'));
    fs.symlinkSync('/etc/passwd', path.join(w.root, 'passwd'));
    fs.symlinkSync('../../../../../../../../../etc/hostname', path.join(w.root, 'hostname'));
    const calls: [string, () => Promise<unknown>][] = [
      ['readFile etc/passwd', () => w.vfs.readFile('/m/etc/passwd')],
      ['readFile passwd', () => w.vfs.readFile('/m/passwd')],
      ['readFile hostname', () => w.vfs.readFile('/m/hostname')],
      ['stat passwd', () => w.vfs.stat('/m/passwd')],
      ['stat etc', () => w.vfs.stat('/m/etc')],
      ['stat etc/passwd', () => w.vfs.stat('/m/etc/passwd')],
      ['list etc', () => w.vfs.list('/m/etc')],
      ['open passwd', () => w.vfs.open('/m/passwd')],
      ['open etc/passwd', () => w.vfs.open('/m/etc/passwd')],
      ['read via mount', () => w.mount.read('/etc/passwd', { offset: 0, length: 10 })],
    ];
    for (const [what, fn] of calls) {
      const err = await rejection(fn());
      assert.equal(err.code, 'EACCES', what);
    }
    const err = await rejection(w.vfs.readFile('/m/etc/passwd'));
    assert.equal(err.path, '/m/etc/passwd', 'the error carries the virtual path, not a real one');
    assert.ok(!String(err.message).includes(w.root), err.message);
    assert.deepEqual(w.violations, []);
  });

  it('symlinks to a folder beside the root are refused for every changing call; nothing there changes', async (t) => {
    const w = world(t);
    fs.symlinkSync(w.outside, path.join(w.root, 'out'));
    fs.symlinkSync('../outside', path.join(w.root, 'relout'));
    fs.symlinkSync(path.join(w.outside, 'f'), path.join(w.root, 'outf'));
    const before = deepSnapshot(w.outside);
    const calls: [string, () => Promise<unknown>][] = [
      ['writeFile into', () => w.vfs.writeFile('/m/out/new', 'x')],
      ['writeFile into (relative link)', () => w.vfs.writeFile('/m/relout/new', 'x')],
      ['writeFile onto', () => w.vfs.writeFile('/m/outf', 'x')],
      ['mkdir into', () => w.vfs.mkdir('/m/out/d')],
      ['mkdir -p into', () => w.vfs.mkdir('/m/relout/d/e', { recursive: true })],
      ['remove inside', () => w.vfs.remove('/m/out/f')],
      ['remove folder inside', () => w.vfs.remove('/m/out/victim/v')],
      ['truncate through', () => w.vfs.truncate('/m/outf', 0)],
      ['truncate shorter through', () => w.vfs.truncate('/m/outf', 3)],
      ['truncate longer through', () => w.vfs.truncate('/m/out/f', 100)],
      ['rename out of', () => w.vfs.rename('/m/out/f', '/m/stolen')],
      ['rename into', () => w.vfs.rename('/m/g', '/m/out/g')],
      ['rename folder out of', () => w.vfs.rename('/m/out/victim', '/m/victim')],
      ['open for writing', () => w.vfs.open('/m/out/new', 'w')],
      ['open r+', () => w.vfs.open('/m/outf', 'r+')],
      ['open append', () => w.vfs.open('/m/out/f', 'a')],
      ['write through', () => w.mount.write('/outf', new Uint8Array([1]), { offset: 2 })],
      ['setMetadata through', () => w.mount.setMetadata('/outf', { mtimeMs: 0, mode: 0o777 })],
      ['create into', () => w.mount.create('/out/new', { dir: false })],
      ['list', () => w.vfs.list('/m/out')],
    ];
    for (const [what, fn] of calls) {
      const err = await rejection(fn());
      assert.equal(err.code, 'EACCES', `${what}: ${String(err)}`);
    }
    // Removing the link itself is fine: it is inside the root; what it points to stays.
    await w.vfs.remove('/m/out');
    assert.deepEqual(deepSnapshot(w.outside), before);
    assert.deepEqual(w.violations, []);
  });

  it('a dangling symlink pointing out is replaced or refused, never written through', async (t) => {
    const w = world(t);
    fs.symlinkSync(path.join(w.outside, 'created-by-attack'), path.join(w.root, 'dangling'));
    fs.symlinkSync(path.join(w.outside, 'created-by-attack2'), path.join(w.root, 'dangling2'));
    const before = deepSnapshot(w.outside);
    await rejection(w.vfs.open('/m/dangling2', 'w'));
    await rejection(w.vfs.open('/m/dangling2', 'a'));
    await rejection(w.mount.create('/dangling2', { dir: false }));
    await rejection(w.vfs.mkdir('/m/dangling2'));
    // An atomic write replaces the name (the link) with a new file inside the root.
    await w.vfs.writeFile('/m/dangling', 'mine');
    assert.ok(fs.lstatSync(path.join(w.root, 'dangling')).isFile());
    assert.deepEqual(deepSnapshot(w.outside), before);
    assert.deepEqual(w.violations, []);
  });

  it('symlinks that stay inside the root are followed', async (t) => {
    const w = world(t);
    fs.symlinkSync('sub', path.join(w.root, 'inlink'));
    fs.symlinkSync(path.join(w.root, 'sub', 'f'), path.join(w.root, 'flink'));
    fs.symlinkSync('inlink/f', path.join(w.root, 'chain'));
    assert.equal(await w.vfs.readFile('/m/inlink/f', { encoding: 'utf8' }), 'inside');
    assert.equal(await w.vfs.readFile('/m/flink', { encoding: 'utf8' }), 'inside');
    assert.equal(await w.vfs.readFile('/m/chain', { encoding: 'utf8' }), 'inside');
    assert.deepEqual(await w.vfs.list('/m/inlink'), ['f']);
    await w.vfs.writeFile('/m/inlink/new', 'via link');
    assert.equal(fs.readFileSync(path.join(w.root, 'sub', 'new'), 'utf8'), 'via link');
    await w.vfs.truncate('/m/flink', 2);
    assert.equal(fs.readFileSync(path.join(w.root, 'sub', 'f'), 'utf8'), 'in');
    // A loop is ELOOP, not a hang.
    fs.symlinkSync('loop2', path.join(w.root, 'loop1'));
    fs.symlinkSync('loop1', path.join(w.root, 'loop2'));
    assert.equal((await rejection(w.vfs.readFile('/m/loop1'))).code, 'ELOOP');
    assert.deepEqual(w.violations, []);
  });
});

type Op = [string, (w: World) => Promise<unknown>];

const RACE_OPS: readonly Op[] = [
  ['readFile', (w) => w.vfs.readFile('/m/sub/f', { encoding: 'utf8' })],
  ['stat', (w) => w.vfs.stat('/m/sub/f')],
  ['list', (w) => w.vfs.list('/m/sub')],
  ['writeFile', (w) => w.vfs.writeFile('/m/sub/f', 'PWNED')],
  ['writeFile new', (w) => w.vfs.writeFile('/m/sub/n', 'PWNED')],
  ['mkdir', (w) => w.vfs.mkdir('/m/sub/newdir')],
  ['remove', (w) => w.vfs.remove('/m/sub/f')],
  ['truncate 0', (w) => w.vfs.truncate('/m/sub/f', 0)],
  ['truncate shorter', (w) => w.vfs.truncate('/m/sub/f', 2)],
  ['truncate longer', (w) => w.vfs.truncate('/m/sub/f', 50)],
  ['rename out of the folder', (w) => w.vfs.rename('/m/sub/f', '/m/moved')],
  ['rename into the folder', (w) => w.vfs.rename('/m/g', '/m/sub/g')],
  ['write at an offset', (w) => w.mount.write('/sub/f', new TextEncoder().encode('PWN'), { offset: 2 })],
  ['append', (w) => w.mount.write('/sub/f', new TextEncoder().encode('PWN'), { offset: 6 })],
  ['setMetadata', (w) => w.mount.setMetadata('/sub/f', { mtimeMs: 0, mode: 0o777 })],
  [
    'handle write',
    async (w) => {
      const h = await w.vfs.open('/m/sub/f', 'r+');
      try {
        await h.write('PWNED');
      } finally {
        await h.close();
      }
    },
  ],
];

// Swaps: the folder `sub` for a symlink to the outside folder, or the file `sub/f` for a
// symlink to the outside file. The original is moved aside inside the root.
const SWAPS: readonly [string, (w: World) => void][] = [
  [
    'folder swapped for a symlink out',
    (w) => {
      fs.renameSync(path.join(w.root, 'sub'), path.join(w.root, 'sub.orig'));
      fs.symlinkSync(w.outside, path.join(w.root, 'sub'));
    },
  ],
  [
    'file swapped for a symlink out',
    (w) => {
      fs.renameSync(path.join(w.root, 'sub', 'f'), path.join(w.root, 'f.orig'));
      fs.symlinkSync(path.join(w.outside, 'f'), path.join(w.root, 'sub', 'f'));
    },
  ],
];

describe('LocalMount confinement: a symlink swapped in between the check and the use', () => {
  for (const [swapName, swap] of SWAPS) {
    for (const [opName, op] of RACE_OPS) {
      it(`${opName}: ${swapName} before any of its system calls: nothing outside is touched`, async (t) => {
        // How many calls the operation makes undisturbed.
        const probe = world(t);
        await op(probe);
        const total = probe.ops.calls.length;
        assert.ok(total > 0);
        for (let k = 1; k <= total; k++) {
          const w = world(t);
          const before = deepSnapshot(w.outside);
          w.ops.before = () => {
            if (w.ops.calls.length === k) swap(w);
          };
          let result: unknown;
          try {
            result = await op(w);
          } catch (e) {
            result = e;
          }
          assert.deepEqual(deepSnapshot(w.outside), before, `swap at call ${k} (${w.ops.calls[k - 1]?.name})`);
          assert.deepEqual(w.violations, [], `swap at call ${k}`);
          // A read may see the file inside (it was moved aside inside the root) or fail;
          // it never returns what is outside.
          assert.ok(result !== 'OUTSIDE SECRET', `swap at call ${k}: read the outside file`);
          if (Array.isArray(result)) assert.ok(!result.includes('only-outside'), `swap at call ${k}: listed the outside folder`);
        }
      });
    }
  }
});
