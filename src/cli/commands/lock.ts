/**
 * `atomfs lock PATH -- COMMAND...`: run a command under a lock, like flock(1).
 *
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import { parseArgs } from 'node:util';
import { O, realOps } from '../../internal/fs-ops.js';
import { lock } from '../../lock/lock.js';
import { envLogger, EXIT, parseDuration, UsageError, type CliIo } from '../util.js';

export const HELP = `Usage: atomfs lock [options] PATH -- COMMAND [ARGS...]

Runs COMMAND while holding a lock on PATH (a folder: markers inside it; a file: markers
beside it), then releases it. Works across processes and across hosts sharing a
network file system. The command's exit code is passed through; SIGINT, SIGTERM,
SIGHUP and SIGQUIT are forwarded to it. An exclusive lock's fencing token is passed to
the command in the environment as ATOMFS_LOCK_TOKEN.

As with flock(1), the lock lives on a descriptor the command inherits (fd 3, also
named in ATOMFS_LOCK_FD): it is held while COMMAND or anything it started keeps that
descriptor open, even if atomfs itself is killed, and is free as soon as the last of
them has exited. A background child that outlives COMMAND keeps the lock until it
exits; one that closes fd 3 does not hold it.

Options:
  --shared            a shared lock (many holders at once, never with an exclusive one)
  --timeout DURATION  give up after this long (default 10s; 0 = try once; e.g. 500ms, 2m)
  --stale DURATION    lease of holders on other hosts (default 10s)
  -h, --help          show this help

Exit codes: the command's own; 1 when the lock could not be had (ETIMEDOUT) or
another error; 2 bad usage; 127 the command was not found; 128+N killed by signal N.

Examples:
  atomfs lock /srv/data -- ./rebuild-index.sh
  atomfs lock --shared --timeout 1m /srv/data -- tar czf backup.tgz /srv/data
`;

export async function run(args: string[], io: CliIo): Promise<number> {
  const sep = args.indexOf('--');
  const own = sep === -1 ? args : args.slice(0, sep);
  const command = sep === -1 ? [] : args.slice(sep + 1);
  const { values, positionals } = parseArgs({
    args: own,
    allowPositionals: true,
    options: {
      shared: { type: 'boolean' },
      timeout: { type: 'string' },
      stale: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    io.stdout.write(HELP);
    return EXIT.ok;
  }
  if (positionals.length !== 1) throw new UsageError('lock takes exactly one PATH before --');
  if (command.length === 0) throw new UsageError('lock needs a COMMAND after --');
  // Signals are caught from now on: while waiting for the lock they abort the wait (no
  // marker is left behind); once the command runs they are forwarded to it. Installing
  // the handlers only after spawn() would leave a moment in which a signal kills atomfs
  // and orphans a running command that still holds the lock.
  const ac = new AbortController();
  const relay: { child?: ChildProcess; pending: NodeJS.Signals[]; first?: NodeJS.Signals } = { pending: [] };
  const onSignal = (sig: NodeJS.Signals): void => {
    relay.first ??= sig;
    if (relay.child) relay.child.kill(sig);
    else {
      relay.pending.push(sig);
      ac.abort();
    }
  };
  for (const s of FORWARDED) process.on(s, onSignal);
  try {
    let held;
    try {
      held = await lock(positionals[0]!, {
        mode: values.shared ? 'shared' : 'exclusive',
        timeout: values.timeout === undefined ? undefined : parseDuration('--timeout', values.timeout),
        stale: values.stale === undefined ? undefined : parseDuration('--stale', values.stale),
        logger: envLogger(io),
        signal: ac.signal,
        onCompromised: (e) => void io.stderr.write(`atomfs: warning: ${e.message}\n`),
      });
    } catch (e) {
      // Interrupted while waiting: exit as the signal would have made us exit.
      if (relay.first) return 128 + (osConstants.signals[relay.first] ?? 0);
      throw e;
    }
    // The lock lives on a descriptor, as flock(1)'s does: one byte in the marker says so, and
    // the command inherits a descriptor on it (fd 3), as does everything it starts. Killing
    // atomfs then frees nothing: the lock is held while any of them runs (see heldByTree).
    let fd: number | undefined;
    try {
      // Without O_CLOEXEC: the point is that it is inherited.
      fd = realOps.sync.open(held._marker, O.WRONLY | O.APPEND | O.NOFOLLOW, 0);
      realOps.sync.write(fd, Buffer.from('t'), 0, 1);
      return await runChild(command, held.token, io, relay, fd);
    } finally {
      if (fd !== undefined) realOps.sync.close(fd);
      // Processes the command left running still hold the descriptor: the lock stays theirs
      // until the last exits (flock(1) does the same); then the next locker takes it at once.
      if (fd !== undefined && realOps.sync.fileHolders(held._marker).length > 0) held._leave();
      else await held.release();
    }
  } finally {
    for (const s of FORWARDED) process.off(s, onSignal);
  }
}

const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];

function runChild(command: string[], token: number | undefined, io: CliIo, relay: { child?: ChildProcess; pending: NodeJS.Signals[] }, lockFd: number): Promise<number> {
  return new Promise((resolve) => {
    const env = { ...io.env, ATOMFS_LOCK_FD: '3', ...(token === undefined ? {} : { ATOMFS_LOCK_TOKEN: String(token) }) };
    const child = spawn(command[0]!, command.slice(1), { stdio: ['inherit', 'inherit', 'inherit', lockFd], env });
    relay.child = child;
    // A signal that arrived between the lock and the spawn is delivered now.
    for (const s of relay.pending.splice(0)) child.kill(s);
    let settled = false;
    const done = (code: number): void => {
      if (!settled) resolve(code);
      settled = true;
    };
    child.once('error', (e: NodeJS.ErrnoException) => {
      io.stderr.write(`atomfs: ${e.code ?? 'ERROR'}: cannot run '${command[0]}': ${e.message}\n`);
      done(e.code === 'ENOENT' ? 127 : 126);
    });
    child.once('exit', (code, signal) => {
      done(code ?? 128 + ((signal && osConstants.signals[signal]) || 0));
    });
  });
}
