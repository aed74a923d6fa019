/**
 * The CLI's contract with scripts: exit 0 success, 1 the operation failed (one line
 * `atomfs: CODE: message`), 2 bad usage (a usage line on stderr); help and version.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { errorLine, REPO, runCli } from '../helpers/cli.js';
import { list, tmpDir } from '../helpers/tmp.js';

const VERBS = ['write', 'mv', 'cleanup', 'lock', 'verify', 'doctor'] as const;

/** Exit 2, nothing on stdout, and stderr: `atomfs: <what>` then `Usage: see 'atomfs [verb ]--help'.` */
function assertUsage(r: { code: number | null; stdout: string; stderr: string }, verb: string | undefined, what: RegExp): void {
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stdout, '');
  const lines = r.stderr.split('\n');
  assert.equal(lines.length, 3, r.stderr); // two lines and the final newline
  assert.match(lines[0]!, /^atomfs: /);
  assert.match(lines[0]!, what);
  assert.equal(lines[1], `Usage: see 'atomfs ${verb ? `${verb} ` : ''}--help'.`);
}

describe('atomfs help and version', () => {
  it('prints the version from package.json with --version, -V and -v, exit 0', async () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V', '-v']) {
      const r = await runCli([flag]);
      assert.equal(r.code, 0);
      assert.equal(r.stdout, `${pkg.version}\n`);
      assert.equal(r.stderr, '');
    }
  });

  it('prints the overview with every verb and examples on --help, exit 0', async () => {
    for (const flag of ['--help', '-h', 'help']) {
      const r = await runCli([flag]);
      assert.equal(r.code, 0);
      assert.equal(r.stderr, '');
      assert.match(r.stdout, /^Usage: atomfs <command>/);
      for (const v of VERBS) assert.match(r.stdout, new RegExp(`^  ${v} `, 'm'), v);
      assert.match(r.stdout, /Examples:\n {2}\S/);
    }
  });

  it("'atomfs help VERB' prints the same text as 'atomfs VERB --help', exit 0", async () => {
    for (const verb of VERBS) {
      const [viaHelp, viaFlag] = await Promise.all([runCli(['help', verb]), runCli([verb, '--help'])]);
      assert.equal(viaHelp.code, 0, viaHelp.stderr);
      assert.equal(viaHelp.stderr, '');
      assert.match(viaHelp.stdout, new RegExp(`^Usage: atomfs ${verb} `));
      assert.equal(viaHelp.stdout, viaFlag.stdout, verb);
    }
    const [helpHelp, overview] = await Promise.all([runCli(['help', 'help']), runCli(['--help'])]);
    assert.equal(helpHelp.code, 0, helpHelp.stderr);
    assert.equal(helpHelp.stdout, overview.stdout, "'atomfs help help' is the overview");
  });

  it("'atomfs help' with an unknown verb, or two, is bad usage; the closest verb is hinted", async () => {
    assertUsage(await runCli(['help', 'verif']), undefined, /^atomfs: unknown command 'verif' \(did you mean 'verify'\?\)$/);
    assertUsage(await runCli(['help', 'mv', 'lock']), undefined, /help takes at most one command/);
  });

  it('prints the overview on stderr and exits 2 when no verb is given', async () => {
    const r = await runCli([]);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^Usage: atomfs <command>/);
  });

  for (const verb of VERBS) {
    it(`'atomfs ${verb} --help' exits 0 and prints its usage with examples`, async () => {
      for (const flag of ['--help', '-h']) {
        const r = await runCli([verb, flag]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stderr, '');
        assert.match(r.stdout, new RegExp(`^Usage: atomfs ${verb} `));
        const examples = r.stdout.split('\nExamples:\n')[1];
        assert.ok(examples, 'an Examples section');
        assert.match(examples, new RegExp(`^ {2}.*atomfs ${verb}`, 'm'), 'an example uses the verb');
      }
    });
  }
});

describe('atomfs bad usage exits 2 with a usage line', () => {
  it('rejects an unknown verb, hinting the closest one when one is close', async () => {
    assertUsage(await runCli(['frobnicate']), undefined, /^atomfs: unknown command 'frobnicate'$/);
    const typos: [string, string][] = [
      ['mvv', 'mv'],
      ['verif', 'verify'],
      ['clenaup', 'cleanup'],
      ['Lock', 'lock'],
      ['doctr', 'doctor'],
      ['wirte', 'write'],
    ];
    const results = await Promise.all(typos.map(([typo]) => runCli([typo, 'x'])));
    typos.forEach(([typo, verb], i) => assertUsage(results[i]!, undefined, new RegExp(`^atomfs: unknown command '${typo}' \\(did you mean '${verb}'\\?\\)$`)));
  });

  it("an option before the verb is an unknown option, not an unknown command ('atomfs --bogus'), hinting --version/--help", async () => {
    const bogus = await runCli(['--bogus']);
    assertUsage(bogus, undefined, /^atomfs: unknown option '--bogus': before a command, atomfs takes only --help and --version/);
    assert.doesNotMatch(bogus.stderr, /unknown command/);
    assertUsage(await runCli(['--verison']), undefined, /^atomfs: unknown option '--verison' \(did you mean '--version'\?\)$/);
    assertUsage(await runCli(['--hlep', 'mv']), undefined, /^atomfs: unknown option '--hlep' \(did you mean '--help'\?\)$/);
  });

  it('rejects missing operands for every verb that needs them', async () => {
    const cases: [string[], string, RegExp][] = [
      [['write'], 'write', /exactly one FILE/],
      [['write', 'a', 'b'], 'write', /exactly one FILE/],
      [['mv'], 'mv', /SRC and a DEST/],
      [['mv', 'only-one'], 'mv', /SRC and a DEST/],
      [['cleanup'], 'cleanup', /exactly one DIR/],
      [['lock'], 'lock', /exactly one PATH/],
      [['lock', '.'], 'lock', /COMMAND after --/],
      [['lock', '.', '--'], 'lock', /COMMAND after --/],
      [['verify'], 'verify', /at least one FILE/],
      [['doctor', 'a', 'b'], 'doctor', /at most one DIR/],
    ];
    const results = await Promise.all(cases.map(([args]) => runCli(args)));
    cases.forEach(([, verb, what], i) => assertUsage(results[i]!, verb, what));
  });

  it('rejects a --mode that is not octal, and writes nothing', async (t) => {
    const dir = tmpDir(t);
    const modes = ['9z9', '888', '12345', '', 'rw-r--r--'];
    const results = await Promise.all(modes.map((mode) => runCli(['write', `--mode=${mode}`, path.join(dir, 'f')], { input: 'data' })));
    for (const r of results) assertUsage(r, 'write', /--mode must be octal/);
    assert.deepEqual(list(dir), []);
  });

  it('rejects write --append with --no-clobber, writing nothing', async (t) => {
    const dir = tmpDir(t);
    assertUsage(await runCli(['write', '-a', '--no-clobber', path.join(dir, 'f')], { input: 'x' }), 'write', /--append and --no-clobber cannot be combined/);
    assert.deepEqual(list(dir), []);
  });

  it('rejects a bad duration for --older-than, --timeout and --stale', async (t) => {
    const dir = tmpDir(t);
    const bad = ['5x', 'ten', '-1s', '1.5.2m', '', '10 s'];
    const results = await Promise.all(bad.map((d) => runCli(['cleanup', `--older-than=${d}`, dir])));
    for (const r of results) assertUsage(r, 'cleanup', /--older-than takes a duration/);
    assertUsage(await runCli(['lock', '--timeout', 'soon', dir, '--', 'true']), 'lock', /--timeout takes a duration/);
    assertUsage(await runCli(['lock', '--stale', '3 weeks', dir, '--', 'true']), 'lock', /--stale takes a duration/);
    assert.deepEqual(list(dir), [], 'a usage error takes no lock and leaves nothing');
  });

  it('rejects a bad --verify or --strategy for mv, and moves nothing', async (t) => {
    const dir = tmpDir(t);
    fs.writeFileSync(path.join(dir, 'a'), 'a');
    assertUsage(await runCli(['mv', '--verify', 'sha1', path.join(dir, 'a'), path.join(dir, 'b')]), 'mv', /--verify takes size, checksum or none, got 'sha1'/);
    assertUsage(await runCli(['mv', '--strategy', 'teleport', path.join(dir, 'a'), path.join(dir, 'b')]), 'mv', /--strategy takes/);
    assertUsage(await runCli(['mv', '-T', path.join(dir, 'a'), path.join(dir, 'a'), path.join(dir, 'b')]), 'mv', /-T takes exactly one SRC/);
    // GNU mv refuses -t with -T; neither is a negation of the other.
    for (const args of [['-t', dir, '-T'], ['--no-target-directory', '--target-directory', dir], [`--target-directory=${dir}`, '-T']]) {
      assertUsage(await runCli(['mv', ...args, path.join(dir, 'a')]), 'mv', /-t and -T cannot be combined/);
    }
    assert.deepEqual(list(dir), ['a']);
  });

  it('rejects bad verify options and doctor samples', async () => {
    assertUsage(await runCli(['verify', '--sha256', 'abc', 'package.json']), 'verify', /64 hex digits/);
    assertUsage(await runCli(['verify', '--sha256', 'a'.repeat(64), 'package.json', 'README.md']), 'verify', /exactly one FILE/);
    assertUsage(await runCli(['verify', '--min-size', '1k', 'package.json']), 'verify', /--min-size takes a whole number/);
    assertUsage(await runCli(['doctor', '--samples', '0']), 'doctor', /--samples/);
  });

  it('rejects a doctor --samples that is not plain digits (1e2, 0x10, 2.0, " 5") or out of 1..1000, probing nothing', async (t) => {
    const dir = tmpDir(t);
    const notDigits = ['1e2', '0x10', '2.0', ' 5', '+3', '-1'];
    const results = await Promise.all(notDigits.map((n) => runCli(['doctor', `--samples=${n}`, dir])));
    notDigits.forEach((n, i) => assertUsage(results[i]!, 'doctor', new RegExp(`--samples takes a whole number, got '${n.replace(/[.+]/g, '\\$&')}'`)));
    for (const n of ['0', '1001']) {
      assertUsage(await runCli(['doctor', `--samples=${n}`, dir]), 'doctor', new RegExp(`--samples takes a whole number from 1 to 1000, got '${n}'`));
    }
    assert.deepEqual(list(dir), [], 'no probe folder was made');
  });

  it('rejects an unknown option in plain words (quotes balanced, no parser jargon), hinting the closest flag of that verb', async () => {
    // [args, the usage line's verb, the exact first line]
    const cases: [string[], string, string][] = [
      [['write', '--bogus', 'x'], 'write', "unknown option '--bogus'"],
      [['write', '--apend', 'x'], 'write', "unknown option '--apend' (did you mean '--append'?)"],
      [['write', '-json', 'x'], 'write', "unknown option '-json' (did you mean '--json'?)"],
      [['mv', '--overwirte', 'a', 'b'], 'mv', "unknown option '--overwirte' (did you mean '--overwrite'?)"],
      [['mv', '--no-clober', 'a', 'b'], 'mv', "unknown option '--no-clober' (did you mean '--no-clobber'?)"],
      [['mv', '-fz', 'a', 'b'], 'mv', "unknown option '-z' in '-fz'"],
      [['cleanup', '--older-then', '1h', '.'], 'cleanup', "unknown option '--older-then' (did you mean '--older-than'?)"],
      [['cleanup', '--dryrun', '.'], 'cleanup', "unknown option '--dryrun' (did you mean '--dry-run'?)"],
      [['lock', '--shard', '.', '-c', 'true'], 'lock', "unknown option '--shard' (did you mean '--shared'?)"],
      [['lock', '-X', '.', '-c', 'true'], 'lock', "unknown option '-X' (did you mean '-x'?)"],
      [['verify', '--sha265', 'a'.repeat(64), 'f'], 'verify', "unknown option '--sha265' (did you mean '--sha256'?)"],
      [['verify', '--jsonparse', 'f'], 'verify', "unknown option '--jsonparse' (did you mean '--json-parse'?)"],
      [['doctor', '--sample', '3'], 'doctor', "unknown option '--sample' (did you mean '--samples'?)"],
    ];
    const results = await Promise.all(cases.map(([args]) => runCli(args)));
    cases.forEach(([args, verb, line], i) => {
      const r = results[i]!;
      assertUsage(r, verb, new RegExp(`^atomfs: ${line.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`));
      const first = r.stderr.split('\n')[0]!;
      assert.equal(first.split("'").length % 2, 1, `balanced quotes: ${first} (${args.join(' ')})`);
      assert.doesNotMatch(first, /positional|To specify/);
    });
  });

  it('says in plain words when an option lacks its value or gets one it does not take', async () => {
    const cases: [string[], string, RegExp][] = [
      [['mv', 'a', '-t'], 'mv', /^atomfs: option '-t' needs a value$/],
      [['cleanup', '.', '--older-than'], 'cleanup', /^atomfs: option '--older-than' needs a value$/],
      [['write', '--json=yes', 'f'], 'write', /^atomfs: option '--json' takes no value, got '--json=yes'$/],
      [['verify', '--sha256', '--json', 'f'], 'verify', /^atomfs: option '--sha256' needs a value, got the option '--json' \(write --sha256=--json if that is the value\)$/],
      [['lock', '-w', '-n', '.', '-c', 'true'], 'lock', /^atomfs: option '-w' needs a value, got the option '-n' \(write --timeout=-n if that is the value\)$/],
    ];
    const results = await Promise.all(cases.map(([args]) => runCli(args)));
    cases.forEach(([, verb, what], i) => assertUsage(results[i]!, verb, what));
  });
});

describe('atomfs failing operations exit 1 with exactly one error line', () => {
  it('mv of a missing source fails with ENOENT', async (t) => {
    const dir = tmpDir(t);
    const r = await runCli(['mv', path.join(dir, 'missing'), path.join(dir, 'b')]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, errorLine('ENOENT'));
    assert.ok(r.stderr.includes(path.join(dir, 'missing')), r.stderr);
    assert.deepEqual(list(dir), []);
  });

  it('mv onto an existing file without --overwrite fails with EEXIST and keeps both', async (t) => {
    const dir = tmpDir(t);
    fs.writeFileSync(path.join(dir, 'a'), 'A');
    fs.writeFileSync(path.join(dir, 'b'), 'B');
    const r = await runCli(['mv', path.join(dir, 'a'), path.join(dir, 'b')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, errorLine('EEXIST'));
    assert.equal(fs.readFileSync(path.join(dir, 'a'), 'utf8'), 'A');
    assert.equal(fs.readFileSync(path.join(dir, 'b'), 'utf8'), 'B');
  });

  it('write under a path whose parent is a file fails with ENOTDIR and leaves the file alone', async (t) => {
    const dir = tmpDir(t);
    fs.writeFileSync(path.join(dir, 'f'), 'keep');
    const r = await runCli(['write', path.join(dir, 'f', 'child')], { input: 'x' });
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, errorLine('ENOTDIR'));
    assert.deepEqual(list(dir), ['f']);
    assert.equal(fs.readFileSync(path.join(dir, 'f'), 'utf8'), 'keep');
  });

  it('cleanup and doctor of a missing folder fail with ENOENT', async (t) => {
    const missing = path.join(tmpDir(t), 'missing');
    for (const verb of ['cleanup', 'doctor']) {
      const r = await runCli([verb, missing]);
      assert.equal(r.code, 1, `${verb}: ${r.stderr}`);
      assert.match(r.stderr, errorLine('ENOENT'), verb);
    }
  });

  it('doctor of a file fails with ENOTDIR', async () => {
    const r = await runCli(['doctor', 'package.json']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, errorLine('ENOTDIR'));
  });
});
