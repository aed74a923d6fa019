/**
 * Direct I/O in cross-device moves: a durable streamed copy into ext4 or XFS is written past
 * the page cache (stream-copy.ts). On the real file systems: the bytes that go directly and
 * those that do not (the unaligned tail), the fall-backs when direct I/O is refused at open
 * or midway, the cases that never use it, a read-back that reads the disk, and a full ext4
 * (a loop-mounted image) mid-copy. Plus: the source of a big copy is unlinked in the thread
 * pool, not on the event loop.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { move } from '../../src/index.js';
import { O, realOps, type FsOps } from '../../src/internal/fs-ops.js';
import { errno } from '../helpers/fault-ops.js';
import { DIRECT_IO_FS, otherDeviceOrSkip, tempsUnder } from '../helpers/move-kit.js';
import { ext4Support, mountExt4, requireRoot } from '../helpers/root.js';
import { DISK_ROOT, list, tmpDir } from '../helpers/tmp.js';

const MIB = 1024 * 1024;

/** A source folder on another device and a destination folder on the repo's file system (ext4 or XFS), or a skip. */
function directPair(t: TestContext): { from: string; to: string } | undefined {
  fs.mkdirSync(DISK_ROOT, { recursive: true });
  const type = fs.statfsSync(DISK_ROOT).type;
  if (!DIRECT_IO_FS.has(type)) {
    t.skip(`the repo's file system (statfs type 0x${type.toString(16)}) is not ext4 or XFS: atomfs writes no direct I/O there`);
    return undefined;
  }
  const other = otherDeviceOrSkip(t);
  if (!other) return undefined;
  const from = fs.mkdtempSync(path.join(other.dir, 'from-'));
  return { from, to: tmpDir(t) };
}

interface Recording {
  readonly ops: FsOps;
  /** Paths opened with O_DIRECT. */
  readonly directOpens: string[];
  /** Bytes written through descriptors opened with O_DIRECT, and through others to files opened for writing. */
  readonly written: { direct: number; other: number };
}

/**
 * The real seam, recording direct opens and writes. `beforeDirectWrite(i, fd)` runs before
 * the i-th write (0-based) on a direct descriptor and may throw; `afterDirectWrite(end)`
 * runs after each, with the file offset the write ended at (direct writes are sequential).
 */
function recording(hooks: { openDirect?: () => void; beforeDirectWrite?: (i: number) => void; afterDirectWrite?: (path: string, end: number) => void } = {}): Recording {
  const direct = new Map<number, string>();
  const directOpens: string[] = [];
  const written = { direct: 0, other: 0 };
  let directWrites = 0;
  const opened = (p: string, flags: number, fd: number): void => {
    if (flags & O.DIRECT) {
      direct.set(fd, p);
      directOpens.push(p);
    }
  };
  const beforeWrite = (fd: number): void => {
    if (direct.has(fd)) hooks.beforeDirectWrite?.(directWrites++);
  };
  const afterWrite = (fd: number, w: number): void => {
    if (!direct.has(fd)) {
      written.other += w;
      return;
    }
    written.direct += w;
    hooks.afterDirectWrite?.(direct.get(fd)!, written.direct);
  };
  const openHook = (flags: number): void => {
    if (flags & O.DIRECT) hooks.openDirect?.();
  };
  const ops: FsOps = {
    sync: {
      ...realOps.sync,
      open: (p, flags, mode) => {
        openHook(flags);
        const fd = realOps.sync.open(p, flags, mode);
        opened(p, flags, fd);
        return fd;
      },
      close: (fd) => {
        direct.delete(fd);
        realOps.sync.close(fd);
      },
      write: (fd, buf, off, len) => {
        beforeWrite(fd);
        const w = realOps.sync.write(fd, buf, off, len);
        afterWrite(fd, w);
        return w;
      },
    },
    async: {
      ...realOps.async,
      open: async (p, flags, mode) => {
        openHook(flags);
        const fd = await realOps.async.open(p, flags, mode);
        opened(p, flags, fd);
        return fd;
      },
      close: async (fd) => {
        direct.delete(fd);
        await realOps.async.close(fd);
      },
      write: async (fd, buf, off, len) => {
        beforeWrite(fd);
        const w = await realOps.async.write(fd, buf, off, len);
        afterWrite(fd, w);
        return w;
      },
    },
  };
  return { ops, directOpens, written };
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('move across devices into ext4 or XFS: direct I/O', () => {
  it('a durable big copy goes to the disk directly up to its last whole 4 KiB block, the tail through the page cache; the copy is exact (size, checksum)', async (t) => {
    const pair = directPair(t);
    if (!pair) return;
    const { from, to } = pair;
    // 8 MiB: whole 4 MiB chunks. 9 MiB + 123: an unaligned tail. 12 MiB + 4 KiB: a last
    // chunk of one whole block.
    for (const size of [8 * MIB, 9 * MIB + 123, 12 * MIB + 4096]) {
      for (const verify of ['size', 'checksum'] as const) {
        const label = `${size} bytes, verify ${verify}`;
        const data = randomBytes(size);
        fs.writeFileSync(path.join(from, 'big'), data);
        const rec = recording();
        const r = await move(path.join(from, 'big'), path.join(to, 'big'), { verify, fs: rec.ops });
        assert.deepEqual(r, { strategy: 'copy', bytes: size, files: 1, ...(verify === 'checksum' ? { sha256: sha(data) } : {}) }, label);
        assert.ok(fs.readFileSync(path.join(to, 'big')).equals(data), `${label}: the copy is exact`);
        assert.equal(rec.directOpens.length, 1, `${label}: the temp was opened once for direct I/O`);
        assert.equal(path.dirname(rec.directOpens[0]!), to, `${label}: the direct descriptor is the temp's, in the destination folder`);
        const aligned = size - (size % 4096);
        assert.equal(rec.written.direct, aligned, `${label}: every whole block went directly`);
        assert.equal(rec.written.other, size - aligned, `${label}: only the tail went through the page cache`);
        assert.equal(fs.existsSync(path.join(from, 'big')), false, `${label}: source removed`);
        assert.deepEqual(list(to), ['big'], `${label}: no temp left`);
        fs.rmSync(path.join(to, 'big'));
      }
    }
  });

  it('where direct I/O is refused (at open, or at the second write) the copy goes on through the page cache and is exact', async (t) => {
    const pair = directPair(t);
    if (!pair) return;
    const { from, to } = pair;
    const size = 13 * MIB + 777;
    const data = randomBytes(size);
    for (const verify of ['size', 'checksum'] as const) {
      for (const when of ['open', 'second write'] as const) {
        const label = `${verify}, refused at ${when}`;
        fs.writeFileSync(path.join(from, 'big'), data);
        let refused = 0;
        const rec = recording(
          when === 'open'
            ? {
                openDirect: () => {
                  refused++;
                  throw errno('EINVAL', 'open');
                },
              }
            : {
                beforeDirectWrite: (i) => {
                  if (i !== 1) return;
                  refused++;
                  throw errno('EINVAL', 'write');
                },
              },
        );
        const r = await move(path.join(from, 'big'), path.join(to, 'big'), { verify, fs: rec.ops });
        assert.equal(refused, 1, `${label}: the refusal happened`);
        assert.equal(r.bytes, size, label);
        if (verify === 'checksum') assert.equal(r.sha256, sha(data), label);
        assert.ok(fs.readFileSync(path.join(to, 'big')).equals(data), `${label}: the copy is exact`);
        // Refused at the second write: the first 4 MiB chunk went directly, the rest did not.
        assert.equal(rec.written.direct, when === 'open' ? 0 : 4 * MIB, `${label}: bytes written directly`);
        assert.equal(rec.written.direct + rec.written.other, size, `${label}: every byte written once`);
        assert.deepEqual(list(to), ['big'], `${label}: no temp left`);
        fs.rmSync(path.join(to, 'big'));
      }
    }
  });

  it('no direct I/O without fsync, into a tmpfs, or for a small file', async (t) => {
    const pair = directPair(t);
    if (!pair) return;
    const { from, to } = pair;
    const cases = [
      { label: 'fsync: false', src: path.join(from, 'a'), dest: path.join(to, 'a'), size: 9 * MIB, options: { fsync: false } },
      { label: 'into a tmpfs', src: path.join(to, 'b'), dest: path.join(from, 'b'), size: 9 * MIB, options: {} },
      { label: 'small file (one kernel copy)', src: path.join(from, 'c'), dest: path.join(to, 'c'), size: 256 * 1024, options: {} },
    ];
    for (const c of cases) {
      const data = randomBytes(c.size);
      fs.writeFileSync(c.src, data);
      const rec = recording();
      await move(c.src, c.dest, { ...c.options, fs: rec.ops });
      assert.deepEqual(rec.directOpens, [], `${c.label}: nothing opened for direct I/O`);
      assert.ok(fs.readFileSync(c.dest).equals(data), `${c.label}: the copy is exact`);
    }
  });

  it('checksum reads a direct copy back from the disk: a byte changed in the copy after its write is caught, nothing published', async (t) => {
    const pair = directPair(t);
    if (!pair) return;
    const { from, to } = pair;
    const size = 20 * MIB;
    const data = randomBytes(size);
    fs.writeFileSync(path.join(from, 'big'), data);
    const target = 10 * MIB + 5;
    let changed = false;
    // Once the direct writes have passed `target`, one byte there is changed through the page
    // cache (a dirty page the disk has not seen): a read-back through the cache would see
    // it too, a direct one reads the disk after the kernel writes that page back. Either way
    // the copy differs from the source and must not be published.
    const rec = recording({
      afterDirectWrite: (temp, end) => {
        if (changed || end <= target) return;
        changed = true;
        const fd = fs.openSync(temp, 'r+');
        try {
          fs.writeSync(fd, Buffer.from([data[target]! ^ 0x40]), 0, 1, target);
        } finally {
          fs.closeSync(fd);
        }
      },
    });
    await assert.rejects(move(path.join(from, 'big'), path.join(to, 'big'), { verify: 'checksum', fs: rec.ops }), {
      name: 'AtomfsError',
      code: 'EIO',
      reason: 'verify',
      message: new RegExp(`differs from the source at byte ${target}\\b`),
    });
    assert.ok(changed, 'the copy was changed mid-way');
    assert.ok(rec.directOpens.length > 0, 'the copy was written directly');
    assert.deepEqual(list(to), [], 'nothing published, no temp');
    assert.ok(fs.readFileSync(path.join(from, 'big')).equals(data), 'source intact');
  });

  it('a full ext4 mid-copy (a loop-mounted 24 MiB image): ENOSPC, the source intact, the old destination intact (overwrite), no temp', async (t) => {
    const can = ext4Support();
    if (!can.ok) return t.skip(can.why);
    const other = otherDeviceOrSkip(t);
    if (!other) return;
    const mnt = mountExt4(t, 24);
    const from = fs.mkdtempSync(path.join(other.dir, 'from-'));
    const data = randomBytes(40 * MIB);
    fs.writeFileSync(path.join(from, 'big'), data);
    fs.writeFileSync(path.join(mnt, 'kept'), 'the old destination');
    for (const [dest, overwrite] of [
      [path.join(mnt, 'new'), false],
      [path.join(mnt, 'kept'), true],
    ] as const) {
      for (const verify of ['size', 'checksum'] as const) {
        const label = `${path.basename(dest)}, overwrite ${overwrite}, verify ${verify}`;
        const rec = recording();
        await assert.rejects(move(path.join(from, 'big'), dest, { overwrite, verify, fs: rec.ops }), { name: 'AtomfsError', code: 'ENOSPC' }, label);
        assert.equal(rec.directOpens.length, 1, `${label}: the copy was being written directly`);
        assert.ok(rec.written.direct > 4 * MIB, `${label}: the disk filled up during direct writes (${rec.written.direct} bytes)`);
        assert.ok(fs.readFileSync(path.join(from, 'big')).equals(data), `${label}: source intact`);
        assert.deepEqual(list(mnt).filter((n) => n !== 'lost+found'), ['kept'], `${label}: nothing new, no temp`);
        assert.equal(fs.readFileSync(path.join(mnt, 'kept'), 'utf8'), 'the old destination', `${label}: old destination intact`);
        assert.deepEqual(tempsUnder(mnt), [], label);
      }
    }
  });
});

describe('move across devices: removing a big source', () => {
  it('the source of a big copy is unlinked in the thread pool, even with blocking (freeing 1 GiB took 0.24 s)', async (t) => {
    const other = otherDeviceOrSkip(t);
    if (!other) return;
    const from = tmpDir(t);
    const src = path.join(from, 'big');
    fs.writeFileSync(src, Buffer.alloc(9 * MIB, 7));
    const unlinks: string[] = [];
    const ops: FsOps = {
      sync: {
        ...realOps.sync,
        unlink: (p) => {
          if (p === src) unlinks.push('event loop');
          realOps.sync.unlink(p);
        },
      },
      async: {
        ...realOps.async,
        unlink: async (p) => {
          if (p === src) unlinks.push('thread pool');
          await realOps.async.unlink(p);
        },
      },
    };
    const r = await move(src, path.join(other.dir, 'big'), { fs: ops });
    assert.equal(r.bytes, 9 * MIB);
    assert.deepEqual(unlinks, ['thread pool']);
    assert.equal(fs.existsSync(src), false);
  });

  it('in a tree, file by file: the big file through the thread pool, the small ones, a second name of the big one and the folders synchronously', async (t) => {
    const other = otherDeviceOrSkip(t);
    if (!other) return;
    const from = tmpDir(t);
    const src = path.join(from, 'tree');
    fs.mkdirSync(path.join(src, 'sub'), { recursive: true });
    fs.writeFileSync(path.join(src, 'sub', 'big'), Buffer.alloc(9 * MIB, 7));
    fs.writeFileSync(path.join(src, 'small'), 'x');
    // A big file with a second name outside the tree: unlinking it frees nothing.
    fs.writeFileSync(path.join(src, 'linked'), Buffer.alloc(9 * MIB, 8));
    fs.linkSync(path.join(src, 'linked'), path.join(from, 'outside'));
    const calls: string[] = [];
    const ops: FsOps = {
      sync: {
        ...realOps.sync,
        unlink: (p) => {
          calls.push(`sync unlink ${path.basename(p)}`);
          realOps.sync.unlink(p);
        },
      },
      async: {
        ...realOps.async,
        unlink: async (p) => {
          calls.push(`pool unlink ${path.basename(p)}`);
          await realOps.async.unlink(p);
        },
      },
    };
    const r = await move(src, path.join(other.dir, 'tree'), { fs: ops });
    assert.equal(r.files, 3);
    assert.equal(fs.existsSync(src), false);
    assert.deepEqual(calls.filter((c) => / (big|small|linked)$/.test(c)).sort(), ['pool unlink big', 'sync unlink linked', 'sync unlink small']);
    assert.equal(fs.readFileSync(path.join(from, 'outside')).length, 9 * MIB);
  });
});

describe('move across devices: a set-uid file of another user, moved by root', () => {
  it('the copy is never a set-id file owned by root: it gets its set-id bits only after its owner (small and streamed files)', async (t) => {
    if (!requireRoot(t)) return;
    const other = otherDeviceOrSkip(t);
    if (!other) return;
    const NOBODY = 65534;
    const from = tmpDir(t);
    for (const size of [4096, 9 * MIB]) {
      const src = path.join(from, `tool-${size}`);
      const dest = path.join(other.dir, `tool-${size}`);
      fs.writeFileSync(src, Buffer.alloc(size, 0x90));
      fs.chownSync(src, NOBODY, NOBODY);
      fs.chmodSync(src, 0o6755);
      // After every call that touches the temp, look at it: set-id bits while owned by root fail.
      const seen: string[] = [];
      const look = (): void => {
        for (const n of fs.readdirSync(other.dir)) {
          if (!n.startsWith(`.tool-${size}.`)) continue;
          const st = fs.lstatSync(path.join(other.dir, n));
          if (st.uid === 0 && (st.mode & 0o6000) !== 0) seen.push(`${n} mode ${(st.mode & 0o7777).toString(8)} uid 0`);
        }
      };
      const watched = <A extends unknown[], R>(f: (...a: A) => R) => (...a: A): R => {
        const r = f(...a);
        if (r instanceof Promise) return r.then((v: unknown) => (look(), v)) as R;
        look();
        return r;
      };
      const ops: FsOps = {
        sync: { ...realOps.sync, fchmod: watched(realOps.sync.fchmod), chmod: watched(realOps.sync.chmod), copyFile: watched(realOps.sync.copyFile), lchown: watched(realOps.sync.lchown) },
        async: {
          ...realOps.async,
          fchmod: watched(realOps.async.fchmod),
          chmod: watched(realOps.async.chmod),
          copyFile: watched(realOps.async.copyFile),
          fsync: watched(realOps.async.fsync),
          lchown: watched(realOps.async.lchown),
        },
      };
      await move(src, dest, { fs: ops });
      assert.deepEqual(seen, [], `${size}: no root-owned set-id temp at any step`);
      const st = fs.statSync(dest);
      assert.deepEqual({ uid: st.uid, gid: st.gid, mode: st.mode & 0o7777 }, { uid: NOBODY, gid: NOBODY, mode: 0o6755 }, `${size}: owner and set-id mode kept`);
    }
  });
});
