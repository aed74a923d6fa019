/**
 * PostgresMount beyond the conformance suite, on a real server: content in chunks against
 * an in-memory oracle, names as bytes, the schema's concurrent migration, races between
 * clients on one namespace (no cycle, no orphan), atomic whole-file writes seen by another
 * connection, and validation before anything is touched.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pg from 'pg';
import { MemoryMount, VirtualFileSystem, isAtomfsError } from '../../src/index.js';
import { PostgresMount } from '../../src/postgres/index.js';
import { SCHEMA_VERSION } from '../../src/postgres/schema.js';
import { assertInvariants } from '../helpers/pg-invariants.js';
import { pgMissing, type PgServer, serverForSuite, settledCode as code } from '../helpers/pg.js';
import { seeded } from '../helpers/xorshift.js';

const missing = pgMissing();
const CHUNK = 256 * 1024;


if (missing !== undefined) {
  it('PostgresMount', (t) => t.skip(missing));
} else {
  describe('PostgresMount on a real server', () => {
    let srv!: PgServer;
    const mounts: PostgresMount[] = [];
    const mk = (schema: string, extra: { timeout?: number; retries?: number } = {}): PostgresMount => {
      const m = new PostgresMount({ connectionString: srv.url, schema, timeout: 20_000, ...extra });
      mounts.push(m);
      return m;
    };
    serverForSuite((s) => (srv = s), mounts);

    it('reads back every byte of random writes, truncates and sparse gaps across chunk edges, as MemoryMount does', async () => {
      const schema = srv.schema();
      const pm = mk(schema);
      const mm = new MemoryMount();
      const rnd = seeded(2207);
      for (const m of [pm, mm]) await m.create('/f', { dir: false });
      for (let step = 0; step < 60; step++) {
        const r = rnd();
        const size = (await mm.stat('/f')).size;
        if (r < 0.6) {
          // Around chunk edges on purpose: offsets near k·CHUNK, lengths up to 2.5 chunks.
          const edge = Math.floor(rnd() * 4) * CHUNK + Math.floor((rnd() - 0.5) * 64);
          const offset = Math.max(0, rnd() < 0.5 ? edge : Math.floor(rnd() * (size + CHUNK)));
          const data = Buffer.alloc(Math.floor(rnd() * CHUNK * 2.5) + 1);
          for (let i = 0; i < data.length; i += 997) data[i] = Math.floor(rnd() * 256);
          data[data.length - 1] = step + 1;
          for (const m of [pm, mm]) await m.write('/f', data, { offset });
        } else {
          const to = Math.floor(rnd() * (size + CHUNK));
          for (const m of [pm, mm]) await m.truncate('/f', to);
        }
        assert.equal((await pm.stat('/f')).size, (await mm.stat('/f')).size, `size after step ${step}`);
      }
      assert.ok(Buffer.from(await pm.read('/f')).equals(Buffer.from(await mm.read('/f'))), 'whole content');
      const size = (await mm.stat('/f')).size;
      for (let i = 0; i < 20; i++) {
        const offset = Math.floor(rnd() * size);
        const length = Math.floor(rnd() * CHUNK * 2);
        assert.ok(Buffer.from(await pm.read('/f', { offset, length })).equals(Buffer.from(await mm.read('/f', { offset, length }))), `range ${offset}+${length}`);
      }
      await assertInvariants(srv.url, schema, assert);
    });

    it('names are bytes: SQL in a name is a name, NUL is refused, 255 bytes is the limit, case matters', async () => {
      const vfs = new VirtualFileSystem();
      const schema = srv.schema();
      vfs.mount('/p', mk(schema));
      const evil = `'; DROP TABLE ${schema}.inode; --`;
      await vfs.writeFile(`/p/${evil}`, 'still here');
      assert.deepEqual(await vfs.list('/p'), [evil]);
      assert.equal(await vfs.readFile(`/p/${evil}`, { encoding: 'utf8' }), 'still here');
      assert.equal(await code(vfs.writeFile('/p/a\0b', 'x')), 'EINVAL');
      const long = 'é'.repeat(127) + 'x'; // 255 bytes
      await vfs.writeFile(`/p/${long}`, 'ok');
      assert.equal(await code(vfs.writeFile(`/p/${long}y`, 'x')), 'ENAMETOOLONG');
      assert.equal(await code(vfs.mkdir(`/p/${long}yy`)), 'ENAMETOOLONG');
      await vfs.writeFile('/p/Case', '1');
      await vfs.writeFile('/p/case', '2');
      assert.deepEqual((await vfs.list('/p')).sort(), [evil, long, 'Case', 'case'].sort());
      await assertInvariants(srv.url, schema, assert);
    });

    it('four mounts starting at once on a new schema migrate it once, and all work', async () => {
      const schema = srv.schema();
      const ms = [0, 1, 2, 3].map(() => mk(schema));
      await Promise.all(ms.map((m) => m.ready()));
      await Promise.all(ms.map((m, i) => m.create(`/d${i}`, { dir: true })));
      assert.deepEqual((await ms[0]!.list('/')).sort(), ['d0', 'd1', 'd2', 'd3']);
      const c = new pg.Client({ connectionString: srv.url });
      await c.connect();
      const v = await c.query(`SELECT value FROM "${schema}".meta WHERE key = 'schema_version'`);
      const roots = await c.query(`SELECT count(*) AS n FROM "${schema}".inode WHERE parent IS NULL`);
      await c.end();
      assert.deepEqual([v.rows[0].value, roots.rows[0].n], [String(SCHEMA_VERSION), '1']);
    });

    it('a newer layout is refused, not overwritten (ENOTSUP)', async () => {
      const schema = srv.schema();
      await mk(schema).ready();
      const c = new pg.Client({ connectionString: srv.url });
      await c.connect();
      await c.query(`UPDATE "${schema}".meta SET value = '99' WHERE key = 'schema_version'`);
      await c.end();
      assert.equal(await code(mk(schema).stat('/')), 'ENOTSUP');
      // Through the VFS the error names the virtual path and the call.
      const v = new VirtualFileSystem();
      v.mount('/p', mk(schema));
      const e = await v.writeFile('/p/x', 'x').then(() => undefined, (x: unknown) => x);
      assert.ok(isAtomfsError(e) && e.code === 'ENOTSUP' && e.path === '/p/x', String(e));
    });

    it('two clients crossing folder renames (/a into /b, /b into /a) never make a cycle or an orphan: one wins, one fails', async () => {
      const schema = srv.schema();
      const one = mk(schema);
      const two = mk(schema);
      // Both connected and migrated first, so the two renames of a round really overlap.
      await Promise.all([one.ready(), two.ready(), two.stat('/')]);
      const tally: Record<string, number> = {};
      for (let round = 0; round < 40; round++) {
        const base = `/r${round}`;
        await one.create(base, { dir: true });
        await one.create(`${base}/a`, { dir: true });
        await one.create(`${base}/b`, { dir: true });
        await one.create(`${base}/a/f`, { dir: false });
        const results = await Promise.all([code(one.rename(`${base}/a`, `${base}/b/x`)), code(two.rename(`${base}/b`, `${base}/a/y`))]);
        const key = results.slice().sort().join('+');
        tally[key] = (tally[key] ?? 0) + 1;
        assert.equal(results.filter((r) => r === 'ok').length, 1, `round ${round}: exactly one rename wins (${results.join(', ')})`);
        for (const r of results) assert.ok(['ok', 'ENOENT', 'EINVAL'].includes(r), `round ${round}: ${r}`);
      }
      await assertInvariants(srv.url, schema, assert);
    });

    it('two clients creating the same name at once: one EEXIST, never two entries', async () => {
      const schema = srv.schema();
      const one = mk(schema);
      const two = mk(schema);
      for (let round = 0; round < 30; round++) {
        const r = await Promise.all([code(one.create(`/n${round}`, { dir: round % 2 === 0 })), code(two.create(`/n${round}`, { dir: false }))]);
        assert.deepEqual(r.slice().sort(), ['EEXIST', 'ok'], `round ${round}`);
      }
      await assertInvariants(srv.url, schema, assert);
    });

    it('a rename with replace: false checks the destination inside its transaction (EEXIST, nothing lost)', async () => {
      const schema = srv.schema();
      const one = mk(schema);
      const two = mk(schema);
      for (let round = 0; round < 20; round++) {
        await one.writeFile(`/src${round}`, Buffer.from('source'));
        const [a, b] = await Promise.all([code(one.rename(`/src${round}`, `/dst${round}`, { replace: false })), code(two.writeFile(`/dst${round}`, Buffer.from('other')))]);
        const names = (await one.list('/')).filter((n) => n.endsWith(String(round)) && /^(src|dst)\d+$/.test(n)).sort();
        // Either the rename came first (and the write then replaced the renamed file), or
        // the write did and the rename saw the destination: never a replaced destination.
        if (a === 'ok') assert.deepEqual([b, names], ['ok', [`dst${round}`]]);
        else assert.deepEqual([a, b, names, Buffer.from(await one.read(`/src${round}`)).toString()], ['EEXIST', 'ok', [`dst${round}`, `src${round}`], 'source']);
      }
      await assertInvariants(srv.url, schema, assert);
    });

    it('vfs.writeFile is one transaction: a reader on another connection sees the old content or the new, never a part', async () => {
      const schema = srv.schema();
      const w = new VirtualFileSystem();
      const r = new VirtualFileSystem();
      w.mount('/p', mk(schema));
      r.mount('/p', mk(schema));
      const versions = [0, 1, 2, 3, 4].map((i) => Buffer.alloc(3 * CHUNK + 123, i + 1));
      await w.writeFile('/p/big', versions[0]!);
      let done = false;
      const seen = new Set<number>();
      const reader = (async () => {
        for (let i = 0; i < 2_000 && !done; i++) {
          const got = await r.readFile('/p/big');
          assert.equal(got.length, versions[0]!.length);
          const first = got[0]!;
          assert.ok(got.every((b) => b === first), `read ${i}: a mix of versions`);
          seen.add(first);
        }
      })();
      for (const v of versions.slice(1)) await w.writeFile('/p/big', v);
      done = true;
      await reader;
      assert.ok(seen.size >= 1);
      assert.deepEqual([...(await r.readFile('/p/big'))].slice(0, 1), [5]);
      await assertInvariants(srv.url, schema, assert);
    });

    it('a whole-file write of up to one chunk is one statement on the server, and does all a transaction does: codes, conditions, mode, a shrunk file\'s chunks, the folder\'s version', async () => {
      const schema = srv.schema();
      let statements = 0;
      const pool = new pg.Pool({ connectionString: srv.url, max: 2 });
      pool.on('error', () => undefined);
      pool.on('connect', (c) => {
        const query = c.query.bind(c) as (...a: unknown[]) => unknown;
        (c as unknown as { query: (...a: unknown[]) => unknown }).query = (...a: unknown[]) => {
          statements++;
          return query(...a);
        };
      });
      try {
        const m = new PostgresMount({ pool, schema, timeout: 20_000 });
        const v = new VirtualFileSystem();
        v.mount('/p', m);
        await v.mkdir('/p/d');
        const one = async (what: string, run: () => Promise<unknown>): Promise<void> => {
          statements = 0;
          await run();
          assert.equal(statements, 1, `${what}: one statement`);
        };
        const dir0 = (await m.stat('/d')).version;
        await one('a new file', () => v.writeFile('/p/d/f', 'one', { mode: 0o600 }));
        const dir1 = (await m.stat('/d')).version;
        assert.notEqual(dir1, dir0, 'a new name moves the folder\'s version');
        await one('a rewrite', () => v.writeFile('/p/d/f', 'two'));
        assert.equal((await m.stat('/d')).version, dir1, 'a rewrite leaves the folder');
        assert.deepEqual([(await v.readFile('/p/d/f', { encoding: 'utf8' })), (await m.stat('/d/f')).mode], ['two', 0o600], 'the content replaced, the mode kept');
        for (const [what, path, want] of [
          ['a missing folder', '/p/nope/f', 'ENOENT'],
          ['a file in the way', '/p/d/f/g', 'ENOTDIR'],
          ['a folder there', '/p/d', 'EISDIR'],
        ] as const) {
          await one(what, () => assert.rejects(v.writeFile(path, 'x'), { code: want }));
        }
        const ver = (await m.stat('/d/f')).version;
        await one('ifMatch, another version', () => assert.rejects(v.writeFile('/p/d/f', 'x', { ifMatch: '1' }), { code: 'ECANCELED', reason: 'precondition' }));
        await one('ifMatch, nothing there', () => assert.rejects(v.writeFile('/p/d/g', 'x', { ifMatch: ver }), { code: 'ENOENT', reason: 'precondition' }));
        await one('ifNoneMatch, something there', () => assert.rejects(v.writeFile('/p/d/f', 'x', { ifNoneMatch: '*' }), { code: 'EEXIST', reason: 'precondition' }));
        assert.equal(await v.readFile('/p/d/f', { encoding: 'utf8' }), 'two', 'no failed write changed anything');
        await one('ifMatch, this version', () => v.writeFile('/p/d/f', 'three', { ifMatch: ver }));
        await one('ifNoneMatch, nothing there', () => v.writeFile('/p/d/g', 'new', { ifNoneMatch: '*' }));
        await one('a new file at the root', () => v.writeFile('/p/r', 'r1'));
        await one('a rewrite at the root', () => v.writeFile('/p/r', 'r2'));
        assert.equal(await v.readFile('/p/r', { encoding: 'utf8' }), 'r2');
        // A file whose size holds a hole where its first chunk would be (extended by a
        // truncate): the rewrite must add that chunk, not update a row that is not there.
        await m.create('/d/h', { dir: false });
        await m.truncate('/d/h', 100);
        await one('a rewrite of a file with a hole', () => v.writeFile('/p/d/h', 'hole'));
        assert.equal(await v.readFile('/p/d/h', { encoding: 'utf8' }), 'hole');
        // A file of three chunks and a bit, written whole (a transaction), then shrunk to one
        // chunk and to nothing by the one-statement write: its bytes move into its row and
        // none of its chunks is left.
        const before = await assertInvariants(srv.url, schema, assert);
        await v.writeFile('/p/d/big', Buffer.alloc(3 * CHUNK + 5, 7));
        assert.equal((await assertInvariants(srv.url, schema, assert)).chunks, before.chunks + 4, 'a big file is written as chunks');
        await one('shrunk to a chunk', () => v.writeFile('/p/d/big', Buffer.alloc(CHUNK, 8)));
        assert.ok(Buffer.from(await v.readFile('/p/d/big')).equals(Buffer.alloc(CHUNK, 8)));
        assert.equal((await assertInvariants(srv.url, schema, assert)).chunks, before.chunks, 'the shrunk file keeps no chunk');
        await one('emptied', () => v.writeFile('/p/d/big', ''));
        assert.equal((await m.stat('/d/big')).size, 0);
        assert.equal((await v.readFile('/p/d/big')).length, 0);
        // Bytes kept in the row, then changed by the calls that work on chunks: a write at an
        // offset past the first chunk, a truncate, a handle that keeps the old bytes.
        await v.writeFile('/p/d/s', 'abcdef');
        await m.write('/d/s', Buffer.from('XY'), { offset: CHUNK + 1 });
        const s1 = Buffer.alloc(CHUNK + 3);
        s1.write('abcdef');
        s1.write('XY', CHUNK + 1);
        assert.ok(Buffer.from(await v.readFile('/p/d/s')).equals(s1), 'a write past the first chunk keeps the bytes of the row');
        await assertInvariants(srv.url, schema, assert);
        await v.writeFile('/p/d/s', 'abcdef');
        await m.truncate('/d/s', 3);
        assert.equal(await v.readFile('/p/d/s', { encoding: 'utf8' }), 'abc');
        await assertInvariants(srv.url, schema, assert);
        await v.writeFile('/p/d/s', 'abcdef');
        await m.truncate('/d/s', 8);
        assert.ok(Buffer.from(await v.readFile('/p/d/s')).equals(Buffer.from('abcdef\0\0')), 'a truncate that grows keeps the bytes');
        await assertInvariants(srv.url, schema, assert);
        await v.writeFile('/p/d/s', 'abcdef');
        const h = await v.open('/p/d/s', 'r+');
        assert.equal(Buffer.from(await h.read(2)).toString(), 'ab', 'a handle reads the bytes of the row');
        await h.write('Z');
        await h.close();
        assert.equal(await v.readFile('/p/d/s', { encoding: 'utf8' }), 'abZdef', 'a handle that keeps the old bytes publishes over them');
        await assertInvariants(srv.url, schema, assert);
        const a = await v.open('/p/d/s', 'a');
        await a.write('gh');
        await a.close();
        assert.equal(await v.readFile('/p/d/s', { encoding: 'utf8' }), 'abZdefgh', 'an append handle keeps the bytes of the row');
        // A whole chunk in the row, appended to: the handle stages chunk 1 only.
        await v.writeFile('/p/d/s', Buffer.alloc(CHUNK, 5));
        const a2 = await v.open('/p/d/s', 'a');
        await a2.write('+');
        await a2.close();
        assert.ok(Buffer.from(await v.readFile('/p/d/s')).equals(Buffer.concat([Buffer.alloc(CHUNK, 5), Buffer.from('+')])), 'an append past the row\'s bytes keeps them');
        await assertInvariants(srv.url, schema, assert);
        await m.close();
      } finally {
        await pool.end();
      }
    });

    it('the one-statement write is right under a SERIALIZABLE default too: 4 clients x 15 ifMatch increments of one file lose no update', { timeout: 60_000 }, async () => {
      const schema = srv.schema();
      // A server whose default isolation is SERIALIZABLE (as some are configured): the write
      // then also fails with serialization errors, which the mount retries.
      const clients = Array.from({ length: 4 }, () => {
        const pool = new pg.Pool({ connectionString: srv.url, max: 2, options: '-c default_transaction_isolation=serializable' });
        pool.on('error', () => undefined);
        return { pool, m: new PostgresMount({ pool, schema, timeout: 20_000, retries: 200 }) };
      });
      try {
        const { pool } = clients[0]!;
        assert.equal((await pool.query<{ i: string }>("SELECT current_setting('default_transaction_isolation') AS i")).rows[0]!.i, 'serializable');
        await clients[0]!.m.writeFile('/n', Buffer.from('0'));
        let conflicts = 0;
        await Promise.all(
          clients.map(async ({ m }) => {
            for (let k = 0; k < 15; k++) {
              for (let attempt = 0; ; attempt++) {
                assert.ok(attempt < 500, 'an increment gave up');
                const st = await m.stat('/n');
                const n = Number(Buffer.from(await m.read('/n')).toString());
                const e = await m.writeFile('/n', Buffer.from(String(n + 1)), { ifMatch: st.version }).then(() => undefined, (x: unknown) => x);
                if (e === undefined) break;
                if (!isAtomfsError(e) || e.code !== 'ECANCELED') throw e;
                conflicts++;
              }
            }
          }),
        );
        assert.equal(Buffer.from(await clients[0]!.m.read('/n')).toString(), '60', `60 increments, ${conflicts} conflicts retried`);
      } finally {
        for (const c of clients) {
          await c.m.close();
          await c.pool.end();
        }
      }
    });

    it('versions change with every change of an entry and only then', async () => {
      const m = mk(srv.schema());
      await m.create('/d', { dir: true });
      const v0 = (await m.stat('/d')).version;
      assert.equal((await m.stat('/d')).version, v0, 'a read changes nothing');
      await m.create('/d/f', { dir: false });
      const v1 = (await m.stat('/d')).version;
      assert.notEqual(v1, v0, 'a new name in the folder');
      const f0 = (await m.stat('/d/f')).version;
      await m.write('/d/f', Buffer.from('x'));
      const f1 = (await m.stat('/d/f')).version;
      await m.setMetadata('/d/f', { mode: 0o600 });
      const f2 = (await m.stat('/d/f')).version;
      await m.truncate('/d/f', 0);
      const f3 = (await m.stat('/d/f')).version;
      assert.equal(new Set([f0, f1, f2, f3]).size, 4);
      assert.equal((await m.stat('/d')).version, v1, 'changing a file leaves its folder');
    });

    it('no server is ECONNREFUSED; a frozen server is ETIMEDOUT within the deadline, never a hang; then it works again', { timeout: 60_000 }, async () => {
      const schema = srv.schema();
      const net = await import('node:net');
      // A port that was free a moment ago: nothing listens there.
      const port = await new Promise<number>((resolve) => {
        const s = net.createServer().listen(0, '127.0.0.1', () => {
          const p = (s.address() as { port: number }).port;
          s.close(() => resolve(p));
        });
      });
      const refused = new PostgresMount({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres`, schema, timeout: 5_000 });
      mounts.push(refused);
      const e1 = await refused.stat('/').then(() => undefined, (e: unknown) => e);
      assert.ok(isAtomfsError(e1, 'ECONNREFUSED'), String(e1));
      assert.ok((e1 as Error).cause !== undefined, 'the driver error is the cause');

      const m = mk(schema, { timeout: 1_500, retries: 0 });
      await m.create('/f', { dir: false });
      if (!srv.own) return; // a server of your own is not frozen by the tests
      srv.pause();
      let e2: unknown;
      try {
        e2 = await m.stat('/f').then(() => undefined, (e: unknown) => e);
      } finally {
        srv.resume();
      }
      assert.ok(isAtomfsError(e2, 'ETIMEDOUT'), String(e2));
      assert.equal((await m.stat('/f')).kind, 'file', 'the mount works again once the server is back');
    });

    it('bad options and arguments are EINVAL before anything is touched', async () => {
      const bad: unknown[] = [
        undefined,
        null,
        {},
        { connectionString: '' },
        { connectionString: 5 },
        { connectionString: 'postgres://x', pool: {} },
        { pool: { connect: 1 } },
        { connectionString: 'postgres://x', schema: 'Bad-Name' },
        { connectionString: 'postgres://x', schema: 'x'.repeat(64) },
        { connectionString: 'postgres://x', timeout: -1 },
        { connectionString: 'postgres://x', timeout: 0 },
        { connectionString: 'postgres://x', retries: 1.5 },
        { connectionString: 'postgres://x', timout: 5 },
      ];
      for (const o of bad) {
        assert.throws(
          () => new PostgresMount(o as never),
          (e: unknown) => isAtomfsError(e, 'EINVAL'),
          JSON.stringify(o),
        );
      }
      const m = mk(srv.schema());
      for (const call of [
        () => m.create('relative', { dir: true }),
        () => m.create('/a', {} as never),
        () => m.write('/a', 'text' as never),
        () => m.read('/a', { offset: -1 }),
        () => m.truncate('/a', 1.5),
        () => m.rename('/a', '/b', { replace: 'yes' as never }),
        () => m.setMetadata('/a', { mtimeMs: Number.NaN }),
        () => m.writeFile('/a', Buffer.from('x'), { mode: 0o10000 }),
      ]) {
        assert.equal(await code(call()), 'EINVAL');
      }
      assert.deepEqual(await m.list('/'), []);
    });
  });
}
