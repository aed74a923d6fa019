/**
 * `atomfs write FILE`: stdin to FILE, atomically and durably (a crash-safe sponge).
 *
 * @module
 */
import { O, realOps } from '../../internal/fs-ops.js';
import { writeFile } from '../../write/write-file.js';
import { parseVerb } from '../args.js';
import { envLogger, EXIT, printJson, UsageError, type CliIo } from '../util.js';

export const HELP = `Usage: atomfs write [options] FILE

Reads standard input to its end, then replaces FILE with it atomically: other programs
see the old content or the new, never a part. If stdin fails or the command is
interrupted, FILE keeps its old content. FILE may be the input's own source:
  sort data.txt | atomfs write data.txt
Missing parent folders are created. A plain pipe cannot tell atomfs that the producer
failed (the shell only reports it with pipefail, after the write): to keep FILE when
the producer fails, run it first:  out=$(producer) && printf '%s' "$out" | atomfs write FILE

Options:
  --mode OCTAL      mode of a new file (default 644, reduced by the umask); an
                    existing file keeps its mode
  --no-fsync        skip the flushes (still atomic, not durable)
  --no-clobber      fail with EEXIST if FILE exists
  -a, --append      as sponge -a: FILE's old content then stdin, published atomically
                    as one new file (a missing FILE is created)
  --json            print {"path", "bytes"} when done; an error as
                    {"error": {"code", "message", "path"}}
  -h, --help        show this help

Examples:
  jq '.version = "2"' package.json | atomfs write package.json
  printf 'ready\\n' | atomfs write --no-clobber --mode 600 /run/app/state
`;

/** The verb's options, for node:util parseArgs. */
export const OPTIONS = {
    mode: { type: 'string' },
    'no-fsync': { type: 'boolean' },
    'no-clobber': { type: 'boolean' },
    append: { type: 'boolean', short: 'a' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  } as const;

export async function run(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseVerb(args, OPTIONS);
  if (values.help) {
    io.stdout.write(HELP);
    return EXIT.ok;
  }
  if (positionals.length !== 1) throw new UsageError('write takes exactly one FILE');
  let mode: number | undefined;
  if (values.mode !== undefined) {
    if (!/^[0-7]{1,4}$/.test(values.mode)) throw new UsageError(`--mode must be octal, like 644, got '${values.mode}'`);
    mode = parseInt(values.mode, 8);
  }
  if (values.append && values['no-clobber']) throw new UsageError('--append and --no-clobber cannot be combined');
  const file = positionals[0]!;
  let bytes = 0;
  const stdin = io.stdin as AsyncIterable<Uint8Array>;
  async function* counted(): AsyncGenerator<Uint8Array> {
    if (values.append) {
      for (const chunk of oldContent(file)) {
        bytes += chunk.length;
        yield chunk;
      }
    }
    for await (const chunk of stdin) {
      bytes += chunk.length;
      yield chunk;
    }
  }
  await writeFile(file, counted(), {
    mode,
    fsync: !values['no-fsync'],
    overwrite: !values['no-clobber'],
    logger: envLogger(io),
    signal: io.signal,
  });
  if (values.json) printJson(io, { path: file, bytes });
  return EXIT.ok;
}

/** FILE's content in chunks, or nothing when FILE does not exist (-a creates it then). */
function* oldContent(file: string): Generator<Uint8Array> {
  let fd: number;
  try {
    fd = realOps.sync.open(file, O.RDONLY, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  try {
    for (;;) {
      const buf = new Uint8Array(1 << 16);
      const n = realOps.sync.read(fd, buf, 0, buf.length, null);
      if (n === 0) return;
      yield buf.subarray(0, n);
    }
  } finally {
    realOps.sync.close(fd);
  }
}
