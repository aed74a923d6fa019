/**
 * The atomfs command line. Each verb is a thin layer over the library: no operation is
 * implemented twice.
 *
 * @module atomfs/cli
 */
import { createRequire } from 'node:module';
import { constants as osConstants } from 'node:os';
import * as cleanup from './commands/cleanup.js';
import * as crashcheck from './commands/crashcheck.js';
import * as doctor from './commands/doctor.js';
import * as lockCmd from './commands/lock.js';
import * as mv from './commands/mv.js';
import * as verify from './commands/verify.js';
import * as vfs from './commands/vfs.js';
import * as write from './commands/write.js';
import { asksForJson, didYouMean, type VerbOptions } from './args.js';
import { checkLogLevel, errorCode, errorText, EXIT, printJson, UsageError, type CliIo } from './util.js';

export { EXIT, type CliIo } from './util.js';

const HELP = `Usage: atomfs <command> [options]

Crash-safe file operations: every change happens completely or not at all, and
survives power loss once the command has exited 0.

Commands:
  write FILE              read stdin and replace FILE atomically (a crash-safe sponge)
  mv SRC... DEST          move files and folders, across devices too, never losing data
  cleanup DIR             remove temp files left by killed processes
  lock PATH -- CMD...     run a command under a shared or exclusive lock (like flock;
                          also: lock -n -w SECS -E CODE PATH -c CMD)
  verify FILE...          check files are complete: readable, UTF-8, JSON, size, SHA-256
  doctor [DIR]            probe a file system: what atomfs can promise there
  vfs ls|stat|cat|put|mv|rm  the virtual file system over mounts named by URL
                          (--mount /shared=postgres://…, file:///srv, memory:)
  crashcheck --check CMD -- PROGRAM...
                          run PROGRAM under strace, then CMD on every crash state

Options:
  -h, --help              show help (also: atomfs help <command>, atomfs <command> --help)
  -V, --version           print the version (-v too)

Exit codes: 0 success, 1 the operation failed, 2 bad usage, 128+N interrupted by
signal N (SIGINT, SIGTERM, SIGHUP abort the operation, which removes its temp files).
Errors are one line on stderr: atomfs: CODE: message. With --json, a verb also prints
them on stdout as {"error": {"code", "message", "path"}} (bad usage: code EINVAL).
Environment: ATOMFS_LOG=debug|info|warn|error prints the structured log at that level
and above to stderr as JSON lines; any other value is bad usage (exit 2).

Examples:
  sort data.txt | atomfs write data.txt
  atomfs mv --verify checksum /mnt/cache/film.mkv /mnt/array/films/
  atomfs lock /srv/data -- ./rebuild-index.sh
  atomfs doctor --json /mnt/array
`;

/** A verb: its help text, its options (parseArgs') and what runs it. */
interface Verb {
  readonly HELP: string;
  readonly OPTIONS: VerbOptions;
  run(args: string[], io: CliIo): Promise<number>;
}

const COMMANDS: Readonly<Record<string, Verb>> = {
  write,
  mv,
  cleanup,
  lock: lockCmd,
  verify,
  doctor,
  vfs,
  crashcheck,
};

const INTERRUPTS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * Runs a verb so that Ctrl-C (SIGINT), SIGTERM and SIGHUP abort its operation through an
 * AbortSignal: the operation's own cleanup runs (its temp goes, a progress bar restores the
 * cursor), and the exit is 128+N, as for a process the signal had ended. A second signal
 * does not wait for that: the default action ends the process (atomfs's exit handlers
 * still remove the live temps, see live-temps.ts).
 */
async function interruptible(run: (signal: AbortSignal) => Promise<number>): Promise<number> {
  const ac = new AbortController();
  let got: NodeJS.Signals | undefined;
  const off = (): void => {
    for (const s of INTERRUPTS) process.off(s, onSignal);
  };
  const onSignal = (sig: NodeJS.Signals): void => {
    if (got !== undefined) {
      off();
      process.kill(process.pid, sig);
      return;
    }
    got = sig;
    ac.abort(new Error(`interrupted by ${sig}`));
  };
  for (const s of INTERRUPTS) process.on(s, onSignal);
  const code = (): number => 128 + (osConstants.signals[got!] ?? 0);
  try {
    const r = await run(ac.signal);
    return got === undefined ? r : code();
  } catch (e) {
    if (got !== undefined) return code();
    throw e;
  } finally {
    off();
    // A read of stdin the aborted operation gave up on would keep the process alive.
    if (got !== undefined) process.stdin.destroy();
  }
}

function version(): string {
  // package.json sits two folders up from dist/cli/.
  const pkg = createRequire(import.meta.url)('../../package.json') as { version: string };
  return pkg.version;
}

/**
 * Runs the CLI with the given arguments (without `node` and the script name).
 *
 * @param argv - The arguments, e.g. `['write', 'out.txt']`.
 * @param io - Standard streams and environment; defaults to the process'.
 * @returns The exit code: 0 success, 1 the operation failed, 2 bad usage (or the
 *   command's own code for `lock`).
 * @throws Never: errors are printed as one line `atomfs: CODE: message`.
 * @example
 * ```ts
 * process.exitCode = await main(process.argv.slice(2));
 * ```
 */
export async function main(argv: readonly string[], io: CliIo = process): Promise<number> {
  const [verb, ...rest] = argv;
  const cmd = verb === undefined ? undefined : COMMANDS[verb];
  // With --json, a script reads the error from stdout too (the line on stderr stays).
  let json = false;
  try {
    if (cmd !== undefined) json = asksForJson(rest, cmd.OPTIONS);
    switch (verb) {
      case undefined:
        io.stderr.write(HELP);
        return EXIT.usage;
      case '-h':
      case '--help':
        io.stdout.write(HELP);
        return EXIT.ok;
      case 'help':
        return help(rest, io);
      case '-V':
      case '-v':
      case '--version':
        io.stdout.write(version() + '\n');
        return EXIT.ok;
    }
    if (cmd === undefined) {
      if (verb.startsWith('-')) {
        const hint = didYouMean(verb, ['--help', '--version']);
        throw new UsageError(`unknown option '${verb}'${hint || ': before a command, atomfs takes only --help and --version (atomfs <command> [options])'}`);
      }
      throw new UsageError(`unknown command '${verb}'${didYouMean(verb, [...Object.keys(COMMANDS), 'help'])}`);
    }
    checkLogLevel(io.env);
    // `lock` forwards signals to its command itself; the others are interrupted.
    if (cmd === lockCmd || io !== process) return await cmd.run(rest, io);
    return await interruptible((signal) => cmd.run(rest, { stdin: io.stdin, stdout: io.stdout, stderr: io.stderr, env: io.env, signal }));
  } catch (e) {
    const usage = e instanceof UsageError || /^ERR_PARSE_ARGS/.test((e as { code?: string }).code ?? '');
    if (json) {
      // A usage error is bad input: EINVAL, as the library says for a bad argument (exit 2 tells it apart).
      const error = usage ? { code: 'EINVAL', message: (e as Error).message, path: null } : { code: errorCode(e), message: (e as Error)?.message ?? String(e), path: (e as { path?: unknown }).path ?? null };
      printJson(io, { error });
    }
    if (usage) {
      io.stderr.write(`atomfs: ${(e as Error).message.replace(/\n/g, ' ')}\nUsage: see 'atomfs ${cmd ? `${verb} ` : ''}--help'.\n`);
      return EXIT.usage;
    }
    io.stderr.write(errorText(e));
    return EXIT.failed;
  }
}

/** `atomfs help [VERB]`: the overview, or the verb's own help (as `atomfs VERB --help`). */
function help(args: readonly string[], io: CliIo): number {
  if (args.length === 0) {
    io.stdout.write(HELP);
    return EXIT.ok;
  }
  if (args.length > 1) throw new UsageError('help takes at most one command');
  if (args[0] === 'help') {
    io.stdout.write(HELP);
    return EXIT.ok;
  }
  const cmd = COMMANDS[args[0]!];
  if (cmd === undefined) throw new UsageError(`unknown command '${args[0]}'${didYouMean(args[0]!, Object.keys(COMMANDS))}`);
  io.stdout.write(cmd.HELP);
  return EXIT.ok;
}
