/**
 * The atomfs command line. Each verb is a thin layer over the library: no operation is
 * implemented twice.
 *
 * @module
 */
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { isAtomfsError } from '../errors.js';
import type { Logger } from '../logger.js';
import { writeFile } from '../write/write-file.js';

/** Where a command reads and writes; replaced in tests. */
export interface CliIo {
  readonly stdin: NodeJS.ReadableStream;
  readonly stdout: { write(s: string): unknown };
  readonly stderr: { write(s: string): unknown };
  readonly env: NodeJS.ProcessEnv;
}

/** Exit codes: 0 success, 1 the operation failed, 2 bad usage. */
export const EXIT = Object.freeze({ ok: 0, failed: 1, usage: 2 });

const HELP = `Usage: atomfs <command> [options]

Crash-safe file operations: every change happens completely or not at all, and
survives power loss once the command has exited 0.

Commands:
  write FILE        read stdin and replace FILE atomically and durably (a crash-safe sponge)

More commands (mv, cleanup, lock, verify, doctor) are coming; see the README.

Options:
  -h, --help        show help (also: atomfs <command> --help)
  -v, --version     print the version

Exit codes: 0 success, 1 the operation failed, 2 bad usage.
Environment: ATOMFS_LOG=debug prints the structured log to stderr.

Examples:
  sort data.txt | atomfs write data.txt
  curl -s https://example.invalid/cfg | atomfs write --mode 600 /etc/app.cfg
`;

const WRITE_HELP = `Usage: atomfs write [options] FILE

Reads standard input to its end, then replaces FILE with it atomically: other programs
see the old content or the new, never a part. If stdin fails or the command is
interrupted, FILE keeps its old content.

Options:
  --mode OCTAL      mode of a new file (default 644, reduced by the umask)
  --no-fsync        skip the flushes (still atomic, not durable)
  --no-clobber      fail with EEXIST if FILE exists
  --json            print {"path", "bytes"} when done
  -h, --help        show this help

Examples:
  jq '.version = "2"' package.json | atomfs write package.json
  printf 'ready\\n' | atomfs write --no-clobber /run/app/state
`;

class UsageError extends Error {}

function version(): string {
  // package.json sits two folders up from dist/cli/.
  const pkg = createRequire(import.meta.url)('../../package.json') as { version: string };
  return pkg.version;
}

function stderrLogger(io: CliIo): Logger | undefined {
  if (io.env['ATOMFS_LOG'] !== 'debug') return undefined;
  const line = (level: string) => (fields: object, msg: string) =>
    void io.stderr.write(JSON.stringify({ level, time: Date.now(), msg, ...fields }) + '\n');
  return { debug: line('debug'), warn: line('warn'), error: line('error') };
}

async function runWrite(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      mode: { type: 'string' },
      'no-fsync': { type: 'boolean' },
      'no-clobber': { type: 'boolean' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    io.stdout.write(WRITE_HELP);
    return EXIT.ok;
  }
  if (positionals.length !== 1) throw new UsageError('write takes exactly one FILE');
  let mode: number | undefined;
  if (values.mode !== undefined) {
    if (!/^[0-7]{1,4}$/.test(values.mode)) throw new UsageError(`--mode must be octal, like 644, got '${values.mode}'`);
    mode = parseInt(values.mode, 8);
  }
  const file = positionals[0]!;
  let bytes = 0;
  async function* counted(): AsyncGenerator<Uint8Array> {
    for await (const chunk of io.stdin as AsyncIterable<Uint8Array>) {
      bytes += chunk.length;
      yield chunk;
    }
  }
  await writeFile(file, counted(), {
    mode,
    fsync: !values['no-fsync'],
    overwrite: !values['no-clobber'],
    logger: stderrLogger(io),
  });
  if (values.json) io.stdout.write(JSON.stringify({ path: file, bytes }) + '\n');
  return EXIT.ok;
}

/**
 * Runs the CLI with the given arguments (without `node` and the script name).
 *
 * @param argv - The arguments, e.g. `['write', 'out.txt']`.
 * @param io - Standard streams and environment; defaults to the process'.
 * @returns The exit code: 0 success, 1 the operation failed, 2 bad usage.
 * @throws Never: errors are printed as one line `atomfs: CODE: message`.
 * @example
 * ```ts
 * process.exitCode = await main(process.argv.slice(2));
 * ```
 */
export async function main(argv: readonly string[], io: CliIo = process): Promise<number> {
  const [verb, ...rest] = argv;
  try {
    switch (verb) {
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        io.stdout.write(HELP);
        return verb === undefined ? EXIT.usage : EXIT.ok;
      case '-v':
      case '--version':
        io.stdout.write(version() + '\n');
        return EXIT.ok;
      case 'write':
        return await runWrite(rest, io);
      default:
        throw new UsageError(`unknown command '${verb}'`);
    }
  } catch (e) {
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.stderr.write(`atomfs: ${(e as Error).message}\nTry 'atomfs --help'.\n`);
      return EXIT.usage;
    }
    if (isAtomfsError(e)) {
      io.stderr.write(`atomfs: ${e.message}\n`);
      return EXIT.failed;
    }
    io.stderr.write(`atomfs: ${(e as Error)?.message ?? String(e)}\n`);
    return EXIT.failed;
  }
}
