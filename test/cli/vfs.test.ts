/**
 * `atomfs vfs` from the shell, over file:// mounts of temp folders (and memory:): the built
 * CLI is spawned for every call. Round trips byte for byte, ls/stat output and JSON, renames
 * within and across mounts, rm, the error lines and exit codes, help, read-only mounts, the
 * ATOMFS_VFS_MOUNTS default, an interrupted put and cat, and that a run without a
 * postgres:// mount never loads the pg driver.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { describe, it } from 'node:test';
import { isTempFile, LocalMount } from '../../src/index.js';
import { BIN, closed, collect, errorLine, REPO, runCli, runProcess, shQuote, spawnCli } from '../helpers/cli.js';
import { list, tmpDir } from '../helpers/tmp.js';

const url = (dir: string): string => pathToFileURL(dir).href;
const PROBE = path.join(REPO, 'build', 'test', 'helpers', 'module-log.js');

/** Two fresh folders mounted at /a and /b. */
function twoMounts(t: Parameters<typeof tmpDir>[0]): { a: string; b: string; m: string[] } {
  const a = tmpDir(t);
  const b = tmpDir(t);
  return { a, b, m: ['--mount', `/a=${url(a)}`, '--mount', `/b=${url(b)}`] };
}

/** Every line of stdout, parsed as JSON. */
function jsonLines(stdout: string): unknown[] {
  return stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as unknown);
}

/** Waits (bounded) until a temp name holding at least `min` bytes is in `dir`. */
async function tempGrows(dir: string, min: number, ms = 15_000): Promise<string> {
  const until = Date.now() + ms;
  for (let i = 0; i < 3000 && Date.now() < until; i++) {
    for (const n of fs.existsSync(dir) ? list(dir) : []) {
      try {
        if (isTempFile(n) && fs.statSync(path.join(dir, n)).size >= min) return n;
      } catch {
        // racing with the writer
      }
    }
    await sleep(10);
  }
  throw new Error(`no temp of ${min} bytes appeared in ${dir}`);
}

describe('atomfs vfs over file:// mounts', () => {
  it('put from stdin and from a FILE, then cat: the bytes are identical (3 MiB binary, streamed) and no temp is left', async (t) => {
    const { a, m } = twoMounts(t);
    const data = randomBytes(3 * (1 << 20) + 12_345);
    const local = path.join(tmpDir(t), 'in.bin');
    fs.writeFileSync(local, data);

    const p1 = await runCli(['vfs', ...m, 'put', '/a/stdin.bin'], { input: data });
    assert.equal(p1.code, 0, p1.stderr);
    assert.equal(p1.stdout, '');
    const p2 = await runCli(['vfs', ...m, 'put', '--json', '-p', '/a/x/y/file.bin', local]);
    assert.equal(p2.code, 0, p2.stderr);
    assert.deepEqual(jsonLines(p2.stdout), [{ path: '/a/x/y/file.bin', bytes: data.length }]);
    assert.ok(fs.readFileSync(path.join(a, 'stdin.bin')).equals(data));
    assert.ok(fs.readFileSync(path.join(a, 'x', 'y', 'file.bin')).equals(data));
    assert.deepEqual(list(a), ['stdin.bin', 'x'], 'no temp left beside the file');

    for (const p of ['/a/stdin.bin', '/a/x/y/file.bin']) {
      const out: Buffer[] = [];
      const child = spawnCli(t, ['vfs', ...m, 'cat', p]);
      child.stdout!.on('data', (d: Buffer) => out.push(d));
      child.stdin!.end();
      assert.deepEqual(await closed(child), { code: 0, signal: null });
      assert.ok(Buffer.concat(out).equals(data), `cat ${p} gives the bytes put`);
    }

    // A small put (one vfs.writeFile) replaces a file; cat -o writes a local file atomically.
    const small = await runCli(['vfs', ...m, 'put', '/a/stdin.bin'], { input: 'small\n' });
    assert.equal(small.code, 0, small.stderr);
    const outFile = path.join(tmpDir(t), 'out.txt');
    const c = await runCli(['vfs', ...m, 'cat', '--json', '-o', outFile, '/a/stdin.bin']);
    assert.equal(c.code, 0, c.stderr);
    assert.deepEqual(jsonLines(c.stdout), [{ path: '/a/stdin.bin', output: outFile, bytes: 6 }]);
    assert.equal(fs.readFileSync(outFile, 'utf8'), 'small\n');
    const j = await runCli(['vfs', ...m, 'cat', '--json', '/a/stdin.bin']);
    assert.deepEqual(jsonLines(j.stdout), [{ path: '/a/stdin.bin', bytes: 6, base64: Buffer.from('small\n').toString('base64') }]);
  });

  it('put --no-clobber fails with EEXIST and keeps the file; put onto a folder is EISDIR; put into a missing folder is ENOENT without -p', async (t) => {
    const { a, m } = twoMounts(t);
    fs.writeFileSync(path.join(a, 'f'), 'old');
    fs.mkdirSync(path.join(a, 'd'));
    const r = await runCli(['vfs', ...m, 'put', '-n', '/a/f'], { input: 'new' });
    assert.equal(r.code, 1);
    assert.match(r.stderr, errorLine('EEXIST'));
    assert.equal(fs.readFileSync(path.join(a, 'f'), 'utf8'), 'old');
    const big = await runCli(['vfs', ...m, 'put', '/a/d'], { input: randomBytes(3 << 20) });
    assert.equal(big.code, 1);
    assert.match(big.stderr, errorLine('EISDIR'));
    const missing = await runCli(['vfs', ...m, 'put', '/a/no/such/f'], { input: 'x' });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, errorLine('ENOENT'));
    assert.deepEqual(list(a), ['d', 'f'], 'nothing left behind by the failures');
    assert.deepEqual(list(path.join(a, 'd')), []);
  });

  it('ls (plain, -l, -R, --json) and stat (text and --json)', async (t) => {
    const { a, m } = twoMounts(t);
    fs.mkdirSync(path.join(a, 'sub'));
    fs.writeFileSync(path.join(a, 'sub', 'inner.txt'), 'abc');
    fs.writeFileSync(path.join(a, 'b.txt'), 'hello');
    const plain = await runCli(['vfs', ...m, 'ls', '/a']);
    assert.equal(plain.code, 0, plain.stderr);
    assert.equal(plain.stdout, 'b.txt\nsub\n');
    const rec = await runCli(['vfs', ...m, 'ls', '-R', '/a']);
    assert.equal(rec.stdout, 'b.txt\nsub/\nsub/inner.txt\n');
    const long = await runCli(['vfs', ...m, 'ls', '-l', '/a']);
    const lines = long.stdout.split('\n').filter(Boolean);
    assert.equal(lines.length, 2);
    // A LocalMount reports versions (conditional writes): the version column is that string.
    const version = (await new LocalMount(a).stat('/b.txt')).version!;
    assert.ok(typeof version === 'string' && version !== '');
    assert.equal(lines[0], `-rw-r--r--    5 ${new Date(fs.statSync(path.join(a, 'b.txt')).mtimeMs).toISOString().slice(0, 19).replace('T', ' ')}Z ${version} b.txt`);
    assert.match(lines[1]!, /^drwx.* sub\/$/);
    // The root lists the mount points.
    assert.equal((await runCli(['vfs', ...m, 'ls'])).stdout, 'a\nb\n');

    const j = await runCli(['vfs', ...m, 'ls', '--json', '/a/sub']);
    const [listing] = jsonLines(j.stdout) as [{ path: string; entries: Record<string, unknown>[] }];
    assert.equal(listing.path, '/a/sub');
    assert.equal(listing.entries.length, 1);
    const e = listing.entries[0]!;
    assert.deepEqual(Object.keys(e).sort(), ['kind', 'mode', 'mtime', 'mtimeMs', 'name', 'path', 'size', 'version']);
    assert.deepEqual([e['name'], e['path'], e['kind'], e['size'], e['mode'], e['version']], ['inner.txt', '/a/sub/inner.txt', 'file', 3, 0o644, (await new LocalMount(path.join(a, 'sub')).stat('/inner.txt')).version]);

    const st = await runCli(['vfs', ...m, 'stat', '--json', '/a/b.txt']);
    assert.equal(st.code, 0, st.stderr);
    const [s] = jsonLines(st.stdout) as [Record<string, unknown>];
    assert.equal(s['kind'], 'file');
    assert.equal(s['size'], 5);
    assert.equal(s['mode'], 0o644);
    assert.ok(Math.abs((s['mtimeMs'] as number) - fs.statSync(path.join(a, 'b.txt')).mtimeMs) < 1);
    assert.equal(s['mtime'], new Date(s['mtimeMs'] as number).toISOString());
    const text = await runCli(['vfs', ...m, 'stat', '/a/sub']);
    assert.match(text.stdout, /^path: \/a\/sub\nkind: dir\n/);
    // ls of a file is that file.
    assert.equal((await runCli(['vfs', ...m, 'ls', '/a/b.txt'])).stdout, 'b.txt\n');
  });

  it('mv within a mount; across mounts EXDEV without --cross-mount (nothing moves), a copy with it; -f to replace; DEST/ moves into a folder', async (t) => {
    const { a, b, m } = twoMounts(t);
    fs.mkdirSync(path.join(a, 'dir'));
    fs.writeFileSync(path.join(a, 'dir', 'f'), 'one');
    fs.writeFileSync(path.join(a, 'g'), 'two');

    const within = await runCli(['vfs', ...m, 'mv', '--json', '/a/dir', '/a/renamed']);
    assert.equal(within.code, 0, within.stderr);
    assert.deepEqual(jsonLines(within.stdout), [{ src: '/a/dir', dest: '/a/renamed', crossMount: false }]);
    assert.deepEqual(list(a), ['g', 'renamed']);

    const xdev = await runCli(['vfs', ...m, 'mv', '/a/renamed', '/b/renamed']);
    assert.equal(xdev.code, 1);
    assert.match(xdev.stderr, errorLine('EXDEV'));
    assert.deepEqual([list(a), list(b)], [['g', 'renamed'], []]);

    const cross = await runCli(['vfs', ...m, 'mv', '--cross-mount', '--json', '/a/renamed', '/b/renamed']);
    assert.equal(cross.code, 0, cross.stderr);
    assert.deepEqual(jsonLines(cross.stdout), [{ src: '/a/renamed', dest: '/b/renamed', crossMount: true }]);
    assert.deepEqual([list(a), list(b)], [['g'], ['renamed']]);
    assert.equal(fs.readFileSync(path.join(b, 'renamed', 'f'), 'utf8'), 'one');

    fs.writeFileSync(path.join(a, 'h'), 'three');
    const exists = await runCli(['vfs', ...m, 'mv', '/a/g', '/a/h']);
    assert.equal(exists.code, 1);
    assert.match(exists.stderr, errorLine('EEXIST'));
    const forced = await runCli(['vfs', ...m, 'mv', '-f', '/a/g', '/a/h']);
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal(fs.readFileSync(path.join(a, 'h'), 'utf8'), 'two');

    const into = await runCli(['vfs', ...m, 'mv', '--cross-mount', '/a/h', '/b/renamed/']);
    assert.equal(into.code, 0, into.stderr);
    assert.deepEqual(list(path.join(b, 'renamed')), ['f', 'h']);
    assert.deepEqual(list(a), []);
  });

  it('rm: a file; a folder needs -r (EISDIR); -r removes a tree; a missing PATH is ENOENT, and no error with -f', async (t) => {
    const { a, m } = twoMounts(t);
    fs.mkdirSync(path.join(a, 'd', 'e'), { recursive: true });
    fs.writeFileSync(path.join(a, 'd', 'e', 'x'), 'x');
    fs.writeFileSync(path.join(a, 'd', 'y'), 'y');
    fs.writeFileSync(path.join(a, 'f'), 'f');

    assert.equal((await runCli(['vfs', ...m, 'rm', '/a/f'])).code, 0);
    const dir = await runCli(['vfs', ...m, 'rm', '/a/d']);
    assert.equal(dir.code, 1);
    assert.match(dir.stderr, errorLine('EISDIR'));
    assert.deepEqual(list(a), ['d']);
    const tree = await runCli(['vfs', ...m, 'rm', '-r', '--json', '/a/d']);
    assert.equal(tree.code, 0, tree.stderr);
    assert.deepEqual(jsonLines(tree.stdout), [{ path: '/a/d', removed: 4 }]);
    assert.deepEqual(list(a), []);

    const gone = await runCli(['vfs', ...m, 'rm', '/a/nope']);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, errorLine('ENOENT'));
    const forced = await runCli(['vfs', ...m, 'rm', '-f', '--json', '/a/nope']);
    assert.equal(forced.code, 0, forced.stderr);
    assert.deepEqual(jsonLines(forced.stdout), [{ path: '/a/nope', removed: 0 }]);
  });

  it('errors: one line on stderr and exit 1 for a failed operation; with --json the error on stdout too', async (t) => {
    const { m } = twoMounts(t);
    const r = await runCli(['vfs', ...m, 'cat', '/a/missing']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, errorLine('ENOENT'));
    assert.equal(r.stdout, '');
    const j = await runCli(['vfs', '--json', ...m, 'stat', '/a/missing']);
    assert.equal(j.code, 1);
    assert.match(j.stderr, errorLine('ENOENT'));
    assert.deepEqual(jsonLines(j.stdout), [{ error: { code: 'ENOENT', message: (JSON.parse(j.stdout) as { error: { message: string } }).error.message, path: '/a/missing' } }]);
    // A path on no mount is ENOENT too; a folder is no file for cat.
    assert.match((await runCli(['vfs', ...m, 'cat', '/c/x'])).stderr, errorLine('ENOENT'));
    assert.match((await runCli(['vfs', ...m, 'cat', '/a'])).stderr, errorLine('EISDIR'));
  });

  it('bad usage exits 2 with a message, before anything is touched: bad URLs and prefixes, no mount, a relative path, a wrong subcommand or option', async (t) => {
    const dir = tmpDir(t);
    const cases: [string[], RegExp][] = [
      [['--mount', '/a=ftp://host/x', 'ls'], /unknown mount URL scheme 'ftp:'/],
      [['--mount', '/a=not a url', 'ls'], /takes a URL/],
      [['--mount', `/a=file:relative/path`, 'ls'], /absolute URL, file:\/\/\/srv\/data/],
      [['--mount', `/a=file://otherhost/srv`, 'ls'], /absolute URL/],
      [['--mount', '/a=memory:x', 'ls'], /just 'memory:'/],
      [['--mount', `a=${url(dir)}`, 'ls'], /absolute virtual path/],
      [['--mount', url(dir), 'ls'], /PREFIX=URL/],
      [['--mount', `/a=${url(dir)}`, '--mount', `/a=memory:`, 'ls'], /two mounts at '\/a'/],
      [['--mount', `/a=${url(dir)}`, '--schema', 'x', 'ls'], /--schema is for postgres/],
      [['--mount', '/a=postgres://127.0.0.1:1/db', '--schema', 'Bad-Name!', 'ls', '/a'], /schema must match/],
      [['ls', '/'], /at least one --mount/],
      [['--mount', `/a=${url(dir)}`, 'cat', 'a/x'], /virtual paths are absolute/],
      [['--mount', `/a=${url(dir)}`, 'lst', '/a'], /unknown vfs subcommand 'lst' \(did you mean 'ls'\?\)/],
      [['--mount', `/a=${url(dir)}`], /needs a subcommand/],
      [['--mount', `/a=${url(dir)}`, 'ls', '--overwrite', '/a'], /'--overwrite' is not an option of 'vfs ls'/],
      [['--mount', `/a=${url(dir)}`, 'mv', '/a/x'], /vfs mv takes SRC DEST/],
      [['--mount', `/a=${url(dir)}`, 'ls', '--jsno'], /did you mean '--json'/],
    ];
    for (const [args, msg] of cases) {
      const r = await runCli(['vfs', ...args]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, msg, args.join(' '));
      assert.match(r.stderr, /^atomfs: [^\n]+\nUsage: see 'atomfs vfs --help'\.\n$/);
    }
    const j = await runCli(['vfs', '--json', '--mount', '/a=ftp://x', 'ls']);
    assert.equal(j.code, 2);
    assert.equal((jsonLines(j.stdout)[0] as { error: { code: string } }).error.code, 'EINVAL');
    assert.deepEqual(list(dir), [], 'nothing was made');
  });

  it('a :ro mount and --read-only refuse every change with EROFS; reading works', async (t) => {
    const dir = tmpDir(t);
    fs.writeFileSync(path.join(dir, 'f'), 'keep');
    for (const m of [['--mount', `/r=${url(dir)}:ro`], ['--read-only', '--mount', `/r=${url(dir)}`]]) {
      for (const args of [['put', '/r/new'], ['put', '/r/f'], ['mv', '/r/f', '/r/g'], ['rm', '/r/f']]) {
        const r = await runCli(['vfs', ...m, ...args], { input: 'x' });
        assert.equal(r.code, 1, `${m.join(' ')} ${args.join(' ')}`);
        assert.match(r.stderr, errorLine('EROFS'));
      }
      const c = await runCli(['vfs', ...m, 'cat', '/r/f']);
      assert.equal(c.stdout, 'keep');
    }
    assert.deepEqual(list(dir), ['f']);
    assert.equal(fs.readFileSync(path.join(dir, 'f'), 'utf8'), 'keep');
  });

  it('ATOMFS_VFS_MOUNTS gives the mounts when no --mount does; memory: is an empty folder for one command', async (t) => {
    const a = tmpDir(t);
    const b = tmpDir(t);
    fs.writeFileSync(path.join(a, 'x'), 'x');
    const env = { ATOMFS_VFS_MOUNTS: `/a=${url(a)}  /m=memory:` };
    const r = await runCli(['vfs', 'ls', '/'], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'a\nm\n');
    assert.equal((await runCli(['vfs', 'ls', '/a'], { env })).stdout, 'x\n');
    // --mount replaces the variable's mounts.
    assert.equal((await runCli(['vfs', '--mount', `/a=${url(b)}`, 'ls', '/'], { env })).stdout, 'a\n');
    const put = await runCli(['vfs', 'put', '/m/scratch'], { env, input: 'gone after the command' });
    assert.equal(put.code, 0, put.stderr);
    assert.equal((await runCli(['vfs', 'ls', '/m'], { env })).stdout, '');
    // Within one command a memory: mount works: a copy out of it.
    const mv = await runCli(['vfs', '--mount', `/a=${url(a)}`, '--mount', '/m=memory:', 'mv', '--cross-mount', '/a/x', '/m/x']);
    assert.equal(mv.code, 0, mv.stderr);
    assert.deepEqual(list(a), []);
  });

  it('help: atomfs help vfs, vfs --help, vfs put --help; atomfs --help lists vfs and still works', async () => {
    const top = await runCli(['--help']);
    assert.equal(top.code, 0);
    assert.match(top.stdout, /^ {2}vfs ls\|stat\|cat\|put\|mv\|rm/m);
    const h1 = await runCli(['help', 'vfs']);
    const h2 = await runCli(['vfs', '--help']);
    assert.equal(h1.code, 0);
    assert.equal(h1.stdout, h2.stdout);
    assert.match(h1.stdout, /^Usage: atomfs vfs <subcommand>/);
    assert.match(h1.stdout, /memory:.*only/s);
    for (const sub of ['ls', 'stat', 'cat', 'put', 'mv', 'rm']) {
      const r = await runCli(['vfs', sub, '--help']);
      assert.equal(r.code, 0, sub);
      assert.match(r.stdout, new RegExp(`^Usage: atomfs vfs ${sub} `), sub);
    }
    assert.match((await runCli(['vfs', 'put', '-h'])).stdout, /--no-clobber/);
  });

  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    it(`put interrupted by ${sig} mid-stream: exit 128+N, no error line, the temp and the folders -p made are gone, an existing PATH keeps its bytes`, async (t) => {
      const a = tmpDir(t);
      const m = ['--mount', `/a=${url(a)}`];
      fs.writeFileSync(path.join(a, 'keep.bin'), 'old');
      for (const [target, folder] of [['/a/new/deep/f.bin', path.join(a, 'new', 'deep')], ['/a/keep.bin', a]] as const) {
        const child = spawnCli(t, ['vfs', ...m, 'put', '-p', target]);
        const stderr = collect(child.stderr);
        child.stdin!.on('error', () => {});
        // More than is read by the time the temp holds 1 MiB: the signal comes while input
        // is still arriving, so the next read of stdin meets an aborted signal.
        child.stdin!.write(randomBytes(16 << 20));
        await tempGrows(folder, 1 << 20);
        child.kill(sig);
        const end = await closed(child);
        assert.deepEqual(end, { code: 128 + os.constants.signals[sig], signal: null }, stderr.text());
        assert.equal(stderr.text(), '');
      }
      assert.deepEqual(list(a), ['keep.bin'], 'no temp, no folder made by -p');
      assert.equal(fs.readFileSync(path.join(a, 'keep.bin'), 'utf8'), 'old');
    });
  }

  it('cat interrupted while its reader is stalled: it reads no further, and exits 130 once the bytes already written are read', async (t) => {
    const a = tmpDir(t);
    const size = 32 << 20;
    fs.writeFileSync(path.join(a, 'big'), Buffer.alloc(size, 1));
    const child = spawnCli(t, ['vfs', '--mount', `/a=${url(a)}`, 'cat', '/a/big']);
    const stderr = collect(child.stderr);
    child.stdin!.end();
    // Read a first chunk, then stop reading: the pipe fills and the CLI waits for it.
    let got = 0;
    child.stdout!.on('data', (d: Buffer) => (got += d.length));
    await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
    child.stdout!.pause();
    await sleep(300);
    child.kill('SIGINT');
    await sleep(300);
    // What was handed to stdout before the signal still drains (as for any program's
    // pipe): then it exits, without having read the rest of the file.
    child.stdout!.resume();
    assert.deepEqual(await closed(child), { code: 130, signal: null }, stderr.text());
    assert.equal(stderr.text(), '');
    assert.ok(got > 0 && got < size / 2, `stopped early: ${got} of ${size} bytes`);
  });

  it('a progress bar on a terminal for a big put (cli-progress loaded), none for a small put or with --json', async (t) => {
    const a = tmpDir(t);
    const work = tmpDir(t);
    const m = ['--mount', `/a=${url(a)}`];
    // 9 MiB, then a pause with stdin open: time for the bar (loaded at the first report past
    // 8 MiB) to be drawn, without racing the end of the put. Then 1 MiB more.
    const input = 'head -c 9437184 /dev/zero; sleep 2; head -c 1048576 /dev/zero';
    const cases: [string, string, string[], boolean][] = [
      ['big', input, ['put', '/a/big'], true],
      ['small', 'printf small', ['put', '/a/small'], false],
      ['json', input, ['put', '--json', '/a/big2'], false],
      ['no-progress', input, ['put', '--no-progress', '/a/big3'], false],
    ];
    for (const [name, producer, args, bar] of cases) {
      const log = path.join(work, `modules-${name}`);
      const cli = [process.execPath, '--import', PROBE, BIN, 'vfs', ...m, ...args].map(shQuote).join(' ');
      const r = await runProcess('script', ['-qec', `(${producer}) | ${cli}`, '/dev/null'], { env: { ATOMFS_TEST_MODULE_LOG: log }, timeoutMs: 60_000 });
      assert.equal(r.code, 0, r.stdout);
      const urls = fs.readFileSync(log, 'utf8').split('\n').filter(Boolean);
      assert.equal(urls.some((u) => u.includes('/node_modules/cli-progress/')), bar, `${name}: cli-progress loaded`);
      assert.equal(/writing \[/.test(r.stdout), bar, `${name}: a bar drawn: ${JSON.stringify(r.stdout.slice(0, 300))}`);
    }
    assert.equal(fs.statSync(path.join(a, 'big')).size, 10 << 20);
    assert.equal(fs.readFileSync(path.join(a, 'small'), 'utf8'), 'small');
  });

  it('a run with file:// and memory: mounts only never loads pg (module-load probe)', async (t) => {
    const a = tmpDir(t);
    fs.writeFileSync(path.join(a, 'x'), 'x');
    const log = path.join(tmpDir(t), 'modules');
    const r = await runProcess(process.execPath, ['--import', PROBE, BIN, 'vfs', '--mount', `/a=${url(a)}`, '--mount', '/m=memory:', 'mv', '--cross-mount', '/a/x', '/m/x'], { env: { ATOMFS_TEST_MODULE_LOG: log } });
    assert.equal(r.code, 0, r.stderr);
    const urls = fs.readFileSync(log, 'utf8').split('\n').filter(Boolean);
    assert.ok(urls.some((u) => u.endsWith('/dist/cli/vfs-mounts.js')), 'the probe saw the vfs verb load');
    assert.deepEqual(urls.filter((u) => u.includes('/node_modules/pg') || u.includes('/dist/postgres/')), []);
  });
});
