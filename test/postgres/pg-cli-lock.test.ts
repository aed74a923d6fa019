/**
 * `atomfs lock --store postgres://…` from the shell, on a real server: the command runs
 * under the lock with its fencing token in the environment, a second `-n` locker fails
 * with the -E code while the first holds, and a bad URL is bad usage.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { pgMissing, startPg, type PgServer } from '../helpers/pg.js';

const missing = pgMissing();

if (missing !== undefined) {
  it('atomfs lock --store', (t) => t.skip(missing));
} else {
  describe('atomfs lock --store on a real server', () => {
    let srv!: PgServer;
    before(async () => {
      const s = await startPg();
      if (typeof s === 'string') throw new Error(s);
      srv = s;
    });
    after(async () => {
      await srv?.stop();
    });

    it('runs the command under the lock with its token; a -n locker meanwhile exits with the -E code; the lock is free after', async () => {
      const first = await runCli(['lock', '--store', srv.url, 'job', '--', 'sh', '-c', 'echo "token=$ATOMFS_LOCK_TOKEN fd=${ATOMFS_LOCK_FD:-none}"']);
      assert.equal(first.code, 0, first.stderr);
      const m = /token=(\d+) fd=none/.exec(first.stdout);
      assert.ok(m, first.stdout);
      const holder = runCli(['lock', '--store', srv.url, 'job', '--', 'sh', '-c', 'sleep 3']);
      // The second locker tries until the holder has the lock (bounded), then once more with -n.
      let busy: Awaited<ReturnType<typeof runCli>> | undefined;
      for (let i = 0; i < 40; i++) {
        busy = await runCli(['lock', '--store', srv.url, '-n', '-E', '75', 'job', '--', 'true']);
        if (busy.code === 75) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(busy?.code, 75, busy?.stderr);
      assert.equal((await holder).code, 0);
      const next = await runCli(['lock', '--store', srv.url, 'job', '--', 'sh', '-c', 'echo "token=$ATOMFS_LOCK_TOKEN"']);
      assert.equal(next.code, 0, next.stderr);
      assert.ok(Number(/token=(\d+)/.exec(next.stdout)?.[1]) > Number(m[1]));
    });

    it('a --store that is not a postgres:// URL is bad usage (2), and nothing runs', async () => {
      const r = await runCli(['lock', '--store', 'mysql://x', 'job', '--', 'sh', '-c', 'echo ran']);
      assert.equal(r.code, 2);
      assert.doesNotMatch(r.stdout, /ran/);
    });
  });
}
