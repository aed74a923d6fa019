/**
 * `atomfs doctor` tells the truth about file systems where atomfs cannot keep its promises
 * (issue 17.3), each against a real mount and through the built CLI: a tmpfs and a ramfs
 * keep files in memory only (not durable), a folder this user cannot write is reported
 * as such with what could still be probed (exit 0), and /proc, /sys and /dev are not data
 * file systems: doctor says so, exits 0, and creates nothing there.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runCli, runProcess, type RunResult } from '../helpers/cli.js';
import { mountPoint, mountTmpfs, requireRoot } from '../helpers/root.js';
import { cString, straceRun, straceUnavailable, type Syscall } from '../helpers/strace.js';
import { list, tmpDir } from '../helpers/tmp.js';

type Report = Record<string, unknown>;

const NOBODY = 65534;
const CLI_AS = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'cli-as.js');
const MEMORY_LINE = 'durable: no — memory only, lost at power-off';

/** Runs doctor (JSON and human) on `dir`; both must exit 0 with nothing on stderr. */
async function doctor(dir: string, run: (args: string[]) => Promise<RunResult> = (a) => runCli(a)): Promise<{ json: Report; human: string }> {
  const [j, h] = await Promise.all([run(['doctor', '--json', '--samples', '1', dir]), run(['doctor', '--samples', '1', dir])]);
  assert.equal(j.code, 0, `doctor --json ${dir}: ${j.stderr}`);
  assert.equal(h.code, 0, `doctor ${dir}: ${h.stderr}`);
  assert.equal(j.stderr + h.stderr, '');
  return { json: JSON.parse(j.stdout) as Report, human: h.stdout };
}

/** The doctor run as uid/gid 65534 (see fixtures/cli-as.ts), bounded. */
const asNobody = (args: string[]): Promise<RunResult> => runProcess(process.execPath, [CLI_AS, JSON.stringify({ uid: NOBODY, gid: NOBODY }), ...args], { timeoutMs: 20_000 });

function assertMemoryOnly(r: { json: Report; human: string }, fsType: string): void {
  assert.equal(r.json['fsType'], fsType);
  assert.equal(r.json['kind'], 'memory');
  assert.equal(r.json['durable'], 'no');
  assert.equal(r.json['writable'], true);
  assert.equal(r.json['atomicRename'], true, 'the other probes still ran');
  const g = r.json['guarantees'] as string[];
  assert.ok(g.includes(MEMORY_LINE), g.join('\n'));
  assert.ok(!g.some((s) => /durable( writes)?: yes/.test(s)), g.join('\n'));
  assert.match(r.human, /^durable +no — memory only, lost at power-off$/m);
  assert.ok(r.human.includes(`  - ${MEMORY_LINE}\n`), r.human);
  assert.doesNotMatch(r.human, /durable( writes)?: yes/);
}

describe('atomfs doctor on memory-only file systems', () => {
  it('a tmpfs: "durable: no — memory only, lost at power-off", in the text and in --json, and nothing left', { timeout: 60_000 }, async (t) => {
    if (!requireRoot(t)) return;
    const mnt = mountTmpfs(t, '4m');
    fs.writeFileSync(path.join(mnt, 'keep'), 'k');
    assertMemoryOnly(await doctor(mnt), 'tmpfs');
    assert.deepEqual(list(mnt), ['keep']);
  });

  it('a ramfs: the same', { timeout: 60_000 }, async (t) => {
    if (!requireRoot(t)) return;
    const { mnt, mounted } = mountPoint(t);
    try {
      execFileSync('mount', ['-t', 'ramfs', 'ramfs', mnt], { stdio: 'pipe', timeout: 10_000 });
    } catch (e) {
      return t.skip(`mount -t ramfs does not work here: ${String((e as { stderr?: Buffer }).stderr ?? e).trim()}`);
    }
    mounted();
    assertMemoryOnly(await doctor(mnt), 'ramfs');
    assert.deepEqual(list(mnt), []);
  });

  it('a folder on the repo disk is durable: yes (the memory verdict is not given everywhere)', { timeout: 60_000 }, async (t) => {
    const dir = tmpDir(t);
    const r = await doctor(dir);
    if (r.json['fsType'] === 'tmpfs' || r.json['fsType'] === 'ramfs') return t.skip(`the checkout is on ${String(r.json['fsType'])}`);
    assert.equal(r.json['kind'], 'storage');
    assert.equal(r.json['durable'], r.json['folderFsync'] === 'ok' ? 'yes' : 'partly');
    assert.equal(r.json['writable'], true);
    assert.equal(r.json['writeError'], null);
    assert.match(r.human, /^durable +yes$/m);
    assert.doesNotMatch(r.human, /memory only/);
  });
});

describe('atomfs doctor on a folder it cannot write', () => {
  it('as uid 65534 in a root-owned 0755 folder: "not writable (EACCES)", the file system still named, exit 0, nothing created', { timeout: 60_000 }, async (t: TestContext) => {
    if (!requireRoot(t)) return;
    // Under the OS temp folder, not the checkout: uid 65534 may not reach the checkout.
    const base = fs.mkdtempSync(path.join(os.tmpdir(), 'atomfs-doctor-'));
    t.after(() => fs.rmSync(base, { recursive: true, force: true }));
    fs.chmodSync(base, 0o755);
    const dir = path.join(base, 'root-only');
    fs.mkdirSync(dir);
    fs.chmodSync(dir, 0o755);
    fs.writeFileSync(path.join(dir, 'keep'), 'k');
    if (spawnSync('test', ['-x', dir], { uid: NOBODY, gid: NOBODY, timeout: 10_000 }).status !== 0) {
      return t.skip(`uid ${NOBODY} cannot reach ${os.tmpdir()}`);
    }

    const asRoot = await doctor(base);
    const r = await doctor(dir, asNobody);
    assert.equal(r.json['dir'], fs.realpathSync(dir));
    assert.equal(r.json['writable'], false);
    assert.equal(r.json['writeError'], 'EACCES');
    // What needs no write is still there, and the same as root sees.
    for (const k of ['fsType', 'device', 'mountPoint', 'mountSource', 'kind', 'sameDeviceAsParent']) assert.deepEqual(r.json[k], asRoot.json[k], k);
    assert.equal(typeof r.json['fsType'], 'string');
    assert.notEqual(r.json['fsType'], '?');
    assert.ok(Number.isSafeInteger(r.json['totalBytes']) && (r.json['totalBytes'] as number) > 0);
    // What needs a write was not probed, and says so (null), not a guess.
    for (const k of ['atomicRename', 'hardLinks', 'reflinks', 'caseSensitive', 'folderFsync', 'fsyncLatencyMs']) assert.equal(r.json[k], null, k);
    assert.equal(r.json['durable'], asRoot.json['kind'] === 'memory' ? 'no' : 'unknown');
    assert.match(r.human, /^writable +not writable \(EACCES\)$/m);
    assert.match(r.human, new RegExp(`^file system +${String(asRoot.json['fsType'])} on `, 'm'));
    assert.match(r.human, /^free space +\S/m);
    assert.doesNotMatch(r.human, /^atomic rename/m);
    assert.match(r.human, /\nWhat atomfs can promise here:\n {2}- nothing in this folder for this user: not writable \(EACCES\)/);
    assert.deepEqual(list(dir), ['keep']);
  });
});

describe('atomfs doctor on pseudo file systems', () => {
  /** The file-system type mountinfo gives for the mount at exactly `point`, if any. */
  function mountType(point: string): string | undefined {
    let type: string | undefined;
    for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
      const [pre, post] = line.split(' - ');
      if (pre?.split(' ')[4] === point) type = post?.split(' ')[0];
    }
    return type;
  }

  function assertPseudo(r: { json: Report; human: string }, dir: string): void {
    assert.equal(r.json['dir'], dir);
    assert.equal(r.json['kind'], 'pseudo');
    assert.equal(r.json['durable'], 'no');
    assert.equal(r.json['writable'], false);
    assert.equal(r.json['writeError'], null, 'nothing was tried');
    for (const k of ['atomicRename', 'hardLinks', 'reflinks', 'caseSensitive', 'folderFsync', 'fsyncLatencyMs']) assert.equal(r.json[k], null, k);
    assert.match(r.human, /^writable +no — not a data file system$/m);
    assert.match(r.human, /\nWhat atomfs can promise here:\n {2}- nothing: not a data file system/);
  }

  it('/proc and /sys (and /dev, /sys/fs/cgroup where mounted): "not a data file system", exit 0', { timeout: 60_000 }, async (t) => {
    const r = await doctor('/proc');
    assertPseudo(r, '/proc');
    assert.equal(r.json['fsType'], 'proc');
    const s = await doctor('/sys');
    assertPseudo(s, '/sys');
    assert.equal(s.json['fsType'], 'sysfs');
    for (const point of ['/dev', '/sys/fs/cgroup']) {
      const type = mountType(point);
      if (type === undefined) {
        t.diagnostic(`${point} is not a mount point here: not checked`);
        continue;
      }
      const d = await doctor(point);
      assertPseudo(d, point);
      assert.equal(d.json['fsType'], type);
    }
    assert.ok(!fs.readdirSync('/dev').some((n) => n.startsWith('.doctor.')), 'no probe folder in /dev');
  });

  it('creates nothing there: no mkdir, no O_CREAT open, under strace', { timeout: 120_000 }, (t) => {
    const why = straceUnavailable();
    if (why) return t.skip(why);
    const out = tmpDir(t);
    for (const dir of ['/proc', '/sys', '/dev']) {
      const trace = straceRun(process.execPath, [path.resolve('bin/atomfs.js'), 'doctor', '--samples', '1', dir], {
        syscalls: ['mkdir', 'mkdirat', 'open', 'openat', 'creat', 'rename', 'renameat', 'renameat2', 'link', 'linkat', 'unlink', 'unlinkat'],
        out: path.join(out, `trace${dir.replace(/\//g, '-')}.txt`),
        env: { ...process.env, UV_USE_IO_URING: '0' },
        timeoutMs: 60_000,
      });
      assert.match(trace.stdout, /not a data file system/, dir);
      const inside = (p: string | undefined): boolean => p !== undefined && (p === dir || p.startsWith(dir + '/'));
      // The parser resolves paths for open, rename, link and unlink; mkdir's are read here.
      const touched = (c: Syscall): boolean => c.paths.some(inside) || c.args.some((a) => inside(cString(a)));
      const changes = (c: Syscall): boolean => c.name !== 'open' && c.name !== 'openat' ? true : /O_CREAT|O_WRONLY|O_RDWR|O_TRUNC/.test(c.args.join(','));
      const writes = trace.calls.filter((c) => touched(c) && changes(c));
      assert.deepEqual(writes.map((c) => `${c.name}(${c.args.join(', ')})`), [], dir);
    }
  });
});
