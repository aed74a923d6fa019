/**
 * The /proc reads on the write path, counted under strace: a new file's write reads the
 * umask from /proc/self/status with one open, one read and one close (not readFileSync's
 * five calls), and the value read is the process umask.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { realOps } from '../../src/internal/fs-ops.js';
import { straceRun, straceUnavailable } from '../helpers/strace.js';
import { tmpDir } from '../helpers/tmp.js';

const INDEX = pathToFileURL(path.resolve('build/src/index.js')).href;

describe('/proc reads on the write path', () => {
  it('the umask read from /proc is the process umask, whatever it is', () => {
    const saved = process.umask(0o022);
    try {
      for (const mask of [0o000, 0o002, 0o022, 0o027, 0o077, 0o777]) {
        process.umask(mask);
        assert.equal(realOps.sync.umask(), mask);
      }
    } finally {
      process.umask(saved);
    }
  });

  it('each new-file write reads /proc/self/status with three calls: open, one read, close', { timeout: 60_000 }, (t) => {
    const why = straceUnavailable();
    if (why) return t.skip(why);
    const dir = tmpDir(t);
    const N = 4;
    const code = `
      import { writeFileSync } from ${JSON.stringify(INDEX)};
      for (let i = 0; i < ${N}; i++) writeFileSync(${JSON.stringify(dir)} + '/f' + i, 'x', { fsync: false });
    `;
    const trace = straceRun(process.execPath, ['--input-type=module', '-e', code], {
      syscalls: ['openat', 'open', 'read', 'pread64', 'readv', 'preadv', 'close', 'fstat', 'newfstatat', 'statx', 'lseek'],
      out: path.join(tmpDir(t), 'trace.txt'),
      env: { ...process.env, UV_USE_IO_URING: '0' },
    });
    const status = '/proc/self/status';
    const calls = trace.calls.filter((c) => c.paths.includes(status) || c.fdPath === status).map((c) => c.name);
    assert.equal(calls.length, 3 * N, calls.join(' '));
    assert.deepEqual(
      calls.filter((n) => n !== 'openat' && n !== 'open' && n !== 'close'),
      Array.from({ length: N }, () => 'pread64'),
    );
  });
});
