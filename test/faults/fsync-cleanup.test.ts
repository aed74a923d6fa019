/**
 * A write whose fsync fails and whose temp then cannot be removed (FaultOps over the real
 * disk): the call rejects with the fsync's code, never the cleanup's; the cleanup failure
 * is attached as `err.suppressed` and logged as 'Failed to clean up temp file'; the target
 * keeps its old content.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { AtomfsError, isTempFile, LOG_EVENTS, openAtomic, writeFile, writeFiles, writeFileSync, type Logger } from '../../src/index.js';
import { FaultOps } from '../helpers/fault-ops.js';
import { recordingLogger } from '../helpers/real-fs.js';
import { list, tmpDir } from '../helpers/tmp.js';

type Write = (p: string, options: { fs: FaultOps; logger: Logger }) => Promise<void>;

const WRITERS: [string, Write][] = [
  ['writeFile', (p, o) => writeFile(p, 'new content', o)],
  ['writeFile (stream data)', (p, o) => writeFile(p, Readable.from(['new ', 'content']), o)],
  ['writeFileSync', async (p, o) => writeFileSync(p, 'new content', o)],
  ['writeFiles', async (p, o) => void (await writeFiles([{ path: p, data: 'new content' }], o))],
  [
    'openAtomic',
    async (p, o) => {
      const f = await openAtomic(p, o);
      await f.write('new content');
      await f.commit();
    },
  ],
];

describe('a failed fsync whose temp cleanup fails too', () => {
  for (const [name, write] of WRITERS) {
    it(`${name} rejects with the fsync's code, the cleanup error as err.suppressed, and logs the failed cleanup`, async (t) => {
      const dir = tmpDir(t);
      const p = path.join(dir, 'data.txt');
      fs.writeFileSync(p, 'old content');
      // The first fsync is the temp file's (the folder exists: no folder fsync comes first).
      const ops = new FaultOps().failOn('fsync', 'EIO').failOn('unlink', 'EACCES', { pathMatch: /\.tmp$/ });
      const { logger, events } = recordingLogger();
      const err: unknown = await write(p, { fs: ops, logger }).then(
        () => assert.fail('the write resolved'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof AtomfsError, String(err));
      assert.equal(err.code, 'EIO');
      assert.equal(err.syscall, 'fsync');
      assert.equal(err.path, p);
      const suppressed = (err as AtomfsError & { suppressed?: NodeJS.ErrnoException }).suppressed;
      assert.equal(suppressed?.code, 'EACCES', 'the cleanup failure is attached');
      assert.equal(Object.keys(err).includes('suppressed'), false, 'not enumerable');
      const temps = list(dir).filter(isTempFile);
      assert.equal(temps.length, 1, 'the temp the unlink could not remove is still there');
      const temp = path.join(dir, temps[0]!);
      const warned = events.filter((e) => e.level === 'warn' && e.msg === LOG_EVENTS.tempCleanupFailed);
      assert.equal(warned.length, 1, JSON.stringify(events));
      assert.equal(warned[0]!.fields['tempPath'], temp);
      assert.equal(warned[0]!.fields['cleanupErrorCode'], 'EACCES');
      assert.ok(events.some((e) => e.level === 'error' && e.msg === LOG_EVENTS.writeFailed && e.fields['errorCode'] === 'EIO'));
      assert.equal(fs.readFileSync(p, 'utf8'), 'old content');
      assert.deepEqual(ops.hits.map((h) => h.name), ['fsync', 'unlink']);
    });
  }
});
