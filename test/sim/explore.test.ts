/**
 * Every atomfs operation through the crash explorer, with its invariant: zero violations.
 * And deliberately broken variants, which the explorer must catch with a readable trace.
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, describe, it } from 'node:test';
import { writeFileSync } from 'node:fs';
import {
  createStagingArea,
  createWriteStream,
  LocalMount,
  lock,
  move,
  openAtomic,
  rename,
  VirtualFileSystem,
  writeFile,
  writeFiles,
} from '../../src/index.js';
import { O, type FsOps } from '../../src/internal/fs-ops.js';
import { exploreCrashes, type ExploreResult, SimulatedDisk } from '../../src/testing/index.js';

const OLD = 'old content';
const NEW = 'new content, longer than the old';

const str = (d: SimulatedDisk, p: string): string | undefined => d.readFile(p)?.toString();

function expectClean(r: ExploreResult, name: string): void {
  assert.equal(r.operationError, undefined, `${name}: the operation itself failed: ${String(r.operationError)}`);
  assert.deepEqual(r.violations.map((v) => v.report), [], `${name}: violations`);
  assert.ok(r.states > r.crashPoints, `${name}: explored ${r.states} states`);
}

/** The check of an atomic replace: old or new, complete; after resolve, new. */
const oldOrNew = (p: string, oldValue: string | undefined, newValue: string) => (d: SimulatedDisk, i: { completed: boolean }) => {
  const s = str(d, p);
  if (i.completed) return s === newValue || `after resolve ${p} is ${JSON.stringify(s)}`;
  return s === oldValue || s === newValue || `${p} is ${JSON.stringify(s)}`;
};

const withOld = (d: SimulatedDisk): void => {
  d.mkdirp('/d');
  d.writeFile('/d/f', OLD);
};

export const stats: { name: string; points: number; states: number; ms: number }[] = [];

async function explore(name: string, ...args: Parameters<typeof exploreCrashes>): Promise<ExploreResult> {
  const r = await exploreCrashes(...args);
  stats.push({ name, points: r.crashPoints, states: r.states, ms: r.durationMs });
  return r;
}

describe('crash exploration of every atomfs operation', () => {
  // `npm run bench:explorer` reads these figures (states per operation, time).
  after(() => {
    const out = process.env['ATOMFS_EXPLORER_STATS'];
    if (out) writeFileSync(out, JSON.stringify(stats));
  });

  it('writeFile over an existing file: old or new, never partial; new once resolved', async () => {
    expectClean(await explore('writeFile', (fs) => writeFile('/d/f', NEW, { fs }), oldOrNew('/d/f', OLD, NEW), { setup: withOld }), 'writeFile');
  });

  it('writeFile of a new file in new folders (mkdirp): absent or complete; present once resolved', async () => {
    const r = await explore('writeFile (mkdirp)', (fs) => writeFile('/d/x/y/f', NEW, { fs }), oldOrNew('/d/x/y/f', undefined, NEW), { setup: withOld });
    expectClean(r, 'writeFile mkdirp');
  });

  it('writeFileSync: the same guarantees', async () => {
    const { writeFileSync } = await import('../../src/index.js');
    expectClean(await explore('writeFileSync', async (fs) => writeFileSync('/d/f', NEW, { fs }), oldOrNew('/d/f', OLD, NEW), { setup: withOld }), 'writeFileSync');
  });

  it('writeFile with overwrite: false onto a new name: absent or complete', async () => {
    expectClean(await explore('writeFile (no overwrite)', (fs) => writeFile('/d/g', NEW, { fs, overwrite: false }), oldOrNew('/d/g', undefined, NEW), { setup: withOld }), 'no-overwrite');
  });

  it('writeFiles: each file old or new; all new once resolved', async () => {
    const files = ['/d/f', '/d/g', '/e/h'];
    const r = await explore(
      'writeFiles (3 files, 2 folders)',
      (fs) => writeFiles(files.map((path) => ({ path, data: NEW + path })), { fs }),
      (d, i) => {
        for (const p of files) {
          const v = oldOrNew(p, p === '/e/h' ? undefined : OLD, NEW + p)(d, i);
          if (v !== true) return v;
        }
        return true;
      },
      {
        setup: (d) => {
          d.mkdirp('/d');
          d.mkdirp('/e');
          d.writeFile('/d/f', OLD);
          d.writeFile('/d/g', OLD);
        },
      },
    );
    expectClean(r, 'writeFiles');
  });

  it('the streaming writers (openAtomic, createWriteStream): old or new; new once resolved', async () => {
    const a = await explore(
      'openAtomic',
      async (fs) => {
        const f = await openAtomic('/d/f', { fs });
        await f.write(NEW.slice(0, 5));
        await f.write(NEW.slice(5));
        await f.commit();
      },
      oldOrNew('/d/f', OLD, NEW),
      { setup: withOld },
    );
    expectClean(a, 'openAtomic');
    const b = await explore('createWriteStream', (fs) => pipeline(Readable.from([NEW.slice(0, 7), NEW.slice(7)]), createWriteStream('/d/f', { fs })), oldOrNew('/d/f', OLD, NEW), { setup: withOld });
    expectClean(b, 'createWriteStream');
  });

  /** Never lost: the content is complete at the source or the destination (or both). */
  const neverLost = (src: string, dest: string, value: string, destOld?: string) => (d: SimulatedDisk, i: { completed: boolean }) => {
    const s = str(d, src);
    const t = str(d, dest);
    if (t !== undefined && t !== value && t !== destOld) return `destination holds ${JSON.stringify(t)}`;
    if (s !== undefined && s !== value) return `source holds ${JSON.stringify(s)}`;
    if (s !== value && t !== value) return `lost: source ${JSON.stringify(s)}, destination ${JSON.stringify(t)}`;
    if (i.completed && (t !== value || s !== undefined)) return `after resolve: source ${JSON.stringify(s)}, destination ${JSON.stringify(t)}`;
    return true;
  };

  it('rename with and without overwrite: never lost; done once resolved', async () => {
    const setup = (d: SimulatedDisk): void => {
      withOld(d);
      d.mkdirp('/other');
      d.writeFile('/d/src', NEW);
    };
    expectClean(await explore('rename (overwrite)', (fs) => rename('/d/src', '/d/f', { fs }), neverLost('/d/src', '/d/f', NEW, OLD), { setup }), 'rename');
    expectClean(await explore('rename (no overwrite, other folder)', (fs) => rename('/d/src', '/other/new', { fs, overwrite: false }), neverLost('/d/src', '/other/new', NEW), { setup }), 'rename no-overwrite');
  });

  it('move on one device and across two devices: never lost, never partial at the destination', async () => {
    const setup = (d: SimulatedDisk): void => {
      d.mkdirp('/a');
      d.writeFile('/a/src', NEW);
      d.addDevice('/b');
    };
    expectClean(await explore('move (same device)', (fs) => move('/a/src', '/a/dst', { fs }), neverLost('/a/src', '/a/dst', NEW), { setup }), 'move same device');
    expectClean(await explore('move (cross-device file)', (fs) => move('/a/src', '/b/dst', { fs }), neverLost('/a/src', '/b/dst', NEW), { setup }), 'move cross-device');
    expectClean(
      await explore('move (cross-device, checksum)', (fs) => move('/a/src', '/b/dst', { fs, verify: 'checksum' }), neverLost('/a/src', '/b/dst', NEW), { setup }),
      'move checksum',
    );
  });

  it('move of a folder tree across devices: every file complete in at least one place, no partial tree at the destination', async () => {
    const files = { 'x/1': 'one', 'x/2': 'two', 'x/sub/3': 'three' } as Record<string, string>;
    const r = await explore(
      'move (cross-device tree)',
      (fs) => move('/a/x', '/b/x', { fs }),
      (d, i) => {
        // An empty folder at the destination (a claimed name) holds nothing: it counts as
        // no destination, and a re-run of the move replaces it.
        const destHas = d.exists('/b/x') && d.list('/b/x').length > 0;
        for (const [rel, v] of Object.entries(files)) {
          const s = str(d, `/a/${rel}`);
          const t = str(d, `/b/${rel}`);
          if (destHas && t !== v) return `destination tree is partial: ${rel} is ${JSON.stringify(t)}`;
          if (s !== v && t !== v) return `lost ${rel}`;
        }
        if (i.completed && (!destHas || d.exists('/a/x'))) return 'not moved after resolve';
        return true;
      },
      {
        setup: (d) => {
          d.mkdirp('/a/x/sub');
          for (const [rel, v] of Object.entries(files)) d.writeFile(`/a/${rel}`, v);
          d.addDevice('/b');
        },
        exhaustiveLimit: 2048,
        samples: 256,
      },
    );
    expectClean(r, 'tree move');
  });

  it('staging publish: the final folder only ever holds complete files', async () => {
    const r = await explore(
      'staging area write',
      async (fs) => {
        const area = await createStagingArea({ stagingDir: '/s', finalDir: '/f', fs });
        await area.write('clip', NEW);
      },
      (d, i) => {
        if (d.exists('/f')) for (const n of d.list('/f')) if (str(d, `/f/${n}`) !== NEW) return `final/${n} is ${JSON.stringify(str(d, `/f/${n}`))}`;
        if (i.completed && str(d, '/f/clip') !== NEW) return 'not published after resolve';
        return true;
      },
    );
    expectClean(r, 'staging');
  });

  it('vfs.writeFile on a LocalMount over the seam: old or new, never partial; new once resolved', async () => {
    const r = await explore(
      'vfs.writeFile (LocalMount)',
      (fs) => {
        const vfs = new VirtualFileSystem();
        vfs.mount('/m', new LocalMount('/d', { fs }));
        return vfs.writeFile('/m/f', NEW);
      },
      oldOrNew('/d/f', OLD, NEW),
      { setup: withOld },
    );
    expectClean(r, 'vfs.writeFile');
    assert.ok(r.steps.some((s) => /^rename\("\/d\/\..*\.tmp", "\/d\/f"\)$/.test(s.call)), r.steps.map((s) => s.call).join('\n'));
  });

  it("a lock's fencing token never goes back, across crashes", async () => {
    const handed: { token: number; at: number }[] = [];
    const r = await explore(
      'lock tokens (3 acquisitions)',
      async (fs, progress) => {
        for (let k = 0; k < 3; k++) {
          const l = await lock('/d', { fs });
          handed.push({ token: l.token!, at: progress.steps() });
          await l.release();
        }
      },
      async (d, i) => {
        const before = handed.filter((h) => h.at <= i.crashPoint).map((h) => h.token);
        const l = await lock('/d', { fs: d.fs, timeout: 0 });
        const token = l.token!; // read while held: it is taken on first read
        await l.release();
        const max = Math.max(0, ...before);
        return token > max || `token ${token} after a crash, but ${max} was handed out before it`;
      },
      { setup: (d) => d.mkdirp('/d') },
    );
    expectClean(r, 'lock token');
  });
});

describe('the explorer catches broken variants', () => {
  const naiveWrite = (fileFsync: boolean, dirFsync: boolean) => async (fs: FsOps) => {
    const s = fs.sync;
    const fd = s.open('/d/.f.tmp', O.WRONLY | O.CREAT | O.EXCL, 0o644);
    s.write(fd, Buffer.from(NEW), 0, Buffer.byteLength(NEW));
    if (fileFsync) s.fsync(fd);
    s.close(fd);
    s.rename('/d/.f.tmp', '/d/f');
    if (dirFsync) {
      const dfd = s.open('/d', O.RDONLY | O.DIRECTORY, 0);
      s.fsync(dfd);
      s.close(dfd);
    }
  };

  it('no file fsync before the rename: a renamed empty or partial file is found', async () => {
    const r = await exploreCrashes(naiveWrite(false, true), oldOrNew('/d/f', OLD, NEW), { setup: withOld });
    assert.ok(r.violations.length > 0, 'caught');
    const report = r.violations[0]!.report;
    assert.match(report, /rename\("\/d\/\.f\.tmp", "\/d\/f"\)/);
    assert.match(report, /reached the disk: rename/);
    assert.match(report, /Files after the restart:/);
  });

  it('no folder fsync after the rename: the old file after the call returned is found', async () => {
    const r = await exploreCrashes(naiveWrite(true, false), oldOrNew('/d/f', OLD, NEW), { setup: withOld });
    assert.ok(r.violations.length > 0, 'caught');
    assert.ok(r.violations.some((v) => /after resolve/.test(v.message) && /the operation had returned/.test(v.report)));
  });

  it('vfs.writeFile on a LocalMount without fsync: an empty or old file after the call returned is found', async () => {
    const r = await exploreCrashes(
      (fs) => {
        const vfs = new VirtualFileSystem();
        vfs.mount('/m', new LocalMount('/d', { fs, fsync: false }));
        return vfs.writeFile('/m/f', NEW);
      },
      oldOrNew('/d/f', OLD, NEW),
      { setup: withOld },
    );
    assert.ok(r.violations.some((v) => /after resolve/.test(v.message)), 'caught');
  });

  it('the correct sequence passes the same check', async () => {
    const r = await exploreCrashes(naiveWrite(true, true), oldOrNew('/d/f', OLD, NEW), { setup: withOld });
    assert.deepEqual(r.violations, []);
  });

  it('a cross-device move that copies straight into the destination then unlinks: a partial destination is found', async () => {
    const r = await exploreCrashes(
      async (fs) => {
        const s = fs.sync;
        const fd = s.open('/b/dst', O.WRONLY | O.CREAT | O.EXCL, 0o644);
        s.write(fd, Buffer.from(NEW.slice(0, 10)), 0, 10);
        s.write(fd, Buffer.from(NEW.slice(10)), 0, NEW.length - 10);
        s.fsync(fd);
        s.close(fd);
        s.unlink('/a/src');
      },
      (d) => {
        const t = str(d, '/b/dst');
        const s = str(d, '/a/src');
        if (t !== undefined && t !== NEW) return `partial destination ${JSON.stringify(t)}`;
        return s === NEW || t === NEW || 'lost';
      },
      {
        setup: (d) => {
          d.mkdirp('/a');
          d.writeFile('/a/src', NEW);
          d.addDevice('/b');
        },
      },
    );
    assert.ok(r.violations.some((v) => /partial destination/.test(v.message)), 'partial destination caught');
    assert.ok(r.violations.some((v) => v.message === 'lost'), 'loss caught (unlink durable before the copy)');
  });
});
