/**
 * `atomfs lock PATH -- COMMAND...` (or `-c CMD`): run a command under a lock, like flock(1).
 *
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import { isAtomfsError } from '../../errors.js';
import { O, realOps } from '../../internal/fs-ops.js';
import { lock } from '../../lock/lock.js';
import { parseVerb } from '../args.js';
import { envLogger, errorText, EXIT, parseCount, parseDuration, UsageError, type CliIo } from '../util.js';

export const HELP = `Usage: atomfs lock [options] PATH -- COMMAND [ARGS...]
       atomfs lock [options] PATH -c COMMAND-LINE

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

Options (flock(1)'s short ones work as there; the last of -s and -x wins):
  -s, --shared        a shared lock (many holders at once, never with an exclusive one)
  -x, --exclusive     an exclusive lock (the default)
  -n, --nonblock      fail at once if the lock is not free (the same as -w 0)
  -w, --timeout, --wait DURATION
                      give up after this long (default 10s; 0 = try once; a bare
                      number is seconds, as for flock: -w 2.5; or 500ms, 2m)
  -E, --conflict-exit-code CODE
                      exit with CODE (0 to 255, default 1) when the lock could not
                      be had, so a timeout can be told from the command's own failure
  -c, --command CMD   run CMD through /bin/sh -c (instead of a COMMAND after --)
  --stale DURATION    lease of holders on other hosts (default 10s); with --store,
                      the lease the server times
  --store URL         keep the lock in PostgreSQL (postgres://user@host/db; needs the
                      pg driver): PATH is then the lock's name, shared by every host
                      that uses the same database; a killed atomfs frees it when its
                      lease ends (no descriptor is handed to COMMAND)
  -h, --help          show this help

Exit codes: the command's own; the -E code (default 1) when the lock could not be had
(ETIMEDOUT); 1 another error; 2 bad usage; 126 the command could not be run, 127 not
found; 128+N killed by signal N.

Examples:
  atomfs lock /srv/data -- ./rebuild-index.sh
  atomfs lock --shared --timeout 1m /srv/data -- tar czf backup.tgz /srv/data
  atomfs lock -n -E 75 /var/lock/cron-job -c 'backup && prune'
`;

/**
 * The verb's options, for node:util parseArgs. A new option goes here and into
 * {@link resolveLockCall}, which turns the parsed flags into the library's LockOptions.
 */
export const OPTIONS = {
  shared: { type: 'boolean', short: 's' },
  exclusive: { type: 'boolean', short: 'x' },
  nonblock: { type: 'boolean', short: 'n' },
  timeout: { type: 'string', short: 'w' },
  wait: { type: 'string' },
  'conflict-exit-code': { type: 'string', short: 'E' },
  command: { type: 'string', short: 'c' },
  stale: { type: 'string' },
  store: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** What one `atomfs lock` call asks for, checked before anything is touched. */
interface LockCall {
  readonly path: string;
  readonly command: readonly string[];
  readonly mode: 'shared' | 'exclusive';
  readonly timeout: number | undefined;
  readonly stale: number | undefined;
  /** The exit code when the lock could not be had (flock's -E). */
  readonly conflictExitCode: number;
  /** A PostgreSQL URL: the lock lives in that database (`postgresLocks`). */
  readonly store: string | undefined;
}

/** The arguments (before and after `--`) as a {@link LockCall}, or `undefined` for --help. */
function resolveLockCall(args: readonly string[]): LockCall | undefined {
  const sep = args.indexOf('--');
  const own = sep === -1 ? [...args] : args.slice(0, sep);
  const after = sep === -1 ? [] : args.slice(sep + 1);
  const { values, positionals, tokens } = parseVerb(own, OPTIONS);
  if (values.help) return undefined;
  if (positionals.length !== 1) throw new UsageError('lock takes exactly one PATH before --');
  if (values.command !== undefined && after.length > 0) throw new UsageError('-c CMD and a COMMAND after -- cannot be combined');
  const command = values.command !== undefined ? ['/bin/sh', '-c', values.command] : after;
  if (command.length === 0) throw new UsageError('lock needs a COMMAND after -- (or -c CMD)');
  // As for flock(1): the last of -s/-x wins, and so does the last of -w/--timeout/--wait.
  const last = (...names: string[]) => tokens.filter((t) => t.kind === 'option' && names.includes(t.name)).at(-1) as { name: string; rawName: string; value?: string } | undefined;
  const mode = last('shared', 'exclusive')?.name === 'shared' ? 'shared' : 'exclusive';
  const wait = last('timeout', 'wait');
  const timeout = values.nonblock ? 0 : wait === undefined ? undefined : parseDuration(wait.rawName, wait.value ?? '');
  const e = last('conflict-exit-code');
  const conflictExitCode = e === undefined ? EXIT.failed : parseCount(e.rawName, e.value ?? '');
  if (conflictExitCode > 255) throw new UsageError(`${e!.rawName} takes an exit code from 0 to 255, got '${e!.value}'`);
  if (values.store !== undefined && !/^postgres(ql)?:\/\//.test(values.store)) throw new UsageError(`--store takes a postgres:// URL, got '${values.store}'`);
  return {
    path: positionals[0]!,
    command,
    mode,
    timeout,
    stale: values.stale === undefined ? undefined : parseDuration('--stale', values.stale),
    conflictExitCode,
    store: values.store,
  };
}

export async function run(args: string[], io: CliIo): Promise<number> {
  const call = resolveLockCall(args);
  if (call === undefined) {
    io.stdout.write(HELP);
    return EXIT.ok;
  }
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
  // Loaded only for --store: the driver is an optional peer dependency.
  const store = call.store === undefined ? undefined : (await import('../../postgres/index.js')).postgresLocks({ connectionString: call.store });
  // The store's connections are unref'd: the verb keeps the process alive until it is done.
  const alive = store === undefined ? undefined : setInterval(() => undefined, 1 << 30);
  try {
    let held;
    try {
      held = await lock(call.path, {
        mode: call.mode,
        timeout: call.timeout,
        stale: call.stale,
        ...(store === undefined ? {} : { store }),
        logger: envLogger(io),
        signal: ac.signal,
        onCompromised: (e) => void io.stderr.write(`atomfs: warning: ${e.message}\n`),
      });
    } catch (e) {
      // Interrupted while waiting: exit as the signal would have made us exit.
      if (relay.first) return 128 + (osConstants.signals[relay.first] ?? 0);
      // The lock was not had (taken by another): one line, and flock's -E code.
      if (isAtomfsError(e, 'ETIMEDOUT')) {
        io.stderr.write(errorText(e));
        return call.conflictExitCode;
      }
      throw e;
    }
    if (store !== undefined) {
      try {
        return await runChild(call.command, held.token, io, relay, undefined);
      } finally {
        await held.release().catch((e: unknown) => void io.stderr.write(`atomfs: warning: ${(e as Error).message}\n`));
      }
    }
    // The lock lives on a descriptor, as flock(1)'s does: one byte in the marker says so, and
    // the command inherits a descriptor on it (fd 3), as does everything it starts. Killing
    // atomfs then frees nothing: the lock is held while any of them runs (see heldByTree).
    let fd: number | undefined;
    try {
      // Without O_CLOEXEC: the point is that it is inherited.
      fd = realOps.sync.open(held._marker, O.WRONLY | O.APPEND | O.NOFOLLOW, 0);
      realOps.sync.write(fd, Buffer.from('t'), 0, 1);
      return await runChild(call.command, held.token, io, relay, fd);
    } finally {
      if (fd !== undefined) realOps.sync.close(fd);
      // Processes the command left running still hold the descriptor: the lock stays theirs
      // until the last exits (flock(1) does the same); then the next locker takes it at once.
      if (fd !== undefined && realOps.sync.fileHolders(held._marker).length > 0) held._leave();
      else await held.release();
    }
  } finally {
    for (const s of FORWARDED) process.off(s, onSignal);
    clearInterval(alive);
    await store?.close();
  }
}

const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];

function runChild(command: readonly string[], token: number | undefined, io: CliIo, relay: { child?: ChildProcess; pending: NodeJS.Signals[] }, lockFd: number | undefined): Promise<number> {
  return new Promise((resolve) => {
    const env = { ...io.env, ...(lockFd === undefined ? {} : { ATOMFS_LOCK_FD: '3' }), ...(token === undefined ? {} : { ATOMFS_LOCK_TOKEN: String(token) }) };
    const child = spawn(command[0]!, command.slice(1), { stdio: lockFd === undefined ? 'inherit' : ['inherit', 'inherit', 'inherit', lockFd], env });
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
