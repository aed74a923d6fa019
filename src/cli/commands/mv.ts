/**
 * `atomfs mv SRC... DEST`: crash-safe moves, like mv(1).
 *
 * @module
 */
import * as path from 'node:path';
import { AtomfsError } from '../../errors.js';
import { realOps } from '../../internal/fs-ops.js';
import { move, type MoveResult, type MoveStrategy, type MoveVerify } from '../../move/move.js';
import { parseVerb } from '../args.js';
import { progressBar } from '../progress.js';
import { envLogger, EXIT, printJson, UsageError, type CliIo } from '../util.js';

export const HELP = `Usage: atomfs mv [options] SRC DEST
       atomfs mv [options] SRC... DIR

Moves files, folders and symlinks so that no data is ever lost: on one device by one
atomic rename; across devices by a copy into a temp name beside DEST, flushed and
verified, renamed into place, and only then is SRC removed. If the command is killed,
running it again finishes the move.

As with mv(1): with several sources, or when DEST is an existing folder (or ends in
'/'), each SRC moves into it under its own name.

Options:
  -f, --overwrite, --force  replace an existing destination (atomically for files);
                           without it an existing destination fails with EEXIST
  -n, --no-clobber         skip a SRC whose destination exists (exit 0); the last of
                           -f and -n wins, as for mv(1)
  -t, --target-directory DIR  move every SRC into DIR
  --verify size|checksum|none
                           check the copy before publishing it (default size)
  --strategy auto|hardlink|copy
                           auto: rename, copy across devices (default);
                           hardlink: link then unlink; copy: always copy
  -T, --no-target-directory  treat DEST as the destination itself, never a folder to move into
  --no-fsync               skip the flushes (still atomic, not durable)
  --no-progress            no progress bar (it is shown only on a terminal anyway)
  -v, --verbose            print renamed 'SRC' -> 'DEST' for each move
  --json                   print one JSON line per move: {src, dest, strategy, bytes, files},
                           and sha256 for a single file copied with --verify checksum;
                           an error as {"error": {"code", "message", "path"}}
  -h, --help               show this help

Examples:
  atomfs mv /mnt/cache/film.mkv /mnt/array/films/
  atomfs mv --verify checksum --json photos/ /backup/photos-2026
`;

/** The verb's options, for node:util parseArgs. */
export const OPTIONS = {
    overwrite: { type: 'boolean', short: 'f' },
  force: { type: 'boolean' },
    'no-clobber': { type: 'boolean', short: 'n' },
    'target-directory': { type: 'string', short: 't' },
    verbose: { type: 'boolean', short: 'v' },
    verify: { type: 'string' },
    strategy: { type: 'string' },
    'no-target-directory': { type: 'boolean', short: 'T' },
    'no-fsync': { type: 'boolean' },
    'no-progress': { type: 'boolean' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  } as const;

export async function run(args: string[], io: CliIo): Promise<number> {
  const { values, positionals, tokens } = parseVerb(args, OPTIONS);
  if (values.help) {
    io.stdout.write(HELP);
    return EXIT.ok;
  }
  const targetDir = values['target-directory'];
  if (targetDir !== undefined && values['no-target-directory']) throw new UsageError('-t and -T cannot be combined');
  if (targetDir !== undefined ? positionals.length < 1 : positionals.length < 2) throw new UsageError('mv needs a SRC and a DEST');
  // -f and -n: the last one given wins, as for mv(1).
  const clobber = tokens.filter((t) => t.kind === 'option' && (t.name === 'overwrite' || t.name === 'force' || t.name === 'no-clobber')).at(-1);
  const overwrite = clobber?.kind === 'option' && (clobber.name === 'overwrite' || clobber.name === 'force');
  const noClobber = clobber?.kind === 'option' && clobber.name === 'no-clobber';
  const verify = values.verify ?? 'size';
  if (!['size', 'checksum', 'none'].includes(verify)) throw new UsageError(`--verify takes size, checksum or none, got '${verify}'`);
  const strategy = values.strategy ?? 'auto';
  if (!['auto', 'hardlink', 'copy'].includes(strategy)) throw new UsageError(`--strategy takes auto, hardlink or copy, got '${strategy}'`);
  const sources = targetDir !== undefined ? positionals : positionals.slice(0, -1);
  const dest = targetDir !== undefined ? (targetDir.endsWith('/') ? targetDir : targetDir + '/') : positionals[positionals.length - 1]!;

  let destIsDir = false;
  try {
    destIsDir = realOps.sync.stat(dest).isDirectory();
  } catch {
    destIsDir = false;
  }
  const noTarget = values['no-target-directory'] === true;
  if (noTarget && sources.length > 1) throw new UsageError('-T takes exactly one SRC');
  const intoDir = !noTarget && (sources.length > 1 || destIsDir || dest.endsWith('/'));
  if (intoDir && !destIsDir) {
    // mv(1): a trailing slash or several sources need an existing folder.
    throw new AtomfsError(sources.length > 1 ? 'ENOTDIR' : 'ENOENT', `target '${dest}' is not an existing folder`, { operation: 'mv', path: dest });
  }

  let failed = false;
  const bar = progressBar(io, !values.json && !values['no-progress'], 'moving');
  const logger = envLogger(io);
  try {
    for (const src of sources) {
      const to = intoDir ? path.join(dest, path.basename(path.resolve(src))) : dest;
      const sst = lstatOrUndefined(src);
      const dst = lstatOrUndefined(to);
      if (sst && dst && sst.dev === dst.dev && sst.ino === dst.ino) {
        // GNU mv: moving a file onto itself (or a hard link of it) is an error, exit 1.
        const message = `'${src}' and '${to}' are the same file`;
        io.stderr.write(`atomfs: mv: ${message}\n`);
        if (values.json) printJson(io, { error: { code: 'EINVAL', message, path: src } });
        failed = true;
        continue;
      }
      if (noClobber && dst) continue;
      const result: MoveResult = await move(src, to, {
        overwrite,
        verify: verify as MoveVerify,
        strategy: strategy as MoveStrategy,
        fsync: !values['no-fsync'],
        logger,
        signal: io.signal,
        onProgress: (p) => bar.update(p.bytes, p.totalBytes),
      });
      // A rename moves the bytes without copying them; report them all the same.
      const bytes = result.strategy === 'rename' && sst?.isFile() ? sst.size : result.bytes;
      if (values.json) printJson(io, { src, dest: to, ...result, bytes });
      else if (values.verbose) io.stdout.write(`renamed '${src}' -> '${to}'\n`);
    }
  } finally {
    bar.stop();
  }
  return failed ? EXIT.failed : EXIT.ok;
}

function lstatOrUndefined(p: string): ReturnType<typeof realOps.sync.stat> | undefined {
  try {
    return realOps.sync.lstat(p);
  } catch {
    return undefined;
  }
}
