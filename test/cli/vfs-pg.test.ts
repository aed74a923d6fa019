/**
 * `atomfs vfs` over a real PostgreSQL server (the throwaway server of helpers/pg.ts; under
 * CI=true a missing server fails): put then cat byte for byte (a few MiB, streamed through a
 * handle staged until close, and a small one-transaction put), interrupted and killed puts, ls -l and stat with versions, mv within the
 * database and from it to a local folder, rm -r, the errors, and that pg is loaded for a
 * postgres:// mount (the positive control of the probe in vfs.test.ts).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { pathToFileURL } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { isTempFile } from '../../src/index.js';
import { assertInvariants } from '../helpers/pg-invariants.js';
import { BIN, closed, collect, errorLine, REPO, runCli, runProcess, spawnCli } from '../helpers/cli.js';
import { pgMissing, startPg, type PgServer } from '../helpers/pg.js';
import { list, tmpDir } from '../helpers/tmp.js';

const missing = pgMissing();
const PROBE = path.join(REPO, 'build', 'test', 'helpers', 'module-log.js');

function jsonLines(stdout: string): unknown[] {
  return stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as unknown);
}

if (missing !== undefined) {
  it('atomfs vfs over PostgreSQL', (t) => t.skip(missing));
} else {
  describe('atomfs vfs over a real PostgreSQL server', () => {
    let srv!: PgServer;
    before(async () => {
      const s = await startPg();
      if (typeof s === 'string') throw new Error(s);
      srv = s;
    });
    after(async () => {
      await srv?.stop();
    });

    /** The mount flags for a fresh schema: /pg on the server, /disk on a temp folder. */
    function mounts(t: Parameters<typeof tmpDir>[0]): { m: string[]; disk: string; schema: string } {
      const disk = tmpDir(t);
      const schema = srv.schema();
      return { m: ['--mount', `/pg=${srv.url}`, '--schema', schema, '--mount', `/disk=${pathToFileURL(disk).href}`], disk, schema };
    }

    /** One number from the server, straight from the tables. */
    async function count(sql: string): Promise<number> {
      const c = new pg.Client({ connectionString: srv.url });
      c.on('error', () => undefined);
      await c.connect();
      try {
        return Number((await c.query<{ n: string }>(sql)).rows[0]!.n);
      } finally {
        await c.end().catch(() => undefined);
      }
    }

    /**
     * Starts a put of 16 MiB of stdin that stays open, and waits (bounded) until its first
     * chunk is staged on the server: the put is mid-stream, and nothing of it shows.
     */
    async function putMidStream(t: TestContext, m: readonly string[], schema: string, target: string, folder: string): Promise<{ child: ReturnType<typeof spawnCli>; stderr: { text(): string } }> {
      const before = await count(`SELECT count(*) AS n FROM "${schema}".stage`);
      const child = spawnCli(t, ['vfs', ...m, 'put', '-p', target]);
      const stderr = collect(child.stderr);
      child.stdin!.on('error', () => {});
      child.stdin!.write(randomBytes(16 << 20));
      let staged = false;
      for (let i = 0; i < 200 && !staged; i++) {
        staged = (await count(`SELECT count(*) AS n FROM "${schema}".stage`)) > before;
        if (!staged) await sleep(50);
      }
      assert.ok(staged, 'the put staged its first chunk');
      const ls = await runCli(['vfs', '--json', ...m, 'ls', folder]);
      const names = ls.code === 0 ? (jsonLines(ls.stdout)[0] as { entries: { name: string }[] }).entries.map((e) => e.name) : [];
      assert.ok(!names.includes(path.posix.basename(target)) || target === '/pg/keep', `nothing of the new file shows: ${names.join(', ')}`);
      assert.ok(names.every((n) => !isTempFile(n)), 'no temp entry: the handle writes PATH itself');
      assert.equal((await runCli(['vfs', ...m, 'cat', '/pg/keep'])).stdout, 'old', 'the old content is what others see');
      return { child, stderr };
    }

    it('put then cat: identical bytes, 3 MiB streamed and a small put; no temp left; ls -l and stat show versions', async (t) => {
      const { m } = mounts(t);
      const data = randomBytes(3 * (1 << 20) + 777);
      const put = await runCli(['vfs', ...m, 'put', '--json', '-p', '/pg/clips/a.bin'], { input: data, timeoutMs: 60_000 });
      assert.equal(put.code, 0, put.stderr);
      assert.deepEqual(jsonLines(put.stdout), [{ path: '/pg/clips/a.bin', bytes: data.length }]);
      const out: Buffer[] = [];
      const cat = spawnCli(t, ['vfs', ...m, 'cat', '/pg/clips/a.bin']);
      cat.stdout!.on('data', (d: Buffer) => out.push(d));
      cat.stdin!.end();
      assert.deepEqual(await closed(cat, 60_000), { code: 0, signal: null });
      assert.ok(Buffer.concat(out).equals(data), 'cat gives the bytes put');

      const small = await runCli(['vfs', ...m, 'put', '/pg/clips/b.txt'], { input: 'hello\n' });
      assert.equal(small.code, 0, small.stderr);
      assert.equal((await runCli(['vfs', ...m, 'cat', '/pg/clips/b.txt'])).stdout, 'hello\n');
      assert.equal((await runCli(['vfs', ...m, 'ls', '/pg/clips'])).stdout, 'a.bin\nb.txt\n', 'no temp entry is left');

      const long = await runCli(['vfs', ...m, 'ls', '-l', '/pg/clips']);
      const lines = long.stdout.split('\n').filter(Boolean);
      assert.equal(lines.length, 2, long.stdout);
      assert.match(lines[0]!, new RegExp(`^-rw-r--r-- ${data.length} \\S+ \\S+ \\d+ a\\.bin$`));
      const st1 = jsonLines((await runCli(['vfs', ...m, 'stat', '--json', '/pg/clips/b.txt'])).stdout)[0] as Record<string, unknown>;
      assert.equal(st1['kind'], 'file');
      assert.equal(st1['size'], 6);
      assert.equal(typeof st1['version'], 'string');
      // A new put is a new version.
      assert.equal((await runCli(['vfs', ...m, 'put', '/pg/clips/b.txt'], { input: 'again\n' })).code, 0);
      const st2 = jsonLines((await runCli(['vfs', ...m, 'stat', '--json', '/pg/clips/b.txt'])).stdout)[0] as Record<string, unknown>;
      assert.notEqual(st2['version'], st1['version']);
    });

    it('mv within the database; to a local folder EXDEV without --cross-mount, a copy with it (the bytes on disk, gone from the database)', async (t) => {
      const { m, disk } = mounts(t);
      const data = randomBytes(2 << 20);
      assert.equal((await runCli(['vfs', ...m, 'put', '-p', '/pg/d/f.bin'], { input: data, timeoutMs: 60_000 })).code, 0);
      const within = await runCli(['vfs', ...m, 'mv', '--json', '/pg/d', '/pg/e']);
      assert.equal(within.code, 0, within.stderr);
      assert.deepEqual(jsonLines(within.stdout), [{ src: '/pg/d', dest: '/pg/e', crossMount: false }]);
      assert.equal((await runCli(['vfs', ...m, 'ls', '-R', '/pg'])).stdout, 'e/\ne/f.bin\n');

      const xdev = await runCli(['vfs', ...m, 'mv', '/pg/e', '/disk/e']);
      assert.equal(xdev.code, 1);
      assert.match(xdev.stderr, errorLine('EXDEV'));
      assert.deepEqual(list(disk), []);

      const cross = await runCli(['vfs', ...m, 'mv', '--cross-mount', '/pg/e', '/disk/e'], { timeoutMs: 60_000 });
      assert.equal(cross.code, 0, cross.stderr);
      assert.ok(fs.readFileSync(path.join(disk, 'e', 'f.bin')).equals(data));
      assert.equal((await runCli(['vfs', ...m, 'ls', '/pg'])).stdout, '');
    });

    it('rm -r of a folder; errors: ENOENT, EISDIR, a server that refuses connections (ECONNREFUSED, exit 1)', async (t) => {
      const { m } = mounts(t);
      for (const p of ['/pg/t/a', '/pg/t/u/b']) assert.equal((await runCli(['vfs', ...m, 'put', '-p', p], { input: p })).code, 0);
      assert.match((await runCli(['vfs', ...m, 'rm', '/pg/t'])).stderr, errorLine('EISDIR'));
      const rm = await runCli(['vfs', ...m, 'rm', '-r', '--json', '/pg/t']);
      assert.equal(rm.code, 0, rm.stderr);
      assert.deepEqual(jsonLines(rm.stdout), [{ path: '/pg/t', removed: 4 }]);
      const gone = await runCli(['vfs', '--json', ...m, 'cat', '/pg/t/a']);
      assert.equal(gone.code, 1);
      assert.match(gone.stderr, errorLine('ENOENT'));
      assert.equal((jsonLines(gone.stdout)[0] as { error: { code: string; path: string } }).error.path, '/pg/t/a');

      const refused = await runCli(['vfs', '--mount', '/pg=postgres://postgres@127.0.0.1:1/postgres', 'ls', '/pg'], { timeoutMs: 60_000 });
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, errorLine('ECONNREFUSED'));
    });

    it('put interrupted by SIGINT mid-stream: exit 130, nothing published, no stage left, the folder -p made gone, an existing file keeps its bytes', async (t) => {
      const { m, schema } = mounts(t);
      assert.equal((await runCli(['vfs', ...m, 'put', '/pg/keep'], { input: 'old' })).code, 0);
      for (const [target, folder] of [['/pg/new/f.bin', '/pg'], ['/pg/keep', '/pg']] as const) {
        const { child, stderr } = await putMidStream(t, m, schema, target, folder);
        child.kill('SIGINT');
        assert.deepEqual(await closed(child, 60_000), { code: 130, signal: null }, stderr.text());
        assert.equal(stderr.text(), '');
        assert.equal(await count(`SELECT count(*) AS n FROM "${schema}".stage`), 0, 'the interrupted put dropped its stage');
      }
      assert.equal((await runCli(['vfs', ...m, 'ls', '-R', '/pg'])).stdout, 'keep\n', 'nothing new, no folder made by -p');
      assert.equal((await runCli(['vfs', ...m, 'cat', '/pg/keep'])).stdout, 'old');
      await assertInvariants(srv.url, schema, assert);
    });

    it('put killed with SIGKILL mid-stream: nothing at PATH (a new file never appears, an old one keeps its bytes); the stage goes when its lease has run out', async (t) => {
      const { m, schema } = mounts(t);
      assert.equal((await runCli(['vfs', ...m, 'put', '/pg/keep'], { input: 'old' })).code, 0);
      for (const target of ['/pg/fresh.bin', '/pg/keep']) {
        const { child } = await putMidStream(t, m, schema, target, '/pg');
        child.kill('SIGKILL');
        assert.deepEqual(await closed(child, 60_000), { code: null, signal: 'SIGKILL' });
      }
      assert.equal((await runCli(['vfs', ...m, 'ls', '-R', '/pg'])).stdout, 'keep\n', 'no entry left by the killed puts');
      assert.equal((await runCli(['vfs', ...m, 'cat', '/pg/keep'])).stdout, 'old');
      assert.equal(await count(`SELECT count(*) AS n FROM "${schema}".stage`), 2, 'the dead puts\' stages are there until their leases end');
      // Their leases run out (the default is a minute: moved to now), and the next mount to
      // start sweeps them with their chunks.
      await count(`WITH x AS (UPDATE "${schema}".stage SET expires = clock_timestamp() - interval '1 second' RETURNING 1) SELECT count(*) AS n FROM x`);
      assert.equal((await runCli(['vfs', ...m, 'ls', '/pg'])).code, 0);
      const inv = await assertInvariants(srv.url, schema, assert);
      assert.equal(inv.stagedChunks, 0, 'no staged chunk left');
    });

    it('a postgres:// mount loads pg (so the probe that finds it unloaded elsewhere can see it)', async (t) => {
      const { m } = mounts(t);
      const log = path.join(tmpDir(t), 'modules');
      const r = await runProcess(process.execPath, ['--import', PROBE, BIN, 'vfs', ...m, 'ls', '/pg'], { env: { ATOMFS_TEST_MODULE_LOG: log } });
      assert.equal(r.code, 0, r.stderr);
      const urls = fs.readFileSync(log, 'utf8').split('\n').filter(Boolean);
      assert.ok(urls.some((u) => u.includes('/node_modules/pg/')), `pg loaded: ${urls.filter((u) => u.includes('node_modules')).join(' ')}`);
    });
  });
}
