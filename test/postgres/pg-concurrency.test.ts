/**
 * 8 processes on one PostgresMount namespace at once, each doing up to 2,000 random
 * whole-file writes (plain and conditional), handle writes, deletes and moves of its own
 * files and moves of shared folders into one another (bounded in count and time), logging what was acknowledged. Afterwards a checker
 * reading the tables directly proves: every file's content is its last acknowledged write
 * (or absent after an acknowledged delete), each shared folder is in exactly one place, no
 * cycle, no orphan row or chunk, no stage left, and every file's size matches its chunks.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { PostgresMount } from '../../src/postgres/index.js';
import { exited, spawnNode } from '../helpers/child.js';
import { assertInvariants } from '../helpers/pg-invariants.js';
import { checkWorkload, type LogLine } from '../helpers/pg-workload.js';
import { pgMissing, startPg, type PgServer } from '../helpers/pg.js';

const missing = pgMissing();
const WORKER = fileURLToPath(new URL('./fixtures/pg-conc-worker.js', import.meta.url));
const WORKERS = 8;
const OPS = 2_000;
const FOLDERS = ['D0', 'D1', 'D2', 'D3', 'D4', 'D5'];

if (missing !== undefined) {
  it('PostgresMount concurrency', (t) => t.skip(missing));
} else {
  describe('PostgresMount: 8 processes on one namespace', () => {
    let srv!: PgServer;
    let tmp!: string;
    before(async () => {
      const s = await startPg();
      if (typeof s === 'string') throw new Error(s);
      srv = s;
      tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'atomfs-pgconc-'));
    });
    after(async () => {
      await srv?.stop();
      fs.rmSync(tmp, { recursive: true, force: true });
    });

    it(`${WORKERS} workers x random writes, deletes, file moves and folder moves: every file is its last acknowledged write, no cycle, no orphan, sizes match chunks`, { timeout: 300_000 }, async (t) => {
      const schema = srv.schema();
      const m = new PostgresMount({ connectionString: srv.url, schema, timeout: 20_000 });
      try {
        for (const d of FOLDERS) await m.create(`/${d}`, { dir: true });
      } finally {
        await m.close();
      }
      const opts = JSON.stringify({ ops: OPS, ms: 150_000, files: 6, folders: FOLDERS });
      const logs = Array.from({ length: WORKERS }, (_, w) => path.join(tmp, `w${w}.log`));
      const kids = logs.map((log, w) => {
        fs.writeFileSync(log, '');
        return spawnNode(t, WORKER, [srv.url, schema, String(w), log, opts]);
      });
      const outs = kids.map((c) => {
        const o = { out: '', err: '' };
        c.stdout?.on('data', (d: Buffer) => (o.out += d.toString()));
        c.stderr?.on('data', (d: Buffer) => (o.err += d.toString()));
        return o;
      });
      const ends = await Promise.all(kids.map((c) => exited(c)));
      ends.forEach((e, w) => assert.equal(e.code, 0, `worker ${w}: ${outs[w]!.err}`));
      const tallies = outs.map((o) => JSON.parse(o.out.trim()) as { ops: number; tally: Record<string, number> });
      const sum: Record<string, number> = {};
      for (const { tally } of tallies) for (const [k, n] of Object.entries(tally)) sum[k] = (sum[k] ?? 0) + n;
      t.diagnostic(`ops: ${tallies.map((x) => x.ops).join(', ')}; ${JSON.stringify(sum)}`);
      // Not vacuous: every kind of change was acknowledged many times, and folder moves
      // into their own subtree were refused.
      for (const k of ['write:ok', 'cond:ok', 'handle:ok', 'delete:ok', 'move:ok', 'folder:ok', 'folder:EINVAL']) assert.ok((sum[k] ?? 0) >= 3, `${k}: ${sum[k] ?? 0}`);
      const parsed = logs.map((l) => fs.readFileSync(l, 'utf8').split('\n').filter(Boolean).map((x) => JSON.parse(x) as LogLine));
      assert.deepEqual(await checkWorkload(srv.url, schema, parsed, FOLDERS), []);
      await assertInvariants(srv.url, schema, assert);
      // The checker is not blind: one changed byte of one file, and it says which.
      const c = new pg.Client({ connectionString: srv.url });
      await c.connect();
      try {
        // Its first chunk is in its row (a small whole-file write) or in the chunk table.
        const pick = `(SELECT min(id) FROM "${schema}".inode WHERE kind = 'file' AND size > 100)`;
        let r = await c.query<{ name: string }>(
          `UPDATE "${schema}".inode SET data = set_byte(data, 39, 255 - get_byte(data, 39)) WHERE id = ${pick} AND data IS NOT NULL RETURNING name`,
        );
        if (r.rows.length === 0) {
          r = await c.query<{ name: string }>(
            `UPDATE "${schema}".chunk k SET data = set_byte(k.data, 39, 255 - get_byte(k.data, 39)) FROM "${schema}".inode i
              WHERE i.id = k.inode AND k.idx = 0 AND i.id = ${pick} RETURNING i.name`,
          );
        }
        assert.equal(r.rows.length, 1);
        const found = await checkWorkload(srv.url, schema, parsed, FOLDERS);
        assert.equal(found.length, 1, found.join('; '));
        assert.ok(found[0]!.startsWith(`${r.rows[0]!.name} at `), found[0]);
      } finally {
        await c.end();
      }
    });
  });
}
