/**
 * `atomfs doctor [DIR]`: probe a file system and say what atomfs can promise there.
 *
 * Every probe runs inside one folder with a temp name (`.doctor.<16 hex>.tmp`), removed
 * at the end whatever happens; `cleanupOrphans` recognises it if the probe is killed.
 *
 * @module
 */
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { toAtomfsError } from '../../errors.js';
import { O, realOps, type SyncFsOps } from '../../internal/fs-ops.js';
import { removeTree } from '../../internal/remove-tree.js';
import { cryptoRandom, randomHex } from '../../internal/temp-name.js';
import { EXIT, formatBytes, parseCount, printJson, UsageError, type CliIo } from '../util.js';

export const HELP = `Usage: atomfs doctor [options] [DIR]

Probes the file system under DIR (default: the current folder) and reports what atomfs
can promise there: device and file-system type, atomic rename, hard links, reflink
copies, case sensitivity, whether folder fsync is accepted, fsync latency (median of
several), and free space. Everything it creates is removed.

Options:
  --samples N   fsync latency samples (default 5)
  --json        print the report as JSON
  -h, --help    show this help

Examples:
  atomfs doctor
  atomfs doctor --json /mnt/array
`;

/** What doctor found. */
export interface DoctorReport {
  readonly dir: string;
  readonly device: string;
  readonly fsType: string;
  readonly mountPoint: string;
  readonly mountSource: string;
  readonly mountOptions: string;
  readonly sameDeviceAsParent: boolean;
  readonly atomicRename: boolean;
  readonly hardLinks: boolean;
  readonly reflinks: boolean;
  readonly caseSensitive: boolean;
  readonly folderFsync: 'ok' | string;
  readonly fsyncLatencyMs: { readonly median: number; readonly samples: readonly number[] };
  readonly freeBytes: number;
  readonly totalBytes: number;
  readonly guarantees: readonly string[];
}

interface Mount {
  readonly point: string;
  readonly type: string;
  readonly source: string;
  readonly options: string;
}

// Octal escapes in mountinfo (\040 for a space).
const unescape = (s: string): string => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

function readText(sys: SyncFsOps, file: string): string {
  const fd = sys.open(file, O.RDONLY | O.CLOEXEC, 0);
  try {
    const chunks: Buffer[] = [];
    const buf = Buffer.allocUnsafe(65536);
    for (let i = 0; i < 1024; i++) {
      const n = sys.read(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      chunks.push(Buffer.from(buf.subarray(0, n)));
    }
    return Buffer.concat(chunks).toString('utf8');
  } finally {
    sys.close(fd);
  }
}

/** The mount holding `real` (the longest mount point that is a prefix of it). */
function findMount(sys: SyncFsOps, real: string): Mount | undefined {
  let text: string;
  try {
    text = readText(sys, '/proc/self/mountinfo');
  } catch {
    return undefined;
  }
  let best: Mount | undefined;
  for (const line of text.split('\n')) {
    const [pre, post] = line.split(' - ');
    if (!pre || !post) continue;
    const f = pre.split(' ');
    const g = post.split(' ');
    const point = unescape(f[4] ?? '');
    const inside = point === '/' || real === point || real.startsWith(point + '/');
    if (inside && (!best || point.length >= best.point.length)) {
      best = { point, type: g[0] ?? '?', source: unescape(g[1] ?? '?'), options: f[5] ?? '' };
    }
  }
  return best;
}

const code = (e: unknown): string => (e as NodeJS.ErrnoException).code ?? 'EIO';

async function probe(dir: string, samples: number): Promise<DoctorReport> {
  const sys = realOps.sync;
  const real = sys.realpath(dir);
  const st = sys.stat(real);
  if (!st.isDirectory()) throw Object.assign(new Error(`not a directory, doctor '${dir}'`), { code: 'ENOTDIR' });
  const parent = sys.stat(path.dirname(real));
  const mount = findMount(sys, real);
  const sfs = sys.statfs(real);
  const work = path.join(real, `.doctor.${randomHex(cryptoRandom)}.tmp`);
  sys.mkdir(work, 0o700);
  try {
    const a = path.join(work, 'a');
    const b = path.join(work, 'b');
    const write = (p: string, text: string, flags = O.WRONLY | O.CREAT | O.TRUNC): number => {
      const fd = sys.open(p, flags | O.CLOEXEC, 0o600);
      sys.write(fd, Buffer.from(text), 0, Buffer.byteLength(text));
      return fd;
    };
    sys.close(write(a, 'new'));
    sys.close(write(b, 'old'));

    // rename(2) over an existing file must replace it in one step.
    let atomicRename = false;
    try {
      sys.rename(a, b);
      atomicRename = readText(sys, b) === 'new' && !exists(sys, a);
    } catch {
      atomicRename = false;
    }

    let hardLinks = false;
    try {
      sys.link(b, path.join(work, 'link'));
      hardLinks = sys.stat(b).nlink === 2;
    } catch {
      hardLinks = false;
    }

    let reflinks = false;
    try {
      sys.reflink(b, path.join(work, 'clone'));
      reflinks = true;
    } catch {
      reflinks = false;
    }

    let caseSensitive = true;
    sys.close(write(path.join(work, 'CaseProbe'), 'x'));
    caseSensitive = !exists(sys, path.join(work, 'caseprobe'));

    let folderFsync = 'ok';
    try {
      const fd = sys.open(work, O.RDONLY | O.DIRECTORY | O.CLOEXEC, 0);
      try {
        sys.fsync(fd);
      } finally {
        sys.close(fd);
      }
    } catch (e) {
      folderFsync = code(e);
    }

    const latencies: number[] = [];
    const fd = write(path.join(work, 'sync'), 'x');
    try {
      for (let i = 0; i < samples; i++) {
        sys.write(fd, Buffer.from('y'), 0, 1);
        const t0 = performance.now();
        sys.fsync(fd);
        latencies.push(Math.round((performance.now() - t0) * 1000) / 1000);
      }
    } finally {
      sys.close(fd);
    }
    const sorted = [...latencies].sort((x, y) => x - y);
    const median = sorted.length ? sorted[Math.floor(sorted.length / 2)]! : 0;
    const sameDeviceAsParent = parent.dev === st.dev;

    const guarantees = [
      atomicRename ? 'atomic writes and renames: yes (rename replaces in one step)' : 'atomic writes: NO (rename does not replace atomically here)',
      folderFsync === 'ok'
        ? 'durable writes: yes (file and folder fsync accepted)'
        : `durable writes: partly (folder fsync refused with ${folderFsync}: a new name may be lost on power failure)`,
      hardLinks ? 'no-clobber publish: by link(2), race-free' : 'no-clobber publish: by an exclusive placeholder (no hard links here)',
      reflinks ? 'copies on this file system: reflinks (instant, no extra space)' : 'copies on this file system: full data copies (no reflinks)',
      caseSensitive ? 'names: case-sensitive' : 'names: case-INSENSITIVE (case-only renames are handled)',
      sameDeviceAsParent ? 'moves from the parent folder: one rename' : 'moves from the parent folder: cross-device (copy, verify, then delete)',
    ];
    return {
      dir: real,
      device: `${(st.dev >> 8) & 0xfff}:${(st.dev & 0xff) | ((st.dev >> 12) & 0xfff00)}`,
      fsType: mount?.type ?? `0x${sfs.type.toString(16)}`,
      mountPoint: mount?.point ?? '?',
      mountSource: mount?.source ?? '?',
      mountOptions: mount?.options ?? '?',
      sameDeviceAsParent,
      atomicRename,
      hardLinks,
      reflinks,
      caseSensitive,
      folderFsync,
      fsyncLatencyMs: { median, samples: latencies },
      freeBytes: sfs.bavail * sfs.bsize,
      totalBytes: sfs.blocks * sfs.bsize,
      guarantees,
    };
  } finally {
    await removeTree(realOps.async, work);
  }
}

function exists(sys: SyncFsOps, p: string): boolean {
  try {
    sys.lstat(p);
    return true;
  } catch {
    return false;
  }
}

export async function run(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      samples: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    io.stdout.write(HELP);
    return EXIT.ok;
  }
  if (positionals.length > 1) throw new UsageError('doctor takes at most one DIR');
  const samples = values.samples === undefined ? 5 : parseCount('--samples', values.samples);
  if (samples < 1 || samples > 1000) throw new UsageError(`--samples takes a whole number from 1 to 1000, got '${values.samples}'`);
  const dir = positionals[0] ?? '.';
  let report: DoctorReport;
  try {
    report = await probe(dir, samples);
  } catch (e) {
    throw toAtomfsError(e, { operation: 'doctor', path: dir });
  }
  if (values.json) {
    printJson(io, report);
    return EXIT.ok;
  }
  const rows: [string, string][] = [
    ['folder', report.dir],
    ['file system', `${report.fsType} on ${report.mountPoint} (${report.mountSource}), device ${report.device}`],
    ['mount options', report.mountOptions],
    ['same device as parent', yes(report.sameDeviceAsParent)],
    ['atomic rename', yes(report.atomicRename)],
    ['hard links', yes(report.hardLinks)],
    ['reflink copies', yes(report.reflinks)],
    ['case-sensitive names', yes(report.caseSensitive)],
    ['folder fsync', report.folderFsync === 'ok' ? 'accepted' : `refused (${report.folderFsync})`],
    ['fsync latency', `${report.fsyncLatencyMs.median} ms median of ${report.fsyncLatencyMs.samples.length}`],
    ['free space', `${formatBytes(report.freeBytes)} of ${formatBytes(report.totalBytes)}`],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) io.stdout.write(`${k.padEnd(w)}  ${v}\n`);
  io.stdout.write('\nWhat atomfs can promise here:\n');
  for (const g of report.guarantees) io.stdout.write(`  - ${g}\n`);
  return EXIT.ok;
}

const yes = (b: boolean): string => (b ? 'yes' : 'no');
