/**
 * `atomfs verify FILE...`: validateFile from the shell.
 *
 * @module
 */
import { validateFile } from '../../temp/validate-file.js';
import { parseVerb } from '../args.js';
import { EXIT, parseCount, printJson, UsageError, type CliIo } from '../util.js';

export const HELP = `Usage: atomfs verify [options] FILE...

Checks that each FILE exists, is a regular file, is readable and is valid UTF-8
(and, if asked, parses as JSON, has a size in range, has a SHA-256). Exit 0 when all
are valid, 1 when any is not.

Options:
  --json-parse        the content must parse as JSON
  --binary            do not check UTF-8
  --sha256 HEX        the content must have this SHA-256 (one FILE only)
  --min-size BYTES    smallest acceptable size
  --max-size BYTES    largest acceptable size
  --json              print one JSON line per file: {path, valid, reason, size};
                      an error as {"error": {"code", "message", "path"}}
  -h, --help          show this help

Examples:
  atomfs verify config.json --json-parse
  atomfs verify --binary --sha256 9f86d0... release.tar.gz
`;

/** The verb's options, for node:util parseArgs. */
export const OPTIONS = {
    'json-parse': { type: 'boolean' },
    binary: { type: 'boolean' },
    sha256: { type: 'string' },
    'min-size': { type: 'string' },
    'max-size': { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  } as const;

export async function run(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseVerb(args, OPTIONS);
  if (values.help) {
    io.stdout.write(HELP);
    return EXIT.ok;
  }
  if (positionals.length === 0) throw new UsageError('verify needs at least one FILE');
  if (values.sha256 !== undefined && positionals.length > 1) throw new UsageError('--sha256 takes exactly one FILE');
  if (values.sha256 !== undefined && !/^[0-9a-fA-F]{64}$/.test(values.sha256)) throw new UsageError('--sha256 takes 64 hex digits');
  let allValid = true;
  for (const file of positionals) {
    const r = await validateFile(file, {
      json: values['json-parse'] === true,
      encoding: values.binary ? null : 'utf8',
      sha256: values.sha256,
      minSize: values['min-size'] === undefined ? undefined : parseCount('--min-size', values['min-size']),
      maxSize: values['max-size'] === undefined ? undefined : parseCount('--max-size', values['max-size']),
    });
    allValid &&= r.valid;
    if (values.json) printJson(io, { path: file, ...r });
    else if (r.valid) io.stdout.write(`OK       ${file} (${r.size} bytes)\n`);
    else io.stdout.write(`INVALID  ${file}: ${r.reason}\n`);
  }
  return allValid ? EXIT.ok : EXIT.failed;
}
