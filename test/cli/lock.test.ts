/**
 * `atomfs lock PATH -- CMD`: mutual exclusion between separate invocations, exit-code
 * pass-through, signal forwarding with release, timeouts, fencing tokens.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { waitForLine } from '../helpers/child.js';
import { childEnv, closed, collect, errorLine, REPO, runCli, spawnCli } from '../helpers/cli.js';
import { list, tmpDir } from '../helpers/tmp.js';

/** Lock marker names (`.lock-exclusive-…`, `.lock-shared-…`); the token counter is not one. */
function markers(dir: string, prefix = '.lock-'): string[] {
  return list(dir).filter((n) => n.startsWith(`${prefix}exclusive-`) || n.startsWith(`${prefix}shared-`));
}

describe('atomfs lock', () => {
  it('serialises read-modify-write across separate invocations: 2 loops x 20 increments make exactly 40', async (t) => {
    const dir = tmpDir(t);
    const lockDir = path.join(dir, 'locked');
    fs.mkdirSync(lockDir);
    const counter = path.join(dir, 'counter');
    const log = path.join(dir, 'log');
    fs.writeFileSync(counter, '0\n');
    // Read, wait a little (so an unlocked race would lose updates), write n+1; log n and the token.
    const script = 'n=$(cat "$C"); sleep 0.02; echo $((n + 1)) > "$C"; echo "$n $ATOMFS_LOCK_TOKEN" >> "$L"';
    const loop = async (): Promise<void> => {
      for (let i = 0; i < 20; i++) {
        const r = await runCli(['lock', '--timeout', '30s', lockDir, '--', 'sh', '-c', script], { env: { C: counter, L: log } });
        assert.equal(r.code, 0, r.stderr);
      }
    };
    await Promise.all([loop(), loop()]);
    assert.equal(fs.readFileSync(counter, 'utf8'), '40\n');
    const rows = fs
      .readFileSync(log, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split(' ').map(Number));
    assert.deepEqual(
      rows.map(([n]) => n),
      Array.from({ length: 40 }, (_, i) => i),
      'each increment saw the one before it',
    );
    // The fencing token grows with every exclusive holder.
    for (let i = 1; i < rows.length; i++) assert.ok(rows[i]![1]! > rows[i - 1]![1]!, `token ${rows[i]![1]} after ${rows[i - 1]![1]}`);
    assert.ok(rows.every(([, tok]) => Number.isInteger(tok) && tok! > 0));
    assert.deepEqual(markers(lockDir), [], 'every lock was released');
  });

  it('passes the command exit code through (0, 1, 7) and 128+N for a command killed by signal N', async (t) => {
    const dir = tmpDir(t);
    const codes = await Promise.all([
      runCli(['lock', dir, '--', 'true']),
      runCli(['lock', '--timeout', '10s', dir, '--', 'false']),
      runCli(['lock', '--timeout', '10s', dir, '--', 'sh', '-c', 'exit 7']),
      runCli(['lock', '--timeout', '10s', dir, '--', 'sh', '-c', 'kill -TERM $$']),
    ]);
    assert.deepEqual(
      codes.map((r) => r.code),
      [0, 1, 7, 128 + 15],
      codes.map((r) => r.stderr).join(''),
    );
    for (const r of codes) assert.equal(r.stderr, '');
    assert.deepEqual(markers(dir), []);
  });

  it('passes the command its own arguments and stdio untouched', async (t) => {
    const dir = tmpDir(t);
    const r = await runCli(['lock', dir, '--', 'sh', '-c', 'printf "%s|" "$@"; cat; echo err >&2', 'sh', 'a b', '--', '-x'], { input: 'from stdin' });
    assert.equal(r.code, 0);
    assert.equal(r.stdout, 'a b|--|-x|from stdin');
    assert.equal(r.stderr, 'err\n');
  });

  it('exits 127 when the command is not found and 126 when it cannot be run, releasing the lock', async (t) => {
    const dir = tmpDir(t);
    const notExec = path.join(dir, 'not-executable');
    fs.writeFileSync(notExec, '#!/bin/sh\necho ran\n', { mode: 0o644 });
    const [missing, denied] = await Promise.all([
      runCli(['lock', dir, '--', 'atomfs-no-such-command-xyz', 'arg']),
      runCli(['lock', '--timeout', '10s', dir, '--', notExec]),
    ]);
    assert.equal(missing.code, 127, missing.stderr);
    assert.equal(missing.stdout, '');
    assert.match(missing.stderr, /^atomfs: ENOENT: cannot run 'atomfs-no-such-command-xyz': [^\n]*\n$/);
    assert.equal(denied.code, 126, denied.stderr);
    assert.match(denied.stderr, /^atomfs: EACCES: cannot run '[^\n]*not-executable': [^\n]*\n$/);
    assert.deepEqual(markers(dir), []);
  });

  for (const [sig, code] of [
    ['SIGTERM', 5],
    ['SIGINT', 6],
    ['SIGHUP', 7],
    ['SIGQUIT', 8],
  ] as const) {
    const name = sig.slice(3);
    it(`forwards ${sig} to the command, exits with its code (${code}) and releases the lock`, async (t) => {
      const dir = tmpDir(t);
      const child = spawnCli(t, ['lock', dir, '--', 'sh', '-c', `trap "echo got ${name}; exit ${code}" ${name}; echo ready; while :; do sleep 0.05; done`]);
      const out = collect(child.stdout);
      const err = collect(child.stderr);
      await waitForLine(child, 'ready');
      assert.equal(markers(dir).length, 1, 'held while the command runs');
      // A pause after 'ready' keeps this test about forwarding itself: atomfs installs its
      // forwarding only after spawn() returns, and a signal sent right after the command's
      // first output can still land before that (the next test pins that window down).
      await sleep(300);
      child.kill(sig);
      const end = await closed(child);
      assert.deepEqual(end, { code, signal: null }, err.text());
      assert.equal(out.text(), `ready\ngot ${name}\n`);
      assert.equal(err.text(), '');
      assert.deepEqual(markers(dir), [], 'no marker left');
      const again = await runCli(['lock', '--timeout', '1s', dir, '--', 'true']);
      assert.equal(again.code, 0, again.stderr);
    });
  }

  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    const name = sig.slice(3);
    it(`forwards a ${sig} that arrives just after the command started, instead of dying and orphaning it`, async (t) => {
      // The preload sends atomfs the signal the moment spawn() returns: the command is
      // running, the forwarding must already be in place (or the signal held for it).
      const dir = tmpDir(t);
      const preload = path.join(REPO, 'build', 'test', 'helpers', 'signal-after-spawn.js');
      const child = spawnCli(
        t,
        ['lock', dir, '--', 'sh', '-c', `trap "echo got ${name}; exit 5" ${name}; i=0; while [ $i -lt 40 ]; do sleep 0.05; i=$((i+1)); done; echo not signalled`],
        { nodeArgs: ['--import', preload], env: childEnv({ ATOMFS_TEST_SIGNAL_AFTER_SPAWN: sig }) },
      );
      const out = collect(child.stdout);
      const err = collect(child.stderr);
      let atomfsExit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
      child.once('exit', (code, signal) => (atomfsExit = { code, signal }));
      await closed(child); // the command holds the pipes: this waits for it as well (2 s at most)
      const why = `atomfs ended by ${JSON.stringify(atomfsExit)}; the command printed ${JSON.stringify(out.text())}; ${err.text()}`;
      assert.equal(atomfsExit?.signal, null, `atomfs itself was killed by the signal: ${why}`);
      // The signal may reach the command before its trap is set (then it dies of it: 128+N).
      assert.ok([5, 128 + os.constants.signals[sig]].includes(atomfsExit!.code!), why);
      assert.ok(!out.text().includes('not signalled'), `the command never got the signal: ${why}`);
      assert.deepEqual(markers(dir), [], 'the lock was released');
    });
  }

  // The holder is shared in most cases: an exclusive waiter then keeps its marker while it
  // waits (it only withdraws for an earlier writer), so a signal that killed atomfs there
  // would leave that marker behind. Behind an exclusive holder it withdraws and watches.
  for (const [sig, holderMode] of [
    ['SIGTERM', 'shared'],
    ['SIGINT', 'shared'],
    ['SIGHUP', 'shared'],
    ['SIGQUIT', 'shared'],
    ['SIGTERM', 'exclusive'],
  ] as const) {
    it(`a ${sig} while still waiting behind a${holderMode === 'shared' ? ' shared' : 'n exclusive'} holder exits 128+N, runs nothing and leaves no marker of its own`, async (t) => {
      const dir = tmpDir(t);
      const holder = spawnCli(t, ['lock', ...(holderMode === 'shared' ? ['--shared'] : []), dir, '--', 'sh', '-c', 'echo ready; read line']);
      await waitForLine(holder, 'ready');
      const held = markers(dir);
      assert.equal(held.length, 1, 'the holder\'s marker');
      const before = list(dir);
      // Watch before the waiter starts: its first marker (kept, or made and withdrawn) shows
      // that it is inside the wait, with its signal handling in place.
      let stopWatch = (): void => {};
      const found = new Promise<string>((resolve, reject) => {
        const w = fs.watch(dir, (_, name) => {
          if (name && !held.includes(name) && /^\.lock-(exclusive|shared)-/.test(name)) {
            stopWatch();
            resolve(name);
          }
        });
        const timer = setTimeout(() => {
          stopWatch();
          reject(new Error('the waiter made no marker within 10 s'));
        }, 10_000);
        stopWatch = () => {
          w.close();
          clearTimeout(timer);
        };
      });
      t.after(() => stopWatch());
      const waiter = spawnCli(t, ['lock', '--timeout', '30s', dir, '--', 'sh', '-c', 'echo SHOULD-NOT-RUN']);
      const out = collect(waiter.stdout);
      const err = collect(waiter.stderr);
      const waiterMarker = await found;
      assert.ok(waiter.exitCode === null && waiter.signalCode === null, `the waiter is still waiting: ${err.text()}`);
      if (holderMode === 'shared') assert.ok(markers(dir).includes(waiterMarker), 'a waiting exclusive marker beside a shared holder stays');
      waiter.kill(sig);
      const end = await closed(waiter);
      assert.deepEqual(end, { code: 128 + os.constants.signals[sig], signal: null }, err.text());
      assert.equal(out.text(), '', 'the command never ran');
      assert.equal(err.text(), '');
      assert.deepEqual(list(dir), before, 'only the holder\'s files remain');
      holder.stdin!.end('\n');
      assert.deepEqual(await closed(holder), { code: 0, signal: null });
      assert.deepEqual(markers(dir), []);
      const again = await runCli(['lock', '--timeout', '0', dir, '--', 'true']);
      assert.equal(again.code, 0, again.stderr);
    });
  }

  it('--timeout 200ms gives up with ETIMEDOUT (exit 1, one line) while another holds the lock, never running the command', async (t) => {
    const dir = tmpDir(t);
    const holder = spawnCli(t, ['lock', dir, '--', 'sh', '-c', 'echo ready; read line; echo released']);
    const out = collect(holder.stdout);
    await waitForLine(holder, 'ready');
    const r = await runCli(['lock', '--timeout', '200ms', dir, '--', 'sh', '-c', 'echo SHOULD-NOT-RUN']);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, errorLine('ETIMEDOUT'));
    // The waiter timed out after about 200 ms (the node start-up is on top).
    const once = await runCli(['lock', '--timeout', '0', dir, '--', 'true']);
    assert.equal(once.code, 1, '--timeout 0 tries once');
    assert.match(once.stderr, errorLine('ETIMEDOUT'));
    assert.equal(markers(dir).length, 1, "the waiters' markers are gone, the holder's stays");
    holder.stdin!.end('go\n');
    assert.deepEqual(await closed(holder), { code: 0, signal: null });
    assert.equal(out.text(), 'ready\nreleased\n');
    const after = await runCli(['lock', '--timeout', '0', dir, '--', 'true']);
    assert.equal(after.code, 0, after.stderr);
    assert.deepEqual(markers(dir), []);
  });

  it('--shared lets readers in together but keeps a writer out; only exclusive locks get ATOMFS_LOCK_TOKEN', async (t) => {
    const dir = tmpDir(t);
    const reader = spawnCli(t, ['lock', '--shared', dir, '--', 'sh', '-c', 'echo "ready ${ATOMFS_LOCK_TOKEN-none}"; read line']);
    const line = await waitForLine(reader, 'ready');
    assert.equal(line, 'ready none');
    const [second, writer] = await Promise.all([
      runCli(['lock', '--shared', '--timeout', '2s', dir, '--', 'sh', '-c', 'echo "${ATOMFS_LOCK_TOKEN-none}"']),
      runCli(['lock', '--timeout', '300ms', dir, '--', 'true']),
    ]);
    assert.equal(second.code, 0, second.stderr);
    assert.equal(second.stdout, 'none\n');
    assert.equal(writer.code, 1);
    assert.match(writer.stderr, errorLine('ETIMEDOUT'));
    reader.stdin!.end('\n');
    assert.equal((await closed(reader)).code, 0);
    const tokens: number[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await runCli(['lock', dir, '--', 'sh', '-c', 'echo "$ATOMFS_LOCK_TOKEN"']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^\d+\n$/);
      tokens.push(Number(r.stdout));
    }
    assert.ok(tokens[0]! < tokens[1]! && tokens[1]! < tokens[2]!, `tokens grow: ${tokens.join(', ')}`);
    assert.deepEqual(markers(dir), []);
  });

  it('locks a file by markers beside it, leaving the file alone', async (t) => {
    const dir = tmpDir(t);
    const file = path.join(dir, 'db.sqlite');
    fs.writeFileSync(file, 'db');
    const r = await runCli(['lock', file, '--', 'sh', '-c', 'ls -a "$D"'], { env: { D: dir } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^\.db\.sqlite\.lock-exclusive-/m, 'the marker, while held');
    assert.deepEqual(markers(dir, '.db.sqlite.lock-'), []);
    assert.equal(fs.readFileSync(file, 'utf8'), 'db');
  });
});

describe("atomfs lock: flock(1)'s flags", () => {
  it('-c CMD (--command) runs CMD through /bin/sh -c under the lock, its exit code passed through', async (t) => {
    const dir = tmpDir(t);
    const [short, long] = await Promise.all([
      runCli(['lock', dir, '-c', 'a=2 && echo "$((a + 1)) $ATOMFS_LOCK_TOKEN"; ls -a "$D" | grep -c "^\\.lock-exclusive-"; exit 4'], { env: { D: dir } }),
      runCli(['lock', '--timeout', '10s', '--command', 'echo "$0"', dir]),
    ]);
    assert.equal(short.code, 4, short.stderr);
    assert.match(short.stdout, /^3 \d+\n1\n$/, 'a shell ran it, holding the exclusive lock');
    assert.equal(short.stderr, '');
    assert.equal(long.code, 0, long.stderr);
    assert.equal(long.stdout, '/bin/sh\n');
    assert.deepEqual(markers(dir), []);
  });

  it('-s and -x (--shared, --exclusive) choose the mode, the last one given wins; exclusive is the default', async (t) => {
    const dir = tmpDir(t);
    const probe = ['-c', 'echo "${ATOMFS_LOCK_TOKEN-shared}"'];
    const cases: [string[], 'shared' | 'exclusive'][] = [
      [[], 'exclusive'],
      [['-s'], 'shared'],
      [['--shared'], 'shared'],
      [['-x'], 'exclusive'],
      [['--exclusive'], 'exclusive'],
      [['-s', '-x'], 'exclusive'],
      [['-x', '-s'], 'shared'],
      [['--exclusive', '--shared'], 'shared'],
    ];
    for (const [flags, mode] of cases) {
      const r = await runCli(['lock', ...flags, dir, ...probe]);
      assert.equal(r.code, 0, r.stderr);
      if (mode === 'shared') assert.equal(r.stdout, 'shared\n', flags.join(' '));
      else assert.match(r.stdout, /^\d+\n$/, `${flags.join(' ')}: an exclusive lock has a token`);
    }
    // The modes are real: two shared holders at once, an exclusive one kept out.
    const reader = spawnCli(t, ['lock', '-s', dir, '--', 'sh', '-c', 'echo ready; read line']);
    await waitForLine(reader, 'ready');
    const [second, writer] = await Promise.all([runCli(['lock', '-s', '-n', dir, '-c', 'echo in']), runCli(['lock', '-x', '-n', dir, '-c', 'echo in'])]);
    assert.deepEqual([second.code, second.stdout], [0, 'in\n'], second.stderr);
    assert.deepEqual([writer.code, writer.stdout], [1, ''], writer.stderr);
    assert.match(writer.stderr, errorLine('ETIMEDOUT'));
    reader.stdin!.end('\n');
    assert.deepEqual(await closed(reader), { code: 0, signal: null });
    assert.deepEqual(markers(dir), []);
  });

  it('-n (--nonblock) tries once; -w SECS (--timeout, --wait) waits that long; -E CODE (--conflict-exit-code) is the exit code when the lock is not had', async (t) => {
    const dir = tmpDir(t);
    const holder = spawnCli(t, ['lock', dir, '--', 'sh', '-c', 'echo ready; read line']);
    await waitForLine(holder, 'ready');
    const cases: [string[], number, string][] = [
      [['-n'], 1, 'within 0 ms'],
      [['--nonblock'], 1, 'within 0 ms'],
      [['-n', '-E', '75'], 75, 'within 0 ms'],
      [['-n', '--conflict-exit-code', '0'], 0, 'within 0 ms'],
      [['-n', '-w', '5'], 1, 'within 0 ms'], // as for flock, -n wins over -w
      [['-w', '0.3'], 1, 'within 300 ms'],
      [['--wait', '200ms', '-E', '9'], 9, 'within 200 ms'],
      [['-w', '30', '--timeout', '250ms'], 1, 'within 250 ms'], // the last of -w/--timeout/--wait wins
      [['-w', '0', '-E', '255'], 255, 'within 0 ms'],
    ];
    const results = await Promise.all(cases.map(([flags]) => runCli(['lock', ...flags, dir, '-c', 'echo SHOULD-NOT-RUN'])));
    cases.forEach(([flags, code, within], i) => {
      const r = results[i]!;
      assert.equal(r.code, code, `${flags.join(' ')}: ${r.stderr}`);
      assert.equal(r.stdout, '', 'the command never ran');
      assert.match(r.stderr, errorLine('ETIMEDOUT'));
      assert.ok(r.stderr.includes(within), `${flags.join(' ')}: ${r.stderr}`);
    });
    assert.equal(markers(dir).length, 1, "only the holder's marker");
    holder.stdin!.end('\n');
    assert.deepEqual(await closed(holder), { code: 0, signal: null });
    // With the lock free, -E changes nothing: the command's own code comes through.
    // One after the other: run together, one could hold the lock while the -n one tries.
    const free = [await runCli(['lock', '-n', '-E', '75', dir, '-c', 'exit 3']), await runCli(['lock', '-E', '75', '-w', '5', dir, '--', 'true'])];
    assert.deepEqual(
      free.map((r) => r.code),
      [3, 0],
      free.map((r) => r.stderr).join(''),
    );
    // -E is for the lock only: another failure (PATH missing) is still 1.
    const missing = await runCli(['lock', '-E', '75', path.join(dir, 'missing', 'x'), '-c', 'true']);
    assert.equal(missing.code, 1, missing.stderr);
    assert.match(missing.stderr, errorLine('ENOENT'));
    assert.deepEqual(markers(dir), []);
  });

  it('rejects a bad -E, -w, or -c with a COMMAND after -- as bad usage (exit 2), taking no lock', async (t) => {
    const dir = tmpDir(t);
    const cases: [string[], RegExp][] = [
      [['-E', '256', dir, '-c', 'true'], /-E takes an exit code from 0 to 255, got '256'/],
      [['--conflict-exit-code', 'x', dir, '-c', 'true'], /--conflict-exit-code takes a whole number, got 'x'/],
      [['-w', 'soon', dir, '-c', 'true'], /-w takes a duration/],
      [['--wait', '-1', dir, '-c', 'true'], /--wait/],
      [[dir, '-c', 'true', '--', 'echo', 'x'], /-c CMD and a COMMAND after -- cannot be combined/],
      [[dir], /COMMAND after -- \(or -c CMD\)/],
    ];
    const results = await Promise.all(cases.map(([args]) => runCli(['lock', ...args])));
    cases.forEach(([args, what], i) => {
      const r = results[i]!;
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, what);
      assert.match(r.stderr, /\nUsage: see 'atomfs lock --help'\.\n$/);
    });
    assert.deepEqual(list(dir), []);
  });
});
