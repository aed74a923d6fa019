/**
 * `atomfs crashcheck`'s reports: each violation as a person reads it, and the run as JSON.
 *
 * @module
 */
import type { CrashcheckResult, CrashViolation } from './run.js';

function indent(text: string, prefix: string): string[] {
  const t = text.replace(/\n$/, '');
  return t === '' ? [] : t.split('\n').map((l) => prefix + l);
}

/**
 * One violation in words: where the power went, the calls up to then (with the program's
 * paths, relative to the folder), what the state kept and lost of what was not durable
 * yet, the files found, and what the checker said.
 */
export function formatViolation(v: CrashViolation, many: boolean): string {
  const where =
    v.crashPoint === 0
      ? 'before the first call'
      : `after call ${v.crashPoint}${v.completed ? ' (the program had exited)' : ' (the program was still running)'}`;
  const lines = [`Violation at crash point ${v.crashPoint}: power lost ${where}.`];
  lines.push('Calls up to the crash:');
  if (v.steps.length === 0) lines.push('  (none)');
  for (const s of v.steps) lines.push(`  ${String(s.n).padStart(3)}. ${many ? `[pid ${s.pid}] ` : ''}${s.text}`);
  if (v.kept.length + v.lost.length === 0) lines.push('Nothing was pending: everything was durable.');
  else {
    lines.push('Not yet durable at that moment:');
    for (const k of v.kept) lines.push(`  - ${k} reached the disk`);
    for (const l of v.lost) lines.push(`  - ${l} was lost`);
  }
  lines.push('Files found after the restart:');
  if (v.files.length === 0) lines.push('  (none)');
  for (const f of v.files) {
    if (f.kind === 'dir') lines.push(`  ${f.path}`);
    else if (f.kind === 'symlink') lines.push(`  ${f.path} -> ${f.head}`);
    else lines.push(`  ${f.path} (${f.size} byte${f.size === 1 ? '' : 's'}${f.size > 0 ? `: "${f.head}"` : ''})`);
  }
  const c = v.check;
  lines.push(`The check ${c.timedOut ? 'timed out' : c.exitCode !== null ? `exited with ${c.exitCode}` : `was killed by ${c.signal}`}${c.stdout || c.stderr ? ':' : ' and printed nothing.'}`);
  lines.push(...indent(c.stdout, '  stdout| '), ...indent(c.stderr, '  stderr| '));
  return lines.join('\n') + '\n';
}

/** The closing line of a run. */
export function formatSummary(r: CrashcheckResult): string {
  const how = r.stopped ? 'stopped at --max-violations' : r.exhaustive ? 'every state the model allows' : 'sampled past --max-states';
  const dup = r.duplicates > 0 ? ` (${r.duplicates} more were the same files as another)` : '';
  const verdict = r.violations.length === 0 ? 'no violation' : `${r.violations.length} violation${r.violations.length === 1 ? '' : 's'}`;
  return `crashcheck: ${r.steps.length} calls in the folder, ${r.crashPoints} crash points, ${r.states} states checked${dup}, ${how}: ${verdict}.\n`;
}

/** The run as one JSON value. */
export function toJson(r: CrashcheckResult): unknown {
  return {
    clean: r.violations.length === 0,
    program: { exitCode: r.program.exitCode },
    tracedCalls: r.tracedCalls,
    calls: r.steps.map((s) => ({ n: s.n, pid: s.pid, call: s.text })),
    crashPoints: r.crashPoints,
    states: r.states,
    duplicates: r.duplicates,
    exhaustive: r.exhaustive,
    stopped: r.stopped,
    simulatorMs: Math.round(r.simulatorMs),
    checkerMs: Math.round(r.checkerMs),
    violations: r.violations.map((v) => ({
      crashPoint: v.crashPoint,
      completed: v.completed,
      calls: v.steps.map((s) => s.text),
      kept: v.kept,
      lost: v.lost,
      files: v.files,
      check: v.check,
    })),
  };
}
