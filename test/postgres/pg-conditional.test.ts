/**
 * Conditional writes on PostgresMount (#22) with real processes on a real server: 8
 * processes increment one counter file with a read-version / ifMatch-write retry loop and
 * lose no update; the control (the same processes without ifMatch) loses updates. And the
 * check is the write's own: a version read before another client's commit is refused
 * afterwards, from another connection.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { VirtualFileSystem } from '../../src/index.js';
import { PostgresMount } from '../../src/postgres/index.js';
import { pgMissing, type PgServer, serverForSuite } from '../helpers/pg.js';
import { tmpDir } from '../helpers/tmp.js';
import { runCounterWorkers } from '../vfs/counter-kit.js';

const missing = pgMissing();

if (missing !== undefined) {
  it('PostgresMount conditional writes', (t) => t.skip(missing));
} else {
  describe('PostgresMount conditional writes on a real server', () => {
    let srv!: PgServer;
    const mounts: PostgresMount[] = [];
    serverForSuite((s) => (srv = s), mounts);
    const vfsOn = (schema: string): VirtualFileSystem => {
      const m = new PostgresMount({ connectionString: srv.url, schema, timeout: 20_000 });
      mounts.push(m);
      const vfs = new VirtualFileSystem();
      vfs.mount('/c', m);
      return vfs;
    };

    const procs = 8;
    const increments = 25;
    for (const mode of ['ifMatch', 'blind'] as const) {
      const title =
        mode === 'ifMatch'
          ? `${procs} processes x ${increments} ifMatch increments of one file lose no update`
          : 'control: the same processes without ifMatch lose updates';
      it(title, async (t) => {
        const schema = srv.schema();
        const vfs = vfsOn(schema);
        await vfs.writeFile('/c/counter', '0');
        const results = await runCounterWorkers(t, { kind: 'pg', target: srv.url, schema, procs, increments, mode, pauseMs: 1, scratch: tmpDir(t) });
        assert.deepEqual(results.map((r) => r.ok), Array(procs).fill(increments));
        const value = Number(await vfs.readFile('/c/counter', { encoding: 'utf8' }));
        if (mode === 'ifMatch') {
          assert.equal(value, procs * increments);
          assert.ok(results.some((r) => r.conflicts > 0), 'the processes did collide');
        } else {
          assert.ok(value < procs * increments, `expected lost updates, got ${value}`);
        }
        assert.deepEqual(await vfs.list('/c'), ['counter']);
      });
    }

    it('a version read before another client committed is refused from any connection (ECANCELED), nothing written', async () => {
      const schema = srv.schema();
      const a = vfsOn(schema);
      const b = vfsOn(schema);
      await a.writeFile('/c/f', 'one');
      const v1 = (await a.stat('/c/f')).version!;
      assert.equal((await b.stat('/c/f')).version, v1, 'one version for every client');
      await b.writeFile('/c/f', 'two', { ifMatch: v1 });
      const v2 = (await a.stat('/c/f')).version!;
      assert.notEqual(v2, v1);
      await assert.rejects(a.writeFile('/c/f', 'three', { ifMatch: v1 }), { code: 'ECANCELED', reason: 'precondition', path: '/c/f' });
      assert.equal(await b.readFile('/c/f', { encoding: 'utf8' }), 'two');
      assert.equal((await b.stat('/c/f')).version, v2);
      await assert.rejects(b.writeFile('/c/f', 'x', { ifNoneMatch: '*' }), { code: 'EEXIST', reason: 'precondition' });
      await a.remove('/c/f');
      await assert.rejects(b.writeFile('/c/f', 'x', { ifMatch: v2 }), { code: 'ENOENT', reason: 'precondition' });
      assert.deepEqual(await a.list('/c'), []);
    });
  });
}
