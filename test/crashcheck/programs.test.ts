/**
 * `atomfs crashcheck` on real programs under real strace: the broken writers it must catch
 * (each the negative control of a clean one), the clean ones it must pass, the mmap writer
 * it must refuse, and its bounds (timeouts, Ctrl-C, scratch folders removed).
 *
 * Every run gets a TMPDIR of its own, so "the scratch folders are gone" is checked by that
 * folder being empty afterwards.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { BIN, childEnv, closed, collect, runCli, runProcess, shQuote, spawnCli, type RunResult } from '../helpers/cli.js';
import { straceUnavailable } from '../helpers/strace.js';
import { tmpDir } from '../helpers/tmp.js';

const NO_STRACE = straceUnavailable();
const skip = NO_STRACE === undefined ? false : `${NO_STRACE} (CI installs it)`;
const python = spawnSync('python3', ['-c', '0'], { stdio: 'ignore', timeout: 10_000 }).status === 0;
const gcc = spawnSync('gcc', ['--version'], { stdio: 'ignore', timeout: 10_000 }).status === 0;

/** `out` holds old or new while the program runs, and new once it has exited. */
const OLD_OR_NEW = `c=$(cat out 2>/dev/null); echo "out holds: $c" >&2; if [ "$ATOMFS_CRASH_COMPLETED" = 1 ]; then test "$c" = new; else test "$c" = old || test "$c" = new; fi`;

interface Setup {
  /** The folder crashcheck copies (holds `out` = "old\n"). */
  readonly dir: string;
  /** Where the program files live (outside the folder). */
  readonly bin: string;
  /** TMPDIR for the run: crashcheck's scratch folders go there. */
  readonly tmp: string;
}

function setup(t: TestContext): Setup {
  const root = tmpDir(t);
  const s = { dir: path.join(root, 'dir'), bin: path.join(root, 'bin'), tmp: path.join(root, 'tmp') };
  for (const d of Object.values(s)) fs.mkdirSync(d);
  fs.writeFileSync(path.join(s.dir, 'out'), 'old\n');
  return s;
}

function program(s: Setup, name: string, text: string): string {
  const p = path.join(s.bin, name);
  fs.writeFileSync(p, text);
  return p;
}

async function crashcheck(s: Setup, args: readonly string[], timeoutMs = 120_000): Promise<RunResult> {
  const r = await runCli(['crashcheck', '--dir', s.dir, ...args], { env: { TMPDIR: s.tmp }, timeoutMs });
  // The scratch folders are gone, whatever the outcome.
  assert.deepEqual(fs.readdirSync(s.tmp), [], 'crashcheck left its scratch folder behind');
  return r;
}

interface JsonViolation {
  readonly crashPoint: number;
  readonly completed: boolean;
  readonly calls: string[];
  readonly kept: string[];
  readonly lost: string[];
  readonly files: { path: string; size: number; head: string }[];
  readonly check: { exitCode: number; stderr: string };
}
interface JsonRun {
  readonly clean: boolean;
  readonly crashPoints: number;
  readonly states: number;
  readonly calls: { call: string }[];
  readonly violations: JsonViolation[];
}

function json(r: RunResult): JsonRun {
  return JSON.parse(r.stdout) as JsonRun;
}

const PY_TRUNCATE = `f = open('out', 'w')\nf.write('new\\n')\nf.close()\n`;
const PY_REPLACE = `import os\nwith open('out.tmp', 'w') as f:\n    f.write('new\\n')\n    f.flush()\n    os.fsync(f.fileno())\nos.replace('out.tmp', 'out')\n`;
const PY_DURABLE = PY_REPLACE + `d = os.open('.', os.O_RDONLY | os.O_DIRECTORY)\nos.fsync(d)\nos.close(d)\n`;

describe('atomfs crashcheck on real programs', { skip }, () => {
  it('catches a Python writer that opens the target with "w": a crash leaves it empty or torn', { skip: !python && 'python3 missing' }, async (t) => {
    const s = setup(t);
    const r = await crashcheck(s, ['--json', '--max-violations', '50', '--check', OLD_OR_NEW, '--', 'python3', program(s, 'w.py', PY_TRUNCATE)]);
    assert.equal(r.code, 1, r.stderr);
    const run = json(r);
    assert.equal(run.clean, false);
    assert.deepEqual(
      run.calls.map((c) => c.call),
      ['openat("out", O_WRONLY|O_CREAT|O_TRUNC, 0666) = 3', 'write(3<out>, 4 bytes) = 4', 'close(3<out>) = 0'],
    );
    // Right after the open, the truncation alone reached the disk: out is empty.
    const first = run.violations[0]!;
    assert.equal(first.crashPoint, 1);
    assert.deepEqual(first.kept, ['the truncation of out to 0 bytes']);
    assert.deepEqual(first.files, [{ path: 'out', kind: 'file', size: 0, head: '' }]);
    assert.match(first.check.stderr, /^out holds: $/m);
    // A torn write is among the states: two of the four bytes.
    assert.ok(run.violations.some((v) => v.files.some((f) => f.path === 'out' && f.head === 'ne')));
  });

  it('catches temp-then-os.replace without a folder fsync: after exit, the rename can be lost; the report names it word for word', { skip: !python && 'python3 missing' }, async (t) => {
    const s = setup(t);
    const r = await crashcheck(s, ['--jobs', '1', '--max-violations', '1', '--check', OLD_OR_NEW, '--', 'python3', program(s, 'replace.py', PY_REPLACE)]);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(
      r.stdout,
      [
        'Violation at crash point 5: power lost after call 5 (the program had exited).',
        'Calls up to the crash:',
        '    1. openat("out.tmp", O_WRONLY|O_CREAT|O_TRUNC, 0666) = 3',
        '    2. write(3<out.tmp>, 4 bytes) = 4',
        '    3. fsync(3<out.tmp>) = 0',
        '    4. close(3<out.tmp>) = 0',
        '    5. rename("out.tmp", "out") = 0',
        'Not yet durable at that moment:',
        '  - the creation of out.tmp was lost',
        '  - the rename of out.tmp to out was lost',
        'Files found after the restart:',
        '  out (4 bytes: "old\\n")',
        'The check exited with 1:',
        '  stderr| out holds: old',
        '',
        'crashcheck: 5 calls in the folder, 5 crash points, 10 states checked (2 more were the same files as another), stopped at --max-violations: 1 violation.',
        '',
      ].join('\n'),
    );
  });

  it('passes the same Python pattern with os.fsync of the file and of the folder (the control of the case above)', { skip: !python && 'python3 missing' }, async (t) => {
    const s = setup(t);
    const r = await crashcheck(s, ['--json', '--check', OLD_OR_NEW, '--', 'python3', program(s, 'durable.py', PY_DURABLE)]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const run = json(r);
    assert.equal(run.clean, true);
    assert.deepEqual(run.violations, []);
    assert.ok(run.calls.some((c) => /^fsync\(\d+<\.>\) = 0$/.test(c.call)), 'the folder fsync is among the calls');
    assert.ok(run.states >= run.crashPoints);
  });

  it('catches the shell’s `sort in > out.tmp && mv out.tmp out`: no fsync at all', async (t) => {
    const s = setup(t);
    fs.writeFileSync(path.join(s.dir, 'in'), 'b\na\n');
    const check = `c=$(cat out 2>/dev/null); test "$c" = old || test "$c" = "$(printf 'a\\nb')"`;
    const r = await crashcheck(s, ['--json', '--max-violations', '50', '--check', check, '--', 'sh', '-c', 'sort in > out.tmp && mv out.tmp out']);
    assert.equal(r.code, 1, r.stderr);
    const run = json(r);
    // sort's write lands in out.tmp through the descriptor the shell set up for it.
    assert.ok(run.calls.some((c) => /^write\(1<out\.tmp>, 4 bytes\) = 4$/.test(c.call)), JSON.stringify(run.calls));
    // mv's rename reached the disk, sort's data did not: out is empty.
    assert.ok(run.violations.some((v) => v.kept.some((k) => /^the rename of out\.tmp to out$/.test(k)) && v.files.some((f) => f.path === 'out' && f.size === 0)));
  });

  it('catches a Node app using fs.writeFileSync on the target', async (t) => {
    const s = setup(t);
    const app = program(s, 'app.mjs', `import * as fs from 'node:fs';\nfs.writeFileSync('out', 'new');\n`);
    const r = await crashcheck(s, ['--json', '--check', OLD_OR_NEW, '--', process.execPath, app]);
    assert.equal(r.code, 1, r.stderr);
    const run = json(r);
    assert.ok(run.calls.some((c) => c.call.startsWith('openat("out", O_WRONLY|O_CREAT|O_TRUNC, 0666)')));
    assert.ok(run.violations.some((v) => v.completed && v.files.some((f) => f.path === 'out' && f.size === 0)));
  });

  it('catches a C program that renames before fsync: the name is durable, the data is not', { skip: !gcc && 'gcc missing' }, async (t) => {
    const s = setup(t);
    const src = program(
      s,
      'ren.c',
      `#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
int main(void) {
  int fd = open("out.tmp", O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0 || write(fd, "new\\n", 4) != 4) return 1;
  if (rename("out.tmp", "out") != 0) return 1;
  if (fsync(fd) != 0) return 1;
  close(fd);
  int d = open(".", O_RDONLY | O_DIRECTORY);
  if (d < 0 || fsync(d) != 0) return 1;
  return close(d);
}
`,
    );
    const exe = path.join(s.bin, 'ren');
    const cc = spawnSync('gcc', ['-O2', '-o', exe, src], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(cc.status, 0, cc.stderr);
    const r = await crashcheck(s, ['--json', '--max-violations', '50', '--check', OLD_OR_NEW, '--', exe]);
    assert.equal(r.code, 1, r.stderr);
    const run = json(r);
    const v = run.violations.find((x) => x.crashPoint === 3 && x.kept.includes('the rename of out.tmp to out') && x.lost.includes('the write of 4 bytes at offset 0 to out'));
    assert.ok(v, JSON.stringify(run.violations.map((x) => [x.crashPoint, x.kept, x.lost])));
    assert.deepEqual(v.files, [{ path: 'out', kind: 'file', size: 0, head: '' }]);
    assert.equal(v.completed, false);
  });

  it('passes `atomfs write` itself', async (t) => {
    const s = setup(t);
    const r = await crashcheck(s, ['--json', '--check', OLD_OR_NEW, '--', 'sh', '-c', `echo new | ${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} write out`]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const run = json(r);
    assert.equal(run.clean, true);
    // The temp, its fsync, the rename and the folder's fsync are all there.
    const calls = run.calls.map((c) => c.call);
    assert.ok(calls.some((c) => /^fsync\(\d+<\.out\.[0-9a-f]{16}\.tmp>\) = 0$/.test(c)), calls.join('\n'));
    assert.ok(calls.some((c) => /^rename\("\.out\.[0-9a-f]{16}\.tmp", "out"\) = 0$/.test(c)), calls.join('\n'));
    assert.ok(calls.some((c) => /^fsync\(\d+<\.>\) = 0$/.test(c)), calls.join('\n'));
  });

  it('keeps hard links of the folder: a write through one name shows under the other in every state', async (t) => {
    const s = setup(t);
    fs.linkSync(path.join(s.dir, 'out'), path.join(s.dir, 'also'));
    const r = await crashcheck(s, ['--json', '--check', 'test "$(cat out)" = "$(cat also)" && test "$(stat -c %h out)" = 2', '--', 'sh', '-c', 'echo new > out']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.ok(json(r).states >= 3);
  });

  it('draws a progress bar of states on a terminal, and none into a pipe', { skip: spawnSync('script', ['--version'], { stdio: 'ignore' }).status !== 0 && 'util-linux script missing' }, async (t) => {
    const s = setup(t);
    const args = ['crashcheck', '--dir', s.dir, '--jobs', '1', '--check', 'sleep 0.3', '--', 'sh', '-c', 'echo x > f'];
    const cmd = ['env', `TMPDIR=${s.tmp}`, process.execPath, BIN, ...args].map(shQuote).join(' ');
    const tty = await runProcess('script', ['-qec', cmd, '/dev/null'], { timeoutMs: 60_000 });
    assert.equal(tty.code, 0, tty.stdout);
    assert.match(tty.stdout, /crashcheck \[[█░]+\] +\d+% \| \d+ states \/ \d+ states/);
    const pipe = await crashcheck(s, args.slice(3));
    assert.equal(pipe.code, 0);
    assert.equal(pipe.stderr, '');
    assert.deepEqual(fs.readdirSync(s.tmp), []);
  });

  it('refuses a program that writes through mmap (Python’s mmap module), with ENOTSUP naming the file', { skip: !python && 'python3 missing' }, async (t) => {
    const s = setup(t);
    const mm = program(s, 'mm.py', `import mmap\nwith open('out', 'r+b') as f:\n    m = mmap.mmap(f.fileno(), 0)\n    m[0:3] = b'new'\n    m.flush()\n    m.close()\n`);
    const r = await crashcheck(s, ['--check', 'true', '--', 'python3', mm]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^atomfs: ENOTSUP: crashcheck cannot model a shared mmap of out \(PROT_READ\|PROT_WRITE\): writes through memory are invisible to strace \(trace line \d+, pid \d+\)/);
    // With --json the refusal is the JSON error too; no check ran.
    const j = await crashcheck(s, ['--json', '--check', 'true', '--', 'python3', mm]);
    assert.equal(j.code, 1);
    const err = (JSON.parse(j.stdout) as { error: { code: string; message: string } }).error;
    assert.equal(err.code, 'ENOTSUP');
    assert.match(err.message, /shared mmap of out/);
  });

  it('bounds PROGRAM with --timeout: its process group is killed, exit 1 with ETIMEDOUT', async (t) => {
    const s = setup(t);
    const r = await crashcheck(s, ['--timeout', '1s', '--check', 'true', '--', 'sh', '-c', 'sleep 30 & sleep 30']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^atomfs: ETIMEDOUT: PROGRAM did not finish within 1000 ms/);
  });

  it('bounds each check with --check-timeout: a hanging check is a violation that says so', async (t) => {
    const s = setup(t);
    const r = await crashcheck(s, ['--json', '--check-timeout', '500ms', '--max-violations', '1', '--check', 'sleep 30', '--', 'true']);
    assert.equal(r.code, 1);
    const v = json(r).violations[0]!;
    assert.equal(v.crashPoint, 0);
    assert.equal((v.check as { timedOut?: boolean }).timedOut, true);
  });

  it('a check that removes its own folder does not stop the run: the next state gets a new one', async (t) => {
    const s = setup(t);
    const r = await crashcheck(s, ['--json', '--jobs', '1', '--check', 'test -f out && cd .. && rm -rf "$OLDPWD"', '--', 'sh', '-c', 'echo x > f']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(json(r).states >= 3);
  });

  it('Ctrl-C while checking: the check is killed, the scratch folder removed, exit 130', async (t) => {
    const s = setup(t);
    const mark = path.join(s.bin, 'checking');
    const child = spawnCli(t, ['crashcheck', '--dir', s.dir, '--check', `touch ${JSON.stringify(mark)}; sleep 30`, '--', 'true'], { env: childEnv({ TMPDIR: s.tmp }) });
    const err = collect(child.stderr);
    for (let i = 0; i < 400 && !fs.existsSync(mark); i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(fs.existsSync(mark), 'the check never started');
    child.kill('SIGINT');
    const end = await closed(child, 20_000);
    assert.equal(end.code, 130, err.text());
    assert.deepEqual(fs.readdirSync(s.tmp), []);
  });

  it('a PROGRAM that fails, or cannot be run, or a failing --setup: exit 1 with a message saying which', async (t) => {
    const s = setup(t);
    const failed = await crashcheck(s, ['--check', 'true', '--', 'sh', '-c', 'echo broken >&2; exit 3']);
    assert.equal(failed.code, 1);
    assert.match(failed.stderr, /^atomfs: EINVAL: PROGRAM failed \(exit code 3\); crashcheck checks a program that succeeds; its stderr ends: broken/);
    const missing = await crashcheck(s, ['--check', 'true', '--', path.join(s.bin, 'no-such-program')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^atomfs: EINVAL: strace could not run PROGRAM: strace: .*no-such-program/);
    const setupFailed = await crashcheck(s, ['--setup', 'echo nope >&2; false', '--check', 'true', '--', 'true']);
    assert.equal(setupFailed.code, 1);
    assert.match(setupFailed.stderr, /^atomfs: EINVAL: --setup failed \(exit code 1\); its stderr ends: nope/);
  });

  it('without strace on the PATH: exit 1, ENOENT saying what to install, nothing left behind', async (t) => {
    const s = setup(t);
    const empty = path.join(s.bin, 'empty-path');
    fs.mkdirSync(empty);
    const r = await runCli(['crashcheck', '--dir', s.dir, '--check', 'true', '--', 'true'], { env: { TMPDIR: s.tmp, PATH: empty } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^atomfs: ENOENT: crashcheck needs strace \(Debian\/Ubuntu: apt-get install strace\)/);
    assert.deepEqual(fs.readdirSync(s.tmp), []);
  });

  const usage: readonly [string, string[], RegExp][] = [
    ['no --check', ['--', 'true'], /needs --check CMD/],
    ['no PROGRAM', ['--check', 'true'], /needs a PROGRAM after --/],
    ['a word before --', ['--check', 'true', 'prog'], /takes PROGRAM after --, got 'prog'/],
    ['a bad --max-states', ['--check', 'true', '--max-states', 'many', '--', 'true'], /--max-states takes a whole number, got 'many'/],
    ['a bad --seed', ['--check', 'true', '--seed', '1.5', '--', 'true'], /--seed takes an integer, got '1.5'/],
    ['a bad --timeout', ['--check', 'true', '--timeout', 'soon', '--', 'true'], /--timeout takes a duration/],
    ['an unknown option', ['--chek', 'true', '--', 'true'], /unknown option '--chek' \(did you mean '--check'\?\)/],
  ];
  for (const [what, args, message] of usage) {
    it(`bad usage (${what}): exit 2 with a clear message, nothing run`, async (t) => {
      const s = setup(t);
      const r = await crashcheck(s, args);
      assert.equal(r.code, 2);
      assert.match(r.stderr, message);
      assert.equal(r.stdout, '');
    });
  }

  it('bad usage (--dir that is no folder): exit 2', async (t) => {
    const s = setup(t);
    const r = await runCli(['crashcheck', '--dir', path.join(s.dir, 'nope'), '--check', 'true', '--', 'true'], { env: { TMPDIR: s.tmp } });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^atomfs: --dir must be an existing folder, got '.*nope'/);
  });
});
