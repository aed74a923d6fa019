/**
 * PostgresMount when the server dies: `kill -9` of the postmaster and every backend (the
 * harness's kill9) in the middle of the rename of a folder of 1,000 files and in the middle
 * of a 100 MiB write (one vfs.writeFile transaction, and a handle's staged chunks). After
 * the restart (the server's crash recovery) the tree is entirely the old one or entirely
 * the new one, no file is partial, no row or chunk is orphaned, and the client got an
 * AtomfsError with a connection code before its call's deadline. "In the middle" is made
 * exact by a TCP proxy that holds the statement at the link while the server is killed.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { VirtualFileSystem, isAtomfsError } from '../../src/index.js';
import { PostgresMount } from '../../src/postgres/index.js';
import { assertInvariants, checkInvariants, readTree, type TreeEntry } from '../helpers/pg-invariants.js';
import { pgMissing, type PgServer, serverForSuite } from '../helpers/pg.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { seeded } from '../helpers/xorshift.js';

const missing = pgMissing();
const MIB = 1 << 20;
const FILES = 1_000;
const TIMEOUT = 10_000;
// What a client may get when the server dies under its call.
const GONE = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT']);

/** Settles `p`, with the error and how long it took. */
async function settle(p: Promise<unknown>): Promise<{ error: unknown; ms: number }> {
  const t = Date.now();
  try {
    await p;
    return { error: undefined, ms: Date.now() - t };
  } catch (e) {
    return { error: e, ms: Date.now() - t };
  }
}

function assertGone(r: { error: unknown; ms: number }, what: string): void {
  const e = r.error as { code?: unknown } | undefined;
  assert.ok(isAtomfsError(r.error) && GONE.has(String(e?.code)), `${what}: ${String(r.error)}`);
  assert.ok((r.error as Error).cause !== undefined, `${what}: the driver's error is the cause`);
  // The bound is the call's deadline (plus slack for a loaded machine), not a speed.
  assert.ok(r.ms < TIMEOUT + 5_000, `${what}: settled after ${r.ms} ms, past its deadline`);
}

/** The children of folder `dir` in a tree read from the tables. */
function under(tree: Map<string, TreeEntry>, dir: string): string[] {
  return [...tree.keys()].filter((p) => p.startsWith(`${dir}/`) && !p.slice(dir.length + 1).includes('/'));
}

if (missing !== undefined) {
  it('PostgresMount crash', (t) => t.skip(missing));
} else {
  describe('PostgresMount across kill -9 of the server', () => {
    let srv!: PgServer;
    const mounts: PostgresMount[] = [];
    const mk = (schema: string, url = srv.url): PostgresMount => {
      const m = new PostgresMount({ connectionString: url, schema, timeout: TIMEOUT, retries: 5 });
      mounts.push(m);
      return m;
    };
    serverForSuite((s) => (srv = s), mounts);

    // A folder of FILES small files, made in one transaction through SQL (setup only).
    const folderOfFiles = async (schema: string, name: string): Promise<void> => {
      const m = mk(schema);
      await m.create(`/${name}`, { dir: true });
      await m.close();
      const c = new pg.Client({ connectionString: srv.url });
      await c.connect();
      const S = `"${schema}"`;
      try {
        await c.query('BEGIN');
        await c.query(
          `INSERT INTO ${S}.inode (id, parent, name, kind, mode, mtime_ms, size, version)
           SELECT nextval('${S}.inode_seq'), d.id, 'f' || lpad(g::text, 4, '0'), 'file', 420, 0, 9, nextval('${S}.version_seq')
             FROM generate_series(0, ${FILES - 1}) g, ${S}.inode d WHERE d.parent = 1 AND d.name = $1`,
          [name],
        );
        await c.query(`INSERT INTO ${S}.chunk (inode, idx, data) SELECT i.id, 0, convert_to('content ' || right(i.name, 1), 'UTF8')
                         FROM ${S}.inode i JOIN ${S}.inode d ON i.parent = d.id WHERE d.parent = 1 AND d.name = $1`, [name]);
        await c.query('COMMIT');
      } finally {
        await c.end();
      }
    };

    // The whole tree holds FILES files in exactly one of `names` (returned), every one whole.
    const wholeIn = async (schema: string, names: readonly string[]): Promise<string> => {
      const tree = await readTree(srv.url, schema);
      const found = names.filter((n) => tree.has(`/${n}`));
      assert.equal(found.length, 1, `exactly one of ${names.join(', ')}: ${found.join(', ')}`);
      const dir = `/${found[0]!}`;
      const files = under(tree, dir);
      assert.equal(files.length, FILES, `${dir} holds all ${FILES} files`);
      for (const f of files) assert.equal(tree.get(f)!.content!.toString(), `content ${f.slice(-1)}`, f);
      await assertInvariants(srv.url, schema, assert);
      return found[0]!;
    };

    it('the rename of a folder of 1,000 files, server killed with the UPDATE at the link: ECONNRESET before the deadline; after restart the folder is entirely at its old name', { timeout: 60_000 }, async () => {
      const schema = srv.schema();
      await folderOfFiles(schema, 'old');
      const port = Number(new URL(srv.url).port);
      const proxy = new TcpProxy(port);
      const via = srv.url.replace(`:${port}/`, `:${await proxy.listen()}/`);
      try {
        const vfs = new VirtualFileSystem();
        vfs.mount('/p', mk(schema, via));
        assert.equal((await vfs.list('/p/old')).length, FILES);
        let held = false;
        proxy.watch = (chunk) => {
          if (!held && chunk.includes('SET parent = $2')) {
            held = true;
            return 'hold';
          }
          return 'pass';
        };
        const rename = settle(vfs.rename('/p/old', '/p/new'));
        for (let i = 0; i < 200 && !held; i++) await sleep(25);
        assert.ok(held, 'the rename\'s UPDATE reached the link');
        await srv.kill9();
        proxy.thaw();
        const r = await rename;
        assertGone(r, 'the rename');
        await srv.start();
        assert.equal(await wholeIn(schema, ['old', 'new']), 'old');
      } finally {
        await proxy.close();
      }
    });

    it('renames around three names while the server is killed at random moments (3 times): after each restart the folder is whole, at the last acknowledged name or the one in flight', { timeout: 120_000 }, async () => {
      const schema = srv.schema();
      const names = ['a', 'b', 'c'];
      await folderOfFiles(schema, 'a');
      const rnd = seeded(9_001);
      let at = 0; // index of the name the last acknowledged rename left
      for (let round = 0; round < 3; round++) {
        const m = mk(schema);
        await m.ready();
        let stop = false;
        let acked = 0;
        const loop = (async () => {
          for (let i = 0; i < 100_000 && !stop; i++) {
            await m.rename(`/${names[at]!}`, `/${names[(at + 1) % 3]!}`);
            at = (at + 1) % 3;
            acked++;
          }
        })();
        const r = settle(loop);
        await sleep(30 + Math.floor(rnd() * 300));
        await srv.kill9();
        const s = await r;
        stop = true;
        assertGone(s, `round ${round}`);
        await srv.start();
        const found = names.indexOf(await wholeIn(schema, names));
        assert.ok(found === at || found === (at + 1) % 3, `round ${round} (${acked} acknowledged): at ${names[found]!}, last acknowledged ${names[at]!}`);
        at = found;
        await m.close();
      }
    });

    it('a 100 MiB vfs.writeFile, server killed mid-transfer: the client gets a connection error; after restart the file is entirely the old one, no orphan chunk', { timeout: 90_000 }, async () => {
      const schema = srv.schema();
      const port = Number(new URL(srv.url).port);
      const proxy = new TcpProxy(port);
      const via = srv.url.replace(`:${port}/`, `:${await proxy.listen()}/`);
      try {
        const vfs = new VirtualFileSystem();
        vfs.mount('/p', mk(schema, via));
        const old = Buffer.alloc(3 * MIB + 17, 0x0f);
        await vfs.writeFile('/p/f', old);
        const before = proxy.forwarded;
        let held = false;
        proxy.watch = (_chunk, forwarded) => {
          if (!held && forwarded - before > 50 * MIB) {
            held = true;
            return 'hold';
          }
          return 'pass';
        };
        const big = Buffer.alloc(100 * MIB, 0xbb);
        const w = settle(vfs.writeFile('/p/f', big));
        for (let i = 0; i < 2_400 && !held; i++) await sleep(25);
        assert.ok(held, 'half of the write went through the link');
        await srv.kill9();
        proxy.thaw();
        assertGone(await w, 'the write');
        await srv.start();
        const tree = await readTree(srv.url, schema);
        assert.ok(tree.get('/f')!.content!.equals(old), 'entirely the old content');
        const inv = await assertInvariants(srv.url, schema, assert);
        assert.equal(inv.chunks, Math.ceil(old.length / (256 * 1024)));
      } finally {
        await proxy.close();
      }
    });

    it('a 100 MiB write through a handle, server killed mid-way: the write fails, close publishes nothing (not the part that was staged), and the stage is swept after restart', { timeout: 90_000 }, async () => {
      const schema = srv.schema();
      const m = new PostgresMount({ connectionString: srv.url, schema, timeout: TIMEOUT, retries: 5, stageLease: 1_000 });
      mounts.push(m);
      const vfs = new VirtualFileSystem();
      vfs.mount('/p', m);
      const old = Buffer.from('the old content');
      await vfs.writeFile('/p/f', old);
      const h = await vfs.open('/p/f', 'w');
      const buf = Buffer.alloc(MIB, 0xcc);
      let written = 0;
      const loop = settle(
        (async () => {
          for (let i = 0; i < 100; i++) {
            await h.write(buf);
            written++;
          }
        })(),
      );
      for (let i = 0; i < 2_400 && written < 40; i++) await sleep(25);
      assert.ok(written >= 40, 'some 40 MiB were staged');
      await srv.kill9();
      const r = await loop;
      assertGone(r, 'the handle\'s write');
      assert.ok(written < 100, 'the write did not complete');
      await srv.start();
      // The mount works again (so the close below does reach the server)...
      for (let i = 0; i < 50 && (await settle(m.stat('/f'))).error !== undefined; i++) await sleep(100);
      assert.equal((await m.stat('/f')).size, old.length);
      // ...and 40+ MiB are staged, but the caller lost a write: nothing is published.
      const c = await settle(h.close());
      assert.ok(isAtomfsError(c.error), `close: ${String(c.error)}`);
      const tree = await readTree(srv.url, schema);
      assert.ok(tree.get('/f')!.content!.equals(old), 'entirely the old content');
      // The close dropped its stage or, had it not reached the server, its lease ends and
      // the next mount to start (here, one per try) sweeps it.
      for (let i = 0; i < 50 && (await checkInvariants(srv.url, schema)).stages > 0; i++) {
        await sleep(200);
        const fresh = mk(schema);
        await fresh.ready().catch(() => undefined);
        await fresh.close();
      }
      await assertInvariants(srv.url, schema, assert);
    });
  });
}
