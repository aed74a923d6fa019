/**
 * `atomfs cleanup DIR`: remove temp files left by killed processes.
 *
 * @module
 */
import { cleanupOrphans } from '../../temp/cleanup-orphans.js';
import { parseVerb } from '../args.js';
import { envLogger, EXIT, parseDuration, printJson, UsageError, type CliIo } from '../util.js';

export const HELP = `Usage: atomfs cleanup [options] DIR

Removes atomfs temp files (.<name>.<16 hex>.tmp) older than --older-than from DIR:
the leftovers of writes and moves whose process was killed. Nothing else is ever
removed, and no symlink is followed.

Options:
  --older-than DURATION   only temps older than this (default 1h; e.g. 10m, 2d, 30s)
  --recursive             also in sub-folders
  --dry-run               list what would be removed, remove nothing
  --json                  print {"removed": [...], "kept": N}
                          (with --dry-run: {"wouldRemove": [...], "kept": N});
                          an error as {"error": {"code", "message", "path"}}
  -h, --help              show this help

Examples:
  atomfs cleanup /var/lib/app
  atomfs cleanup --recursive --older-than 10m --dry-run /srv/data
`;

/** The verb's options, for node:util parseArgs. */
export const OPTIONS = {
    'older-than': { type: 'string' },
    recursive: { type: 'boolean' },
    'dry-run': { type: 'boolean' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  } as const;

export async function run(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseVerb(args, OPTIONS);
  if (values.help) {
    io.stdout.write(HELP);
    return EXIT.ok;
  }
  if (positionals.length !== 1) throw new UsageError('cleanup takes exactly one DIR');
  const result = await cleanupOrphans(positionals[0]!, {
    olderThan: values['older-than'] === undefined ? undefined : parseDuration('--older-than', values['older-than']),
    recursive: values.recursive === true,
    dryRun: values['dry-run'] === true,
    logger: envLogger(io),
    signal: io.signal,
  });
  // A dry run removed nothing: its JSON must not say "removed".
  if (values.json) printJson(io, values['dry-run'] ? { wouldRemove: result.removed, kept: result.kept } : result);
  else {
    for (const p of result.removed) io.stdout.write(`${values['dry-run'] ? 'would remove' : 'removed'} ${p}\n`);
    if (result.kept > 0) io.stderr.write(`kept ${result.kept} temp file(s) younger than the limit\n`);
  }
  return EXIT.ok;
}
