/**
 * The CLI across real devices (root: tmpfs mounts): cross-device mv with --json, the
 * progress bar on a pseudo-terminal (and its absence elsewhere), doctor's report on the
 * repo's file system and on a tmpfs.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { isTempFile } from '../../src/index.js';
import { BIN, runCli, runProcess, shQuote } from '../helpers/cli.js';
import { mountTmpfs, requireRoot } from '../helpers/root.js';
import { list, tmpDir } from '../helpers/tmp.js';

const MiB = 1 << 20;

/** A file of `mib` MiB whose every MiB differs (so a misplaced chunk would show). */
function bigFile(p: string, mib: number): void {
  const fd = fs.openSync(p, 'w');
  try {
    const block = Buffer.alloc(MiB);
    for (let i = 0; i < mib; i++) {
      block.fill(i & 0xff);
      block.writeUInt32BE(i, 0);
      fs.writeSync(fd, block);
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** SHA-256 of the first and last MiB and the size: enough to tell a complete copy cheaply. */
function fingerprint(p: string): string {
  const st = fs.statSync(p);
  const fd = fs.openSync(p, 'r');
  try {
    const h = createHash('sha256');
    const buf = Buffer.alloc(MiB);
    for (const pos of [0, Math.max(0, st.size - MiB)]) h.update(buf.subarray(0, fs.readSync(fd, buf, 0, MiB, pos)));
    return `${st.size}:${h.digest('hex')}`;
  } finally {
    fs.closeSync(fd);
  }
}

/** Runs the CLI under a pseudo-terminal (util-linux script): stdin, stdout and stderr are a TTY. */
function underTty(args: string[]): ReturnType<typeof runProcess> {
  const cmd = [process.execPath, BIN, ...args].map(shQuote).join(' ');
  return runProcess('script', ['-qec', cmd, '/dev/null'], { timeoutMs: 60_000 });
}

const BAR = /moving \[[█░]+\] +\d+%/;

describe('atomfs mv across devices', () => {
  it('--json says strategy "copy" with the bytes; the source is gone and the destination complete', async (t) => {
    if (!requireRoot(t)) return;
    const dir = tmpDir(t);
    const mnt = mountTmpfs(t, '64m');
    const src = path.join(dir, 'tree');
    fs.mkdirSync(path.join(src, 'sub'), { recursive: true });
    fs.writeFileSync(path.join(src, 'a.bin'), Buffer.alloc(3 * MiB + 5, 0x41));
    fs.writeFileSync(path.join(src, 'sub', 'b.txt'), 'bee');
    fs.symlinkSync('a.bin', path.join(src, 'link'));
    const file = path.join(dir, 'single');
    fs.writeFileSync(file, 'x'.repeat(1000));
    const r = await runCli(['mv', '--json', '--verify', 'checksum', src, file, mnt + '/']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '', 'no bar without a terminal');
    const lines = r.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(lines, [
      { src, dest: path.join(mnt, 'tree'), strategy: 'copy', bytes: 3 * MiB + 5 + 3, files: 2 },
      // A single file moved with --verify checksum also gets its SHA-256.
      { src: file, dest: path.join(mnt, 'single'), strategy: 'copy', bytes: 1000, files: 1, sha256: createHash('sha256').update('x'.repeat(1000)).digest('hex') },
    ]);
    assert.deepEqual(list(dir), [], 'sources removed');
    assert.deepEqual(list(mnt), ['single', 'tree'], 'no temp left on the destination');
    assert.ok(fs.readFileSync(path.join(mnt, 'tree', 'a.bin')).equals(Buffer.alloc(3 * MiB + 5, 0x41)));
    assert.equal(fs.readFileSync(path.join(mnt, 'tree', 'sub', 'b.txt'), 'utf8'), 'bee');
    assert.equal(fs.readlinkSync(path.join(mnt, 'tree', 'link')), 'a.bin');
    assert.equal(fs.readFileSync(path.join(mnt, 'single'), 'utf8'), 'x'.repeat(1000));
  });

  it('fails with ENOSPC when the tmpfs is too small, keeping the source and leaving no temp', async (t) => {
    if (!requireRoot(t)) return;
    const dir = tmpDir(t);
    const mnt = mountTmpfs(t, '1m');
    const src = path.join(dir, 'big');
    fs.writeFileSync(src, Buffer.alloc(2 * MiB, 0x42));
    const r = await runCli(['mv', src, mnt]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^atomfs: ENOSPC: [^\n]+\n$/);
    assert.equal(fs.statSync(src).size, 2 * MiB);
    assert.deepEqual(list(mnt), []);
  });
});

describe('atomfs mv progress bar', () => {
  it('draws a bar (%, MiB) on a terminal for a 256 MiB cross-device move; none without a TTY, with --json or --no-progress', async (t) => {
    if (!requireRoot(t)) return;
    const dir = tmpDir(t);
    const mnt = mountTmpfs(t, '300m');
    const onDisk = path.join(dir, 'film.mkv');
    const onTmpfs = path.join(mnt, 'film.mkv');
    bigFile(onDisk, 256);
    const print = fingerprint(onDisk);

    // 1. disk -> tmpfs under a pseudo-terminal: the bar is drawn.
    const tty = await underTty(['mv', onDisk, mnt + '/']);
    assert.equal(tty.code, 0, tty.stdout);
    assert.match(tty.stdout, BAR, JSON.stringify(tty.stdout.slice(0, 500)));
    assert.match(tty.stdout, /%/);
    assert.match(tty.stdout, /\d+\.\d MiB \/ 256\.0 MiB/);
    assert.match(tty.stdout, /100% \| 256\.0 MiB \/ 256\.0 MiB/, 'it ends full');
    assert.ok(!fs.existsSync(onDisk));
    assert.equal(fingerprint(onTmpfs), print);
    t.diagnostic(`tty run: ${tty.ms} ms, ${tty.stdout.match(/\d+%/g)?.length ?? 0} frames`);

    // 2. tmpfs -> disk as a plain child (pipes, no TTY): nothing at all is printed.
    const plain = await runCli(['mv', onTmpfs, dir + '/'], { timeoutMs: 60_000 });
    assert.equal(plain.code, 0, plain.stderr);
    assert.equal(plain.stdout, '');
    assert.equal(plain.stderr, '');
    assert.ok(!fs.existsSync(onTmpfs));
    assert.equal(fingerprint(onDisk), print);

    // 3. disk -> tmpfs under a pseudo-terminal with --json: the JSON line only, no bar.
    const json = await underTty(['mv', '--json', onDisk, mnt + '/']);
    assert.equal(json.code, 0, json.stdout);
    assert.doesNotMatch(json.stdout, BAR);
    assert.doesNotMatch(json.stdout, /%|MiB/);
    const line = json.stdout.split(/\r?\n/).filter(Boolean);
    assert.equal(line.length, 1, JSON.stringify(json.stdout));
    assert.deepEqual(JSON.parse(line[0]!), { src: onDisk, dest: onTmpfs, strategy: 'copy', bytes: 256 * MiB, files: 1 });
    assert.equal(fingerprint(onTmpfs), print);

    // 4. tmpfs -> disk under a terminal with --verify checksum: the copy is streamed and
    // reported chunk by chunk, so the bar is drawn in flight (below 100%) before it ends full.
    const live = await underTty(['mv', '--verify', 'checksum', onTmpfs, dir + '/']);
    assert.equal(live.code, 0, live.stdout);
    const frames = [...live.stdout.matchAll(/(\d+)% \| (\d+\.\d) MiB \/ 256\.0 MiB/g)].map((m) => Number(m[1]));
    assert.ok(frames.some((f) => f < 100), `a frame in flight: ${frames.join(', ')}`);
    assert.equal(frames.at(-1), 100);
    assert.deepEqual([...frames].sort((a, b) => a - b), frames, 'the bar never goes back');
    assert.equal(fingerprint(onDisk), print);
    t.diagnostic(`checksum tty run: ${live.ms} ms, frames ${frames.join(', ')}`);

    // 5. --no-progress under a terminal: no bar either.
    const quiet = await underTty(['mv', '--no-progress', onDisk, mnt + '/']);
    assert.equal(quiet.code, 0, quiet.stdout);
    assert.equal(quiet.stdout, '');
    assert.equal(fingerprint(onTmpfs), print);
    assert.deepEqual(list(dir), []);
    assert.deepEqual(list(mnt), ['film.mkv']);
  });
});

describe('atomfs doctor --json', () => {
  type Report = Record<string, unknown>;

  function checkShape(r: Report, samples: number): void {
    const strings = ['dir', 'device', 'fsType', 'mountPoint', 'mountSource', 'mountOptions', 'folderFsync'];
    const booleans = ['sameDeviceAsParent', 'atomicRename', 'hardLinks', 'reflinks', 'caseSensitive', 'writable'];
    const numbers = ['freeBytes', 'totalBytes'];
    // kind, durable and writeError came with issue 17.3 (see doctor-truth.test.ts).
    assert.deepEqual(Object.keys(r).sort(), [...strings, ...booleans, ...numbers, 'fsyncLatencyMs', 'guarantees', 'kind', 'durable', 'writeError'].sort());
    assert.ok(['storage', 'memory', 'pseudo'].includes(r['kind'] as string), String(r['kind']));
    assert.ok(['yes', 'partly', 'no', 'unknown'].includes(r['durable'] as string), String(r['durable']));
    assert.equal(r['writeError'], null);
    for (const k of strings) assert.equal(typeof r[k], 'string', k);
    for (const k of booleans) assert.equal(typeof r[k], 'boolean', k);
    for (const k of numbers) assert.ok(Number.isSafeInteger(r[k]) && (r[k] as number) >= 0, k);
    assert.ok((r['freeBytes'] as number) <= (r['totalBytes'] as number));
    assert.match(r['device'] as string, /^\d+:\d+$/);
    const lat = r['fsyncLatencyMs'] as { median: unknown; samples: unknown[] };
    assert.equal(typeof lat.median, 'number');
    assert.equal(lat.samples.length, samples);
    for (const s of lat.samples) assert.ok(typeof s === 'number' && s >= 0);
    const g = r['guarantees'] as unknown[];
    assert.equal(g.length, 6);
    for (const s of g) assert.equal(typeof s, 'string');
  }

  it('reports ext4 on the repo file system and tmpfs on a mount, with different devices and nothing left behind', async (t) => {
    if (!requireRoot(t)) return;
    const disk = tmpDir(t);
    const mnt = mountTmpfs(t, '8m');
    fs.writeFileSync(path.join(mnt, 'keep'), 'k');
    const [a, b] = await Promise.all([runCli(['doctor', '--json', '--samples', '3', disk]), runCli(['doctor', '--json', '--samples', '3', mnt])]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    assert.equal(a.stderr + b.stderr, '');
    const onDisk = JSON.parse(a.stdout) as Report;
    const onTmpfs = JSON.parse(b.stdout) as Report;
    assert.equal(a.stdout.split('\n').length, 2, 'one JSON line');
    checkShape(onDisk, 3);
    checkShape(onTmpfs, 3);

    assert.equal(onDisk['dir'], fs.realpathSync(disk));
    assert.equal(onDisk['fsType'], 'ext4');
    assert.equal(onDisk['sameDeviceAsParent'], true);
    assert.equal(onTmpfs['dir'], mnt);
    assert.equal(onTmpfs['fsType'], 'tmpfs');
    assert.equal(onTmpfs['mountPoint'], mnt);
    assert.equal(onTmpfs['mountSource'], 'tmpfs');
    assert.equal(onTmpfs['sameDeviceAsParent'], false);
    assert.notEqual(onDisk['device'], onTmpfs['device']);
    // The device string is major:minor of the folder's st_dev.
    const dev = fs.statSync(mnt).dev;
    assert.equal(onTmpfs['device'], `${Math.floor(dev / 256) & 0xfff}:${(dev & 0xff) | ((dev >> 12) & 0xfff00)}`);
    for (const r of [onDisk, onTmpfs]) {
      assert.equal(r['atomicRename'], true);
      assert.equal(r['hardLinks'], true);
      assert.equal(r['caseSensitive'], true);
      assert.equal(r['folderFsync'], 'ok');
    }
    assert.equal(onDisk['kind'], 'storage');
    assert.equal(onDisk['durable'], 'yes');
    assert.equal(onTmpfs['kind'], 'memory');
    assert.equal(onTmpfs['durable'], 'no', 'a tmpfs accepts fsync but keeps nothing over a power-off');
    assert.equal(onTmpfs['totalBytes'], 8 * MiB);
    assert.match((onTmpfs['guarantees'] as string[])[5]!, /cross-device/);

    assert.deepEqual(list(disk), [], 'the probe folder is removed on disk');
    assert.deepEqual(list(mnt), ['keep'], 'the probe folder is removed on the tmpfs');
    assert.ok(!list(mnt).some(isTempFile));
  });
});
