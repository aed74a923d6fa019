/**
 * 1,000 writeFile calls fired at one path by one process without awaiting, while another
 * process reads the file in a loop.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { spawnNode } from '../helpers/child.js';
import { collect, LineReader } from '../helpers/lines.js';
import { tmpDir } from '../helpers/tmp.js';
import { decode } from '../helpers/versioned.js';
import { burstContent, burstPlan } from './burst-plan.js';

const WRITER = fileURLToPath(new URL('./fixtures/burst-writer.js', import.meta.url));
const READER = fileURLToPath(new URL('./fixtures/version-reader.js', import.meta.url));
const CALLS = 1000;
const SEED = Number.parseInt(process.env['ATOMFS_BURST_SEED'] ?? '', 10) || (Math.random() * 2 ** 31) >>> 0;

interface Run {
  readonly child: ChildProcess;
  readonly lines: LineReader;
  readonly stderr: () => string;
  readonly closed: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function run(t: Parameters<typeof spawnNode>[0], script: string, args: string[]): Run {
  const child = spawnNode(t, script, args);
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
  return { child, lines: new LineReader(child.stdout!), stderr: collect(child.stderr), closed };
}

async function result<T>(r: Run, name: string, ms: number): Promise<T> {
  const stop = new AbortController();
  const exit = await Promise.race([r.closed, sleep(ms, 'timeout' as const, { signal: stop.signal }).catch(() => 'timeout' as const)]);
  stop.abort();
  const ctx = `${name} output:\n${r.lines.lines.slice(-10).join('\n')}\nstderr:\n${r.stderr()}`;
  assert.notEqual(exit, 'timeout', `${name} did not finish within ${ms} ms\n${ctx}`);
  await r.lines.ended;
  const line = r.lines.lines.find((l) => l.startsWith('result '));
  assert.ok(line, `${name} printed no result (exit ${JSON.stringify(exit)})\n${ctx}`);
  return JSON.parse(line.slice('result '.length)) as T;
}

describe('writes fired without awaiting at one path', () => {
  it(`1,000 unawaited writeFile calls end with the last call's content, and a reader process never sees a partial file or an older version than one it saw`, { timeout: 150_000 }, async (t) => {
    t.diagnostic(`seed ${SEED} (replay with ATOMFS_BURST_SEED=${SEED})`);
    const dir = tmpDir(t);
    const target = path.join(dir, 'burst.bin');

    const reader = run(t, READER, [target, String(CALLS - 1), '100000']);
    await reader.lines.waitFor((l) => l === 'ready', 20_000);
    const writer = run(t, WRITER, [target, String(SEED), String(CALLS)]);

    const w = await result<{ settled: number; problems: string[]; problemCount: number; inOrder: boolean; ms: number }>(writer, 'writer', 110_000);
    assert.deepEqual(w.problems, [], `${w.problemCount} problem(s) in the writer`);
    assert.equal(w.settled, CALLS, 'every call settled');
    const r = await result<{ reads: number; absent: number; distinct: number; newest: number; violation?: string }>(reader, 'reader', 20_000);
    assert.equal(r.violation, undefined, `the reader saw: ${r.violation}`);
    assert.equal(r.newest, CALLS - 1, 'the reader ends on the last version');
    assert.equal((await reader.closed).code, 0);
    assert.equal((await writer.closed).code, 0);

    // The last call wins, byte for byte; no temp is left.
    const last = burstPlan(SEED, CALLS)[CALLS - 1]!;
    const bytes = fs.readFileSync(target);
    const d = decode(bytes);
    assert.ok(d.ok && d.version === CALLS - 1, `the file holds the last call's version (${d.ok ? d.version : d.reason})`);
    assert.ok(bytes.equals(burstContent(SEED, last)), "the file holds exactly the last call's bytes");
    assert.deepEqual(fs.readdirSync(dir), ['burst.bin']);
    t.diagnostic(
      `writer: ${CALLS} calls settled in ${w.ms.toFixed(0)} ms (settled in call order: ${w.inOrder}); ` +
        `reader: ${r.reads} complete reads, ${r.distinct} distinct versions seen, ${r.absent} reads before the file existed`,
    );
  });
});
