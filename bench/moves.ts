/**
 * The move cases: many small same-device moves (`move-same`) and one big file moved
 * across devices each way between the bench's file system and a tmpfs (`move-xdev`).
 *
 * Same rules as every other case (see cases.ts): one untimed warm-up round per mover,
 * interleaved reps in rotated order, `sync(1)` before every timed sample, medians.
 *
 * @module
 */
import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { move as fseMove } from 'fs-extra/esm';
import { moveFile } from 'move-file';
import { move as atomfsMove } from '../src/index.js';
import { measure, pattern, slug, timed, type CaseResult, type Context, type Entrant, type Row } from './cases.js';
import { floorMove } from './floor.js';
import { mountTmpfs } from './tmpfs.js';
import { runPool, settleDisk, writeSource } from './util.js';

const KIB = 1024;
const MIB = 1024 * 1024;
const execFileAsync = promisify(execFile);
const hasTaskset = ((): boolean => {
  try {
    execFileSync('taskset', ['-c', '0', 'true'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** Row labels of the move cases, shared with the targets. */
export const MV = Object.freeze({
  atomfs: 'atomfs',
  atomfsNoSync: 'atomfs fsync: false',
  atomfsNoSyncPool: 'atomfs fsync: false, blocking: false',
  size: 'atomfs verify: size',
  checksum: 'atomfs verify: checksum',
  moveFile: 'move-file',
  fsExtra: 'fs-extra move',
  cp: 'cp + sync + rm',
  floor1: 'C floor move, 1 writer',
  floor4: 'C floor move, fallocate + 4 writers',
});

/** One way of moving a file, behind one shape. */
interface Mover {
  readonly name: string;
  readonly note?: string | undefined;
  move(src: string, dest: string): Promise<unknown>;
  /** A mover that times itself (the C floor, without its process start-up): its seconds. */
  timedMove?(src: string, dest: string): Promise<number>;
}

const NO_FSYNC_NOTE = 'move-file and fs-extra move never fsync (neither the file nor a folder): they do less work than the durable atomfs rows.';

function sameDeviceMovers(): Mover[] {
  return [
    {
      name: MV.atomfs,
      note: 'atomfs (defaults: fsync on, overwrite false) publishes by link + unlink (never replaces a file) and fsyncs the destination folder before the unlink and both folders after it.',
      move: (s, d) => atomfsMove(s, d),
    },
    { name: MV.atomfsNoSync, move: (s, d) => atomfsMove(s, d, { fsync: false }) },
    {
      name: MV.atomfsNoSyncPool,
      note: 'blocking: false (for mounts that may hang) sends every call through the libuv thread pool; the default (blocking: true) makes the metadata calls synchronously, microseconds each on a local disk.',
      move: (s, d) => atomfsMove(s, d, { fsync: false, blocking: false }),
    },
    { name: MV.moveFile, note: NO_FSYNC_NOTE, move: (s, d) => moveFile(s, d) },
    { name: MV.fsExtra, move: (s, d) => fseMove(s, d) },
  ];
}

function readdirCount(dir: string): number {
  return fs.readdirSync(dir).length;
}

/** `move-same`: `count` 1 KiB files moved one at a time between two folders of one file system. */
export interface MoveSameSpec {
  readonly id: string;
  readonly count: number;
}

export async function moveSameCase(ctx: Context, spec: MoveSameSpec): Promise<CaseResult> {
  const caseDir = path.join(ctx.root, spec.id);
  const data = pattern(KIB);
  const entrants: Entrant[] = [];
  const notes = new Set<string>();
  for (const m of sameDeviceMovers()) {
    const base = path.join(caseDir, slug(m.name));
    const a = path.join(base, 'a');
    const b = path.join(base, 'b');
    fs.mkdirSync(a, { recursive: true });
    fs.mkdirSync(b, { recursive: true });
    const inA = Array.from({ length: spec.count }, (_, i) => path.join(a, `f${i}`));
    const inB = Array.from({ length: spec.count }, (_, i) => path.join(b, `f${i}`));
    // Created once, untimed (and synced by the first settleDisk); rounds move them a → b,
    // then b → a, and so on: every move goes to a name that does not exist.
    for (const f of inA) fs.writeFileSync(f, data);
    let round = 0;
    if (m.note) notes.add(m.note);
    entrants.push({
      row: { name: m.name, samples: [] },
      round: async () => {
        const forward = round++ % 2 === 0;
        const [from, to] = forward ? [inA, inB] : [inB, inA];
        const seconds = await timed(() => runPool(spec.count, 1, (i) => m.move(from[i]!, to[i]!).then(() => undefined)));
        // Untimed check: every file arrived and none was left behind.
        const [fromDir, toDir] = forward ? [a, b] : [b, a];
        if (readdirCount(toDir) !== spec.count || readdirCount(fromDir) !== 0) {
          throw new Error(`after the round ${toDir} holds ${readdirCount(toDir)} files and ${fromDir} ${readdirCount(fromDir)}`);
        }
        return seconds;
      },
      rate: (s) => spec.count / s,
    });
  }
  await measure(ctx, spec.id, entrants);
  fs.rmSync(caseDir, { recursive: true, force: true });
  return {
    id: spec.id,
    title: `${spec.count} × 1 KiB files moved one at a time between two folders of one file system (rename)`,
    unit: 'moves/s',
    ref: MV.atomfsNoSync,
    rows: entrants.map((e) => e.row),
    notes: [...notes],
  };
}

/** `move-xdev`: one file of `totalBytes` moved between the bench's file system and a tmpfs, each way. */
export interface MoveXdevSpec {
  readonly id: string;
  readonly totalBytes: number;
  readonly fsType: string;
}

type Direction = 'to-tmpfs' | 'from-tmpfs';

function crossDeviceMovers(ctx: Context, diskFs: string, tmpfsDir: string): Mover[] {
  // O_DIRECT into the disk (when it is ext4 or XFS, as atomfs; the floor falls back to the
  // page cache where it is refused), never into the tmpfs.
  const direct = (dest: string): boolean => !dest.startsWith(tmpfsDir + path.sep) && (diskFs === 'ext4' || diskFs === 'xfs');
  const floorMover = (name: string, threads: number, note: string): Mover => ({
    name,
    note,
    move: (s, d) => floorMove(ctx.floor, s, d, 4 * MIB, threads, direct(d)),
    timedMove: async (s, d) => (await floorMove(ctx.floor, s, d, 4 * MIB, threads, direct(d))).seconds,
  });
  return [
    {
      name: MV.size,
      note: 'atomfs verify: size streams a file this big (8 MiB and more) in one pipelined pass (read ahead, write behind), fsyncs, compares the sizes. Into ext4 or XFS it writes by direct I/O (4 MiB requests, past the page cache); into a tmpfs through the page cache (1 MiB chunks; on a disk an fsync would be started every 64 MiB so the disk writes behind the copy).',
      move: (s, d) => atomfsMove(s, d, { verify: 'size' }),
    },
    {
      name: MV.checksum,
      note: 'atomfs verify: checksum makes the same pass with the SHA-256 of the source as read, and every chunk read back from the copy and compared with the source bytes (after a direct write, read back directly: from the disk, not the cache).',
      move: (s, d) => atomfsMove(s, d, { verify: 'checksum' }),
    },
    { name: MV.moveFile, note: NO_FSYNC_NOTE, move: (s, d) => moveFile(s, d) },
    { name: MV.fsExtra, move: (s, d) => fseMove(s, d) },
    {
      name: MV.cp,
      note: '`cp SRC DEST && sync && rm SRC` run by sh and timed as a whole (process start-up included, a few ms); sync(1) flushes the whole system, not just the copy (nothing else is dirty: sync runs before every sample).',
      move: (s, d) => execFileAsync('sh', ['-c', 'cp "$1" "$2" && sync && rm "$1"', 'sh', s, d]),
    },
    floorMover(
      MV.floor1,
      1,
      'C floor move (bench/floor.c, times itself): the least a durable move can do with the calls Node has, and less: the source mapped (no copy through user memory; Node cannot map a file), 4 MiB writes one at a time (by direct I/O into ext4 or XFS, as atomfs; through the page cache into the tmpfs), fsync, rename, fsync of the destination folder, unlink, fsync of the source folder.',
    ),
    floorMover(
      MV.floor4,
      4,
      'C floor move, fallocate + 4 writers: the same with the temp preallocated first (fallocate(2), which Node cannot call), so ext4 and XFS take 4 direct writes at a time: the most this disk takes.',
    ),
  ];
}

export async function moveXdevCase(ctx: Context, spec: MoveXdevSpec): Promise<CaseResult[]> {
  const caseDir = path.join(ctx.root, spec.id);
  // Room for a 1 GiB source and the memory primer (see primeMemory) at once.
  const tmpfs = mountTmpfs('3g', ctx.atExit);
  try {
    const chunk = pattern(MIB);
    const diskSrc = path.join(caseDir, 'src');
    const diskDst = path.join(caseDir, 'dst');
    const spare = path.join(caseDir, 'spare');
    const tmpSrc = path.join(tmpfs.dir, 'src');
    const tmpDst = path.join(tmpfs.dir, 'dst');
    for (const d of [diskSrc, diskDst, tmpSrc, tmpDst]) fs.mkdirSync(d, { recursive: true });
    const emptyDir = (d: string): void => {
      for (const n of fs.readdirSync(d)) fs.rmSync(path.join(d, n), { recursive: true, force: true });
    };
    const readThrough = (file: string): void => {
      const fd = fs.openSync(file, 'r');
      try {
        while (fs.readSync(fd, chunk, 0, chunk.length, null) > 0);
      } finally {
        fs.closeSync(fd);
      }
    };
    const sizeOf = (f: string): number | undefined => {
      try {
        return fs.statSync(f).size;
      } catch {
        return undefined;
      }
    };
    /**
     * Untimed, the last step of every preparation, for every mover: 1.25x the file's size
     * written to the tmpfs and deleted, once pinned to each CPU in turn. This VM gives memory
     * left free for a few seconds back to the host (free page reporting; DAMON pages cold
     * memory out), and the next allocation of it faults it back in at half speed or worse:
     * a move that allocates 1 GiB (of tmpfs, or of page cache) then ran at 0.4-0.7 GB/s
     * instead of 1.1-1.6, whoever made it, in no order (atomfs 726 MiB/s median, 401-1165;
     * cp 615-1619). Memory just freed is reused at once: with this step the same two movers
     * gave 1095-1243 and 1277-1562 MiB/s.
     *
     * On every CPU, because the kernel keeps pages freed by one CPU in that CPU's own lists
     * (up to 272 MiB each here) and hands them out there first: primed from the bench's main
     * thread alone, a 1 GiB kernel copy from ext4's page cache into the tmpfs ran at
     * 2.5-2.6 GB/s on that thread but 1.6-2.0 from libuv's thread pool or a worker thread
     * (the same thread priming and copying: 2.6 either way). Whichever CPU a mover's
     * threads land on, they now find fresh memory. Without taskset, from this thread only.
     */
    const primeMemory = (): void => {
      const f = path.join(tmpfs.dir, 'prime');
      const mib = Math.ceil((spec.totalBytes * 1.25) / MIB);
      if (!hasTaskset) {
        writeSource(f, mib * MIB, chunk);
        fs.rmSync(f);
        return;
      }
      for (let cpu = 0; cpu < os.availableParallelism(); cpu++) {
        execFileSync('taskset', ['-c', String(cpu), 'sh', '-c', 'dd if=/dev/zero of="$1" bs=1M count="$2" status=none && rm "$1"', 'sh', f, String(mib)]);
      }
    };
    const spareFile = path.join(spare, 'big');
    fs.mkdirSync(spare, { recursive: true });

    /**
     * Untimed preparation: both destination folders empty, a source of `bytes` ready (the
     * caller syncs: measure() runs sync(1) between an entrant's prepare and its round). A
     * disk source is the file the last tmpfs → disk move left (complete, same bytes) when
     * there is one of the right size; otherwise it is written afresh.
     */
    const prepare = (dir: Direction, bytes: number): { src: string; dest: string } => {
      emptyDir(tmpDst);
      emptyDir(tmpSrc);
      emptyDir(diskDst);
      emptyDir(diskSrc);
      let src: string;
      let dest: string;
      if (dir === 'to-tmpfs') {
        src = path.join(diskSrc, 'big');
        dest = path.join(tmpDst, 'big');
        if (sizeOf(spareFile) === bytes) {
          fs.renameSync(spareFile, src);
          // A copy written by direct I/O (atomfs, durable, into ext4 or XFS) went past the
          // page cache: read it once so every mover starts from a cached source.
          readThrough(src);
        } else {
          writeSource(src, bytes, chunk);
        }
      } else {
        src = path.join(tmpSrc, 'big');
        dest = path.join(diskDst, 'big');
        writeSource(src, bytes, chunk);
      }
      if (fs.readdirSync(path.dirname(dest)).length !== 0) throw new Error(`${path.dirname(dest)} is not empty`);
      primeMemory();
      return { src, dest };
    };
    /** Untimed check, then the disk copy is kept as the next disk source and the tmpfs one freed. */
    const after = (dir: Direction, src: string, dest: string, bytes: number): void => {
      const got = sizeOf(dest);
      if (got !== bytes) throw new Error(`${dest} has ${String(got)} bytes, expected ${bytes}`);
      if (sizeOf(src) !== undefined) throw new Error(`${src} still exists after the move`);
      if (dir === 'from-tmpfs') {
        fs.rmSync(spareFile, { force: true });
        fs.renameSync(dest, spareFile);
      } else {
        fs.rmSync(dest, { force: true });
      }
    };

    const rows = new Map<Direction, Row[]>([
      ['to-tmpfs', []],
      ['from-tmpfs', []],
    ]);
    const entrants: Entrant[] = [];
    const notes = new Set<string>();
    const rate = (bytes: number) => (s: number) => bytes / MIB / s;
    // Pairs (tmpfs → disk, then disk → tmpfs) of each mover, rotated by whole pairs: every
    // disk → tmpfs round starts from the file the round just before it left on the disk.
    // That saves writing and syncing 1 GiB per round, and gives every disk → tmpfs round
    // the same preparation: in this VM, a round right after 1 GiB of fresh page cache was
    // written for its source ran up to 4x slower than the others (probably memory the VM
    // had to fault in again), which hit whichever mover the rotation put there.
    for (const m of crossDeviceMovers(ctx, spec.fsType, tmpfs.dir)) {
      if (m.note) notes.add(m.note);
      for (const dir of ['from-tmpfs', 'to-tmpfs'] as const) {
        const row: Row = { name: m.name, samples: [] };
        rows.get(dir)!.push(row);
        let bytes = 0;
        let files = { src: '', dest: '' };
        entrants.push({
          row,
          label: `${m.name} (${dir === 'to-tmpfs' ? 'disk → tmpfs' : 'tmpfs → disk'})`,
          prepare: (rep) => {
            // The warm-up moves an eighth of the size: enough to warm up the JIT.
            bytes = rep < 0 ? Math.max(MIB, Math.floor(spec.totalBytes / 8 / MIB) * MIB) : spec.totalBytes;
            files = prepare(dir, bytes);
          },
          round: async () => {
            const { src, dest } = files;
            const seconds = m.timedMove ? await m.timedMove(src, dest) : await timed(() => m.move(src, dest).then(() => undefined));
            after(dir, src, dest, bytes);
            return seconds;
          },
          rate: rate(spec.totalBytes),
        });
      }
    }
    // The first full-size round of a run was 2-4x slower than the rest whichever mover made
    // it (fresh page cache and tmpfs memory in this VM), and the rotation gives rep 1's first
    // slot to atomfs: one untimed full-size round trip with cp first, for everyone.
    ctx.progress(`${spec.id}: priming with one untimed ${spec.totalBytes / MIB} MiB round trip (cp)`);
    const cp = crossDeviceMovers(ctx, spec.fsType, tmpfs.dir).find((m) => m.name === MV.cp)!;
    for (const dir of ['from-tmpfs', 'to-tmpfs'] as const) {
      const { src, dest } = prepare(dir, spec.totalBytes);
      settleDisk();
      await cp.move(src, dest);
      after(dir, src, dest, spec.totalBytes);
    }
    await measure(ctx, spec.id, entrants, 2);
    const mib = spec.totalBytes / MIB;
    const common = [
      `The tmpfs is ${tmpfs.how}.`,
      'Before every sample, untimed: both destination folders emptied, the source prepared, then sync(1). The tmpfs source is written afresh; the disk source is the complete file the tmpfs → disk round just before left (same bytes, synced, and read once so that it is in the page cache even when it was written by direct I/O). Either way the source is in the page cache, as it is right after being written. Last, 1.25x the size of the file is written to the tmpfs and deleted, so that every mover starts with memory this VM has not handed back to its host (memory left free for a few seconds is, and faulting it back in made the copy of any mover 2x slower at random). One untimed full-size round trip with cp runs before the warm-up (in this VM the first full-size round of a run was 2-4x slower, whoever made it).',
      ...notes,
    ];
    return [
      {
        id: `${spec.id}-to-tmpfs`,
        title: `one ${mib} MiB file moved from ${spec.fsType} to tmpfs`,
        unit: 'MiB/s',
        ref: MV.size,
        rows: rows.get('to-tmpfs')!,
        notes: common,
      },
      {
        id: `${spec.id}-from-tmpfs`,
        title: `one ${mib} MiB file moved from tmpfs to ${spec.fsType}`,
        unit: 'MiB/s',
        ref: MV.size,
        rows: rows.get('from-tmpfs')!,
        notes: common,
      },
    ];
  } finally {
    fs.rmSync(caseDir, { recursive: true, force: true });
    tmpfs.dispose();
  }
}
