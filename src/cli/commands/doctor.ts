/**
 * `atomfs doctor [DIR]`: probe a file system and say what atomfs can promise there.
 *
 * Every probe runs inside one folder with a temp name (`.doctor.<16 hex>.tmp`), removed
 * at the end whatever happens; `cleanupOrphans` recognises it if the probe is killed.
 *
 * It tells the truth where the promises do not hold, and still exits 0 there (a report
 * is what was asked for, and "no" is an answer):
 * - a file system that keeps files in memory only (tmpfs, ramfs) accepts every fsync and
 *   loses everything at power-off, so it is reported "durable: no";
 * - a folder this user cannot write is reported "not writable (CODE)" with what needs no
 *   write (type, mount, device, free space); the probes that need a write are `null`;
 * - a pseudo file system (/proc, /sys, /dev, cgroup, debugfs...) holds the kernel's state,
 *   not files: reported "not a data file system", and nothing is created there (a mkdir
 *   in /dev as root would succeed and leave a folder among the device nodes).
 *
 * @module
 */
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { toAtomfsError } from '../../errors.js';
import { O, realOps, type SyncFsOps } from '../../internal/fs-ops.js';
import { removeTree } from '../../internal/remove-tree.js';
import { cryptoRandom, randomHex } from '../../internal/temp-name.js';
import { parseVerb } from '../args.js';
import { EXIT, formatBytes, parseCount, printJson, UsageError, type CliIo } from '../util.js';
import { errnoError } from '../../internal/errno.js';

export const HELP = `Usage: atomfs doctor [options] [DIR]

Probes the file system under DIR (default: the current folder) and reports what atomfs
can promise there: device and file-system type, whether files outlive a power-off
(durable: no on tmpfs and ramfs, which keep them in memory only), atomic rename, hard
links, reflink copies, case sensitivity, whether folder fsync is accepted, fsync latency
(median of several), and free space. Everything it creates is removed.

A folder this user cannot write is reported as "not writable (EACCES)" with what could
be probed without writing; /proc, /sys, /dev and other pseudo file systems are reported
as "not a data file system", and nothing is created there. Both exit 0.

Options:
  --samples N   fsync latency samples (default 5)
  --json        print the report as JSON; an error as {"error": {"code", "message", "path"}}
  -h, --help    show this help

Examples:
  atomfs doctor
  atomfs doctor --json /mnt/array
`;

/**
 * What a file system is for atomfs: `storage` keeps files beyond memory (a disk, or a
 * network or FUSE file system, which doctor cannot see behind); `memory` keeps them in
 * memory only (tmpfs, ramfs); `pseudo` is the kernel's state shown as files (proc, sysfs,
 * devtmpfs, cgroup...), no place for data.
 */
export type FsKind = 'storage' | 'memory' | 'pseudo';

/**
 * What doctor found. Probes that need a write (from `atomicRename` to `fsyncLatencyMs`)
 * are `null` when none was made: on a pseudo file system, or in a folder not writable.
 */
export interface DoctorReport {
  readonly dir: string;
  readonly device: string;
  readonly fsType: string;
  readonly mountPoint: string;
  readonly mountSource: string;
  readonly mountOptions: string;
  readonly kind: FsKind;
  /**
   * Whether a write atomfs made durable survives a power-off: `no` on memory and pseudo
   * file systems, `partly` when folder fsync is refused (a new name may be lost), `unknown`
   * when it could not be probed (not writable).
   */
  readonly durable: 'yes' | 'partly' | 'no' | 'unknown';
  /** Whether doctor could create its probe folder here (`false` on a pseudo file system, where it tries nothing). */
  readonly writable: boolean;
  /** Why the probe folder could not be created (`EACCES`, `EROFS`...), or `null`. */
  readonly writeError: string | null;
  readonly sameDeviceAsParent: boolean;
  readonly atomicRename: boolean | null;
  readonly hardLinks: boolean | null;
  readonly reflinks: boolean | null;
  readonly caseSensitive: boolean | null;
  readonly folderFsync: 'ok' | string | null;
  readonly fsyncLatencyMs: { readonly median: number; readonly samples: readonly number[] } | null;
  readonly freeBytes: number;
  readonly totalBytes: number;
  readonly guarantees: readonly string[];
}

// statfs(2) f_type of the file systems that keep files in memory only.
const MEMORY_MAGIC = new Set([
  0x01021994, // tmpfs (devtmpfs reports it too: told apart by its mount type)
  0x858458f6, // ramfs
]);
const MEMORY_TYPES = new Set(['tmpfs', 'ramfs']);

// statfs(2) f_type of pseudo file systems, for when /proc/self/mountinfo cannot be read.
const PSEUDO_MAGIC = new Set([
  0x9fa0, // proc
  0x62656572, // sysfs
  0x1cd1, // devpts
  0x27e0eb, // cgroup
  0x63677270, // cgroup2
  0x64626720, // debugfs
  0x74726163, // tracefs
  0x73636673, // securityfs
  0x6165676c, // pstore
  0xcafe4a11, // bpf
  0x62656570, // configfs
  0xde5e81e4, // efivarfs
  0xf97cff8c, // selinuxfs
  0x42494e4d, // binfmt_misc
  0x19800202, // mqueue
  0x65735543, // fusectl
  0x6e736673, // nsfs
  0x958458f6, // hugetlbfs (files only through mmap; write(2) fails)
  0x67596969, // rpc_pipefs
  0x6e667364, // nfsd
]);
// The same by the names mountinfo gives, and devtmpfs, whose f_type is tmpfs'.
const PSEUDO_TYPES = new Set([
  'proc', 'sysfs', 'devtmpfs', 'devpts', 'cgroup', 'cgroup2', 'debugfs', 'tracefs', 'securityfs', 'pstore', 'bpf',
  'configfs', 'efivarfs', 'selinuxfs', 'binfmt_misc', 'mqueue', 'fusectl', 'nsfs', 'hugetlbfs', 'rpc_pipefs', 'nfsd', 'autofs',
]);

/**
 * The kind of file system (see {@link FsKind}) from its mount (if known) and statfs type.
 * A mount at /dev, or anywhere under /proc or /sys, is pseudo whatever its type: a
 * container's /dev is often a plain tmpfs, and /sys/fs/cgroup one holding cgroup mounts.
 * /dev/shm and other mounts below /dev are left to their type (a tmpfs there is memory).
 */
function kindOf(mount: Mount | undefined, magic: number): FsKind {
  if (mount) {
    const p = mount.point;
    if (PSEUDO_TYPES.has(mount.type) || p === '/dev' || p === '/proc' || p.startsWith('/proc/') || p === '/sys' || p.startsWith('/sys/')) return 'pseudo';
    if (MEMORY_TYPES.has(mount.type)) return 'memory';
  }
  if (PSEUDO_MAGIC.has(magic)) return 'pseudo';
  if (MEMORY_MAGIC.has(magic)) return 'memory';
  return 'storage';
}

// Why mkdir of the probe folder may fail in a folder that exists: reported, not thrown.
const NOT_WRITABLE = new Set(['EACCES', 'EPERM', 'EROFS', 'ENOSPC', 'EDQUOT']);

const MEMORY_ONLY = 'durable: no — memory only, lost at power-off';

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

/** The report with its keys in one fixed order, whichever of probe's returns built it (one JSON shape). */
function inOrder(r: DoctorReport): DoctorReport {
  return {
    dir: r.dir,
    device: r.device,
    fsType: r.fsType,
    mountPoint: r.mountPoint,
    mountSource: r.mountSource,
    mountOptions: r.mountOptions,
    kind: r.kind,
    durable: r.durable,
    writable: r.writable,
    writeError: r.writeError,
    sameDeviceAsParent: r.sameDeviceAsParent,
    atomicRename: r.atomicRename,
    hardLinks: r.hardLinks,
    reflinks: r.reflinks,
    caseSensitive: r.caseSensitive,
    folderFsync: r.folderFsync,
    fsyncLatencyMs: r.fsyncLatencyMs,
    freeBytes: r.freeBytes,
    totalBytes: r.totalBytes,
    guarantees: r.guarantees,
  };
}

const UNPROBED = { atomicRename: null, hardLinks: null, reflinks: null, caseSensitive: null, folderFsync: null, fsyncLatencyMs: null } as const;

async function probe(dir: string, samples: number): Promise<DoctorReport> {
  const sys = realOps.sync;
  const real = sys.realpath(dir);
  const st = sys.stat(real);
  if (!st.isDirectory()) throw errnoError('ENOTDIR', `not a directory, doctor '${dir}'`);
  const parent = sys.stat(path.dirname(real));
  const mount = findMount(sys, real);
  const sfs = sys.statfs(real);
  const kind = kindOf(mount, sfs.type);
  const fsType = mount?.type ?? `0x${sfs.type.toString(16)}`;
  const sameDeviceAsParent = parent.dev === st.dev;
  // What needs no write: known before (and without) the probe folder.
  const found = {
    dir: real,
    device: `${(st.dev >> 8) & 0xfff}:${(st.dev & 0xff) | ((st.dev >> 12) & 0xfff00)}`,
    fsType,
    mountPoint: mount?.point ?? '?',
    mountSource: mount?.source ?? '?',
    mountOptions: mount?.options ?? '?',
    kind,
    sameDeviceAsParent,
    freeBytes: sfs.bavail * sfs.bsize,
    totalBytes: sfs.blocks * sfs.bsize,
  };
  const movesLine = sameDeviceAsParent ? 'moves from the parent folder: one rename' : 'moves from the parent folder: cross-device (copy, verify, then delete)';

  // Nothing is created on a pseudo file system: a mkdir there fails (proc: ENOENT) or,
  // worse, succeeds (devtmpfs as root).
  if (kind === 'pseudo') {
    return {
      ...found,
      ...UNPROBED,
      durable: 'no',
      writable: false,
      writeError: null,
      guarantees: [`nothing: not a data file system (${fsType} shows the kernel's state as files; keep data elsewhere). Nothing was created here.`],
    };
  }

  const work = path.join(real, `.doctor.${randomHex(cryptoRandom)}.tmp`);
  try {
    sys.mkdir(work, 0o700);
  } catch (e) {
    const why = code(e);
    if (!NOT_WRITABLE.has(why)) throw e;
    return {
      ...found,
      ...UNPROBED,
      durable: kind === 'memory' ? 'no' : 'unknown',
      writable: false,
      writeError: why,
      guarantees: [
        `nothing in this folder for this user: not writable (${why}); the probes that need a write were not made`,
        ...(kind === 'memory' ? [MEMORY_ONLY] : []),
        movesLine,
      ],
    };
  }
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
    // Every fsync "succeeds" on a memory file system: durability is decided by the kind, not by the probe.
    const durable = kind === 'memory' ? 'no' : folderFsync === 'ok' ? 'yes' : 'partly';
    const guarantees = [
      atomicRename ? 'atomic writes and renames: yes (rename replaces in one step)' : 'atomic writes: NO (rename does not replace atomically here)',
      durable === 'no'
        ? MEMORY_ONLY
        : durable === 'yes'
          ? 'durable: yes (file and folder fsync accepted)'
          : `durable: partly (folder fsync refused with ${folderFsync}: a new name may be lost on power failure)`,
      hardLinks ? 'no-clobber publish: by link(2), race-free' : 'no-clobber publish: by an exclusive placeholder (no hard links here)',
      reflinks ? 'copies on this file system: reflinks (instant, no extra space)' : 'copies on this file system: full data copies (no reflinks)',
      caseSensitive ? 'names: case-sensitive' : 'names: case-INSENSITIVE (case-only renames are handled)',
      movesLine,
    ];
    return {
      ...found,
      durable,
      writable: true,
      writeError: null,
      atomicRename,
      hardLinks,
      reflinks,
      caseSensitive,
      folderFsync,
      fsyncLatencyMs: { median, samples: latencies },
      guarantees,
    };
  } finally {
    await removeTree(realOps, work);
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

/** The verb's options, for node:util parseArgs. */
export const OPTIONS = {
    samples: { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  } as const;

export async function run(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseVerb(args, OPTIONS);
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
    report = inOrder(await probe(dir, samples));
  } catch (e) {
    throw toAtomfsError(e, { operation: 'doctor', path: dir });
  }
  if (values.json) {
    printJson(io, report);
    return EXIT.ok;
  }
  io.stdout.write(human(report));
  return EXIT.ok;
}

/** The report as aligned rows, then what atomfs can promise; rows for probes not made are left out. */
function human(report: DoctorReport): string {
  const writable = report.kind === 'pseudo' ? 'no — not a data file system' : report.writable ? 'yes' : `not writable (${report.writeError ?? '?'})`;
  const durable = {
    yes: 'yes',
    partly: `partly (folder fsync refused: ${report.folderFsync ?? '?'})`,
    no: report.kind === 'pseudo' ? 'no — not a data file system' : 'no — memory only, lost at power-off',
    unknown: 'unknown (not probed: not writable)',
  }[report.durable];
  const rows: [string, string][] = [
    ['folder', report.dir],
    ['file system', `${report.fsType} on ${report.mountPoint} (${report.mountSource}), device ${report.device}`],
    ['mount options', report.mountOptions],
    ['same device as parent', yes(report.sameDeviceAsParent)],
    ['writable', writable],
    ['durable', durable],
  ];
  if (report.writable) {
    rows.push(
      ['atomic rename', yes(report.atomicRename)],
      ['hard links', yes(report.hardLinks)],
      ['reflink copies', yes(report.reflinks)],
      ['case-sensitive names', yes(report.caseSensitive)],
      ['folder fsync', report.folderFsync === 'ok' ? 'accepted' : `refused (${report.folderFsync ?? '?'})`],
      ['fsync latency', report.fsyncLatencyMs ? `${report.fsyncLatencyMs.median} ms median of ${report.fsyncLatencyMs.samples.length}` : '?'],
    );
  }
  rows.push(['free space', `${formatBytes(report.freeBytes)} of ${formatBytes(report.totalBytes)}`]);
  const w = Math.max(...rows.map(([k]) => k.length));
  let out = '';
  for (const [k, v] of rows) out += `${k.padEnd(w)}  ${v}\n`;
  out += '\nWhat atomfs can promise here:\n';
  for (const g of report.guarantees) out += `  - ${g}\n`;
  return out;
}

const yes = (b: boolean | null): string => (b === null ? '?' : b ? 'yes' : 'no');
