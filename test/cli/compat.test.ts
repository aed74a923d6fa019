/**
 * Every long flag and exit code the CLI had before flock's, mv's and sponge's short flags
 * came in keeps working: one test per verb drives them all through the built CLI, in both
 * spellings (`--flag value` and `--flag=value`), and checks what they did.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { waitForLine } from '../helpers/child.js';
import { closed, errorLine, runCli, spawnCli } from '../helpers/cli.js';
import { list, tmpDir } from '../helpers/tmp.js';

const lines = (s: string): Record<string, unknown>[] => s.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);

describe('the long flags and exit codes of before still work', () => {
  it('write: --mode, --no-fsync, --no-clobber, --append, --json, --help; exit 0, 1 (EEXIST), 2', async (t) => {
    const dir = tmpDir(t);
    const f = path.join(dir, 'f');
    const made = await runCli(['write', '--mode', '600', '--no-fsync', '--json', f], { input: 'one\n' });
    assert.equal(made.code, 0, made.stderr);
    assert.deepEqual(lines(made.stdout), [{ path: f, bytes: 4 }]);
    assert.equal(fs.statSync(f).mode & 0o777, 0o600);
    const appended = await runCli(['write', '--append', `--mode=644`, f], { input: 'two\n' });
    assert.equal(appended.code, 0, appended.stderr);
    assert.equal(fs.readFileSync(f, 'utf8'), 'one\ntwo\n');
    const clobber = await runCli(['write', '--no-clobber', f], { input: 'three\n' });
    assert.equal(clobber.code, 1);
    assert.match(clobber.stderr, errorLine('EEXIST'));
    assert.equal(fs.readFileSync(f, 'utf8'), 'one\ntwo\n');
    assert.equal((await runCli(['write', '--mode', 'x', f])).code, 2);
    assert.equal((await runCli(['write', '--help'])).code, 0);
  });

  it('mv: --overwrite, --no-clobber, --target-directory, --no-target-directory, --verify, --strategy, --no-fsync, --no-progress, --verbose, --json, --help; exit 0, 1, 2', async (t) => {
    const dir = tmpDir(t);
    const p = (n: string): string => path.join(dir, n);
    fs.writeFileSync(p('a'), 'AAAA');
    fs.writeFileSync(p('b'), 'B');
    const over = await runCli(['mv', '--overwrite', '--verify', 'checksum', '--strategy=copy', '--no-fsync', '--no-progress', '--json', p('a'), p('b')]);
    assert.equal(over.code, 0, over.stderr);
    const [res] = lines(over.stdout);
    assert.deepEqual([res!['src'], res!['dest'], res!['strategy'], res!['bytes']], [p('a'), p('b'), 'copy', 4]);
    assert.equal(res!['sha256'], createHash('sha256').update('AAAA').digest('hex'));
    assert.equal(fs.readFileSync(p('b'), 'utf8'), 'AAAA');
    fs.mkdirSync(p('d'));
    fs.writeFileSync(p('d/b'), 'old');
    fs.writeFileSync(p('c'), 'C');
    const skip = await runCli(['mv', '--no-clobber', '--verbose', '--target-directory', p('d'), p('b'), p('c')]);
    assert.equal(skip.code, 0, skip.stderr);
    assert.equal(skip.stdout, `renamed '${p('c')}' -> '${p('d/c')}'\n`);
    assert.equal(fs.readFileSync(p('d/b'), 'utf8'), 'old', '--no-clobber kept it');
    const noTarget = await runCli(['mv', '--no-target-directory', '--strategy', 'hardlink', '--verify=none', p('b'), p('e')]);
    assert.equal(noTarget.code, 0, noTarget.stderr);
    assert.deepEqual(list(dir).sort(), ['d', 'e']);
    const exists = await runCli(['mv', p('e'), p('d/b')]);
    assert.equal(exists.code, 1);
    assert.match(exists.stderr, errorLine('EEXIST'));
    assert.equal((await runCli(['mv', '--verify', 'md5', p('e'), p('f')])).code, 2);
    assert.equal((await runCli(['mv', '--help'])).code, 0);
  });

  it('cleanup: --older-than, --recursive, --dry-run, --json, --help; exit 0, 1, 2', async (t) => {
    const dir = tmpDir(t);
    fs.mkdirSync(path.join(dir, 'sub'));
    const temp = path.join(dir, 'sub', '.x.0123456789abcdef.tmp');
    fs.writeFileSync(temp, 'x');
    const old = new Date(Date.now() - 60_000);
    fs.utimesSync(temp, old, old);
    const dry = await runCli(['cleanup', '--older-than', '10s', '--recursive', '--dry-run', '--json', dir]);
    assert.equal(dry.code, 0, dry.stderr);
    assert.deepEqual(lines(dry.stdout), [{ wouldRemove: [temp], kept: 0 }]);
    const young = await runCli(['cleanup', '--older-than=2m', '--recursive', '--json', dir]);
    assert.deepEqual(lines(young.stdout), [{ removed: [], kept: 1 }]);
    const real = await runCli(['cleanup', '--older-than', '10s', '--recursive', dir]);
    assert.equal(real.code, 0, real.stderr);
    assert.equal(real.stdout, `removed ${temp}\n`);
    assert.deepEqual(list(path.join(dir, 'sub')), []);
    assert.equal((await runCli(['cleanup', path.join(dir, 'missing')])).code, 1);
    assert.equal((await runCli(['cleanup', '--older-than', 'x', dir])).code, 2);
    assert.equal((await runCli(['cleanup', '--help'])).code, 0);
  });

  it("lock: --shared, --timeout, --stale, --help, '-- CMD'; the command's code, 1 (ETIMEDOUT), 2, 127", async (t) => {
    const dir = tmpDir(t);
    const ok = await runCli(['lock', '--shared', '--timeout', '5s', '--stale=10s', dir, '--', 'sh', '-c', 'echo "${ATOMFS_LOCK_TOKEN-none}"; exit 7']);
    assert.equal(ok.code, 7, ok.stderr);
    assert.equal(ok.stdout, 'none\n');
    const holder = spawnCli(t, ['lock', dir, '--', 'sh', '-c', 'echo ready; read line']);
    await waitForLine(holder, 'ready');
    const timedOut = await runCli(['lock', '--timeout=100ms', dir, '--', 'true']);
    assert.equal(timedOut.code, 1);
    assert.match(timedOut.stderr, errorLine('ETIMEDOUT'));
    holder.stdin!.end('\n');
    assert.deepEqual(await closed(holder), { code: 0, signal: null });
    assert.equal((await runCli(['lock', dir, '--', 'atomfs-no-such-command'])).code, 127);
    assert.equal((await runCli(['lock', '--timeout', 'x', dir, '--', 'true'])).code, 2);
    assert.equal((await runCli(['lock', '--help'])).code, 0);
  });

  it('verify: --json-parse, --binary, --sha256, --min-size, --max-size, --json, --help; exit 0, 1, 2', async (t) => {
    const dir = tmpDir(t);
    const f = path.join(dir, 'c.json');
    fs.writeFileSync(f, '{"a":1}');
    const sha = createHash('sha256').update('{"a":1}').digest('hex');
    const good = await runCli(['verify', '--json-parse', '--binary', '--sha256', sha, '--min-size', '7', '--max-size=7', '--json', f]);
    assert.equal(good.code, 0, good.stderr);
    assert.deepEqual(lines(good.stdout), [{ path: f, valid: true, size: 7 }]);
    const small = await runCli(['verify', '--max-size', '3', f]);
    assert.equal(small.code, 1);
    assert.match(small.stdout, /^INVALID /);
    assert.equal((await runCli(['verify', '--min-size', 'x', f])).code, 2);
    assert.equal((await runCli(['verify', '--help'])).code, 0);
  });

  it('doctor: --samples, --json, --help; exit 0, 1, 2', async (t) => {
    const dir = tmpDir(t);
    const r = await runCli(['doctor', '--samples', '1', '--json', dir]);
    assert.equal(r.code, 0, r.stderr);
    const [report] = lines(r.stdout);
    assert.equal(report!['dir'], dir);
    assert.deepEqual(list(dir), []);
    assert.equal((await runCli(['doctor', '--samples=1', path.join(dir, 'missing')])).code, 1);
    assert.equal((await runCli(['doctor', '--samples', '0', dir])).code, 2);
    assert.equal((await runCli(['doctor', '--help'])).code, 0);
  });

  it('atomfs itself: --help, -h, help, --version, -v; no verb is exit 2', async () => {
    for (const a of ['--help', '-h', 'help', '--version', '-v']) assert.equal((await runCli([a])).code, 0, a);
    assert.equal((await runCli([])).code, 2);
  });
});
