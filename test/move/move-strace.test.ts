/**
 * The system calls of a cross-device file move, in order, under `strace -f` (with
 * UV_USE_IO_URING=0: Node 20's libuv may otherwise submit file operations through
 * io_uring, which strace does not see):
 *   - the copy is made under a temp name in the destination folder;
 *   - the temp is fsynced (the fsync has returned) before the rename (or link) that
 *     publishes it under the destination name;
 *   - the destination folder's descriptor is fsynced after the publish and before the
 *     source is unlinked; the source folder is fsynced after the unlink;
 *   - a streamed copy into ext4 or XFS is written by direct I/O (a second descriptor of the
 *     temp), and one into a tmpfs is not;
 *   - a big file into a tmpfs is one kernel copy, unless the move reports progress (then it
 *     is streamed, chunk by chunk).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isTempFile } from '../../src/index.js';
import { DIRECT_IO_FS, otherDeviceOrSkip } from '../helpers/move-kit.js';
import { flagSet, straceRun, straceUnavailable, type Syscall, type Trace } from '../helpers/strace.js';
import { tmpDir } from '../helpers/tmp.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/strace-move.js', import.meta.url));
const TRACE = ['openat', 'close', 'write', 'pwrite64', 'fsync', 'rename', 'renameat', 'renameat2', 'unlink', 'unlinkat', 'copy_file_range', 'sendfile', 'ioctl', 'link', 'linkat'];

function traceMove(t: TestContext, src: string, dest: string, options: Record<string, unknown>, progress: boolean): Trace {
  const trace = straceRun(process.execPath, [FIXTURE, JSON.stringify({ src, dest, options, progress })], {
    syscalls: TRACE,
    out: path.join(tmpDir(t), 'trace.txt'),
    env: { ...process.env, UV_USE_IO_URING: '0' },
  });
  assert.match(trace.stdout, /^RESULT \{"strategy":"copy"/m);
  return trace;
}

describe('system calls of a cross-device file move under strace', () => {
  for (const overwrite of [false, true]) {
    it(`the temp copy in the destination folder is fsynced before it is published${overwrite ? ' by rename over the destination' : ' by link'}, and the destination folder is fsynced before the source is unlinked`, (t) => {
      const noStrace = straceUnavailable();
      if (noStrace) return t.skip(noStrace);
      const other = otherDeviceOrSkip(t);
      if (!other) return;
      const disk = tmpDir(t);
      // 256 KiB: one kernel copy. 9 MiB: above the streaming threshold (8 MiB), copied by
      // our own read/write loop, except into the tmpfs when nobody asked for progress (one
      // kernel copy: no disk to write behind it); the same order of fsyncs every way.
      const BIG = 9 * 1024 * 1024;
      for (const [label, fromDir, toDir, size, progress] of [
        ['repo fs -> ' + other.label, disk, other.dir, 256 * 1024, false],
        [other.label + ' -> repo fs', other.dir, disk, 256 * 1024, false],
        ['repo fs -> ' + other.label + ', big, one kernel copy', disk, other.dir, BIG, false],
        ['repo fs -> ' + other.label + ', big with progress, streamed', disk, other.dir, BIG, true],
        [other.label + ' -> repo fs, big, streamed', other.dir, disk, BIG, false],
      ] as const) {
        const srcDir = path.join(fromDir, `from-${size}-${String(progress)}`);
        const destDir = path.join(toDir, `to-${size}-${String(progress)}`);
        fs.mkdirSync(srcDir, { recursive: true });
        fs.mkdirSync(destDir, { recursive: true });
        const src = path.join(srcDir, 'file.bin');
        const dest = path.join(destDir, 'file.bin');
        fs.writeFileSync(src, Buffer.alloc(size, 'm'));
        if (overwrite) fs.writeFileSync(dest, 'old');
        const { calls, raw } = traceMove(t, src, dest, { overwrite }, progress);
        const show = (c: Syscall | undefined): string => (c ? `${c.name}(${c.args.join(', ')}) = ${c.ret} [lines ${c.start}-${c.end}]` : 'none');
        const openFlags = (c: Syscall): Set<string> => flagSet(c.args[2]);
        const ctx = (): string => `${label}; calls after the temp was created:\n${calls.filter((c) => c.start >= (tempOpen?.start ?? 0)).map(show).join('\n')}\n(raw trace: ${raw.length} bytes)`;

        // The temp: created in the destination folder.
        const tempOpen = calls.find((c) => c.name === 'openat' && c.paths[0] !== undefined && path.dirname(c.paths[0]) === destDir && isTempFile(c.paths[0]) && openFlags(c).has('O_CREAT') && (c.ret ?? -1) >= 0);
        assert.ok(tempOpen, `${label}: a temp is created in the destination folder\n${calls.map(show).join('\n')}`);
        const temp = tempOpen.paths[0]!;
        const streamed = size === BIG && (toDir === disk || progress);
        const copies = calls.filter((c) => ['write', 'pwrite64'].includes(c.name) && c.fdPath === temp);
        if (!streamed) {
          assert.deepEqual(copies.map(show), [], `${label}: nothing is written to the temp from user memory\n${ctx()}`);
          const dataCopied = calls.filter((c) => ['copy_file_range', 'sendfile'].includes(c.name) && c.start > tempOpen.start && (c.ret ?? -1) > 0);
          assert.ok(dataCopied.length > 0, `${label}: the data is copied by the kernel (copy_file_range/sendfile)\n${ctx()}`);
        } else {
          const written = copies.reduce((n, c) => n + (c.ret ?? 0), 0);
          assert.equal(written, size, `${label}: every byte is written to the temp by the stream\n${ctx()}`);
          if (toDir === disk && DIRECT_IO_FS.has(fs.statfsSync(disk).type)) {
            // Into ext4 or XFS, durably: written by direct I/O (9 MiB is whole blocks), on a
            // second descriptor of the temp; the fsync below still comes before the publish.
            const directOpen = calls.find((c) => c.name === 'openat' && c.paths[0] === temp && openFlags(c).has('O_DIRECT') && (c.ret ?? -1) >= 0);
            assert.ok(directOpen, `${label}: the temp is opened for direct I/O\n${ctx()}`);
            const direct = calls.filter((c) => ['write', 'pwrite64'].includes(c.name) && c.fdPath === temp && c.args[0] === String(directOpen.ret) && c.start > directOpen.end);
            assert.equal(direct.reduce((n, c) => n + (c.ret ?? 0), 0), size, `${label}: every byte is written directly\n${ctx()}`);
          } else {
            assert.ok(!calls.some((c) => c.name === 'openat' && openFlags(c).has('O_DIRECT')), `${label}: no direct I/O into a tmpfs\n${ctx()}`);
          }
        }

        // The publish: rename(temp, dest) or link(temp, dest).
        const publish = calls.find((c) => ['rename', 'renameat', 'renameat2', 'link', 'linkat'].includes(c.name) && c.paths[0] === temp && c.paths[1] === dest && c.ret === 0);
        assert.ok(publish, `${label}: the temp is published under the destination name\n${ctx()}`);
        assert.equal(publish.name.startsWith('link'), !overwrite, `${label}: ${overwrite ? 'rename' : 'link'} publishes`);

        // The temp's data is on disk before the publish: an fsync on a descriptor of the temp returned first.
        const tempSync = calls.find((c) => c.name === 'fsync' && c.fdPath === temp && c.ret === 0);
        assert.ok(tempSync, `${label}: the temp is fsynced\n${ctx()}`);
        assert.ok(tempSync.end < publish.start, `${label}: the temp's fsync returned before the publish started\n${show(tempSync)}\n${show(publish)}`);

        // The source is unlinked only after an fsync of the destination folder, which follows the publish.
        const unlinkSrc = calls.find((c) => (c.name === 'unlink' || c.name === 'unlinkat') && c.paths[0] === src && c.ret === 0);
        assert.ok(unlinkSrc, `${label}: the source is unlinked\n${ctx()}`);
        const destDirSync = calls.find((c) => c.name === 'fsync' && c.fdPath === destDir && c.start > publish.end && c.ret === 0);
        assert.ok(destDirSync, `${label}: the destination folder is fsynced after the publish\n${ctx()}`);
        assert.ok(destDirSync.end < unlinkSrc.start, `${label}: the destination folder's fsync returned before the source was unlinked\n${show(destDirSync)}\n${show(unlinkSrc)}`);
        const destDirOpen = calls.filter((c) => c.name === 'openat' && c.paths[0] === destDir && c.start < destDirSync.start).at(-1);
        assert.ok(destDirOpen && openFlags(destDirOpen).has('O_DIRECTORY'), `${label}: that descriptor is the folder, opened as one`);

        // And the removal itself is made durable.
        const srcDirSync = calls.find((c) => c.name === 'fsync' && c.fdPath === srcDir && c.start > unlinkSrc.end && c.ret === 0);
        assert.ok(srcDirSync, `${label}: the source folder is fsynced after the unlink\n${ctx()}`);

        // Nothing touched the destination name before the publish (a failed call changes nothing:
        // auto first tries rename(src, dest), which fails with EXDEV).
        const early = calls.filter((c) => c.paths.includes(dest) && c !== publish && c.start < publish.start && c.ret !== -1);
        assert.deepEqual(early.map(show), [], `${label}: the destination is not touched before the publish`);
        assert.equal(fs.existsSync(src), false);
        assert.equal(fs.statSync(dest).size, size);
        assert.deepEqual(fs.readdirSync(destDir), ['file.bin']);
      }
    });
  }
});
