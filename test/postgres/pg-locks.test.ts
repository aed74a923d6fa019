/**
 * The PostgreSQL lock store on a real server, with real processes: mutual exclusion across
 * 8 processes (two counters that are not atomic by themselves stay exact, fencing tokens
 * grow in the order of acquisitions), holders SIGKILLed at random and reclaimed when their
 * lease ends, a holder SIGSTOPped past its lease whose fenced write is refused, a holder
 * cut off by a frozen TCP link, the server killed with `kill -9` while locks are held,
 * writers not starved by readers, waiters woken by NOTIFY rather than a poll, and
 * validation before anything is touched.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { MemoryMount, VirtualFileSystem, isLocked, lock, lockSync, withLock, type Lock } from '../../src/index.js';
import { PostgresMount, postgresLocks, type PostgresLockStore } from '../../src/postgres/index.js';
import { exited, spawnNode, waitForLine } from '../helpers/child.js';
import { findOverlap, median, type Interval } from '../helpers/lock-kit.js';
import { pgMissing, startPg, type PgServer, settledCode as code } from '../helpers/pg.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';

const missing = pgMissing();
const WORKER = fileURLToPath(new URL('./fixtures/pg-lock-worker.js', import.meta.url));

const codeSync = (f: () => unknown): string => {
  try {
    f();
    return 'ok';
  } catch (e) {
    return String((e as { code?: unknown }).code);
  }
};

interface Log {
  readonly intervals: { start: string; end: string; token?: number; mode: string }[];
  readonly problems: string[];
}

if (missing !== undefined) {
  it('postgresLocks', (t) => t.skip(missing));
} else {
  describe('postgresLocks on a real server', () => {
    let srv!: PgServer;
    const stores: PostgresLockStore[] = [];
    const mounts: PostgresMount[] = [];
    let tmp!: string;
    const mkStore = (schema: string, extra: Parameters<typeof postgresLocks>[0] | object = {}): PostgresLockStore => {
      const s = postgresLocks({ connectionString: srv.url, schema, ...extra });
      stores.push(s);
      return s;
    };
    const mkMount = (schema: string, url = srv.url): PostgresMount => {
      const m = new PostgresMount({ connectionString: url, schema, timeout: 10_000 });
      mounts.push(m);
      return m;
    };
    const counterTable = async (schema: string): Promise<void> => {
      const c = new pg.Client({ connectionString: srv.url });
      await c.connect();
      try {
        await c.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
        await c.query(`CREATE TABLE "${schema}".counter (id int PRIMARY KEY, n int NOT NULL, last_token bigint)`);
        await c.query(`INSERT INTO "${schema}".counter VALUES (1, 0, NULL)`);
      } finally {
        await c.end();
      }
    };
    const counterValue = async (schema: string): Promise<number> => {
      const c = new pg.Client({ connectionString: srv.url });
      await c.connect();
      try {
        return (await c.query<{ n: number }>(`SELECT n FROM "${schema}".counter WHERE id = 1`)).rows[0]!.n;
      } finally {
        await c.end();
      }
    };

    before(async () => {
      const s = await startPg();
      if (typeof s === 'string') throw new Error(s);
      srv = s;
      tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'atomfs-pglocks-'));
    });
    after(async () => {
      for (const s of stores) await s.close();
      for (const m of mounts) await m.close();
      await srv?.stop();
      fs.rmSync(tmp, { recursive: true, force: true });
    });

    it('refuses bad input before connecting: options, names, file-only options, lockSync, and fences it cannot check', async () => {
      const bad: unknown[] = [undefined, null, {}, { connectionString: '' }, { connectionString: srv.url, pool: {} }, { pool: {} }, { connectionString: srv.url, schema: 'A-b' }, { connectionString: srv.url, timeout: 0 }, { connectionString: srv.url, listen: 'yes' }, { connectionString: srv.url, fsyncc: 1 }];
      for (const o of bad) assert.equal(codeSync(() => postgresLocks(o as never)), 'EINVAL', JSON.stringify(o));
      const store = mkStore(srv.schema());
      assert.equal(await code(lock('', { store })), 'EINVAL');
      assert.equal(await code(lock('a\0b', { store })), 'EINVAL');
      assert.equal(await code(lock('x'.repeat(1025), { store })), 'ENAMETOOLONG');
      assert.equal(await code(lock('n', { store, blocking: false })), 'EINVAL');
      assert.equal(await code(lock('n', { store, leaseOnly: true })), 'EINVAL');
      assert.equal(await code(lock('n', { store: {} as never })), 'EINVAL');
      assert.equal(codeSync(() => lockSync('n', { store })), 'EINVAL');
      // A fence must be a store's exclusive lock, on a mount that can check it.
      const vfs = new VirtualFileSystem();
      vfs.mount('/mem', new MemoryMount());
      const pm = mkMount(srv.schema());
      vfs.mount('/pg', pm);
      const fileLock = await lock(path.join(tmp, 'f.lock'));
      try {
        assert.equal(await code(vfs.writeFile('/pg/a', 'x', { fence: fileLock })), 'EINVAL');
      } finally {
        await fileLock.release();
      }
      const shared = await lock('sh', { store, mode: 'shared' });
      assert.equal(shared.fence, undefined);
      assert.equal(await code(vfs.writeFile('/pg/a', 'x', { fence: shared })), 'EINVAL');
      await shared.release();
      const ex = await lock('ex', { store });
      assert.equal(await code(vfs.writeFile('/mem/a', 'x', { fence: ex })), 'ENOTSUP');
      assert.equal(await code(vfs.stat('/mem/a')), 'ENOENT');
      await ex.release();
      assert.equal(await code(vfs.writeFile('/pg/a', 'x', { fence: ex })), 'EINVAL', 'a released lock is no fence');
      assert.equal(await code(vfs.stat('/pg/a')), 'ENOENT');
    });

    it('excludes, shares, hands out increasing tokens, releases twice safely, disposes with await using, answers isLocked', async () => {
      const store = mkStore(srv.schema());
      const a = await lock('res', { store });
      assert.ok(typeof a.token === 'number' && a.token > 0);
      assert.deepEqual({ ...a.fence }, { store: 'postgres', namespace: store.schema, name: 'res', token: a.token });
      assert.equal(await isLocked('res', { store }), true);
      assert.equal(await isLocked('res', { store, mode: 'shared' }), true);
      assert.equal(await code(lock('res', { store, timeout: 200 })), 'ETIMEDOUT');
      assert.equal(await code(lock('res', { store, mode: 'shared', timeout: 200 })), 'ETIMEDOUT');
      await a.release();
      await a.release();
      assert.equal(a.compromised, false);
      assert.equal(await isLocked('res', { store }), false);
      let inner: number | undefined;
      {
        await using b = await lock('res', { store });
        inner = b.token;
        assert.ok(inner! > a.token!);
      }
      assert.equal(await isLocked('res', { store }), false, 'await using released it');
      const s1 = await lock('res', { store, mode: 'shared' });
      const s2 = await lock('res', { store, mode: 'shared' });
      assert.equal(await isLocked('res', { store, mode: 'shared' }), false, 'no writer holds it');
      assert.equal(await isLocked('res', { store }), true);
      await s1.release();
      await s2.release();
      const got = await withLock('res', (l) => l.token, { store });
      assert.ok(got! > inner!);
    });

    it('wakes a waiter by NOTIFY (its poll alone would time out), and polls when listen is false', async () => {
      const schema = srv.schema();
      for (const listen of [true, false]) {
        const store = mkStore(schema, { listen });
        const holder = await lock(`w-${listen}`, { store, stale: 60_000 });
        setTimeout(() => void holder.release(), 300);
        // The holder's lease has 60 s left and the poll is 30 to 60 s: only a wake-up can
        // let this waiter in within its 10 s.
        const l = await lock(`w-${listen}`, { store, timeout: Infinity, stale: 120_000, retryInterval: listen ? 60_000 : 50, signal: AbortSignal.timeout(10_000) });
        await l.release();
      }
      // The control: without NOTIFY a waiter with the same long poll sleeps through the
      // release (it is still asleep when its signal ends the wait).
      const quiet = mkStore(schema, { listen: false });
      const h = await lock('w-none', { store: quiet, stale: 60_000 });
      setTimeout(() => void h.release(), 300);
      assert.equal(await code(lock('w-none', { store: quiet, timeout: Infinity, retryInterval: 60_000, stale: 120_000, signal: AbortSignal.timeout(3_000) })), 'ABORT_ERR');
    });

    it('lets a waiting writer go before readers that come after it, and aborts a waiter through its signal', async () => {
      const store = mkStore(srv.schema());
      const order: string[] = [];
      const r1 = await lock('wp', { store, mode: 'shared' });
      const w = lock('wp', { store, timeout: 10_000 }).then(async (l) => {
        order.push('writer');
        await sleep(50);
        await l.release();
      });
      // The writer is in line once its row is there.
      for (let i = 0; i < 100 && !(await waitingRows(srv.url, store.schema, 'wp')); i++) await sleep(20);
      const r2 = lock('wp', { store, mode: 'shared', timeout: 10_000 }).then(async (l) => {
        order.push('reader');
        await l.release();
      });
      await sleep(100);
      assert.deepEqual(order, [], 'the second reader waits behind the writer');
      await r1.release();
      await Promise.all([w, r2]);
      assert.deepEqual(order, ['writer', 'reader']);
      const ac = new AbortController();
      const h = await lock('ab', { store });
      const waiting = lock('ab', { store, signal: ac.signal, timeout: 10_000 });
      setTimeout(() => ac.abort(), 100);
      assert.equal(await code(waiting), 'ABORT_ERR');
      assert.equal(await waitingRows(srv.url, store.schema, 'ab'), false, 'the aborted waiter left the line');
      await h.release();
    });

    it('acquirers racing through a slowed attempt never both hold: the name\'s row lock orders them (a test trigger sleeps inside each acquisition)', async () => {
      const schema = srv.schema();
      const store = mkStore(schema);
      // The name's row exists already (a new name's first INSERT would order racers too).
      await (await lock('race', { store })).release();
      const c = new pg.Client({ connectionString: srv.url });
      await c.connect();
      try {
        // Widens the window between an attempt's check and its COMMIT to 150 ms: without
        // the row lock, every racer would find the lock free.
        await c.query(`CREATE FUNCTION "${schema}".slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.15); RETURN NEW; END $$`);
        await c.query(`CREATE TRIGGER slow BEFORE INSERT ON "${schema}".lock_holder FOR EACH ROW WHEN (NOT NEW.waiting) EXECUTE FUNCTION "${schema}".slow()`);
      } finally {
        await c.end();
      }
      let active = 0;
      let most = 0;
      const racers = Array.from({ length: 4 }, () => mkStore(schema));
      await Promise.all(racers.map(async (st) => {
        const l = await lock('race', { store: st, timeout: 20_000 });
        most = Math.max(most, ++active);
        // Held longer than the trigger's sleep: a racer let in wrongly arrives while we hold.
        await sleep(400);
        active--;
        await l.release();
      }));
      assert.equal(most, 1);
    });

    it('8 processes x 200 exclusive increments: a file counter and a row counter exact, no two sections overlap, tokens grow in acquisition order', async (t) => {
      const schema = srv.schema();
      await counterTable(schema);
      const counterFile = path.join(tmp, `counter-${schema}`);
      fs.writeFileSync(counterFile, '0');
      const procs = 8;
      const cycles = 200;
      const kids = Array.from({ length: procs }, (_, i) => {
        const log = path.join(tmp, `inc-${schema}-${i}.json`);
        const c = spawnNode(t, WORKER, ['increment', srv.url, schema, 'counter', log, JSON.stringify({ cycles, counterFile })]);
        return { c, log };
      });
      const results = await Promise.all(kids.map(async ({ c, log }) => {
        let err = '';
        c.stderr?.on('data', (d: Buffer) => (err += d.toString()));
        const r = await exited(c);
        assert.equal(r.code, 0, err);
        return JSON.parse(fs.readFileSync(log, 'utf8')) as Log;
      }));
      const intervals: Interval[] = results.flatMap((r, i) => r.intervals.map((x) => ({ start: BigInt(x.start), end: BigInt(x.end), who: `p${i}`, token: x.token! })));
      assert.equal(intervals.length, procs * cycles);
      assert.deepEqual(results.flatMap((r) => r.problems), []);
      assert.equal(findOverlap(intervals), undefined);
      assert.equal(Number(fs.readFileSync(counterFile, 'utf8')), procs * cycles);
      assert.equal(await counterValue(schema), procs * cycles);
      const byStart = [...intervals].sort((a, b) => (a.start < b.start ? -1 : 1));
      for (let i = 1; i < byStart.length; i++) assert.ok(byStart[i]!.token! > byStart[i - 1]!.token!, `token ${byStart[i]!.token} after ${byStart[i - 1]!.token}`);
    });

    it('SIGKILLs holders at random 30 times: each lock is reclaimed when its lease ends, no update is lost', async (t) => {
      const schema = srv.schema();
      await counterTable(schema);
      const lease = 400;
      const workers: { c: ReturnType<typeof spawnNode>; holding: boolean; done: number }[] = [];
      const reclaims: number[] = [];
      let killedAt: number | undefined;
      let acknowledged = 0;
      const start = (i: number): void => {
        const c = spawnNode(t, WORKER, ['loop', srv.url, schema, 'k', path.join(tmp, `loop-${schema}-${i}.json`), JSON.stringify({ stale: lease, holdMs: 30 })]);
        const w = { c, holding: false, done: 0 };
        workers[i] = w;
        let buf = '';
        c.stdout?.on('data', (d: Buffer) => {
          buf += d.toString();
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl);
            buf = buf.slice(nl + 1);
            if (line.startsWith('acq ')) {
              w.holding = true;
              if (killedAt !== undefined) {
                reclaims.push(Number(line.split(' ')[1]) - killedAt);
                killedAt = undefined;
              }
            } else if (line.startsWith('done ')) {
              w.holding = false;
              acknowledged++;
            }
          }
        });
      };
      for (let i = 0; i < 3; i++) start(i);
      let kills = 0;
      // Bounded in rounds and time, not tight: on a loaded machine a restarted worker takes
      // seconds to start, and a round only kills while a worker holds.
      const until = Date.now() + 150_000;
      for (let round = 0; round < 2_000 && kills < 30 && Date.now() < until; round++) {
        await sleep(40 + Math.floor(Math.random() * 80));
        const i = workers.findIndex((w) => w.holding);
        if (i < 0 || killedAt !== undefined) continue;
        const w = workers[i]!;
        killedAt = Date.now();
        process.kill(w.c.pid!, 'SIGKILL');
        await exited(w.c);
        kills++;
        start(i);
      }
      for (let i = 0; i < 100 && killedAt !== undefined; i++) await sleep(50);
      for (const w of workers) {
        process.kill(w.c.pid!, 'SIGKILL');
        await exited(w.c);
      }
      assert.equal(kills, 30);
      assert.ok(reclaims.length >= 29, `reclaims seen: ${reclaims.length}`);
      const final = await counterValue(schema);
      // Every acknowledged increment is in; at most one per kill (done, not yet told) more.
      assert.ok(final >= acknowledged && final <= acknowledged + kills + workers.length, `counter ${final}, acknowledged ${acknowledged}, kills ${kills}`);
      // Reported, not asserted (a shared machine): how long after the kill the lock came back.
      t.diagnostic(`reclaim after SIGKILL, lease ${lease} ms: median ${median(reclaims)} ms, max ${Math.max(...reclaims)} ms (the lease was renewed up to ${Math.floor(lease / 3)} ms before the kill)`);
    });

    it('a holder SIGSTOPped past its lease: another process takes the lock with a larger token, and the first one\'s fenced write is refused (ESTALE) and it learns it', async (t) => {
      const schema = srv.schema();
      const c = spawnNode(t, WORKER, ['pause-then-write', srv.url, schema, 'p', path.join(tmp, `pause-${schema}.json`), JSON.stringify({ stale: 600, holdMs: 1_500 })]);
      const lines: string[] = [];
      c.stdout?.on('data', (d: Buffer) => lines.push(...d.toString().split('\n').filter(Boolean)));
      const held = await waitForLine(c, 'held ', 20_000);
      const oldToken = Number(held.split(' ')[1]);
      process.kill(c.pid!, 'SIGSTOP');
      try {
        const store = mkStore(schema);
        const vfs = new VirtualFileSystem();
        vfs.mount('/pg', mkMount(schema));
        const l = await lock('p', { store, timeout: 20_000 });
        assert.ok(l.token! > oldToken);
        await vfs.writeFile('/pg/fenced.txt', 'from the new holder', { fence: l });
        await l.release();
        process.kill(c.pid!, 'SIGCONT');
        const r = await exited(c);
        assert.equal(r.code, 0);
        assert.ok(lines.includes('write ESTALE'), lines.join('|'));
        assert.ok(lines.includes('compromised true'), lines.join('|'));
        assert.equal(new TextDecoder().decode(await vfs.readFile('/pg/fenced.txt')), 'from the new holder');
      } finally {
        if (c.exitCode === null && c.signalCode === null) process.kill(c.pid!, 'SIGCONT');
      }
    });

    it('a holder cut off by a frozen link: its lease ends at the server, another takes the lock, and its fenced write after the link returns is refused', async () => {
      const schema = srv.schema();
      const port = Number(new URL(srv.url).port);
      const proxy = new TcpProxy(port);
      const via = await proxy.listen();
      const viaUrl = srv.url.replace(`:${port}/`, `:${via}/`);
      try {
        const farStore = postgresLocks({ connectionString: viaUrl, schema, timeout: 2_000 });
        stores.push(farStore);
        const farVfs = new VirtualFileSystem();
        farVfs.mount('/pg', mkMount(schema, viaUrl));
        await farVfs.writeFile('/pg/doc', 'v0');
        let told = 0;
        const far = await lock('doc', { store: farStore, stale: 600, onCompromised: () => told++ });
        proxy.freeze();
        const store = mkStore(schema);
        const vfs = new VirtualFileSystem();
        vfs.mount('/pg', mkMount(schema));
        const near = await lock('doc', { store, timeout: 20_000 });
        assert.ok(near.token! > far.token!);
        await vfs.writeFile('/pg/doc', 'v1 by the new holder', { fence: near });
        proxy.thaw();
        assert.equal(await code(farVfs.writeFile('/pg/doc', 'v1 by the cut-off holder', { fence: far })), 'ESTALE');
        for (let i = 0; i < 100 && told === 0; i++) await sleep(50);
        assert.equal(told, 1);
        assert.equal(far.compromised, true);
        assert.equal(new TextDecoder().decode(await vfs.readFile('/pg/doc')), 'v1 by the new holder');
        await near.release();
        await far.release().catch(() => undefined);
      } finally {
        await proxy.close();
      }
    });

    it('fenced rename and remove: refused with ESTALE once a newer token exists, nothing changed; allowed for the newest holder', async () => {
      const schema = srv.schema();
      const store = mkStore(schema);
      const vfs = new VirtualFileSystem();
      vfs.mount('/pg', mkMount(schema));
      await vfs.writeFile('/pg/a', 'A');
      const frozen = await lock('ns', { store, stale: 300 });
      // What a holder that froze still carries: its token (its renewals stop here).
      const old = { fence: frozen.fence };
      frozen._leave();
      const cur = await lock('ns', { store, timeout: 10_000 });
      assert.equal(await code(vfs.rename('/pg/a', '/pg/b', { fence: old })), 'ESTALE');
      assert.equal(await code(vfs.remove('/pg/a', { fence: old })), 'ESTALE');
      assert.equal(await code(vfs.writeFile('/pg/a', 'old', { fence: old })), 'ESTALE');
      assert.equal(new TextDecoder().decode(await vfs.readFile('/pg/a')), 'A');
      await vfs.rename('/pg/a', '/pg/b', { fence: cur });
      await vfs.remove('/pg/b', { fence: cur });
      assert.equal(await code(vfs.stat('/pg/b')), 'ENOENT');
      await cur.release();
      // A fence whose store lives in a schema without lock tables cannot be checked.
      const otherVfs = new VirtualFileSystem();
      const otherSchema = srv.schema();
      otherVfs.mount('/pg', mkMount(otherSchema));
      const elsewhere = mkStore(srv.schema());
      const foreign = await lock('ns', { store: elsewhere });
      const c = new pg.Client({ connectionString: srv.url });
      await c.connect();
      await c.query(`DROP TABLE "${elsewhere.schema}".lock_holder, "${elsewhere.schema}".lock_name CASCADE`);
      await c.end();
      assert.equal(await code(otherVfs.writeFile('/pg/x', 'x', { fence: foreign })), 'EINVAL');
      assert.equal(await code(otherVfs.stat('/pg/x')), 'ENOENT');
    });

    it('kill -9 of the server while locks are held: after restart no second owner, and tokens continue above every token handed out before', async () => {
      const schema = srv.schema();
      const store = mkStore(schema, { timeout: 3_000 });
      const held: Lock = await lock('crash', { store, stale: 8_000 });
      const tokens: number[] = [held.token!];
      for (let i = 0; i < 5; i++) tokens.push((await withLock(`other-${i}`, (l) => l.token, { store }))!);
      await srv.kill9();
      await srv.start();
      assert.equal(await code(lock('crash', { store, timeout: 1_500 })), 'ETIMEDOUT', 'the held lock survived the crash');
      assert.equal(held.compromised, false);
      await held.release();
      const after = await lock('crash', { store, timeout: 5_000 });
      assert.ok(after.token! > Math.max(...tokens), `token ${after.token} after ${Math.max(...tokens)}`);
      await after.release();
    });
  });
}

async function waitingRows(url: string, schema: string, name: string): Promise<boolean> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(`SELECT 1 FROM "${schema}".lock_holder WHERE name = $1 AND waiting`, [name])).rowCount! > 0;
  } finally {
    await c.end();
  }
}
