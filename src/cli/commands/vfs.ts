/**
 * `atomfs vfs ls|stat|cat|put|mv|rm`: the virtual file system from the shell, over mounts
 * named by URL (`--mount /shared=postgres://…`, `file:///srv`, `memory:`), so a namespace
 * that several hosts share (a PostgresMount) is usable from a script.
 *
 * @module
 */
import { AtomfsError, codeOf } from '../../errors.js';
import { O, realOps } from '../../internal/fs-ops.js';
import { cryptoRandom, randomHex, tempNameFor } from '../../internal/temp-name.js';
import type { VStat } from '../../vfs/mount.js';
import type { VirtualFileHandle } from '../../vfs/file-handle.js';
import type { VirtualFileSystem } from '../../vfs/vfs.js';
import { baseName, joinPath, normalizeVirtual, parentOf, ROOT } from '../../vfs/vpath.js';
import { writeFile } from '../../write/write-file.js';
import { didYouMean, parseVerb } from '../args.js';
import { orAbort, throwIfAborted } from '../abort-race.js';
import { progressBar, type Progress } from '../progress.js';
import { EXIT, printJson, UsageError, type CliIo } from '../util.js';
import { MOUNTS_ENV, mountAll, mountOf, type MountedVfs } from '../vfs-mounts.js';

const MOUNT_HELP = `Mounts (every subcommand; repeat --mount for several):
  --mount PREFIX=URL  mount URL at the virtual folder PREFIX (absolute, e.g. /shared):
                        file:///srv/data       a local folder (LocalMount; nothing
                                               under PREFIX can reach outside it)
                        postgres://user@host/db  a PostgreSQL database (PostgresMount;
                                               postgresql:// too; needs the pg driver,
                                               loaded only for such a mount)
                        memory:                an empty in-memory folder: it lives only
                                               as long as this one command, so it is of
                                               use only as a scratch target
                      a trailing :ro mounts it read-only (every change fails with
                      EROFS): --mount /srv=file:///srv:ro; write a name that really
                      ends in ':ro' percent-encoded (%3Aro)
  --read-only         every mount read-only
  --schema NAME       the schema of every postgres:// mount (default atomfs)
  Without --mount, the mounts come from ${MOUNTS_ENV} (specs separated by spaces).`;

export const HELP = `Usage: atomfs vfs <subcommand> [options] --mount PREFIX=URL ...

The virtual file system from the shell: one namespace over local folders and
PostgreSQL databases, with the VFS's rules (checked renames, atomic writes).

Subcommands:
  ls [PATH]           the names in a folder (-l long form, -R recursive)
  stat PATH           kind, size, modification time, mode and version
  cat PATH            a file's bytes to stdout (or -o FILE, written atomically)
  put PATH [FILE]     stdin (or a local FILE) into PATH, atomically
  mv SRC DEST         rename (--overwrite; --cross-mount to copy between mounts)
  rm PATH...          remove files (-r folders too, -f ignore missing ones)

${MOUNT_HELP}

Common options:
  --json              machine-readable output, one JSON line (see each subcommand's
                      --help); an error as {"error": {"code", "message", "path"}}
  -h, --help          show help (atomfs vfs SUBCOMMAND --help for one subcommand)

Exit codes: 0 success, 1 the operation failed, 2 bad usage (a bad URL too), 128+N
interrupted by signal N (a put or cat in progress removes what it made).

Examples:
  atomfs vfs --mount /shared=postgres://app@db/files ls -l /shared
  tar c photos | atomfs vfs --mount /s=postgres://app@db/files put -p /s/backup/photos.tar
  atomfs vfs --mount /pg=postgres://db/files --mount /disk=file:///srv \\
    mv --cross-mount /pg/report.pdf /disk/report.pdf
`;

const SUB_HELP: Readonly<Record<string, string>> = {
  ls: `Usage: atomfs vfs ls [options] [PATH]

Lists the names in the folder PATH (default /), sorted; PATH a file: that file.

Options:
  -l, --long          one line per entry: kind and mode, size, modification time
                      (UTC), version (where the mount keeps one, else -), name
  -R, -r, --recursive list the folders below too (names as paths relative to PATH)
  --json              {"path", "entries": [{"name", "path", "kind", "size",
                      "mtimeMs", "mode", "version"}]} (mode and version null where
                      the mount keeps none)
`,
  stat: `Usage: atomfs vfs stat [options] PATH

Prints what is at PATH: kind (file or dir), size, modification time, mode and
version (an opaque string that changes with every change of the entry).

Options:
  --json              {"path", "kind", "size", "mtimeMs", "mtime", "mode", "version"}
`,
  cat: `Usage: atomfs vfs cat [options] PATH

Writes the file PATH to stdout, read in chunks (big files in bounded memory), with a
progress bar on a terminal for a big file when stdout is not one.

Options:
  -o, --output FILE   write a local FILE instead, atomically (a temp file renamed
                      into place; interrupted, FILE keeps its old content)
  --no-progress       no progress bar
  --json              with -o: {"path", "output", "bytes"}; without: {"path",
                      "bytes", "base64"} (the content, for small files)
`,
  put: `Usage: atomfs vfs put [options] PATH [FILE]

Reads stdin (or the local FILE; '-' is stdin) to its end into the virtual file PATH,
atomically: readers see the old content or the new, never a part. Small input is one
vfs.writeFile (one transaction on PostgreSQL); big input is streamed in chunks. On
PostgreSQL it goes straight to PATH through a handle whose writes are staged until the
end and published in one transaction (a new PATH appears only then); elsewhere into a
temp entry beside PATH (.<name>.<16 hex>.tmp), renamed over PATH at the end.
Interrupted (Ctrl-C, SIGTERM, SIGHUP), nothing is published, the temp and the folders
-p made are removed, and PATH keeps its old content. After a kill -9, on PostgreSQL
nothing is left at PATH (the staged chunks are removed once their lease runs out);
elsewhere only the temp is left behind.

Options:
  -p, --parents, --mkdir  create PATH's missing parent folders
  -n, --no-clobber    fail with EEXIST if PATH exists (checked atomically at the end)
  --no-progress       no progress bar (drawn only on a terminal, for big input)
  --json              {"path", "bytes"}
`,
  mv: `Usage: atomfs vfs mv [options] SRC DEST

Renames SRC to DEST with the VFS's checks (vfs.rename): atomic within a mount that
renames natively (PostgreSQL: one UPDATE, whatever a folder holds). DEST is the new
path; a DEST ending in '/' is a folder to move SRC into under its own name.

Options:
  -f, --overwrite     replace an existing DEST (a file, or an empty folder)
  --cross-mount       allow SRC and DEST on different mounts: a copy, then the
                      source is removed; not atomic, but a failure or an interrupt
                      rolls back (without it: EXDEV)
  --json              {"src", "dest", "crossMount"}
`,
  rm: `Usage: atomfs vfs rm [options] PATH...

Removes files. A folder needs -r, which removes what it holds first (not atomic:
an interrupt leaves the part not yet removed).

Options:
  -r, -R, --recursive remove folders and their content
  -f, --force         a missing PATH is no error
  --json              one line per PATH: {"path", "removed"} (entries removed)
`,
};

/** The options of every subcommand (one parse; each subcommand then allows its own). */
export const OPTIONS = {
  mount: { type: 'string', multiple: true },
  'read-only': { type: 'boolean' },
  schema: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  long: { type: 'boolean', short: 'l' },
  recursive: { type: 'boolean', short: 'r' },
  R: { type: 'boolean', short: 'R' },
  force: { type: 'boolean', short: 'f' },
  overwrite: { type: 'boolean' },
  'cross-mount': { type: 'boolean' },
  'no-clobber': { type: 'boolean', short: 'n' },
  parents: { type: 'boolean', short: 'p' },
  mkdir: { type: 'boolean' },
  output: { type: 'string', short: 'o' },
  'no-progress': { type: 'boolean' },
} as const;

type OptionName = keyof typeof OPTIONS;
const COMMON: readonly OptionName[] = ['mount', 'read-only', 'schema', 'json', 'help'];
const ALLOWED: Readonly<Record<string, readonly OptionName[]>> = {
  ls: ['long', 'recursive', 'R'],
  stat: [],
  cat: ['output', 'no-progress'],
  put: ['parents', 'mkdir', 'no-clobber', 'no-progress'],
  mv: ['force', 'overwrite', 'cross-mount'],
  rm: ['recursive', 'R', 'force'],
};

/** Bytes per handle call: a multiple of PostgresMount's 256 KiB chunk, and bounded memory. */
const BATCH = 1 << 20;
/** Below this, a cat or put draws no bar: it is over before one would help. */
const BAR_MIN = 8 << 20;

type Values = ReturnType<typeof parseVerb<typeof OPTIONS>>['values'];

export async function run(args: string[], io: CliIo): Promise<number> {
  const { values, positionals, tokens } = parseVerb(args, OPTIONS);
  const sub = positionals[0];
  if (sub === undefined) {
    if (values.help) {
      io.stdout.write(HELP);
      return EXIT.ok;
    }
    throw new UsageError(`vfs needs a subcommand: ${Object.keys(ALLOWED).join(', ')}`);
  }
  const allowed = ALLOWED[sub];
  if (allowed === undefined) throw new UsageError(`unknown vfs subcommand '${sub}'${didYouMean(sub, Object.keys(ALLOWED))}`);
  if (values.help) {
    io.stdout.write(SUB_HELP[sub]!);
    return EXIT.ok;
  }
  for (const t of tokens) {
    if (t.kind !== 'option') continue;
    if (!COMMON.includes(t.name as OptionName) && !allowed.includes(t.name as OptionName)) {
      throw new UsageError(`option '${t.rawName}' is not an option of 'vfs ${sub}' (see 'atomfs vfs ${sub} --help')`);
    }
  }
  const rest = positionals.slice(1);
  checkArity(sub, rest);
  const paths = (sub === 'put' ? rest.slice(0, 1) : rest).map((p) => virtualPath(p));
  const mounted = await mountAll({ mounts: values.mount ?? [], env: io.env, readOnly: values['read-only'] === true, schema: values.schema });
  // PostgreSQL's idle connections are unref'd: the command keeps the process alive itself.
  const alive = mounted.specs.some((s) => s.kind === 'postgres') ? setInterval(() => undefined, 1 << 30) : undefined;
  try {
    switch (sub) {
      case 'ls':
        return await ls(mounted.vfs, paths[0] ?? ROOT, values, io);
      case 'stat':
        return await stat(mounted.vfs, paths[0]!, values, io);
      case 'cat':
        return await cat(mounted.vfs, paths[0]!, values, io);
      case 'put':
        return await put(mounted, paths[0]!, rest[1], values, io);
      case 'mv':
        return await mv(mounted, rest[0]!, rest[1]!, values, io);
      default:
        return await rm(mounted.vfs, paths, values, io);
    }
  } finally {
    await mounted.close();
    clearInterval(alive);
  }
}

function checkArity(sub: string, rest: readonly string[]): void {
  const [min, max, what] = ({ ls: [0, 1, '[PATH]'], stat: [1, 1, 'PATH'], cat: [1, 1, 'PATH'], put: [1, 2, 'PATH [FILE]'], mv: [2, 2, 'SRC DEST'], rm: [1, Infinity, 'PATH...'] } as const)[sub as 'ls']!;
  if (rest.length < min || rest.length > max) throw new UsageError(`vfs ${sub} takes ${what}, got ${rest.length === 0 ? 'none' : rest.map((r) => `'${r}'`).join(' ')}`);
}

/** A virtual path as the VFS takes it; a relative one is bad usage (there is no working folder). */
function virtualPath(p: string): string {
  if (!p.startsWith('/')) throw new UsageError(`virtual paths are absolute (there is no working folder): '${p}' (did you mean '/${p}'?)`);
  return p;
}

// ---- output helpers --------------------------------------------------------------------

interface Entry {
  readonly name: string;
  readonly path: string;
  readonly st: VStat;
}

function statJson(path: string, st: VStat): Record<string, unknown> {
  return { path, kind: st.kind, size: st.size, mtimeMs: st.mtimeMs, mtime: new Date(st.mtimeMs).toISOString(), mode: st.mode ?? null, version: st.version ?? null };
}

function modeText(kind: VStat['kind'], mode: number | undefined): string {
  const k = kind === 'dir' ? 'd' : '-';
  if (mode === undefined) return k + '?????????';
  let s = '';
  for (let i = 8; i >= 0; i--) s += mode & (1 << i) ? 'rwx'[(8 - i) % 3] : '-';
  return k + s;
}

function longLine(e: Entry, sizeWidth: number): string {
  const t = new Date(e.st.mtimeMs).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  return `${modeText(e.st.kind, e.st.mode)} ${String(e.st.size).padStart(sizeWidth)} ${t} ${e.st.version ?? '-'} ${e.name}${e.st.kind === 'dir' ? '/' : ''}\n`;
}

/** Bytes to stdout, waiting for 'drain' when the pipe is full (or the interrupt). */
async function writeOut(io: CliIo, bytes: Uint8Array, path: string): Promise<void> {
  const out = io.stdout as unknown as { write(b: Uint8Array): boolean; once?(ev: 'drain', fn: () => void): unknown };
  if (out.write(bytes) || typeof out.once !== 'function') return;
  await orAbort(new Promise<void>((resolve) => out.once!('drain', resolve)), io.signal, path);
}

// ---- ls, stat ------------------------------------------------------------------------

async function ls(vfs: VirtualFileSystem, path: string, values: Values, io: CliIo): Promise<number> {
  const recursive = values.recursive === true || values.R === true;
  const detailed = values.long === true || values.json === true;
  const top = await vfs.stat(path);
  const entries: Entry[] = [];
  if (top.kind === 'file') entries.push({ name: baseName(normalizeVirtual('vfs.ls', path)), path, st: top });
  else {
    // Depth first, sorted at each level: the order `ls -R` gives, as relative paths.
    const walk = async (dir: string, rel: string): Promise<void> => {
      for (const name of await vfs.list(dir)) {
        throwIfAborted(io.signal, dir);
        const p = joinPath(normalizeVirtual('vfs.ls', dir), name);
        const st = detailed || recursive ? await vfs.stat(p) : ({ kind: 'file', size: 0, mtimeMs: 0 } as VStat);
        const r = rel === '' ? name : `${rel}/${name}`;
        entries.push({ name: r, path: p, st });
        if (recursive && st.kind === 'dir') await walk(p, r);
      }
    };
    await walk(path, '');
  }
  if (values.json) {
    printJson(io, { path, entries: entries.map((e) => ({ name: e.name, ...statJson(e.path, e.st) })) });
    return EXIT.ok;
  }
  const width = Math.max(1, ...entries.map((e) => String(e.st.size).length));
  for (const e of entries) io.stdout.write(values.long ? longLine(e, width) : `${e.name}${recursive && e.st.kind === 'dir' ? '/' : ''}\n`);
  return EXIT.ok;
}

async function stat(vfs: VirtualFileSystem, path: string, values: Values, io: CliIo): Promise<number> {
  const st = await vfs.stat(path);
  const j = statJson(path, st);
  if (values.json) printJson(io, j);
  else {
    const mode = st.mode === undefined ? '-' : `${st.mode.toString(8).padStart(4, '0')} (${modeText(st.kind, st.mode)})`;
    io.stdout.write(`path: ${path}\nkind: ${st.kind}\nsize: ${st.size}\nmtime: ${j['mtime']}\nmode: ${mode}\nversion: ${st.version ?? '-'}\n`);
  }
  return EXIT.ok;
}

// ---- cat -------------------------------------------------------------------------------

async function cat(vfs: VirtualFileSystem, path: string, values: Values, io: CliIo): Promise<number> {
  const h = await vfs.open(path, 'r');
  let bar: Progress | undefined;
  try {
    const size = (await h.stat()).size;
    // On a terminal stdout the bar would be drawn into the bytes: only for a pipe or -o.
    const barWanted = !values.json && !values['no-progress'] && size >= BAR_MIN && (values.output !== undefined || !io.stdout.isTTY);
    bar = progressBar(io, barWanted, 'reading');
    const progress = bar;
    let bytes = 0;
    const signal = io.signal;
    async function* chunks(): AsyncGenerator<Uint8Array> {
      for (;;) {
        throwIfAborted(signal, path);
        const c = await orAbort(h.read(BATCH), signal, path);
        if (c.length === 0) return;
        bytes += c.length;
        progress.update(bytes, Math.max(size, bytes));
        yield c;
      }
    }
    if (values.output !== undefined) {
      // Atomic, and with the signal: an interrupt removes the temp, FILE keeps its bytes.
      await writeFile(values.output, chunks(), { signal });
      if (values.json) printJson(io, { path, output: values.output, bytes });
    } else if (values.json) {
      const parts: Uint8Array[] = [];
      for await (const c of chunks()) parts.push(c);
      printJson(io, { path, bytes, base64: Buffer.concat(parts).toString('base64') });
    } else {
      for await (const c of chunks()) await writeOut(io, c, path);
    }
    return EXIT.ok;
  } finally {
    bar?.stop();
    await h.close();
  }
}

// ---- put -------------------------------------------------------------------------------

/** The input in batches of exactly BATCH bytes (the last one shorter), from stdin or a local file. */
async function* input(io: CliIo, file: string | undefined, path: string, total: { size: number | undefined }): AsyncGenerator<Uint8Array> {
  const signal = io.signal;
  if (file !== undefined && file !== '-') {
    const fd = await realOps.async.open(file, O.RDONLY, 0);
    try {
      const st = await realOps.async.fstat(fd);
      if (st.isDirectory()) throw new AtomfsError('EISDIR', 'FILE is a folder', { operation: 'vfs put', path: file, syscall: 'read' });
      if (st.isFile()) total.size = st.size;
      for (;;) {
        throwIfAborted(signal, path);
        const buf = Buffer.allocUnsafe(BATCH);
        let n = 0;
        while (n < BATCH) {
          const got = await realOps.async.read(fd, buf, n, BATCH - n, null);
          if (got === 0) break;
          n += got;
        }
        if (n > 0) yield buf.subarray(0, n);
        if (n < BATCH) return;
      }
    } finally {
      await realOps.async.close(fd);
    }
  }
  const it = (io.stdin as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
  let parts: Uint8Array[] = [];
  let have = 0;
  for (;;) {
    throwIfAborted(signal, path);
    const r = await orAbort(it.next(), signal, path);
    if (r.done) break;
    let c = r.value;
    while (c.length > 0) {
      const take = Math.min(c.length, BATCH - have);
      parts.push(c.subarray(0, take));
      have += take;
      c = c.subarray(take);
      if (have === BATCH) {
        yield Buffer.concat(parts, have);
        parts = [];
        have = 0;
      }
    }
  }
  if (have > 0) yield Buffer.concat(parts, have);
}

/**
 * Creates PATH's missing parent folders one by one, top down, and returns those it made
 * (so an interrupted or failed put removes them again).
 */
async function makeParents(vfs: VirtualFileSystem, path: string): Promise<string[]> {
  const missing: string[] = [];
  for (let dir = parentOf(path); dir !== ROOT; dir = parentOf(dir)) {
    try {
      await vfs.stat(dir);
      break;
    } catch (e) {
      if (codeOf(e) !== 'ENOENT') throw e;
      missing.unshift(dir);
    }
  }
  const made: string[] = [];
  try {
    for (const dir of missing) {
      try {
        await vfs.mkdir(dir);
        made.push(dir);
      } catch (e) {
        // Made by someone else meanwhile: theirs, not ours to remove.
        if (codeOf(e) !== 'EEXIST') throw e;
      }
    }
  } catch (e) {
    await unmake(vfs, made);
    throw e;
  }
  return made;
}

/** Removes folders a put made, deepest first; one that is no longer empty stays. */
async function unmake(vfs: VirtualFileSystem, made: readonly string[]): Promise<void> {
  for (const dir of [...made].reverse()) await vfs.remove(dir).catch(() => undefined);
}

// --no-clobber fails early here; the end of the put checks it again, atomically.
async function refuseExisting(vfs: VirtualFileSystem, path: string): Promise<void> {
  const there = await vfs.stat(path).then(() => true, (e: unknown) => (codeOf(e) === 'ENOENT' ? false : Promise.reject(e)));
  if (there) throw new AtomfsError('EEXIST', undefined, { operation: 'vfs put', path });
}

async function put(mounted: MountedVfs, path: string, file: string | undefined, values: Values, io: CliIo): Promise<number> {
  const vfs = mounted.vfs;
  const dest = normalizeVirtual('vfs.put', path);
  if (dest === ROOT) throw new AtomfsError('EISDIR', undefined, { operation: 'vfs put', path });
  // A mount whose handles are staged until close (PostgreSQL; a file one creates appears
  // only then): PATH is written straight, and a put killed midway leaves nothing there.
  const staged = mounted.stagedAt(dest);
  const noClobber = values['no-clobber'] === true;
  const signal = io.signal;
  const total: { size: number | undefined } = { size: undefined };
  const source = input(io, file, path, total);
  let bytes = 0;
  let bar: Progress | undefined;
  let made: string[] = [];
  let tmp: string | undefined;
  let h: VirtualFileHandle | undefined;
  try {
    const first = await source.next();
    const second = first.done ? first : await source.next();
    if (values.parents || values.mkdir) made = await makeParents(vfs, dest);
    if (noClobber) await refuseExisting(vfs, path);
    if (second.done && !noClobber) {
      // All of it fits in one batch: one vfs.writeFile, atomic on every mount (one
      // transaction on PostgreSQL, temp and rename elsewhere).
      const data = first.done ? new Uint8Array(0) : first.value;
      throwIfAborted(signal, path);
      await vfs.writeFile(path, data, { signal });
      bytes = data.length;
    } else {
      // Streamed into a temp entry beside PATH, renamed over it at the end (or, staged,
      // into PATH itself, published at close).
      if (staged) h = await vfs.open(path, noClobber ? 'wx' : 'w');
      else {
        tmp = joinPath(parentOf(dest), tempNameFor(baseName(dest), randomHex(cryptoRandom)));
        h = await vfs.open(tmp, 'wx');
      }
      bar = progressBar(io, !values.json && !values['no-progress'], 'writing');
      const write = async (c: Uint8Array): Promise<void> => {
        throwIfAborted(signal, path);
        await h!.write(c);
        bytes += c.length;
        // Input of unknown size (stdin) gets its bar once it is big: small input never loads it.
        if (Math.max(total.size ?? 0, bytes) >= BAR_MIN) bar!.update(bytes, Math.max(total.size ?? bytes, bytes));
      };
      if (!first.done) await write(first.value);
      if (!second.done) await write(second.value);
      for (let r = await source.next(); !r.done; r = await source.next()) await write(r.value);
      if (staged) {
        // An interrupt before the close publishes nothing.
        throwIfAborted(signal, path);
        const done = h;
        h = undefined;
        await done.close();
      } else {
        await h.close();
        throwIfAborted(signal, path);
        await vfs.rename(tmp!, dest, { overwrite: !noClobber });
        tmp = undefined;
      }
    }
  } catch (e) {
    // A staged handle closed here would publish what it has: drop it instead.
    if (staged) await h?.discard();
    else await h?.close();
    if (tmp !== undefined) {
      const t = tmp;
      await vfs.remove(t).catch(() => undefined);
    }
    await unmake(vfs, made);
    throw e;
  } finally {
    bar?.stop();
    await source.return(undefined);
  }
  if (values.json) printJson(io, { path, bytes });
  return EXIT.ok;
}

// ---- mv, rm ----------------------------------------------------------------------------

async function mv(mounted: MountedVfs, src: string, destArg: string, values: Values, io: CliIo): Promise<number> {
  virtualPath(src);
  virtualPath(destArg);
  const dest = destArg.endsWith('/') ? joinPath(normalizeVirtual('vfs.mv', destArg), baseName(normalizeVirtual('vfs.mv', src))) : destArg;
  const a = mountOf(mounted.specs, normalizeVirtual('vfs.mv', src));
  const b = mountOf(mounted.specs, normalizeVirtual('vfs.mv', dest));
  await mounted.vfs.rename(src, dest, { overwrite: values.overwrite === true || values.force === true, allowCrossMount: values['cross-mount'] === true, signal: io.signal });
  if (values.json) printJson(io, { src, dest, crossMount: a !== b });
  return EXIT.ok;
}

async function rm(vfs: VirtualFileSystem, paths: readonly string[], values: Values, io: CliIo): Promise<number> {
  const recursive = values.recursive === true || values.R === true;
  for (const path of paths) {
    let st: VStat;
    try {
      st = await vfs.stat(path);
    } catch (e) {
      if (values.force && codeOf(e) === 'ENOENT') {
        if (values.json) printJson(io, { path, removed: 0 });
        continue;
      }
      throw e;
    }
    if (st.kind === 'dir' && !recursive) throw new AtomfsError('EISDIR', 'a folder: use -r to remove it and its content', { operation: 'vfs rm', path });
    let removed = 0;
    const removeTree = async (p: string, kind: VStat['kind']): Promise<void> => {
      if (kind === 'dir') {
        for (const name of await vfs.list(p)) {
          const child = joinPath(normalizeVirtual('vfs.rm', p), name);
          await removeTree(child, (await vfs.stat(child)).kind);
        }
      }
      throwIfAborted(io.signal, p);
      await vfs.remove(p);
      removed++;
    };
    await removeTree(path, st.kind);
    if (values.json) printJson(io, { path, removed });
  }
  return EXIT.ok;
}
