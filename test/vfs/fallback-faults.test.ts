/**
 * The copy-and-delete rename under faults: a mount wrapper fails the Nth call, for every
 * N the rename makes, and the result must be all or nothing: complete success, or the
 * source intact (content and times) with no destination and no temp names left.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { isTempFile, LocalMount, MemoryMount, VirtualFileSystem, type VirtualMount } from '../../src/index.js';
import { tmpDir } from '../helpers/tmp.js';
import { FaultMount, rejection, seedMount, snapshotMount, type Tree } from './kit.js';

const T0 = 1_600_000_000_000;

/** A tree of exactly 50 entries (folders and files, three levels) under `src/`. */
function fifty(): { tree: Tree; mtimes: Record<string, number> } {
  const tree: Record<string, string | null> = { 'src/': null };
  const mtimes: Record<string, number> = { src: T0 };
  let n = 1;
  for (let d = 0; n < 50; d++) {
    const dir = `src/d${d}`;
    tree[`${dir}/`] = null;
    mtimes[dir] = T0 + n * 1000;
    n++;
    for (let f = 0; f < 6 && n < 50; f++, n++) {
      tree[`${dir}/f${f}`] = `content of ${dir}/f${f} `.repeat(f + 1);
      mtimes[`${dir}/f${f}`] = T0 + n * 1000;
    }
    if (n < 50) {
      tree[`${dir}/deep/`] = null;
      mtimes[`${dir}/deep`] = T0 + n * 1000;
      n++;
    }
    if (n < 50) {
      tree[`${dir}/deep/g`] = 'g'.repeat(d);
      mtimes[`${dir}/deep/g`] = T0 + n * 1000;
      n++;
    }
  }
  assert.equal(Object.keys(tree).length, 50);
  return { tree, mtimes };
}

/** Every entry under `base` with kind, content and times of files AND folders. */
async function full(m: VirtualMount, base: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (p: string, sub: string): Promise<void> => {
    const st = await m.stat(p);
    if (st.kind === 'dir') {
      out.push(`${sub} dir ${st.mtimeMs}`);
      for (const n of (await m.list(p)).sort()) await walk(`${p}/${n}`, `${sub}/${n}`);
    } else out.push(`${sub} file ${Buffer.from(await m.read(p)).toString()} ${st.mtimeMs} ${st.mode}`);
  };
  await walk(base, '');
  return out;
}

/** Every file under `base`: [path relative to base, content]. */
async function allFiles(m: VirtualMount, base: string): Promise<[string, string][]> {
  const out: [string, string][] = [];
  const walk = async (p: string, sub: string): Promise<void> => {
    const st = await m.stat(p);
    if (st.kind === 'file') out.push([sub, Buffer.from(await m.read(p)).toString()]);
    else for (const n of await m.list(p)) await walk(p === '/' ? `/${n}` : `${p}/${n}`, `${sub}/${n}`);
  };
  await walk(base, '');
  return out;
}

interface Scenario {
  readonly title: string;
  /** Builds the VFS; returns the mounts to fault and to inspect. */
  setup(): Promise<{ vfs: VirtualFileSystem; fault: FaultMount[]; src: MemoryMount; dst: MemoryMount }>;
  readonly from: string;
  readonly to: string;
  readonly options?: { overwrite?: boolean; allowCrossMount?: boolean };
}

async function seeded(ci = false): Promise<MemoryMount> {
  const m = new MemoryMount({ caseInsensitive: ci });
  const { tree, mtimes } = fifty();
  await seedMount(m, '/', tree, mtimes);
  return m;
}

const SCENARIOS: readonly Scenario[] = [
  {
    title: 'one mount without native rename',
    from: '/m/src',
    to: '/m/dst',
    setup: async () => {
      const m = await seeded();
      const f = new FaultMount(m, ['rename']);
      const vfs = new VirtualFileSystem();
      vfs.mount('/m', f);
      return { vfs, fault: [f], src: m, dst: m };
    },
  },
  {
    title: 'across mounts, onto a mount with native rename (copied to a temp name, then published)',
    from: '/a/src',
    to: '/b/dst',
    options: { allowCrossMount: true },
    setup: async () => {
      const a = await seeded();
      const b = new MemoryMount();
      const fa = new FaultMount(a);
      const fb = new FaultMount(b);
      const vfs = new VirtualFileSystem();
      vfs.mount('/a', fa);
      vfs.mount('/b', fb);
      return { vfs, fault: [fa, fb], src: a, dst: b };
    },
  },
  {
    title: 'across mounts, onto a mount without native rename, replacing an empty folder',
    from: '/a/src',
    to: '/b/dst',
    options: { allowCrossMount: true, overwrite: true },
    setup: async () => {
      const a = await seeded();
      const b = new MemoryMount();
      await b.create('/dst', { dir: true });
      await b.setMetadata('/dst', { mtimeMs: T0 - 5000 });
      const fa = new FaultMount(a);
      const fb = new FaultMount(b, ['rename']);
      const vfs = new VirtualFileSystem();
      vfs.mount('/a', fa);
      vfs.mount('/b', fb);
      return { vfs, fault: [fa, fb], src: a, dst: b };
    },
  },
  {
    title: 'a case-only rename on a case-insensitive mount without native rename',
    from: '/m/src',
    to: '/m/SRC',
    setup: async () => {
      const m = await seeded(true);
      const f = new FaultMount(m, ['rename']);
      const vfs = new VirtualFileSystem();
      vfs.mount('/m', f);
      return { vfs, fault: [f], src: m, dst: m };
    },
  },
];

// One counter over every wrapped mount, so "the Nth call" counts across both mounts.
function shareCounter(mounts: FaultMount[]): { failAt(n: number, thenOn?: boolean): void; total(): number; onCall(fn: (n: number) => void): void } {
  let count = 0;
  let failAt = 0;
  let thenOn = false;
  let hook: ((n: number) => void) | undefined;
  for (const m of mounts) {
    m.before = () => {
      count++;
      hook?.(count);
      if (failAt > 0 && (count === failAt || (thenOn && count > failAt))) {
        const e = new Error(`EIO: injected at call ${count}`) as NodeJS.ErrnoException;
        e.code = 'EIO';
        throw e;
      }
    };
  }
  return {
    failAt: (n, on = false) => {
      failAt = n;
      thenOn = on;
    },
    total: () => count,
    onCall: (fn) => (hook = fn),
  };
}

function hasTemp(lines: readonly string[]): boolean {
  return lines.some((l) => l.split(' ')[0]!.split('/').some((seg) => isTempFile(seg)));
}

describe('copy-and-delete rename under injected faults', () => {
  for (const sc of SCENARIOS) {
    it(`${sc.title}: failing call N, for every N, leaves all or nothing`, async () => {
      // A clean run: how many calls, and what success looks like. Setups are
      // deterministic, so "before" is taken once.
      const clean = await sc.setup();
      const beforeTree = await full(clean.src, sc.from.slice(2));
      const beforeSrc = await snapshotMount(clean.src);
      const beforeDst = await snapshotMount(clean.dst);
      const counter = shareCounter(clean.fault);
      await clean.vfs.rename(sc.from, sc.to, sc.options);
      const total = counter.total();
      assert.ok(total > 100, `calls: ${total}`);
      assert.deepEqual(await full(clean.dst, sc.to.slice(2)), beforeTree);

      for (let n = 1; n <= total + 1; n++) {
        const run = await sc.setup();
        shareCounter(run.fault).failAt(n);
        try {
          await run.vfs.rename(sc.from, sc.to, sc.options);
        } catch (e) {
          const err = e as NodeJS.ErrnoException & { dest?: string };
          assert.equal(err.code, 'EIO', `call ${n}: ${String(e)}`);
          assert.equal(err.path, sc.from);
          assert.equal(err.dest, sc.to);
          // Nothing: the source as it was (content, times of files and folders), the
          // destination side as it was, no temp names.
          for (const m of run.fault) m.before = undefined;
          assert.deepEqual(await full(run.src, sc.from.slice(2)), beforeTree, `call ${n}: source changed`);
          assert.deepEqual(await snapshotMount(run.src), beforeSrc, `call ${n}`);
          if (run.dst !== run.src) assert.deepEqual(await snapshotMount(run.dst), beforeDst, `call ${n}`);
          continue;
        }
        // All: only possible once no call fails.
        assert.equal(n, total + 1, `call ${n} failed but the rename succeeded`);
        assert.deepEqual(await full(run.dst, sc.to.slice(2)), beforeTree);
        assert.ok(!hasTemp(await snapshotMount(run.dst)));
      }
    });

    it(`${sc.title}: a backend that keeps failing loses nothing, and the error carries the rollback's`, async () => {
      const probe = await sc.setup();
      const c = shareCounter(probe.fault);
      await probe.vfs.rename(sc.from, sc.to, sc.options);
      const total = c.total();
      const files = await allFiles(probe.dst, sc.to.slice(2));
      assert.ok(files.length > 30);
      // Sample the calls (every one would be slow and says nothing more).
      for (let n = 5; n <= total; n += 7) {
        const run = await sc.setup();
        shareCounter(run.fault).failAt(n, true);
        const err = await rejection(run.vfs.rename(sc.from, sc.to, sc.options));
        assert.equal(err.code, 'EIO');
        // Look without faults: every file, with its content, is somewhere.
        for (const m of run.fault) m.before = undefined;
        const everywhere = [...(await allFiles(run.src, '/')), ...(run.dst === run.src ? [] : await allFiles(run.dst, '/'))];
        for (const [sub, content] of files) {
          const found = everywhere.some(([p, c]) => p.endsWith(sub) && c === content);
          assert.ok(found, `call ${n}: ${sub} lost`);
        }
      }
    });
  }

  it('a signal that fires midway rolls the rename back (ABORT_ERR); after the commit point it completes', async () => {
    const sc = SCENARIOS[0]!;
    const probe = await sc.setup();
    const c = shareCounter(probe.fault);
    await probe.vfs.rename(sc.from, sc.to);
    const total = c.total();
    let aborted = 0;
    let tried = 0;
    // Every third call (and the last few, around the commit point).
    for (let n = 1; n <= total; n += n > total - 5 ? 1 : 3) {
      tried++;
      const run = await sc.setup();
      const before = await full(run.src, '/src');
      const ac = new AbortController();
      shareCounter(run.fault).onCall((k) => {
        if (k === n) ac.abort(new Error('user stop'));
      });
      try {
        await run.vfs.rename(sc.from, sc.to, { signal: ac.signal });
      } catch (e) {
        assert.equal((e as NodeJS.ErrnoException).code, 'ABORT_ERR', String(e));
        assert.equal(((e as Error).cause as Error).message, 'user stop');
        assert.deepEqual(await full(run.src, '/src'), before, `abort at ${n}`);
        assert.deepEqual(await run.src.list('/'), ['src']);
        aborted++;
        continue;
      }
      // The last calls come after the commit point: the rename completes.
      assert.deepEqual(await run.src.list('/'), ['dst']);
    }
    assert.ok(aborted > tried * 0.8 && aborted < tried, `aborted ${aborted} of ${tried}`);
  });

  it('keeps non-default file and folder modes on a mount with the metadata capability (same mount, and across mounts)', async (t) => {
    const tree: Tree = { 'd/': null, 'd/sub/': null, 'd/sub/f': 'one', 'd/g': 'two' };
    const modes: Record<string, number> = { d: 0o700, 'd/sub': 0o750, 'd/sub/f': 0o600, 'd/g': 0o640 };
    const seed = async (m: VirtualMount): Promise<void> => {
      await seedMount(m, '/', tree);
      for (const [rel, mode] of Object.entries(modes)) await m.setMetadata!(`/${rel}`, { mode });
    };
    const modesAt = async (m: VirtualMount, base: string): Promise<Record<string, number>> => {
      const out: Record<string, number> = {};
      for (const rel of Object.keys(modes)) out[rel] = (await m.stat(`/${base}${rel.slice(1)}`)).mode!;
      return out;
    };
    const localDir = (tc: TestContext): LocalMount => new LocalMount(tmpDir(tc));

    // One MemoryMount without native rename: copy and delete inside the mount.
    const mem = new MemoryMount();
    await seed(mem);
    const one = new VirtualFileSystem();
    one.mount('/m', new FaultMount(mem, ['rename']));
    await one.rename('/m/d', '/m/e');
    assert.deepEqual(await modesAt(mem, 'e'), modes);

    // MemoryMount → LocalMount (staged under a temp name, published by a native rename),
    // and back again (straight into the MemoryMount).
    const src = new MemoryMount();
    await seed(src);
    const local = localDir(t);
    const two = new VirtualFileSystem();
    two.mount('/mem', src);
    two.mount('/disk', local);
    await two.rename('/mem/d', '/disk/e', { allowCrossMount: true });
    assert.deepEqual(await modesAt(local, 'e'), modes);
    for (const [rel, mode] of Object.entries(modes)) assert.equal(fs.statSync(path.join(local.root, 'e' + rel.slice(1))).mode & 0o7777, mode, rel);
    await two.rename('/disk/e', '/mem/back', { allowCrossMount: true });
    assert.deepEqual(await modesAt(src, 'back'), modes);
  });

  it('overwriting a file on a mount without native rename restores the old file on failure', async () => {
    const setup = async (): Promise<{ vfs: VirtualFileSystem; f: FaultMount; m: MemoryMount }> => {
      const m = new MemoryMount();
      await seedMount(m, '/', { a: 'new data', b: 'old data' }, { a: T0, b: T0 + 1000 });
      const f = new FaultMount(m, ['rename']);
      const vfs = new VirtualFileSystem();
      vfs.mount('/m', f);
      return { vfs, f, m };
    };
    const probe = await setup();
    await probe.vfs.rename('/m/a', '/m/b', { overwrite: true });
    const total = probe.f.calls.length;
    assert.deepEqual(await snapshotMount(probe.m), [`b file new data ${T0}`]);
    for (let n = 1; n <= total; n++) {
      const run = await setup();
      const before = await snapshotMount(run.m);
      run.f.failAt = n;
      await rejection(run.vfs.rename('/m/a', '/m/b', { overwrite: true }));
      assert.deepEqual(await snapshotMount(run.m), before, `call ${n}`);
    }
  });
});

describe('vfs.writeFile', () => {
  it('replaces a file atomically: a reader between any two calls sees old or new, and no temp is left', async () => {
    const m = new MemoryMount();
    await seedMount(m, '/', { 'd/': null, 'd/f': 'old content' });
    const f = new FaultMount(m);
    const vfs = new VirtualFileSystem();
    vfs.mount('/m', f);
    const seen = new Set<string>();
    f.before = () => {
      void m.read('/d/f').then((b) => seen.add(Buffer.from(b).toString()));
    };
    await vfs.writeFile('/m/d/f', 'new content that is longer');
    await new Promise((r) => setImmediate(r));
    assert.deepEqual([...seen].filter((s) => s !== 'old content' && s !== 'new content that is longer'), []);
    assert.deepEqual(await m.list('/d'), ['f']);
    assert.ok(f.calls.includes('rename'));
  });

  it('a failure at any call leaves the old content and no temp file', async () => {
    for (let n = 1; n <= 6; n++) {
      const m = new MemoryMount();
      await seedMount(m, '/', { f: 'old' });
      const f = new FaultMount(m);
      const vfs = new VirtualFileSystem();
      vfs.mount('/m', f);
      f.failAt = n;
      try {
        await vfs.writeFile('/m/f', 'new');
        assert.equal(Buffer.from(await m.read('/f')).toString(), 'new');
      } catch (e) {
        assert.equal((e as NodeJS.ErrnoException).code, 'EIO');
        assert.equal((e as NodeJS.ErrnoException).path, '/m/f');
        assert.equal(Buffer.from(await m.read('/f')).toString(), 'old');
      }
      assert.deepEqual(await m.list('/'), ['f'], `call ${n}`);
    }
  });

  it('an aborted signal rejects with ABORT_ERR: before the rename nothing changes and no temp is left; at the rename it is too late', async (t) => {
    const subjects: { name: string; make: () => Promise<{ mount: VirtualMount; names: () => Promise<string[]>; content: () => Promise<string> }> }[] = [
      {
        name: 'MemoryMount',
        make: async () => {
          const m = new MemoryMount();
          await seedMount(m, '/', { f: 'old' });
          return { mount: m, names: async () => (await m.list('/')).sort(), content: async () => Buffer.from(await m.read('/f')).toString() };
        },
      },
      {
        name: 'LocalMount',
        make: async () => {
          const dir = tmpDir(t);
          fs.writeFileSync(path.join(dir, 'f'), 'old');
          return { mount: new LocalMount(dir), names: async () => fs.readdirSync(dir).sort(), content: async () => fs.readFileSync(path.join(dir, 'f'), 'utf8') };
        },
      },
    ];
    for (const sub of subjects) {
      // Already aborted: not one mount call.
      const first = await sub.make();
      const counted = new FaultMount(first.mount);
      const vfs0 = new VirtualFileSystem();
      vfs0.mount('/m', counted);
      const reason = new Error('stop');
      const err0 = await rejection(vfs0.writeFile('/m/f', 'new', { signal: AbortSignal.abort(reason) }));
      assert.equal(err0.code, 'ABORT_ERR', sub.name);
      assert.equal(err0.path, '/m/f');
      assert.equal((err0 as Error).cause, reason);
      assert.deepEqual(counted.calls, [], sub.name);

      // Aborted just before the Nth mount call, for every N.
      const probe = new FaultMount((await sub.make()).mount);
      const probeVfs = new VirtualFileSystem();
      probeVfs.mount('/m', probe);
      await probeVfs.writeFile('/m/f', 'new');
      const calls = [...probe.calls];
      assert.equal(calls.at(-1), 'rename', `${sub.name}: ${calls.join(', ')}`);
      for (let n = 1; n <= calls.length; n++) {
        const run = await sub.make();
        const f = new FaultMount(run.mount);
        const vfs = new VirtualFileSystem();
        vfs.mount('/m', f);
        const ac = new AbortController();
        f.before = (k) => {
          if (k === n) ac.abort(new Error('stop'));
        };
        const where = `${sub.name}, abort at call ${n} (${calls[n - 1]})`;
        if (n === calls.length) {
          // The rename has begun: the write has happened.
          await vfs.writeFile('/m/f', 'new', { signal: ac.signal });
          assert.equal(await run.content(), 'new', where);
        } else {
          const err = await rejection(vfs.writeFile('/m/f', 'new', { signal: ac.signal }));
          assert.equal(err.code, 'ABORT_ERR', `${where}: ${String(err)}`);
          assert.equal(err.path, '/m/f');
          assert.equal(await run.content(), 'old', where);
        }
        assert.deepEqual(await run.names(), ['f'], where);
      }
    }
  });

  it('keeps the replaced file\'s mode, or sets the given one', async () => {
    const m = new MemoryMount();
    await m.create('/f', { dir: false, mode: 0o600 });
    const vfs = new VirtualFileSystem();
    vfs.mount('/', m);
    await vfs.writeFile('/f', 'x');
    assert.equal((await vfs.stat('/f')).mode, 0o600);
    await vfs.writeFile('/f', 'y', { mode: 0o640 });
    assert.equal((await vfs.stat('/f')).mode, 0o640);
  });
});
