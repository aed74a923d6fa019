/**
 * `--json` reports errors as JSON too: one line `{"error": {"code", "message", "path"}}` on
 * stdout, with the usual line on stderr and the usual exit code (1 failed, 2 bad usage),
 * for every verb that takes --json.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { errorLine, runCli, type RunResult } from '../helpers/cli.js';
import { list, tmpDir } from '../helpers/tmp.js';

/** The one JSON line on stdout, which must be an error and only that. */
function jsonError(r: RunResult): { code: string; message: string; path: string | null } {
  const lines = r.stdout.split('\n');
  assert.equal(lines.length, 2, `one line on stdout: ${JSON.stringify(r.stdout)}`);
  const parsed = JSON.parse(lines[0]!) as { error: { code: string; message: string; path: string | null } };
  assert.deepEqual(Object.keys(parsed), ['error']);
  assert.deepEqual(Object.keys(parsed.error), ['code', 'message', 'path']);
  return parsed.error;
}

describe('atomfs --json: errors as JSON on stdout, exit codes unchanged', () => {
  it('an operation that fails: exit 1, {"error": {code, message, path}} on stdout, the one line on stderr as without --json', async (t) => {
    const dir = tmpDir(t);
    fs.writeFileSync(path.join(dir, 'f'), 'keep');
    fs.writeFileSync(path.join(dir, 'g'), 'keep too');
    const missing = path.join(dir, 'missing');
    const cases: [string[], string, string][] = [
      [['write', '--json', path.join(dir, 'f', 'child')], 'ENOTDIR', path.join(dir, 'f', 'child')],
      [['mv', '--json', missing, path.join(dir, 'b')], 'ENOENT', missing],
      [['mv', path.join(dir, 'f'), path.join(dir, 'g'), '--json'], 'EEXIST', path.join(dir, 'f')],
      [['cleanup', '--json', missing], 'ENOENT', missing],
      [['doctor', '--json', missing], 'ENOENT', missing],
      [['doctor', '--json', path.join(dir, 'f')], 'ENOTDIR', path.join(dir, 'f')],
    ];
    const results = await Promise.all(cases.map(([args]) => runCli(args, { input: 'x' })));
    const plain = await Promise.all(cases.map(([args]) => runCli(args.filter((a) => a !== '--json'), { input: 'x' })));
    cases.forEach(([args, code, p], i) => {
      const r = results[i]!;
      const what = `${args.join(' ')}: ${r.stderr}`;
      assert.equal(r.code, 1, what);
      const e = jsonError(r);
      assert.equal(e.code, code, what);
      assert.equal(e.path, p, what);
      assert.match(e.message, new RegExp(`^${code}: `));
      assert.match(r.stderr, errorLine(code));
      assert.equal(r.stderr, `atomfs: ${e.message}\n`, 'the same message on both');
      assert.deepEqual([plain[i]!.code, plain[i]!.stdout, plain[i]!.stderr], [1, '', r.stderr], `without --json: ${args.join(' ')}`);
    });
    assert.deepEqual(list(dir), ['f', 'g'], 'nothing made, nothing moved');
  });

  it('bad usage: exit 2, code EINVAL, path null, the usage lines on stderr as without --json', async (t) => {
    const dir = tmpDir(t);
    const cases: string[][] = [
      ['write', '--json', '--bogus', path.join(dir, 'x')],
      ['write', '--json', '--mode', '9', path.join(dir, 'x')],
      ['mv', '--json', 'only-one'],
      ['mv', '--json', '--verify', 'sha1', 'a', 'b'],
      ['cleanup', '--json', '--older-than', 'soon', dir],
      ['verify', '--json', '--sha256', 'abc', 'package.json'],
      ['verify', '--json'],
      ['doctor', '--json', '--samples', '0', dir],
      ['doctor', '--json', '--smaples', '3', dir],
    ];
    const results = await Promise.all(cases.map((args) => runCli(args, { input: '' })));
    const plain = await Promise.all(cases.map((args) => runCli(args.filter((a) => a !== '--json'), { input: '' })));
    cases.forEach((args, i) => {
      const r = results[i]!;
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      const e = jsonError(r);
      assert.equal(e.code, 'EINVAL');
      assert.equal(e.path, null);
      assert.equal(r.stderr.split('\n')[0], `atomfs: ${e.message}`);
      assert.match(r.stderr, new RegExp(`\nUsage: see 'atomfs ${args[0]} --help'\\.\n$`));
      assert.deepEqual([plain[i]!.code, plain[i]!.stdout, plain[i]!.stderr], [2, '', r.stderr], `without --json: ${args.join(' ')}`);
    });
    assert.deepEqual(list(dir), []);
  });

  it('ATOMFS_LOG rejected under --json is a JSON error too (exit 2)', async (t) => {
    const dir = tmpDir(t);
    const r = await runCli(['cleanup', '--json', dir], { env: { ATOMFS_LOG: 'verbose' } });
    assert.equal(r.code, 2);
    const e = jsonError(r);
    assert.equal(e.code, 'EINVAL');
    assert.match(e.message, /ATOMFS_LOG must be one of debug, info, warn, error, got 'verbose'/);
  });

  it('mv onto the same file: an error line in the JSON stream, after the moves that worked, exit 1', async (t) => {
    const dir = tmpDir(t);
    const p = (n: string): string => path.join(dir, n);
    fs.mkdirSync(p('d'));
    fs.writeFileSync(p('d/a'), 'A');
    fs.writeFileSync(p('b'), 'B');
    const r = await runCli(['mv', '--json', p('b'), p('d/a'), p('d')]);
    assert.equal(r.code, 1, r.stderr);
    const [moved, failed, ...rest] = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(rest.length, 0);
    assert.equal(moved!['dest'], p('d/b'));
    assert.deepEqual(failed, { error: { code: 'EINVAL', message: `'${p('d/a')}' and '${p('d/a')}' are the same file`, path: p('d/a') } });
    assert.equal(r.stderr, `atomfs: mv: '${p('d/a')}' and '${p('d/a')}' are the same file\n`);
  });

  it('a verify that finds a file invalid is a result, not an error: no error JSON, exit 1', async (t) => {
    const dir = tmpDir(t);
    const r = await runCli(['verify', '--json', path.join(dir, 'missing')]);
    assert.equal(r.code, 1);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.equal(out['valid'], false);
    assert.equal(out['error'], undefined);
  });

  it('--json given as the value of another option is not --json', async () => {
    const r = await runCli(['verify', '--sha256', '--json', 'package.json']);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
  });
});
