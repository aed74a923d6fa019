/**
 * The conformance suite, run over every mount kind behind a VirtualFileSystem and over the
 * real node:fs as the oracle (where the semantics are the same: the oracle fixes the error
 * codes). Rows name what they check; rules that only a VFS has (mounts, open handles,
 * `overwrite: false`, read-only) skip the oracle.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryMount } from '../../src/index.js';
import { outcome, rejection, type Subject, type SubjectFactory, type Tree } from './kit.js';

const T0 = 1_600_000_000_000; // whole seconds: real file systems keep them exactly

/** Rename rules as seed 003 / SPEC §7 order them; a read-only mount answers EROFS from step 3 on. */
const STEP = { source: 1, mounts: 2, readOnly: 3, open: 4, mountPoint: 5, destParent: 6, same: 7, exists: 8, subtree: 9, kinds: 10, done: 11 } as const;

interface RenameRow {
  readonly title: string;
  readonly tree: Tree;
  readonly mtimes?: Readonly<Record<string, number>>;
  readonly from: string;
  readonly to: string;
  readonly overwrite?: boolean;
  /** 'ok' or the code, per subject. */
  readonly expect: string | ((s: Subject) => string);
  /** The rule that decides the outcome (a read-only mount answers EROFS from step 3 on). */
  readonly step: number;
  /** Runs on node:fs too (needs the same semantics: overwrite false with an existing destination does not). */
  readonly oracle: boolean;
  /** Checks after a success. */
  readonly after?: (s: Subject) => Promise<void>;
}

const ROWS: readonly RenameRow[] = [
  {
    title: 'renames a file within its folder, keeping its content and modification time',
    tree: { f: 'hello' },
    mtimes: { f: T0 },
    from: 'f',
    to: 'g',
    expect: 'ok',
    step: STEP.done,
    oracle: true,
    after: async (s) => {
      assert.equal(await s.api.readFile(s.p('g')), 'hello');
      assert.equal((await s.api.stat(s.p('g'))).mtimeMs, T0);
      assert.equal(await outcome(s.api.stat(s.p('f'))), 'ENOENT');
    },
  },
  {
    title: 'renames a file into another folder',
    tree: { f: 'x', 'd/': null },
    from: 'f',
    to: 'd/f2',
    expect: 'ok',
    step: STEP.done,
    oracle: true,
    after: async (s) => {
      assert.deepEqual(await s.api.list(s.p('d')), ['f2']);
      assert.equal(await s.api.readFile(s.p('d/f2')), 'x');
    },
  },
  {
    title: 'renames an empty folder',
    tree: { 'a/': null },
    from: 'a',
    to: 'b',
    expect: 'ok',
    step: STEP.done,
    oracle: true,
    after: async (s) => assert.equal((await s.api.stat(s.p('b'))).kind, 'dir'),
  },
  {
    title: 'renames a folder with contents, keeping every modification time',
    tree: { 'a/': null, 'a/b/': null, 'a/b/c': 'deep', 'a/f': 'top', 'a/e/': null },
    mtimes: { a: T0, 'a/b': T0 + 1000, 'a/b/c': T0 + 2000, 'a/f': T0 + 3000, 'a/e': T0 + 4000 },
    from: 'a',
    to: 'z',
    expect: 'ok',
    step: STEP.done,
    oracle: true,
    after: async (s) => {
      assert.deepEqual(await s.api.list(s.p('z')), ['b', 'e', 'f']);
      assert.equal(await s.api.readFile(s.p('z/b/c')), 'deep');
      assert.equal(await s.api.readFile(s.p('z/f')), 'top');
      const times = await Promise.all(['z', 'z/b', 'z/b/c', 'z/f', 'z/e'].map(async (p) => (await s.api.stat(s.p(p))).mtimeMs));
      assert.deepEqual(times, [T0, T0 + 1000, T0 + 2000, T0 + 3000, T0 + 4000]);
      assert.equal(await outcome(s.api.stat(s.p('a'))), 'ENOENT');
    },
  },
  { title: 'a missing source fails with ENOENT', tree: { 'd/': null }, from: 'nope', to: 'd/x', expect: 'ENOENT', step: STEP.source, oracle: true },
  { title: 'a source path through a file fails with ENOTDIR', tree: { f: 'x' }, from: 'f/x', to: 'y', expect: 'ENOTDIR', step: STEP.source, oracle: true },
  { title: "a missing destination folder fails with ENOENT", tree: { f: 'x' }, from: 'f', to: 'nodir/f', expect: 'ENOENT', step: STEP.destParent, oracle: true },
  { title: 'a destination folder that is a file fails with ENOTDIR', tree: { f: 'x', g: 'y' }, from: 'f', to: 'g/x', expect: 'ENOTDIR', step: STEP.destParent, oracle: true },
  { title: 'an existing destination fails with EEXIST (overwrite is off by default)', tree: { f: 'x', g: 'y' }, from: 'f', to: 'g', expect: 'EEXIST', step: STEP.exists, oracle: false },
  {
    title: 'overwrite replaces an existing file',
    tree: { f: 'new', g: 'old' },
    from: 'f',
    to: 'g',
    overwrite: true,
    expect: 'ok',
    step: STEP.done,
    oracle: true,
    after: async (s) => {
      assert.equal(await s.api.readFile(s.p('g')), 'new');
      assert.deepEqual(await s.api.list(s.root), ['g']);
    },
  },
  { title: 'a folder into its own subtree fails with EINVAL', tree: { 'a/': null, 'a/b/': null }, from: 'a', to: 'a/b/c', expect: 'EINVAL', step: STEP.subtree, oracle: true },
  { title: 'a folder into itself fails with EINVAL', tree: { 'a/': null }, from: 'a', to: 'a/a', expect: 'EINVAL', step: STEP.subtree, oracle: true },
  { title: 'a file onto a folder fails with EEXIST without overwrite', tree: { f: 'x', 'd/': null }, from: 'f', to: 'd', expect: 'EEXIST', step: STEP.exists, oracle: false },
  { title: 'a file onto a folder fails with EISDIR', tree: { f: 'x', 'd/': null }, from: 'f', to: 'd', overwrite: true, expect: 'EISDIR', step: STEP.kinds, oracle: true },
  { title: 'a folder onto a file fails with ENOTDIR', tree: { 'd/': null, f: 'x' }, from: 'd', to: 'f', overwrite: true, expect: 'ENOTDIR', step: STEP.kinds, oracle: true },
  {
    title: 'a folder onto a non-empty folder fails with ENOTEMPTY',
    tree: { 'a/': null, 'b/': null, 'b/x': '1' },
    from: 'a',
    to: 'b',
    overwrite: true,
    expect: 'ENOTEMPTY',
    step: STEP.kinds,
    oracle: true,
  },
  {
    title: 'a folder replaces an empty folder with overwrite',
    tree: { 'a/': null, 'a/x': '1', 'b/': null },
    from: 'a',
    to: 'b',
    overwrite: true,
    expect: 'ok',
    step: STEP.done,
    oracle: true,
    after: async (s) => {
      assert.deepEqual(await s.api.list(s.root), ['b']);
      assert.equal(await s.api.readFile(s.p('b/x')), '1');
    },
  },
  {
    title: 'renaming a file to its own path is a no-op',
    tree: { f: 'same' },
    from: 'f',
    to: 'f',
    expect: 'ok',
    step: STEP.same,
    oracle: true,
    after: async (s) => assert.equal(await s.api.readFile(s.p('f')), 'same'),
  },
  {
    title: 'renaming a folder to its own path (spelled with ./ and ..) is a no-op',
    tree: { 'a/': null, 'a/x': '1' },
    from: 'a',
    to: './a/../a',
    expect: 'ok',
    step: STEP.same,
    oracle: true,
    after: async (s) => assert.equal(await s.api.readFile(s.p('a/x')), '1'),
  },
  {
    title: 'a case-only rename works (on a case-insensitive mount it respells the same entry)',
    tree: { 'readme.md': 'doc' },
    from: 'readme.md',
    to: 'README.md',
    expect: 'ok',
    step: STEP.done,
    oracle: true,
    after: async (s) => {
      assert.deepEqual(await s.api.list(s.root), ['README.md']);
      assert.equal(await s.api.readFile(s.p('README.md')), 'doc');
      // The old spelling names the same entry only where case does not matter.
      assert.equal(await outcome(s.api.stat(s.p('readme.md'))), s.caseInsensitive ? 'ok' : 'ENOENT');
    },
  },
  {
    title: 'a case-only rename of a folder with contents works',
    tree: { 'docs/': null, 'docs/a': '1', 'docs/sub/': null, 'docs/sub/b': '2' },
    from: 'docs',
    to: 'Docs',
    expect: 'ok',
    step: STEP.done,
    oracle: true,
    after: async (s) => {
      assert.deepEqual(await s.api.list(s.root), ['Docs']);
      assert.equal(await s.api.readFile(s.p('Docs/sub/b')), '2');
    },
  },
  {
    title: 'another spelling of an existing name is that name where case does not matter (EEXIST)',
    tree: { a: '1', b: '2' },
    from: 'b',
    to: 'A',
    expect: (s) => (s.caseInsensitive ? 'EEXIST' : 'ok'),
    step: STEP.exists,
    oracle: true,
  },
];

function expected(row: RenameRow, s: Subject): string {
  const e = typeof row.expect === 'function' ? row.expect(s) : row.expect;
  return s.readOnly && row.step >= STEP.readOnly ? 'EROFS' : e;
}

/** Registers the whole suite for one subject (conformance.test.ts: every local mount; pg-conformance.test.ts: PostgresMount). */
export function conformanceSuite(factory: SubjectFactory): void {
  describe(`VFS conformance: ${factory.name}`, () => {
    describe('rename rules', () => {
      // node:fs has no overwrite: false: those rows are not registered for the oracle.
      for (const row of ROWS.filter((r) => r.oracle || !factory.oracle)) {
        it(row.title, async (t) => {
          const s = factory.make(t);
          await s.seed(row.tree, row.mtimes);
          const before = await s.snapshot();
          const from = s.p(row.from);
          const to = s.oracle ? s.p(row.to) : s.root + '/' + row.to;
          const want = expected(row, s);
          const p = s.api.rename(from, to, row.overwrite === undefined ? undefined : { overwrite: row.overwrite });
          if (want === 'ok') {
            await p;
            await row.after?.(s);
            return;
          }
          const err = await rejection(p);
          assert.equal(err.code, want, `${row.title}: ${String(err)}`);
          // The caller's own paths, and nothing changed.
          assert.equal(err.path, from);
          assert.equal(err.dest, to);
          assert.equal(err.syscall, 'rename');
          assert.deepEqual(await s.snapshot(), before);
        });
      }
    });

    // Rules only a VFS has, and VFS handles: not registered for the node:fs oracle.
    if (!factory.oracle) describe('rules only a VFS has', () => {
      const vfsOnly = (t: import('node:test').TestContext): Subject | undefined => factory.make(t);

      it('a rename to another mount fails with EXDEV (before the read-only rule)', async (t) => {
        const s = vfsOnly(t);
        if (!s) return;
        s.vfs!.mount('/other', new MemoryMount());
        await s.seed({ f: 'x' });
        const err = await rejection(s.vfs!.rename(s.p('f'), '/other/f'));
        assert.equal(err.code, 'EXDEV');
        assert.equal(err.path, s.p('f'));
        assert.equal(err.dest, '/other/f');
        assert.deepEqual(await s.vfs!.list('/other'), []);
      });

      it('allowCrossMount copies then deletes, keeping modification times (or EROFS when read-only)', async (t) => {
        const s = vfsOnly(t);
        if (!s) return;
        const other = new MemoryMount();
        s.vfs!.mount('/other', other);
        await s.seed({ 'a/': null, 'a/f': 'one', 'a/s/': null, 'a/s/g': 'two' }, { a: T0, 'a/f': T0 + 1000, 'a/s': T0 + 2000, 'a/s/g': T0 + 3000 });
        const p = s.vfs!.rename(s.p('a'), '/other/a', { allowCrossMount: true });
        if (s.readOnly) {
          assert.equal((await rejection(p)).code, 'EROFS');
          return;
        }
        await p;
        assert.equal(await outcome(s.vfs!.stat(s.p('a'))), 'ENOENT');
        assert.equal(await s.vfs!.readFile('/other/a/s/g', { encoding: 'utf8' }), 'two');
        const times = await Promise.all(['/other/a', '/other/a/f', '/other/a/s', '/other/a/s/g'].map(async (x) => (await s.vfs!.stat(x)).mtimeMs));
        assert.deepEqual(times, [T0, T0 + 1000, T0 + 2000, T0 + 3000]);
        // And back again, onto this mount.
        await s.vfs!.rename('/other/a', s.p('back'), { allowCrossMount: true });
        assert.equal(await s.vfs!.readFile(s.p('back/f'), { encoding: 'utf8' }), 'one');
        assert.equal((await s.vfs!.stat(s.p('back/s/g'))).mtimeMs, T0 + 3000);
        assert.deepEqual(await s.vfs!.list('/other'), []);
      });

      it('renaming an open file fails with EBUSY; once closed the rename succeeds', async (t) => {
        const s = vfsOnly(t);
        if (!s) return;
        await s.seed({ f: 'data' });
        const h = await s.vfs!.open(s.p('f'), 'r');
        const err = await rejection(s.vfs!.rename(s.p('f'), s.p('g')));
        assert.equal(err.code, s.readOnly ? 'EROFS' : 'EBUSY');
        assert.equal(err.path, s.p('f'));
        assert.equal(err.dest, s.p('g'));
        assert.equal(Buffer.from(await h.read()).toString(), 'data');
        await h.close();
        await h.close(); // safe twice
        if (s.readOnly) return;
        await s.vfs!.rename(s.p('f'), s.p('g'));
        assert.equal(await s.vfs!.readFile(s.p('g'), { encoding: 'utf8' }), 'data');
      });

      it('renaming onto an open file fails with EBUSY (rule 10, after EEXIST); once closed it is replaced', async (t) => {
        const s = vfsOnly(t);
        if (!s) return;
        await s.seed({ f: 'new', g: 'old' });
        const before = await s.snapshot();
        const h = await s.vfs!.open(s.p('g'), 'r');
        // Without overwrite the existing destination decides first (rule 8).
        assert.equal((await rejection(s.vfs!.rename(s.p('f'), s.p('g')))).code, s.readOnly ? 'EROFS' : 'EEXIST');
        const err = await rejection(s.vfs!.rename(s.p('f'), s.p('g'), { overwrite: true }));
        assert.equal(err.code, s.readOnly ? 'EROFS' : 'EBUSY');
        assert.equal(err.path, s.p('f'));
        assert.equal(err.dest, s.p('g'));
        assert.deepEqual(await s.snapshot(), before);
        assert.equal(Buffer.from(await h.read()).toString(), 'old');
        await h.close();
        if (s.readOnly) return;
        await s.vfs!.rename(s.p('f'), s.p('g'), { overwrite: true });
        assert.equal(await s.vfs!.readFile(s.p('g'), { encoding: 'utf8' }), 'new');
      });

      it('renaming a folder that holds an open file fails with EBUSY (await using closes it)', async (t) => {
        const s = vfsOnly(t);
        if (!s) return;
        await s.seed({ 'd/': null, 'd/sub/': null, 'd/sub/f': 'x' });
        {
          await using h = await s.vfs!.open(s.p('d/sub/f'));
          assert.equal((await rejection(s.vfs!.rename(s.p('d'), s.p('e')))).code, s.readOnly ? 'EROFS' : 'EBUSY');
          assert.equal((await rejection(s.vfs!.remove(s.p('d/sub/f')))).code, s.readOnly ? 'EROFS' : 'EBUSY');
          assert.equal(h.closed, false);
        }
        if (!s.readOnly) await s.vfs!.rename(s.p('d'), s.p('e'));
      });

      it('renaming a mount point, or a folder holding one, fails with EBUSY', async (t) => {
        const s = vfsOnly(t);
        if (!s) return;
        await s.seed({ 'a/': null, f: 'x' });
        s.vfs!.mount(s.p('a/inner'), new MemoryMount());
        const ro = (code: string): string => (s.readOnly ? 'EROFS' : code);
        assert.equal((await rejection(s.vfs!.rename(s.root, '/elsewhere'))).code, 'EXDEV'); // no mount holds /elsewhere
        assert.equal((await rejection(s.vfs!.rename(s.p('a'), s.p('b')))).code, ro('EBUSY'));
        assert.equal((await rejection(s.vfs!.rename(s.p('a/inner'), s.p('a/other'), { allowCrossMount: true }))).code, ro('EBUSY'));
        // Onto a mount point: another mount (EXDEV) first; allowed across, the mount point is busy.
        assert.equal((await rejection(s.vfs!.rename(s.p('f'), s.p('a/inner')))).code, 'EXDEV');
        assert.equal((await rejection(s.vfs!.rename(s.p('f'), s.p('a/inner'), { allowCrossMount: true }))).code, ro('EBUSY'));
        s.vfs!.unmount(s.p('a/inner'));
        if (!s.readOnly) await s.vfs!.rename(s.p('a'), s.p('b'));
      });

      it('a rename already aborted rejects with ABORT_ERR and changes nothing', async (t) => {
        const s = vfsOnly(t);
        if (!s) return;
        await s.seed({ f: 'x' });
        const before = await s.snapshot();
        const err = await rejection(s.vfs!.rename(s.p('f'), s.p('g'), { signal: AbortSignal.abort(new Error('stop')) }));
        assert.equal(err.code, 'ABORT_ERR');
        assert.deepEqual(await s.snapshot(), before);
      });

      it('bad input fails with EINVAL before anything is touched', async (t) => {
        const s = vfsOnly(t);
        if (!s) return;
        await s.seed({ f: 'x' });
        for (const [a, b, o] of [
          ['relative', s.p('g'), undefined],
          [s.p('f'), '', undefined],
          [s.p('f'), s.p('g\0'), undefined],
          [s.p('f'), s.p('g'), 'overwrite'],
          [s.p('f'), s.p('g'), { overwrite: 'yes' }],
          [s.p('f'), s.p('g'), { signal: 'no' }],
        ] as const) {
          assert.equal((await rejection(s.vfs!.rename(a, b, o as never))).code, 'EINVAL', `${a} -> ${b}`);
        }
        assert.equal(await s.vfs!.readFile(s.p('f'), { encoding: 'utf8' }), 'x');
      });
    });

    describe('mount operations', () => {
      const ro = (s: Subject, code: string): string => (s.readOnly ? 'EROFS' : code);

      it('stat and list report kinds, sizes and sorted names', async (t) => {
        const s = factory.make(t);
        await s.seed({ b: '12345', 'a/': null, 'a/x': '' });
        assert.deepEqual(await s.api.list(s.root), ['a', 'b']);
        assert.equal((await s.api.stat(s.p('a'))).kind, 'dir');
        const st = await s.api.stat(s.p('b'));
        assert.equal(st.kind, 'file');
        assert.equal(st.size, 5);
        assert.equal(await outcome(s.api.stat(s.p('nope'))), 'ENOENT');
        assert.equal(await outcome(s.api.stat(s.p('b/x'))), 'ENOTDIR');
        assert.equal(await outcome(s.api.list(s.p('b'))), 'ENOTDIR');
        assert.equal(await outcome(s.api.list(s.p('nope'))), 'ENOENT');
      });

      it('readFile fails with ENOENT for a missing file and EISDIR for a folder', async (t) => {
        const s = factory.make(t);
        await s.seed({ 'd/': null });
        assert.equal(await outcome(s.api.readFile(s.p('nope'))), 'ENOENT');
        assert.equal(await outcome(s.api.readFile(s.p('d'))), 'EISDIR');
      });

      it('mkdir fails with EEXIST, ENOENT (no parent) and ENOTDIR (a file in the way)', async (t) => {
        const s = factory.make(t);
        await s.seed({ 'd/': null, f: 'x' });
        assert.equal(await outcome(s.api.mkdir(s.p('d2'))), ro(s, 'ok'));
        assert.equal(await outcome(s.api.mkdir(s.p('no/d'))), ro(s, 'ENOENT'));
        assert.equal(await outcome(s.api.mkdir(s.p('f/d'))), ro(s, 'ENOTDIR'));
        if (!s.readOnly) assert.equal(await outcome(s.api.mkdir(s.p('d'))), 'EEXIST');
      });

      it('writeFile creates and replaces; fails with ENOENT (no folder) and EISDIR (a folder)', async (t) => {
        const s = factory.make(t);
        await s.seed({ 'd/': null, f: 'old' });
        assert.equal(await outcome(s.api.writeFile(s.p('f'), 'new content')), ro(s, 'ok'));
        assert.equal(await outcome(s.api.writeFile(s.p('g'), '')), ro(s, 'ok'));
        assert.equal(await outcome(s.api.writeFile(s.p('no/f'), 'x')), ro(s, 'ENOENT'));
        assert.equal(await outcome(s.api.writeFile(s.p('d'), 'x')), ro(s, 'EISDIR'));
        assert.equal(await s.api.readFile(s.p('f')), s.readOnly ? 'old' : 'new content');
        if (!s.readOnly) assert.deepEqual(await s.api.list(s.root), ['d', 'f', 'g']); // no temp files left
      });

      it('remove takes files and empty folders; ENOTEMPTY and ENOENT otherwise', async (t) => {
        const s = factory.make(t);
        await s.seed({ 'e/': null, 'full/': null, 'full/x': '1', f: 'x' });
        assert.equal(await outcome(s.api.remove(s.p('full'))), ro(s, 'ENOTEMPTY'));
        assert.equal(await outcome(s.api.remove(s.p('nope'))), ro(s, 'ENOENT'));
        assert.equal(await outcome(s.api.remove(s.p('e'))), ro(s, 'ok'));
        assert.equal(await outcome(s.api.remove(s.p('f'))), ro(s, 'ok'));
        assert.deepEqual(await s.api.list(s.root), s.readOnly ? ['e', 'f', 'full'] : ['full']);
      });

      it('truncate shortens, lengthens with zero bytes, and fails with EISDIR on a folder', async (t) => {
        const s = factory.make(t);
        await s.seed({ 'd/': null, f: 'abcdef' });
        assert.equal(await outcome(s.api.truncate(s.p('d'), 0)), ro(s, 'EISDIR'));
        assert.equal(await outcome(s.api.truncate(s.p('nope'), 0)), ro(s, 'ENOENT'));
        if (s.readOnly) return;
        await s.api.truncate(s.p('f'), 3);
        assert.equal(await s.api.readFile(s.p('f')), 'abc');
        await s.api.truncate(s.p('f'), 5);
        assert.equal(await s.api.readFile(s.p('f')), 'abc\0\0');
        await s.api.truncate(s.p('f'), 0);
        assert.equal(await s.api.readFile(s.p('f')), '');
      });
    });

    // SPEC §7: VStat.version and conditional writes. Not for the oracle (node:fs has neither).
    if (!factory.oracle) describe('versions and conditional writes', () => {
      const ro = (s: Subject, code: string): string => (s.readOnly ? 'EROFS' : !s.conditional ? 'ENOTSUP' : code);
      // 'ok', or the error's code and reason.
      const reasoned = (p: Promise<unknown>): Promise<string> =>
        p.then(
          () => 'ok',
          (e: { code?: unknown; reason?: unknown }) => `${String(e.code)}/${String(e.reason)}`,
        );
      const version = async (s: Subject, rel: string): Promise<string> => {
        const v = (await s.vfs!.stat(s.p(rel))).version;
        assert.equal(typeof v, 'string', `${rel}: stat reports a version`);
        assert.ok(v!.length > 0);
        return v!;
      };

      it('stat reports a version that stays while nothing changes and changes with every change of the entry', async (t) => {
        const s = factory.make(t);
        await s.seed({ f: 'one', g: 'other', 'd/': null });
        const vfs = s.vfs!;
        const v0 = await version(s, 'f');
        assert.equal(await version(s, 'f'), v0, 'the same version while nothing changes');
        await version(s, 'd');
        if (s.readOnly) return;
        const seen = [v0];
        const next = async (what: string): Promise<void> => {
          const v = await version(s, 'f');
          assert.notEqual(v, seen[seen.length - 1], `${what} changes the version`);
          seen.push(v);
        };
        await vfs.writeFile(s.p('f'), 'two');
        await next('a rewrite');
        // The same bytes again, at once: the same size within one timestamp tick.
        await vfs.writeFile(s.p('f'), 'two');
        await next('a rewrite with the same size and content');
        await vfs.truncate(s.p('f'), 1);
        await next('truncate');
        {
          await using h = await vfs.open(s.p('f'), 'a');
          await h.write('xyz');
        }
        await next('an append through a handle');
        await vfs.rename(s.p('g'), s.p('f'), { overwrite: true });
        await next('another entry renamed onto the name');
        await vfs.remove(s.p('f'));
        await vfs.writeFile(s.p('f'), 'one');
        await next('removed and made again');
      });

      it('ifMatch writes when the version is current; a stale one fails with ECANCELED (reason precondition) and changes nothing', async (t) => {
        const s = factory.make(t);
        await s.seed({ f: 'a' });
        const vfs = s.vfs!;
        const v = await version(s, 'f');
        assert.equal(await outcome(vfs.writeFile(s.p('f'), 'b', { ifMatch: v })), ro(s, 'ok'));
        if (s.readOnly || !s.conditional) {
          assert.equal(await s.api.readFile(s.p('f')), 'a');
          return;
        }
        assert.equal(await s.api.readFile(s.p('f')), 'b');
        const v2 = await version(s, 'f');
        assert.notEqual(v2, v);
        const before = await s.snapshot();
        const err = await rejection(vfs.writeFile(s.p('f'), 'c', { ifMatch: v }));
        assert.equal(err.code, 'ECANCELED');
        assert.equal((err as { reason?: string }).reason, 'precondition');
        assert.equal(err.path, s.p('f'));
        assert.equal((err as { operation?: string }).operation, 'vfs.writeFile');
        assert.deepEqual(await s.snapshot(), before, 'nothing changed, no temp file left');
        assert.equal(await version(s, 'f'), v2);
        // The current version still works.
        await vfs.writeFile(s.p('f'), 'c', { ifMatch: v2 });
        assert.equal(await s.api.readFile(s.p('f')), 'c');
      });

      it('ifMatch on a missing file fails with ENOENT (reason precondition) and creates nothing', async (t) => {
        const s = factory.make(t);
        await s.seed({ f: 'a' });
        const v = await version(s, 'f');
        if (!s.readOnly) await s.vfs!.remove(s.p('f'));
        const before = await s.snapshot();
        const err = await rejection(s.vfs!.writeFile(s.p(s.readOnly ? 'g' : 'f'), 'x', { ifMatch: v }));
        assert.equal(err.code, ro(s, 'ENOENT'));
        if (!s.readOnly && s.conditional) assert.equal((err as { reason?: string }).reason, 'precondition');
        assert.deepEqual(await s.snapshot(), before);
      });

      it("ifNoneMatch: '*' creates a missing file and fails with EEXIST (reason precondition) on an existing one, changing nothing", async (t) => {
        const s = factory.make(t);
        await s.seed({ f: 'keep' });
        const vfs = s.vfs!;
        assert.equal(await outcome(vfs.writeFile(s.p('new'), 'fresh', { ifNoneMatch: '*' })), ro(s, 'ok'));
        if (!s.readOnly && s.conditional) assert.equal(await s.api.readFile(s.p('new')), 'fresh');
        const before = await s.snapshot();
        const err = await rejection(vfs.writeFile(s.p('f'), 'clobber', { ifNoneMatch: '*' }));
        assert.equal(err.code, ro(s, 'EEXIST'));
        if (!s.readOnly && s.conditional) assert.equal((err as { reason?: string }).reason, 'precondition');
        assert.deepEqual(await s.snapshot(), before);
      });

      it('of 6 concurrent ifMatch writes with one version exactly one wins; the others fail with ECANCELED', async (t) => {
        const s = factory.make(t);
        await s.seed({ f: 'start' });
        if (s.readOnly || !s.conditional) return;
        const v = await version(s, 'f');
        // Six calls at once first, so a pooled mount has its connections open and the six
        // writes below really overlap (their own looks at the version all pass).
        await Promise.all(Array.from({ length: 6 }, () => s.vfs!.stat(s.p('f'))));
        const results = await Promise.all(Array.from({ length: 6 }, (_, i) => reasoned(s.vfs!.writeFile(s.p('f'), `w${i}`, { ifMatch: v }))));
        assert.equal(results.filter((r) => r === 'ok').length, 1, results.join(' '));
        assert.equal(results.filter((r) => r === 'ECANCELED/precondition').length, 5, results.join(' '));
        assert.equal(await s.api.readFile(s.p('f')), `w${results.indexOf('ok')}`);
        assert.deepEqual(await s.api.list(s.root), ['f'], 'no temp files left');
      });

      it("of 6 concurrent ifNoneMatch: '*' creations exactly one wins; the others fail with EEXIST", async (t) => {
        const s = factory.make(t);
        await s.seed({});
        if (s.readOnly || !s.conditional) return;
        await Promise.all(Array.from({ length: 6 }, () => s.vfs!.list(s.root)));
        const results = await Promise.all(Array.from({ length: 6 }, (_, i) => reasoned(s.vfs!.writeFile(s.p('f'), `w${i}`, { ifNoneMatch: '*' }))));
        assert.equal(results.filter((r) => r === 'ok').length, 1, results.join(' '));
        assert.equal(results.filter((r) => r === 'EEXIST/precondition').length, 5, results.join(' '));
        assert.equal(await s.api.readFile(s.p('f')), `w${results.indexOf('ok')}`);
        assert.deepEqual(await s.api.list(s.root), ['f'], 'no temp files left');
      });

      it('bad ifMatch / ifNoneMatch values fail with EINVAL before anything is touched', async (t) => {
        const s = factory.make(t);
        await s.seed({ f: 'a' });
        const v = await version(s, 'f');
        const before = await s.snapshot();
        for (const o of [{ ifMatch: '' }, { ifMatch: 42 }, { ifMatch: 'a\0b' }, { ifMatch: 'x'.repeat(1025) }, { ifNoneMatch: 'x' }, { ifNoneMatch: true }, { ifMatch: v, ifNoneMatch: '*' }]) {
          const err = await rejection(s.vfs!.writeFile(s.p('f'), 'b', o as never));
          assert.equal(err.code, 'EINVAL', JSON.stringify(o));
          assert.equal(err.path, s.p('f'));
        }
        assert.deepEqual(await s.snapshot(), before);
      });
    });

    if (!factory.oracle) describe('open handles', () => {
      it('discard(): a staged handle publishes nothing (a file it would create is not made); elsewhere the writes are already in the file', async (t) => {
        const s = factory.make(t);
        await s.seed({ existing: 'keep' });
        if (s.readOnly) return;
        const vfs = s.vfs!;
        const rw = await vfs.open(s.p('existing'), 'r+');
        await rw.write('X');
        await rw.discard();
        assert.equal((await rejection(rw.write('y'))).code, 'EBADF', 'a discarded handle is closed');
        await rw.discard();
        await rw.close();
        const fresh = await vfs.open(s.p('fresh'), 'w');
        await fresh.write('new');
        await fresh.discard();
        assert.equal(await vfs.readFile(s.p('existing'), { encoding: 'utf8' }), s.staged ? 'keep' : 'Xeep');
        if (s.staged) assert.equal((await rejection(vfs.stat(s.p('fresh')))).code, 'ENOENT', 'the file the open would have made is not there');
        else assert.equal(await vfs.readFile(s.p('fresh'), { encoding: 'utf8' }), 'new');
        // Not vacuous: after discard the file can be renamed again (the VFS forgot the handle).
        await vfs.rename(s.p('existing'), s.p('moved'));
      });

      it('write, read back and append through handles (EBADF once closed)', async (t) => {
        const s = factory.make(t);
        await s.seed({ existing: 'keep' });
        const vfs = s.vfs!;
        if (s.readOnly) {
          assert.equal((await rejection(vfs.open(s.p('new'), 'w'))).code, 'EROFS');
          assert.equal((await rejection(vfs.open(s.p('existing'), 'r+'))).code, 'EROFS');
          return;
        }
        const w = await vfs.open(s.p('new'), 'wx');
        assert.equal(await w.write('hello '), 6);
        await w.write(new TextEncoder().encode('world'));
        await w.close();
        assert.equal((await rejection(w.write('x'))).code, 'EBADF');
        assert.equal((await rejection(vfs.open(s.p('new'), 'wx'))).code, 'EEXIST');
        const a = await vfs.open(s.p('new'), 'a');
        await a.write('!');
        await a.close();
        const r = await vfs.open(s.p('new'));
        assert.equal(Buffer.from(await r.read(5)).toString(), 'hello');
        assert.equal(Buffer.from(await r.read()).toString(), ' world!');
        assert.equal((await r.read()).length, 0);
        assert.equal((await rejection(r.write('x'))).code, 'EBADF');
        await r.close();
        const rw = await vfs.open(s.p('existing'), 'r+');
        await rw.write('K');
        await rw.close();
        assert.equal(await vfs.readFile(s.p('existing'), { encoding: 'utf8' }), 'Keep');
        const tr = await vfs.open(s.p('existing'), 'w');
        await tr.close();
        assert.equal((await vfs.stat(s.p('existing'))).size, 0);
        assert.equal((await rejection(vfs.open(s.p('missing')))).code, 'ENOENT');
        assert.equal((await rejection(vfs.open(s.root))).code, 'EISDIR');
        assert.equal((await rejection(vfs.open(s.p('x'), 'rw' as never))).code, 'EINVAL');
      });
    });
  });
}
