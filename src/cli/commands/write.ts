/**
 * `atomfs write FILE`: stdin to FILE, atomically and durably (a crash-safe sponge).
 *
 * @module
 */
import { parseArgs } from 'node:util';
import { writeFile } from '../../write/write-file.js';
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
  --json            print {"path", "bytes"} when done
  -h, --help        show this help

Examples:
  jq '.version = "2"' package.json | atomfs write package.json
  printf 'ready\\n' | atomfs write --no-clobber --mode 600 /run/app/state
`;

export async function run(args: string[], io: CliIo): Promise<number> {
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
    io.stdout.write(HELP);
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
  const stdin = io.stdin as AsyncIterable<Uint8Array>;
  async function* counted(): AsyncGenerator<Uint8Array> {
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
