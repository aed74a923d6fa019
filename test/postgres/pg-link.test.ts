/**
 * PostgresMount behind a link that freezes (a TCP proxy on 127.0.0.1 that stops forwarding),
 * with a write in flight at its COMMIT: held before the server got it (so it did not
 * commit), or let through with the answer frozen on the way back (so it committed and the
 * client does not know). Either way the call fails with ETIMEDOUT within its deadline, and
 * once the link is back the client tells which happened by re-reading the file's version
 * and content (the README's recipe), checked against what the server says directly. Both
 * for a vfs.writeFile and for the close() of a handle.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { VirtualFileSystem, isAtomfsError } from '../../src/index.js';
import { PostgresMount } from '../../src/postgres/index.js';
import { assertInvariants, checkInvariants, readTree } from '../helpers/pg-invariants.js';
import { pgMissing, type PgServer, serverForSuite } from '../helpers/pg.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';

const missing = pgMissing();
const TIMEOUT = 2_000;
const CHUNK = 256 * 1024;

/** The README's recipe: after a lost answer, did my write of `data` (made at `before`) commit? */
async function didCommit(vfs: VirtualFileSystem, path: string, before: string | undefined, data: Buffer): Promise<boolean> {
  const now = await vfs.stat(path);
  return now.version !== before && (await vfs.readFile(path)).equals(data);
}

if (missing !== undefined) {
  it('PostgresMount frozen link', (t) => t.skip(missing));
} else {
  describe('PostgresMount behind a link that freezes at COMMIT', () => {
    let srv!: PgServer;
    const mounts: PostgresMount[] = [];
    serverForSuite((s) => (srv = s), mounts);

    for (const how of ['writeFile', 'handle'] as const) {
      for (const when of ['before', 'after'] as const) {
        it(`${how}: the link freezes ${when === 'before' ? 'with the COMMIT held (not committed)' : 'after the COMMIT went through (committed, answer lost)'}: ETIMEDOUT within the deadline, and after reconnecting the client tells which`, { timeout: 60_000 }, async () => {
          const schema = srv.schema();
          const port = Number(new URL(srv.url).port);
          const proxy = new TcpProxy(port);
          const via = srv.url.replace(`:${port}/`, `:${await proxy.listen()}/`);
          try {
            const m = new PostgresMount({ connectionString: via, schema, timeout: TIMEOUT, retries: 0, stageLease: 1_000 });
            mounts.push(m);
            const vfs = new VirtualFileSystem();
            vfs.mount('/p', m);
            const old = Buffer.alloc(CHUNK + 3, 1);
            await vfs.writeFile('/p/f', old);
            const v0 = (await vfs.stat('/p/f')).version;
            const data = Buffer.alloc(2 * CHUNK + 5, 2);
            const h = how === 'handle' ? await vfs.open('/p/f', 'w') : undefined;
            if (h !== undefined) await h.write(data); // staged; its COMMIT is the close()'s
            // The write's own COMMIT: the one after its UPDATE of the file's size (the
            // reads before it commit too).
            let armed = false;
            let froze = false;
            proxy.watch = (chunk) => {
              if (chunk.includes('size = $2, ')) armed = true;
              if (froze || !armed || !chunk.includes('COMMIT')) return 'pass';
              froze = true;
              if (when === 'before') return 'hold';
              proxy.freeze(); // this chunk still goes; nothing more either way, answers included
              return 'pass';
            };
            const t0 = Date.now();
            const e = await (h !== undefined ? h.close() : vfs.writeFile('/p/f', data)).then(() => undefined, (x: unknown) => x);
            const ms = Date.now() - t0;
            assert.ok(froze, 'the COMMIT reached the link');
            assert.ok(isAtomfsError(e, 'ETIMEDOUT'), String(e));
            // A handle's close is two calls when its commit fails: the commit, then dropping the stage.
            assert.ok(ms < (h !== undefined ? 2 : 1) * TIMEOUT + 5_000, `settled after ${ms} ms`);
            // The truth, from the server directly (a committed write is there at once; a
            // held one never is: its connection is cut below and the server rolls it back).
            proxy.watch = undefined;
            proxy.cut();
            proxy.thaw();
            let truth = false;
            for (let i = 0; i < 40; i++) {
              truth = (await readTree(srv.url, schema)).get('/f')!.content!.equals(data);
              if (truth || when === 'before') break;
              await sleep(50);
            }
            assert.equal(truth, when === 'after');
            // The client, reconnected through the same link, tells the same.
            let told: boolean | undefined;
            for (let i = 0; i < 40 && told === undefined; i++) {
              told = await didCommit(vfs, '/p/f', v0, data).catch(() => undefined);
              if (told === undefined) await sleep(100);
            }
            assert.equal(told, truth, 'the client tells what happened');
            if (!truth) assert.ok((await vfs.readFile('/p/f')).equals(old), 'entirely the old content');
            // A handle whose close could not reach the server to drop its stage leaves it
            // until its lease ends; then a sweep takes it, never the file's chunks.
            for (let i = 0; i < 50 && (await checkInvariants(srv.url, schema)).stages > 0; i++) {
              await sleep(100);
              await m.cleanup().catch(() => undefined);
            }
            await assertInvariants(srv.url, schema, assert);
          } finally {
            await proxy.close();
          }
        });
      }
    }
  });
}
