/**
 * The `crashcheck` case: how many crash states per second `atomfs crashcheck` checks for a
 * program of about 100 file-system calls, split into the time in the simulator (replaying
 * the trace, building each state in memory, writing it out, removing it) and the time in
 * the checker (one `sh -c` per state).
 *
 * The program is a Node script that publishes 20 files by temp + fsync + rename without
 * ever fsyncing the folder: 100 calls in the folder, and after each one more pending name
 * change, so past the first few crash points the states are a seeded sample of
 * --max-states each. Each rep is one whole `atomfs crashcheck --json` run (strace included);
 * the engine's own timers give the split.
 *
 * @module
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { CaseResult, Context, Row } from './cases.js';
import { errText } from './cases.js';

// build/bench/crashcheck.js → the repository root.
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = path.join(REPO, 'bin', 'atomfs.js');

/** The rows of the case. */
export const CC = Object.freeze({
  whole: 'whole run (strace, replay, every check)',
  simulator: 'simulator (replay, states built, written, removed)',
  checker: 'checker (one sh -c per state)',
});

interface RunFigures {
  readonly wallMs: number;
  readonly states: number;
  readonly calls: number;
  readonly crashPoints: number;
  readonly simulatorMs: number;
  readonly checkerMs: number;
}

function runOnce(dir: string, program: string, maxStates: number): Promise<RunFigures> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'crashcheck', '--json', '--dir', dir, '--max-states', String(maxStates), '--check', 'test -d . || exit 1', '--', process.execPath, program], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.once('error', reject);
    child.once('close', (code) => {
      const wallMs = performance.now() - t0;
      if (code !== 0) return reject(new Error(`crashcheck exited with ${code}: ${Buffer.concat(err).toString().slice(0, 300)}`));
      const r = JSON.parse(Buffer.concat(out).toString()) as { states: number; calls: unknown[]; crashPoints: number; simulatorMs: number; checkerMs: number };
      resolve({ wallMs, states: r.states, calls: r.calls.length, crashPoints: r.crashPoints, simulatorMs: r.simulatorMs, checkerMs: r.checkerMs });
    });
  });
}

/** Runs the case: one warm-up run, then `ctx.reps` timed runs. */
export async function crashcheckCase(ctx: Context, o: { id: string; files: number; maxStates: number }): Promise<CaseResult> {
  const root = path.join(ctx.root, o.id);
  const dir = path.join(root, 'dir');
  fs.mkdirSync(dir, { recursive: true });
  const program = path.join(root, 'publish.mjs');
  fs.writeFileSync(
    program,
    `import * as fs from 'node:fs';\nfor (let i = 0; i < ${o.files}; i++) {\n  const fd = fs.openSync('f' + i + '.tmp', 'w');\n  fs.writeSync(fd, 'content ' + i + '\\n');\n  fs.fsyncSync(fd);\n  fs.closeSync(fd);\n  fs.renameSync('f' + i + '.tmp', 'f' + i);\n}\n`,
  );
  const rows: Row[] = [
    { name: CC.whole, samples: [] },
    { name: CC.simulator, samples: [] },
    { name: CC.checker, samples: [] },
  ];
  let last: RunFigures | undefined;
  try {
    ctx.progress(`${o.id}: warm-up`);
    await runOnce(dir, program, o.maxStates);
    for (let rep = 0; rep < ctx.reps; rep++) {
      ctx.progress(`${o.id}: rep ${rep + 1}/${ctx.reps}`);
      const f = await runOnce(dir, program, o.maxStates);
      rows[0]!.samples.push(f.states / (f.wallMs / 1000));
      rows[1]!.samples.push(f.states / (f.simulatorMs / 1000));
      rows[2]!.samples.push(f.states / (f.checkerMs / 1000));
      last = f;
    }
  } catch (e) {
    for (const r of rows) r.error ??= errText(e);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
  const notes = last
    ? [
        `${last.calls} calls in the folder, ${last.crashPoints} crash points, ${last.states} distinct states checked per run (--max-states ${o.maxStates}: a seeded sample past that many per point).`,
        `In the last run: ${(last.wallMs / 1000).toFixed(2)} s in all, ${(last.simulatorMs / 1000).toFixed(2)} s in the simulator, ${(last.checkerMs / 1000).toFixed(2)} s in checks; the rest is strace running the program and Node starting.`,
      ]
    : [];
  return {
    id: o.id,
    title: `crash states checked per second, a Node program of ${o.files * 5} calls (${o.files} × open, write, fsync, close, rename)`,
    unit: 'states/s',
    ref: CC.whole,
    rows,
    notes,
  };
}
