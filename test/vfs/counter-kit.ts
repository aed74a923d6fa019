/**
 * The conditional-write counter, run by real worker processes (fixtures/counter-worker.ts):
 * spawned together, started together by a go file, reaped in every outcome.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { exited, spawnNode, waitForLine } from '../helpers/child.js';

const WORKER = fileURLToPath(new URL('./fixtures/counter-worker.js', import.meta.url));

/** What one run of the workers is. */
export interface CounterRun {
  readonly kind: 'local' | 'pg';
  /** The folder (local) or the server's URL (pg). */
  readonly target: string;
  readonly schema?: string;
  readonly procs: number;
  readonly increments: number;
  readonly mode: 'ifMatch' | 'blind';
  readonly pauseMs: number;
  /** Where the go file goes. */
  readonly scratch: string;
}

/** What each worker reported. */
export interface WorkerResult {
  readonly ok: number;
  readonly conflicts: number;
}

/** Runs the workers to the end; each must exit 0 and report its increments. */
export async function runCounterWorkers(t: TestContext, run: CounterRun): Promise<WorkerResult[]> {
  const go = path.join(run.scratch, `go-${run.mode}-${process.hrtime.bigint()}`);
  const kids = Array.from({ length: run.procs }, () => {
    const c = spawnNode(t, WORKER, [run.kind, run.target, run.schema ?? '', String(run.increments), run.mode, go, String(run.pauseMs)]);
    let err = '';
    let out = '';
    c.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    c.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    return { c, err: () => err, out: () => out };
  });
  try {
    await Promise.all(kids.map((k) => waitForLine(k.c, 'READY', 60_000)));
  } catch (e) {
    throw new Error(`${String(e)}\n${kids.map((k) => k.err()).join('\n')}`);
  }
  fs.writeFileSync(go, '');
  const results: WorkerResult[] = [];
  for (const k of kids) {
    const r = await exited(k.c);
    assert.equal(r.code, 0, k.err());
    const line = k.out().split('\n').find((l) => l.startsWith('DONE '));
    assert.ok(line !== undefined, k.out());
    results.push(JSON.parse(line.slice(5)) as WorkerResult);
  }
  return results;
}
