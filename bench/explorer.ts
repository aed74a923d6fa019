/**
 * `npm run bench:explorer`: how fast the crash explorer checks states, and how many states
 * each atomfs operation has. Runs the crash-exploration test suite (test/sim) and reports
 * the figures it records.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

interface Stat {
  readonly name: string;
  readonly points: number;
  readonly states: number;
  readonly ms: number;
}

const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'atomfs-explorer-')), 'stats.json');
const t0 = performance.now();
const r = spawnSync(process.execPath, ['--test', 'build/test/sim/explore.test.js'], {
  env: { ...process.env, ATOMFS_EXPLORER_STATS: out },
  encoding: 'utf8',
});
const wall = (performance.now() - t0) / 1000;
if (r.status !== 0) {
  process.stderr.write(r.stdout + r.stderr);
  process.exit(1);
}
const stats = JSON.parse(fs.readFileSync(out, 'utf8')) as Stat[];
fs.rmSync(path.dirname(out), { recursive: true, force: true });

const rows = stats.map((s) => `| ${s.name} | ${s.points} | ${s.states.toLocaleString('en')} | ${s.ms.toFixed(0)} | ${Math.round(s.states / (s.ms / 1000)).toLocaleString('en')} |`);
const total = stats.reduce((a, s) => ({ states: a.states + s.states, ms: a.ms + s.ms }), { states: 0, ms: 0 });
console.log(`### Crash explorer (${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} cores, node ${process.version})\n`);
console.log('| operation | crash points | states checked | ms | states/s |');
console.log('| --- | ---: | ---: | ---: | ---: |');
for (const row of rows) console.log(row);
console.log(`| **all operations** | | ${total.states.toLocaleString('en')} | ${total.ms.toFixed(0)} | ${Math.round(total.states / (total.ms / 1000)).toLocaleString('en')} |`);
console.log(`\nThe whole exploration suite (every operation, and the broken variants it must catch) took ${wall.toFixed(1)} s wall; the target is under 120 s.`);
