/**
 * The order of system calls of one write, as the kernel saw it (strace), for writeFile and
 * writeFileSync: exclusive private temp → every byte written → fsync of the temp → close →
 * rename over the target → fsync of the parent folder.
 *
 * libuv in Node 20 may submit file operations through io_uring, which strace does not
 * see; UV_USE_IO_URING=0 keeps them on the thread pool as ordinary system calls.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isTempFile } from '../../src/index.js';
import { straceRun, straceUnavailable, flagSet, type Syscall, type Trace } from '../helpers/strace.js';
import { tmpDir } from '../helpers/tmp.js';
import { decode, makeContent } from '../helpers/versioned.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/strace-write.js', import.meta.url));
const SYSCALLS = ['openat', 'open', 'write', 'fsync', 'fdatasync', 'rename', 'renameat', 'renameat2', 'close'];
const CONTENT = makeContent(7, 100_000);
const NO_STRACE = straceUnavailable();

function traceWrite(t: TestContext, mode: 'async' | 'sync', fsync: boolean): { trace: Trace; dir: string; target: string } {
  const dir = tmpDir(t);
  const target = path.join(dir, 'traced.bin');
  fs.writeFileSync(target, 'the old content');
  const out = path.join(tmpDir(t), 'trace.txt');
  const trace = straceRun(process.execPath, [FIXTURE, target, mode, fsync ? '1' : '0'], {
    syscalls: SYSCALLS,
    out,
    env: { ...process.env, UV_USE_IO_URING: '0' },
    timeoutMs: 60_000,
  });
  const d = decode(fs.readFileSync(target));
  assert.ok(d.ok && d.version === 7, 'the traced write replaced the target');
  assert.deepEqual(fs.readdirSync(dir), ['traced.bin']);
  return { trace, dir, target };
}

const isOpen = (c: Syscall): boolean => c.name === 'open' || c.name === 'openat';
const isRename = (c: Syscall): boolean => c.name === 'rename' || c.name === 'renameat' || c.name === 'renameat2';
const isSync = (c: Syscall): boolean => c.name === 'fsync' || c.name === 'fdatasync';
const fdArg = (c: Syscall): number => Number(c.args[0]);
const show = (c: Syscall): string => `${c.name}(${c.args.join(', ')}) = ${c.ret}${c.errno ? ` ${c.errno}` : ''} [lines ${c.start}-${c.end}]`;

/** The calls of one write, checked in order; returns them for further checks. */
function checkOrder(trace: Trace, dir: string, target: string, fsync: boolean): void {
  const calls = trace.calls;
  const ctx = (): string => `\nrelevant calls:\n${calls.filter((c) => c.paths.some((p) => p.startsWith(dir)) || (c.fdPath ?? '').startsWith(dir)).map(show).join('\n')}`;

  // 1. The temp: beside the target, named as a temp, created exclusively, never through a
  //    symlink, private (0600).
  const tempOpens = calls.filter((c) => isOpen(c) && path.dirname(c.paths[0]!) === dir && isTempFile(c.paths[0]!));
  assert.equal(tempOpens.length, 1, `exactly one temp file is opened${ctx()}`);
  const open = tempOpens[0]!;
  const tempPath = open.paths[0]!;
  assert.ok(path.basename(tempPath).startsWith('.traced.bin.'), `the temp is named after the target: ${tempPath}`);
  const flags = flagSet(open.args[open.name === 'openat' ? 2 : 1]);
  for (const f of ['O_WRONLY', 'O_CREAT', 'O_EXCL', 'O_NOFOLLOW']) assert.ok(flags.has(f), `the temp is opened with ${f}: ${show(open)}`);
  assert.ok(!flags.has('O_TRUNC'), 'the temp is not opened with O_TRUNC');
  assert.equal(open.args[open.name === 'openat' ? 3 : 2], '0600', `the temp is created with mode 0600: ${show(open)}`);
  assert.ok(open.ret !== undefined && open.ret >= 0, `the temp open succeeded: ${show(open)}`);
  const tempFd = open.ret;

  // Calls on the temp's descriptor while it was the temp's.
  const onTemp = calls.filter((c) => c.fdPath === tempPath && c.start > open.end);
  const writes = onTemp.filter((c) => c.name === 'write');
  const close = onTemp.find((c) => c.name === 'close');
  assert.ok(close, `the temp's descriptor is closed${ctx()}`);
  assert.equal(close.ret, 0);
  assert.equal(
    writes.reduce((n, w) => n + (w.ret ?? 0), 0),
    CONTENT.length,
    `every byte is written to the temp (${writes.length} write calls)${ctx()}`,
  );
  assert.ok(writes.every((w) => w.end < close.start), 'all writes finish before the close');

  // 2. The rename of the temp over the target.
  const renames = calls.filter((c) => isRename(c) && c.paths[0] === tempPath);
  assert.equal(renames.length, 1, `the temp is renamed once${ctx()}`);
  const rename = renames[0]!;
  assert.equal(rename.paths[1], target, `the temp is renamed over the target: ${show(rename)}`);
  assert.equal(rename.ret, 0, `the rename succeeded: ${show(rename)}`);
  if (rename.name === 'renameat2') assert.ok(!/RENAME_(NOREPLACE|EXCHANGE)/.test(rename.args[4] ?? ''), 'a plain rename');
  assert.ok(close.end < rename.start, `the temp is closed before the rename${ctx()}`);
  // Nothing ever opens the target itself for writing.
  const targetWrites = calls.filter((c) => isOpen(c) && c.paths[0] === target && /O_WRONLY|O_RDWR|O_TRUNC|O_CREAT/.test(c.args.join(' ')));
  assert.deepEqual(targetWrites.map(show), [], 'the target is never opened for writing');

  const tempSyncs = onTemp.filter(isSync);
  const dirOpens = calls.filter((c) => isOpen(c) && c.paths[0] === dir);
  const dirSyncs = calls.filter((c) => isSync(c) && c.fdPath === dir);
  if (!fsync) {
    assert.deepEqual(tempSyncs.map(show), [], 'with fsync: false the temp is not fsynced');
    assert.deepEqual(dirSyncs.map(show), [], 'with fsync: false the folder is not fsynced');
    return;
  }

  // 3. fsync of the temp's descriptor, after the last write, before the close and the rename.
  assert.equal(tempSyncs.length, 1, `the temp is fsynced once${ctx()}`);
  const tsync = tempSyncs[0]!;
  assert.equal(fdArg(tsync), tempFd);
  assert.equal(tsync.ret, 0, `the temp fsync succeeded: ${show(tsync)}`);
  assert.ok(writes.every((w) => w.end < tsync.start), `the temp is fsynced after its last write${ctx()}`);
  assert.ok(tsync.end < close.start, `the temp is fsynced before it is closed${ctx()}`);
  assert.ok(tsync.end < rename.start, `the temp's fsync finishes before the rename starts${ctx()}`);

  // 4. After the rename: fsync of a descriptor opened on the parent folder with O_DIRECTORY.
  const after = dirSyncs.filter((c) => c.start > rename.end && c.ret === 0);
  assert.ok(after.length >= 1, `the parent folder is fsynced after the rename${ctx()}`);
  const dsync = after[0]!;
  const dirFd = fdArg(dsync);
  const dirOpen = dirOpens.filter((c) => c.ret === dirFd && c.end < dsync.start).pop();
  assert.ok(dirOpen, `the folder descriptor ${dirFd} comes from an open of ${dir}${ctx()}`);
  const dflags = flagSet(dirOpen.args[dirOpen.name === 'openat' ? 2 : 1]);
  assert.ok(dflags.has('O_DIRECTORY'), `the folder is opened with O_DIRECTORY: ${show(dirOpen)}`);
  assert.ok(dflags.has('O_RDONLY'), `the folder is opened read-only: ${show(dirOpen)}`);
  const dclose = calls.find((c) => c.name === 'close' && fdArg(c) === dirFd && c.fdPath === dir && c.start > dsync.end);
  assert.ok(dclose, `the folder descriptor is closed after its fsync${ctx()}`);
}

describe('system calls of one write (strace)', () => {
  for (const mode of ['async', 'sync'] as const) {
    const fn = mode === 'async' ? 'writeFile' : 'writeFileSync';
    it(`${fn} creates the temp with O_CREAT|O_EXCL|O_NOFOLLOW and mode 0600, writes every byte, fsyncs it before the rename, and fsyncs the parent folder after the rename`, { timeout: 90_000 }, (t) => {
      if (NO_STRACE) return t.skip(NO_STRACE);
      const { trace, dir, target } = traceWrite(t, mode, true);
      checkOrder(trace, dir, target, true);
    });
  }

  it('writeFile with fsync: false makes the same exclusive temp and rename but no fsync at all', { timeout: 90_000 }, (t) => {
    if (NO_STRACE) return t.skip(NO_STRACE);
    const { trace, dir, target } = traceWrite(t, 'async', false);
    checkOrder(trace, dir, target, false);
  });
});
