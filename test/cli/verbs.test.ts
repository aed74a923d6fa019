/**
 * Each verb's success path through the built CLI: exit codes, output (human and --json),
 * and what is on disk afterwards.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { isTempFile, LOG_EVENTS } from '../../src/index.js';
import { errorLine, runCli } from '../helpers/cli.js';
import { list, tmpDir } from '../helpers/tmp.js';

const HOUR = 3_600_000;

/** Sets a file's mtime to `ageMs` ago. */
function age(p: string, ageMs: number): void {
  const t = new Date(Date.now() - ageMs);
  fs.utimesSync(p, t, t);
}

function parseLines(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('atomfs write', () => {
  it('replaces a file with all of stdin (binary-safe), silently, exit 0', async (t) => {
    const dir = tmpDir(t);
    const f = path.join(dir, 'f');
    fs.writeFileSync(f, 'old content');
    const data = Buffer.concat([Buffer.from([0, 0xff, 0xfe, 10, 13]), Buffer.alloc(300_000, 0x61)]);
    const r = await runCli(['write', f], { input: data });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, '');
    assert.ok(fs.readFileSync(f).equals(data));
    assert.deepEqual(list(dir), ['f']);
  });

  it('-a (sponge -a) publishes the old content then stdin as one new file; a missing FILE is created', async (t) => {
    const dir = tmpDir(t);
    const f = path.join(dir, 'log');
    const old = Buffer.concat([Buffer.alloc(200_000, 0x62), Buffer.from('end-of-old\n')]);
    fs.writeFileSync(f, old);
    const inoBefore = fs.statSync(f).ino;
    const r = await runCli(['write', '-a', '--json', f], { input: 'new line\n' });
    assert.equal(r.code, 0, r.stderr);
    const want = Buffer.concat([old, Buffer.from('new line\n')]);
    assert.ok(fs.readFileSync(f).equals(want));
    assert.notEqual(fs.statSync(f).ino, inoBefore, 'a new file was published, not an in-place append');
    assert.deepEqual(parseLines(r.stdout), [{ path: f, bytes: want.length }]);
    const g = path.join(dir, 'fresh');
    const c = await runCli(['write', '--append', g], { input: 'first' });
    assert.equal(c.code, 0, c.stderr);
    assert.equal(fs.readFileSync(g, 'utf8'), 'first');
    const bad = await runCli(['write', '-a', '--no-clobber', g], { input: 'x' });
    assert.equal(bad.code, 2);
    assert.equal(fs.readFileSync(g, 'utf8'), 'first');
    assert.deepEqual(list(dir), ['fresh', 'log']);
  });

  it('writes an empty file when stdin is empty', async (t) => {
    const f = path.join(tmpDir(t), 'empty');
    fs.writeFileSync(f, 'old');
    const r = await runCli(['write', f], { input: '' });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(fs.readFileSync(f, 'utf8'), '');
  });

  it('--json prints one line with the path as given and the byte count', async (t) => {
    const dir = tmpDir(t);
    const f = path.join(dir, 'out.txt');
    const r = await runCli(['write', '--json', f], { input: 'héllo\n' });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.deepEqual(parseLines(r.stdout), [{ path: f, bytes: Buffer.byteLength('héllo\n') }]);
    assert.equal(r.stdout.split('\n').length, 2);
    assert.equal(fs.readFileSync(f, 'utf8'), 'héllo\n');
  });

  it('--mode sets the mode of a new file; an existing file keeps its own mode', async (t) => {
    const dir = tmpDir(t);
    const umask = process.umask();
    const fresh = path.join(dir, 'fresh');
    let r = await runCli(['write', '--mode', '640', fresh], { input: 'a' });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(fs.statSync(fresh).mode & 0o7777, 0o640 & ~umask);
    const secret = path.join(dir, 'secret');
    r = await runCli(['write', '--mode', '0600', secret], { input: 'b' });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(fs.statSync(secret).mode & 0o7777, 0o600);
    // An existing file: its mode wins over --mode.
    fs.chmodSync(secret, 0o604);
    r = await runCli(['write', '--mode', '666', secret], { input: 'c' });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(fs.statSync(secret).mode & 0o7777, 0o604);
    assert.equal(fs.readFileSync(secret, 'utf8'), 'c');
    assert.deepEqual(list(dir), ['fresh', 'secret']);
  });

  it('--no-clobber creates a new file but fails on an existing one with EEXIST (exit 1, one line, file untouched)', async (t) => {
    const dir = tmpDir(t);
    const f = path.join(dir, 'f');
    let r = await runCli(['write', '--no-clobber', f], { input: 'first' });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(fs.readFileSync(f, 'utf8'), 'first');
    r = await runCli(['write', '--no-clobber', '--json', f], { input: 'second' });
    assert.equal(r.code, 1);
    assert.deepEqual(JSON.parse(r.stdout), { error: { code: 'EEXIST', message: r.stderr.replace(/^atomfs: |\n$/g, ''), path: f } }, 'the error as JSON, never a success line');
    assert.match(r.stderr, errorLine('EEXIST'));
    assert.ok(r.stderr.includes(f), r.stderr);
    assert.equal(fs.readFileSync(f, 'utf8'), 'first');
    assert.deepEqual(list(dir), ['f'], 'no temp left behind');
  });

  it('ATOMFS_LOG=debug prints the seed-004 events as JSON lines on stderr, never the content', async (t) => {
    const dir = tmpDir(t);
    const f = path.join(dir, 'logged');
    const r = await runCli(['write', f], { input: 'top-secret-content', env: { ATOMFS_LOG: 'debug' } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '');
    const lines = parseLines(r.stderr);
    assert.deepEqual(
      lines.map((l) => l['msg']),
      [LOG_EVENTS.writeStarted, LOG_EVENTS.tempWritten, LOG_EVENTS.renamed, LOG_EVENTS.writeCompleted],
    );
    for (const l of lines) {
      assert.equal(l['level'], 'debug');
      assert.equal(typeof l['time'], 'number');
    }
    for (const i of [0, 2, 3]) assert.equal(lines[i]!['targetPath'], f);
    const temp = lines[0]!['tempPath'] as string;
    assert.ok(isTempFile(temp));
    assert.equal(path.dirname(temp), dir);
    assert.equal(lines[1]!['tempPath'], temp);
    assert.equal(lines[2]!['tempPath'], temp);
    assert.equal(lines[1]!['size'], 'top-secret-content'.length);
    assert.equal(typeof lines[3]!['duration'], 'number');
    assert.ok(!r.stderr.includes('top-secret-content'));

    // A failed write logs 'Atomic write failed' (level error) before the one-line error.
    const bad = await runCli(['write', '--no-clobber', f], { input: 'x', env: { ATOMFS_LOG: 'debug' } });
    assert.equal(bad.code, 1);
    const errLines = bad.stderr.split('\n').filter(Boolean);
    assert.match(errLines.at(-1)!, /^atomfs: EEXIST: /);
    const failed = errLines.slice(0, -1).map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(failed.at(-1)!['msg'], LOG_EVENTS.writeFailed);
    assert.equal(failed.at(-1)!['level'], 'error');
    assert.equal(failed.at(-1)!['errorCode'], 'EEXIST');
  });

  it('ATOMFS_LOG accepts debug|info|warn|error and rejects anything else with exit 2, touching nothing', async (t) => {
    const dir = tmpDir(t);
    const f = path.join(dir, 'f');
    fs.writeFileSync(f, 'old');
    for (const bad of ['verbose', 'DEBUG', 'trace', '1']) {
      const r = await runCli(['write', f], { input: 'new', env: { ATOMFS_LOG: bad } });
      assert.equal(r.code, 2, `${bad}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`ATOMFS_LOG must be one of debug, info, warn, error, got '${bad}'`));
      assert.equal(fs.readFileSync(f, 'utf8'), 'old', `${bad}: nothing written`);
    }
    // A failing write logs an error event: warn and error print it, and no debug line.
    for (const level of ['info', 'warn', 'error']) {
      const r = await runCli(['write', '--no-clobber', f], { input: 'x', env: { ATOMFS_LOG: level } });
      assert.equal(r.code, 1, r.stderr);
      const lines = r.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { level: string });
      assert.ok(lines.length > 0, `${level}: the failure is logged`);
      assert.ok(lines.every((l) => l.level !== 'debug'), `${level}: no debug lines`);
    }
    assert.deepEqual(list(dir), ['f']);
  });

  it('prints no log lines unless ATOMFS_LOG is exactly debug', async (t) => {
    const f = path.join(tmpDir(t), 'quiet');
    const r = await runCli(['write', f], { input: 'x', env: { ATOMFS_LOG: 'info' } });
    assert.equal(r.code, 0);
    assert.equal(r.stderr, '');
  });
});

describe('atomfs mv', () => {
  it('mv(1) habits: -f overwrites, -n skips, last of -f/-n wins, -t DIR, -v prints each move', async (t) => {
    const dir = tmpDir(t);
    const p = (n: string): string => path.join(dir, n);
    fs.writeFileSync(p('a'), 'A');
    fs.writeFileSync(p('b'), 'B');
    const f = await runCli(['mv', '-f', p('a'), p('b')]);
    assert.equal(f.code, 0, f.stderr);
    assert.equal(fs.readFileSync(p('b'), 'utf8'), 'A');
    fs.writeFileSync(p('c'), 'C');
    const n = await runCli(['mv', '-n', p('c'), p('b')]);
    assert.equal(n.code, 0, n.stderr);
    assert.equal(fs.readFileSync(p('b'), 'utf8'), 'A', '-n left the destination alone');
    assert.equal(fs.readFileSync(p('c'), 'utf8'), 'C', '-n left the source alone');
    const nf = await runCli(['mv', '-n', '-f', p('c'), p('b')]);
    assert.equal(nf.code, 0, nf.stderr);
    assert.equal(fs.readFileSync(p('b'), 'utf8'), 'C', '-f after -n wins');
    fs.mkdirSync(p('d'));
    fs.writeFileSync(p('x'), 'X');
    fs.writeFileSync(p('y'), 'Y');
    const tv = await runCli(['mv', '-v', '-t', p('d'), p('x'), p('y')]);
    assert.equal(tv.code, 0, tv.stderr);
    assert.equal(tv.stdout, `renamed '${p('x')}' -> '${p('d/x')}'\nrenamed '${p('y')}' -> '${p('d/y')}'\n`);
    assert.deepEqual(list(p('d')), ['x', 'y']);
    const tT = await runCli(['mv', '-T', '-t', p('d'), p('b')]);
    assert.equal(tT.code, 2);
    assert.deepEqual(list(dir), ['b', 'd']);
  });

  it('a move of a file onto itself says "are the same file" and exits 1, as GNU mv', async (t) => {
    const dir = tmpDir(t);
    const a = path.join(dir, 'a');
    fs.writeFileSync(a, 'A');
    fs.linkSync(a, path.join(dir, 'hard'));
    for (const dest of [a, dir, path.join(dir, 'hard')]) {
      const r = await runCli(['mv', '-f', a, dest]);
      assert.equal(r.code, 1, `${dest}: ${r.stderr}`);
      assert.match(r.stderr, /are the same file\n$/);
      assert.equal(fs.readFileSync(a, 'utf8'), 'A');
    }
    assert.deepEqual(list(dir), ['a', 'hard']);
  });

  it('--json reports the bytes of a rename-strategy move', async (t) => {
    const dir = tmpDir(t);
    fs.writeFileSync(path.join(dir, 'a'), 'x'.repeat(1234));
    const r = await runCli(['mv', '--json', path.join(dir, 'a'), path.join(dir, 'b')]);
    assert.equal(r.code, 0, r.stderr);
    const [out] = parseLines(r.stdout);
    assert.equal(out!['strategy'], 'rename');
    assert.equal(out!['bytes'], 1234);
  });

  it('renames a file on one device, silently, exit 0', async (t) => {
    const dir = tmpDir(t);
    fs.writeFileSync(path.join(dir, 'a'), 'A');
    const r = await runCli(['mv', path.join(dir, 'a'), path.join(dir, 'b')]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout + r.stderr, '');
    assert.deepEqual(list(dir), ['b']);
    assert.equal(fs.readFileSync(path.join(dir, 'b'), 'utf8'), 'A');
  });

  it('moves a folder tree and reports it with --json (rename, file count)', async (t) => {
    const dir = tmpDir(t);
    fs.mkdirSync(path.join(dir, 'src', 'deep'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'src', 'one'), '1');
    fs.writeFileSync(path.join(dir, 'src', 'deep', 'two'), '2');
    const r = await runCli(['mv', '--json', path.join(dir, 'src'), path.join(dir, 'dst')]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(parseLines(r.stdout), [{ src: path.join(dir, 'src'), dest: path.join(dir, 'dst'), strategy: 'rename', bytes: 0, files: 2 }]);
    assert.deepEqual(list(dir), ['dst']);
    assert.equal(fs.readFileSync(path.join(dir, 'dst', 'deep', 'two'), 'utf8'), '2');
  });

  it('moves several sources into a folder, one JSON line each, in order', async (t) => {
    const dir = tmpDir(t);
    const into = path.join(dir, 'into');
    fs.mkdirSync(into);
    fs.writeFileSync(path.join(dir, 'a'), 'A');
    fs.writeFileSync(path.join(dir, 'b'), 'B');
    fs.mkdirSync(path.join(dir, 'c'));
    fs.writeFileSync(path.join(dir, 'c', 'x'), 'X');
    const srcs = ['a', 'b', 'c'].map((n) => path.join(dir, n));
    const r = await runCli(['mv', '--json', ...srcs, into]);
    assert.equal(r.code, 0, r.stderr);
    const lines = parseLines(r.stdout);
    assert.deepEqual(
      lines.map((l) => [l['src'], l['dest'], l['strategy']]),
      srcs.map((s) => [s, path.join(into, path.basename(s)), 'rename']),
    );
    assert.deepEqual(list(dir), ['into']);
    assert.deepEqual(list(into), ['a', 'b', 'c']);
    assert.equal(fs.readFileSync(path.join(into, 'c', 'x'), 'utf8'), 'X');
  });

  it('several sources need an existing folder: ENOTDIR, nothing moved', async (t) => {
    const dir = tmpDir(t);
    fs.writeFileSync(path.join(dir, 'a'), 'A');
    fs.writeFileSync(path.join(dir, 'b'), 'B');
    const r = await runCli(['mv', path.join(dir, 'a'), path.join(dir, 'b'), path.join(dir, 'nope')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, errorLine('ENOTDIR'));
    assert.deepEqual(list(dir), ['a', 'b']);
  });

  it('follows the trailing-slash rule: DEST/ must be an existing folder, and SRC goes into it', async (t) => {
    const dir = tmpDir(t);
    fs.writeFileSync(path.join(dir, 'a'), 'A');
    // DEST/ that does not exist: ENOENT, not a rename to 'missing'.
    let r = await runCli(['mv', path.join(dir, 'a'), path.join(dir, 'missing') + '/']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, errorLine('ENOENT'));
    assert.match(r.stderr, /is not an existing folder/);
    assert.deepEqual(list(dir), ['a']);
    // DEST/ that exists: into it.
    fs.mkdirSync(path.join(dir, 'box'));
    r = await runCli(['mv', '--json', path.join(dir, 'a'), path.join(dir, 'box') + '/']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(parseLines(r.stdout)[0]!['dest'], path.join(dir, 'box', 'a'));
    assert.deepEqual(list(path.join(dir, 'box')), ['a']);
    // An existing folder without the slash: into it as well.
    fs.writeFileSync(path.join(dir, 'b'), 'B');
    r = await runCli(['mv', path.join(dir, 'b'), path.join(dir, 'box')]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(list(path.join(dir, 'box')), ['a', 'b']);
    assert.deepEqual(list(dir), ['box']);
  });

  it('-T treats DEST as the destination itself, never a folder to move into', async (t) => {
    const dir = tmpDir(t);
    fs.mkdirSync(path.join(dir, 'src'));
    fs.writeFileSync(path.join(dir, 'src', 'f'), 'F');
    fs.mkdirSync(path.join(dir, 'full'));
    fs.writeFileSync(path.join(dir, 'full', 'g'), 'G');
    // Onto an existing non-empty folder: EEXIST (without -T it would go inside).
    let r = await runCli(['mv', '-T', path.join(dir, 'src'), path.join(dir, 'full')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, errorLine('EEXIST'));
    assert.deepEqual(list(path.join(dir, 'full')), ['g']);
    // A trailing slash does not make it "into" either: src becomes 'renamed'.
    r = await runCli(['mv', '--no-target-directory', '--json', path.join(dir, 'src'), path.join(dir, 'renamed') + '/']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(parseLines(r.stdout)[0]!['strategy'], 'rename');
    assert.deepEqual(list(dir), ['full', 'renamed']);
    assert.equal(fs.readFileSync(path.join(dir, 'renamed', 'f'), 'utf8'), 'F');
  });

  it('--overwrite replaces an existing file', async (t) => {
    const dir = tmpDir(t);
    fs.writeFileSync(path.join(dir, 'a'), 'new');
    fs.writeFileSync(path.join(dir, 'b'), 'old');
    const r = await runCli(['mv', '--overwrite', path.join(dir, 'a'), path.join(dir, 'b')]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(list(dir), ['b']);
    assert.equal(fs.readFileSync(path.join(dir, 'b'), 'utf8'), 'new');
  });
});

describe('atomfs cleanup', () => {
  /** A folder with old and young temps, an old non-temp, and an old temp in a sub-folder. */
  function scene(t: Parameters<typeof tmpDir>[0]): { dir: string; oldTemps: string[]; all: string[] } {
    const dir = tmpDir(t);
    const p = (n: string): string => path.join(dir, n);
    fs.writeFileSync(p('.a.0123456789abcdef.tmp'), 'x');
    age(p('.a.0123456789abcdef.tmp'), 2 * HOUR);
    fs.mkdirSync(p('.moved.fedcba9876543210.tmp'));
    fs.writeFileSync(p('.moved.fedcba9876543210.tmp/inner'), 'y');
    age(p('.moved.fedcba9876543210.tmp/inner'), 3 * HOUR); // a folder is as young as its newest entry
    age(p('.moved.fedcba9876543210.tmp'), 3 * HOUR);
    fs.mkdirSync(p('.copying.3333333333333333.tmp'));
    fs.writeFileSync(p('.copying.3333333333333333.tmp/growing'), 'g'); // old folder, young content: a live move
    age(p('.copying.3333333333333333.tmp'), 3 * HOUR);
    fs.writeFileSync(p('.young.1111111111111111.tmp'), 'z'); // a live writer's, maybe
    fs.writeFileSync(p('data.txt'), 'keep');
    age(p('data.txt'), 5 * HOUR);
    fs.writeFileSync(p('.almost.0123456789ABCDEF.tmp'), 'not the pattern');
    age(p('.almost.0123456789ABCDEF.tmp'), 5 * HOUR);
    fs.mkdirSync(p('sub'));
    fs.writeFileSync(p('sub/.s.2222222222222222.tmp'), 's');
    age(p('sub/.s.2222222222222222.tmp'), 2 * HOUR);
    return { dir, oldTemps: [p('.a.0123456789abcdef.tmp'), p('.moved.fedcba9876543210.tmp')], all: list(dir) };
  }

  it('--dry-run lists the old temps it would remove and removes nothing', async (t) => {
    const { dir, oldTemps, all } = scene(t);
    const r = await runCli(['cleanup', '--dry-run', dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.split('\n').filter(Boolean).sort(), oldTemps.map((p) => `would remove ${p}`).sort());
    assert.equal(r.stderr, 'kept 2 temp file(s) younger than the limit\n');
    assert.deepEqual(list(dir), all);
    assert.deepEqual(list(path.join(dir, 'sub')), ['.s.2222222222222222.tmp']);
  });

  it('removes only temp names older than the limit (default 1h), never other files', async (t) => {
    const { dir, oldTemps } = scene(t);
    const r = await runCli(['cleanup', dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.split('\n').filter(Boolean).sort(), oldTemps.map((p) => `removed ${p}`).sort());
    assert.deepEqual(list(dir), ['.almost.0123456789ABCDEF.tmp', '.copying.3333333333333333.tmp', '.young.1111111111111111.tmp', 'data.txt', 'sub']);
    assert.deepEqual(list(path.join(dir, 'sub')), ['.s.2222222222222222.tmp'], 'not recursive by default');
  });

  it('--recursive --json prints {removed, kept} and reaches sub-folders', async (t) => {
    const { dir, oldTemps } = scene(t);
    const r = await runCli(['cleanup', '--recursive', '--json', dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '', 'no human "kept" line with --json');
    const [out, ...rest] = parseLines(r.stdout);
    assert.equal(rest.length, 0);
    assert.deepEqual((out!['removed'] as string[]).sort(), [...oldTemps, path.join(dir, 'sub', '.s.2222222222222222.tmp')].sort());
    assert.equal(out!['kept'], 2);
    assert.deepEqual(list(path.join(dir, 'sub')), []);
  });

  it('parses --older-than: ms, s, m, h, d, fractions and bare seconds', async (t) => {
    const dir = tmpDir(t);
    // name -> age in ms
    const ages: Record<string, number> = {
      '.t1.0000000000000001.tmp': 3_000, // 3 s
      '.t2.0000000000000002.tmp': 100_000, // 100 s
      '.t3.0000000000000003.tmp': 40 * 60_000, // 40 min
      '.t4.0000000000000004.tmp': 2 * 86_400_000 + HOUR, // 2 d 1 h
    };
    for (const [n, a] of Object.entries(ages)) {
      fs.writeFileSync(path.join(dir, n), n);
      age(path.join(dir, n), a);
    }
    // The expected names older than each limit.
    const cases: [string, string[]][] = [
      ['1500ms', ['t1', 't2', 't3', 't4']],
      ['90', ['t2', 't3', 't4']], // bare number: seconds, as sleep(1)
      ['90s', ['t2', 't3', 't4']],
      ['30m', ['t3', 't4']],
      ['0.5h', ['t3', 't4']],
      ['1h', ['t4']],
      ['2d', ['t4']],
      ['3d', []],
    ];
    const results = await Promise.all(cases.map(([d]) => runCli(['cleanup', '--dry-run', '--json', '--older-than', d, dir])));
    cases.forEach(([d, want], i) => {
      const r = results[i]!;
      assert.equal(r.code, 0, `${d}: ${r.stderr}`);
      const out = JSON.parse(r.stdout) as { wouldRemove: string[]; kept: number };
      assert.equal('removed' in out, false, 'a dry run reports wouldRemove, not removed');
      assert.deepEqual(out.wouldRemove.map((p) => path.basename(p).split('.')[1]).sort(), want, `--older-than ${d}`);
      assert.equal(out.kept, 4 - want.length, `--older-than ${d}`);
    });
    assert.equal(list(dir).length, 4, '--dry-run removed nothing');
  });
});

describe('atomfs verify', () => {
  function files(t: Parameters<typeof tmpDir>[0]): Record<string, string> {
    const dir = tmpDir(t);
    const p = {
      text: path.join(dir, 'text.txt'),
      json: path.join(dir, 'good.json'),
      cut: path.join(dir, 'cut.json'),
      binary: path.join(dir, 'blob.bin'),
      missing: path.join(dir, 'missing'),
      dir,
    };
    fs.writeFileSync(p.text, 'héllo\n');
    fs.writeFileSync(p.json, '{"a":[1,2]}');
    fs.writeFileSync(p.cut, '{"a":[1,');
    fs.writeFileSync(p.binary, Buffer.from([0xff, 0xfe, 0x00, 0x80]));
    return p;
  }

  it('exits 0 and prints OK lines when every file is valid', async (t) => {
    const p = files(t);
    const r = await runCli(['verify', p['text']!, p['json']!, p['cut']!]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(r.stderr, '');
    assert.deepEqual(r.stdout.split('\n').filter(Boolean), [
      `OK       ${p['text']} (${Buffer.byteLength('héllo\n')} bytes)`,
      `OK       ${p['json']} (11 bytes)`,
      `OK       ${p['cut']} (8 bytes)`,
    ]);
  });

  it('exits 1 when any file is invalid, still checking every file', async (t) => {
    const p = files(t);
    const r = await runCli(['verify', p['binary']!, p['text']!, p['missing']!, p['dir']!]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, '', 'invalid files are a result on stdout, not an error');
    const lines = r.stdout.split('\n').filter(Boolean);
    assert.equal(lines.length, 4);
    assert.match(lines[0]!, /^INVALID {2}.*blob\.bin: not valid UTF-8$/);
    assert.match(lines[1]!, /^OK {7}.*text\.txt/);
    assert.match(lines[2]!, /^INVALID {2}.*missing: ENOENT/);
    assert.match(lines[3]!, /^INVALID {2}.*: not a regular file/);
  });

  it('--json prints one line per file with path, valid, size and (when invalid) code and reason', async (t) => {
    const p = files(t);
    const r = await runCli(['verify', '--json', p['text']!, p['binary']!, p['missing']!]);
    assert.equal(r.code, 1);
    assert.deepEqual(parseLines(r.stdout), [
      { path: p['text'], valid: true, size: Buffer.byteLength('héllo\n') },
      { path: p['binary'], valid: false, code: 'EINVAL', reason: 'not valid UTF-8', size: 4 },
      { path: p['missing'], valid: false, code: 'ENOENT', reason: `ENOENT: no such file or directory, stat '${p['missing']}'`, size: 0 },
    ]);
  });

  it('--json-parse rejects a truncated JSON file; --binary accepts any bytes', async (t) => {
    const p = files(t);
    let r = await runCli(['verify', '--json-parse', p['json']!]);
    assert.equal(r.code, 0, r.stdout);
    r = await runCli(['verify', '--json-parse', '--json', p['json']!, p['cut']!]);
    assert.equal(r.code, 1);
    const [good, cut] = parseLines(r.stdout);
    assert.equal(good!['valid'], true);
    assert.equal(cut!['valid'], false);
    assert.match(cut!['reason'] as string, /invalid JSON/);
    r = await runCli(['verify', '--binary', p['binary']!]);
    assert.equal(r.code, 0, r.stdout);
  });

  it('--sha256 accepts the right digest (either case) and rejects any other', async (t) => {
    const p = files(t);
    const sum = createHash('sha256').update(fs.readFileSync(p['binary']!)).digest('hex');
    const [lower, upper, wrong] = await Promise.all([
      runCli(['verify', '--binary', '--sha256', sum, p['binary']!]),
      runCli(['verify', '--binary', '--sha256', sum.toUpperCase(), p['binary']!]),
      runCli(['verify', '--binary', '--json', '--sha256', 'f'.repeat(64), p['binary']!]),
    ]);
    assert.equal(lower.code, 0, lower.stdout);
    assert.equal(upper.code, 0, upper.stdout);
    assert.equal(wrong.code, 1);
    const [w] = parseLines(wrong.stdout);
    assert.equal(w!['valid'], false);
    assert.match(w!['reason'] as string, /SHA-256/i);
  });

  it('--min-size and --max-size bound the size', async (t) => {
    const p = files(t);
    const [small, big, fits] = await Promise.all([
      runCli(['verify', '--min-size', '100', p['json']!]),
      runCli(['verify', '--max-size', '10', p['json']!]),
      runCli(['verify', '--min-size', '11', '--max-size', '11', p['json']!]),
    ]);
    assert.equal(small.code, 1);
    assert.match(small.stdout, /too small/);
    assert.equal(big.code, 1);
    assert.match(big.stdout, /too large/);
    assert.equal(fits.code, 0, fits.stdout);
  });
});

describe('atomfs doctor (human output)', () => {
  it('reports the file system and what atomfs can promise, exit 0, and leaves nothing behind', async (t) => {
    const dir = tmpDir(t);
    fs.writeFileSync(path.join(dir, 'existing'), 'x');
    const r = await runCli(['doctor', '--samples', '3', dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    for (const row of ['folder', 'file system', 'mount options', 'same device as parent', 'atomic rename', 'hard links', 'reflink copies', 'case-sensitive names', 'folder fsync', 'fsync latency', 'free space']) {
      assert.match(r.stdout, new RegExp(`^${row} +\\S`, 'm'), row);
    }
    assert.match(r.stdout, new RegExp(`^folder +${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
    assert.match(r.stdout, /^atomic rename +yes$/m);
    assert.match(r.stdout, /^fsync latency +[\d.]+ ms median of 3$/m);
    assert.match(r.stdout, /\nWhat atomfs can promise here:\n( {2}- .+\n){6}$/);
    assert.deepEqual(list(dir), ['existing'], 'the probe folder is removed');
  });

  it('probes the current folder when no DIR is given', async (t) => {
    const dir = tmpDir(t);
    const r = await runCli(['doctor', '--samples', '1'], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^folder +${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
    assert.deepEqual(list(dir), []);
  });
});
