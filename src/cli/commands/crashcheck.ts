/**
 * `atomfs crashcheck --check CMD -- PROGRAM ARGS...`: crash-check an unmodified program
 * (SPEC §10). The engine (src/crashcheck/) is loaded only when the verb runs.
 *
 * @module
 */
import { availableParallelism } from 'node:os';
import { realOps } from '../../internal/fs-ops.js';
import { parseVerb } from '../args.js';
import { EXIT, parseCount, parseDuration, printJson, UsageError, type CliIo } from '../util.js';
import { progressBar } from '../progress.js';

export const HELP = `Usage: atomfs crashcheck [options] --check CMD -- PROGRAM [ARGS...]

Runs PROGRAM once, for real, in a scratch copy of DIR under strace, and records the
file system calls it makes there. Then, for every crash point (before the first call
and after every call that changed what a power loss could leave) and every disk state
a pessimistic disk allows there, rebuilds that state in a scratch folder and runs CMD
there with /bin/sh -c. A non-zero exit of CMD is a violation.

The disk model is atomfs/testing's: a file's data is durable only once that file was
fsynced; a new, removed or renamed name only once every folder it changes was fsynced;
until then each pending change may or may not have reached the disk, and the last
write may have reached it in part. CMD gets, in its environment:
  ATOMFS_CRASH_POINT      the number of calls that had completed (0 = none)
  ATOMFS_CRASH_COMPLETED  1 when PROGRAM had already exited, else 0
The last crash point is after PROGRAM's exit: there, a lost rename is a real loss.

Calls that cannot be modelled (a shared writable mmap, O_DIRECT, io_uring,
copy_file_range/sendfile/splice into a file, fallocate, RENAME_EXCHANGE) are refused:
exit 1 with ENOTSUP, never ignored. For Node programs, UV_USE_IO_URING=0 is set.

Options:
  --check CMD           the invariant, run in each rebuilt state (required)
  --dir DIR             the folder to copy (default: the current folder); PROGRAM runs
                        in the copy, and sees the copy as its current folder
  --setup CMD           run in the copy before PROGRAM (not traced; its result is the
                        starting state, durable)
  --max-states N        states checked per crash point before a seeded sample of N is
                        taken instead (default 64)
  --seed S              the sample's seed (default 1)
  --timeout DURATION    bound on PROGRAM (default 60s); its process group is killed
  --check-timeout DURATION
                        bound on each check and on --setup (default 10s)
  --max-violations N    stop after N violations (default 10)
  --jobs N              checks run at once (default: the number of CPUs, at most 4);
                        each state has a folder of its own
  --json                print the run as one JSON object; an error as
                        {"error": {"code", "message", "path"}}
  --no-progress         no progress bar (there is none unless stderr is a terminal)
  -h, --help            show this help

Exit codes: 0 no violation; 1 a violation, a call that cannot be modelled, or PROGRAM
or --setup failed; 2 bad usage; 128+N interrupted by signal N (the scratch folders are
removed in every case).

Examples:
  atomfs crashcheck --check 'test "$(cat out)" = new || test "$(cat out)" = old' \\
      --setup 'echo old > out' -- python3 save.py
  atomfs crashcheck --dir ./fixture --check './verify.sh' -- node app.js
`;

/** The verb's options, for node:util parseArgs. */
export const OPTIONS = {
  check: { type: 'string' },
  dir: { type: 'string' },
  setup: { type: 'string' },
  'max-states': { type: 'string' },
  seed: { type: 'string' },
  timeout: { type: 'string' },
  'check-timeout': { type: 'string' },
  'max-violations': { type: 'string' },
  jobs: { type: 'string' },
  json: { type: 'boolean' },
  'no-progress': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export async function run(args: string[], io: CliIo): Promise<number> {
  const sep = args.indexOf('--');
  const own = sep === -1 ? [...args] : args.slice(0, sep);
  const program = sep === -1 ? [] : args.slice(sep + 1);
  const { values, positionals } = parseVerb(own, OPTIONS);
  if (values.help) {
    io.stdout.write(HELP);
    return EXIT.ok;
  }
  if (positionals.length > 0) throw new UsageError(`crashcheck takes PROGRAM after --, got '${positionals[0]}' before it`);
  if (values.check === undefined || values.check.trim() === '') throw new UsageError('crashcheck needs --check CMD (the invariant to run in each crash state)');
  if (program.length === 0 || program[0] === '') throw new UsageError('crashcheck needs a PROGRAM after -- (e.g. -- python3 save.py)');
  const maxStates = values['max-states'] === undefined ? 64 : parseCount('--max-states', values['max-states']);
  if (maxStates < 1) throw new UsageError('--max-states takes a whole number of at least 1');
  const maxViolations = values['max-violations'] === undefined ? 10 : parseCount('--max-violations', values['max-violations']);
  if (maxViolations < 1) throw new UsageError('--max-violations takes a whole number of at least 1');
  const jobs = values.jobs === undefined ? Math.max(1, Math.min(4, availableParallelism())) : parseCount('--jobs', values.jobs);
  if (jobs < 1) throw new UsageError('--jobs takes a whole number of at least 1');
  let seed = 1;
  if (values.seed !== undefined) {
    if (!/^-?\d+$/.test(values.seed) || !Number.isSafeInteger(Number(values.seed))) throw new UsageError(`--seed takes an integer, got '${values.seed}'`);
    seed = Number(values.seed);
  }
  const timeoutMs = values.timeout === undefined ? 60_000 : parseDuration('--timeout', values.timeout);
  const checkTimeoutMs = values['check-timeout'] === undefined ? 10_000 : parseDuration('--check-timeout', values['check-timeout']);
  if (timeoutMs < 1 || checkTimeoutMs < 1) throw new UsageError('--timeout and --check-timeout must be longer than 0');
  const dir = values.dir ?? '.';
  let isDir = false;
  try {
    isDir = realOps.sync.stat(dir).isDirectory();
  } catch {
    // reported below
  }
  if (!isDir) throw new UsageError(`--dir must be an existing folder, got '${dir}'`);
  const { runCrashcheck } = await import('../../crashcheck/run.js');
  const { formatSummary, formatViolation, toJson } = await import('../../crashcheck/report.js');
  const bar = progressBar(io, !values.json && !values['no-progress'], 'crashcheck', (n) => `${n} states`);
  let result;
  try {
    result = await runCrashcheck({
      dir,
      setup: values.setup,
      check: values.check,
      program,
      maxStates,
      seed,
      timeoutMs,
      checkTimeoutMs,
      maxViolations,
      jobs,
      env: io.env,
      signal: io.signal,
      onProgress: (done, total) => bar.update(done, total),
    });
  } finally {
    bar.stop();
  }
  if (values.json) printJson(io, toJson(result));
  else {
    const many = new Set(result.steps.map((s) => s.pid)).size > 1;
    for (const v of result.violations) io.stdout.write(formatViolation(v, many) + '\n');
    io.stdout.write(formatSummary(result));
  }
  return result.violations.length === 0 ? EXIT.ok : EXIT.failed;
}
