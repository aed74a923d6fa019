/**
 * Rename by copy and delete, for a mount without a native rename (or across mounts), with
 * a rollback journal: every step that changes something first records how to undo it; if
 * a later step fails (or the signal fires), the undo steps run newest first, so the
 * source ends intact and no partial destination remains.
 *
 * Order of work, so the data always exists completely somewhere:
 * 1. walk the source (nothing changed yet);
 * 2. copy it: into a temp name beside the destination when the destination mount can
 *    rename (published by one atomic rename), else straight to the destination name;
 *    an existing destination being replaced is first set aside under a temp name;
 * 3. delete the source, children before parents; each deletion's undo re-creates the
 *    entry from the (complete) copy;
 * 4. drop the set-aside old destination: the last step.
 *
 * If an undo step itself fails, the rollback stops at once rather than continue: the next
 * undo could delete the only remaining copy of something. Nothing is lost then (every
 * byte is at the source, the destination or the temp name), and the caller reports both
 * errors.
 *
 * Modification times and modes are copied where the destination mount has the
 * `metadata` capability: files right after their content, folders after their children
 * (adding a child changes a folder's time).
 *
 * @module
 */
import { throwIfAborted } from '../internal/abort.js';
import type { ErrorContext } from '../errors.js';
import { randomHex, tempNameFor, type RandomSource } from '../internal/temp-name.js';
import { codeOf, hasMetadata, hasRename, type CreateOptions, type VirtualMount, type VStat } from './mount.js';
import { baseName, joinPath, parentOf } from './vpath.js';

/** A mount and a mount-relative path in it. */
export interface Loc {
  readonly mount: VirtualMount;
  readonly rel: string;
}

/** How to run a copy-rename. */
export interface CopyRenameOptions {
  /** What is at the destination and will be replaced (`overwrite`), if anything. */
  readonly replace: VStat | undefined;
  /** Source and destination are one entry spelled differently (case-insensitive mount). */
  readonly caseOnly: boolean;
  readonly signal: AbortSignal | undefined;
  /** For the abort error. */
  readonly ctx: ErrorContext;
  readonly random: RandomSource;
}

/** Thrown when a step failed; `rollbackError` is set when undoing failed too. */
export class CopyRenameFailure extends Error {
  constructor(
    readonly error: unknown,
    readonly rollbackError: unknown,
  ) {
    super('copy-rename failed', { cause: error });
  }
}

// One entry of a walked tree, relative to the tree's root ('' is the root itself).
interface Entry {
  readonly sub: string;
  readonly kind: 'file' | 'dir';
  readonly mtimeMs: number;
  readonly mode: number | undefined;
}

type Undo = () => Promise<void>;

const CHUNK = 1 << 20;
const TEMP_ATTEMPTS = 8;

const at = (loc: Loc, sub: string): string => (sub === '' ? loc.rel : joinPath(loc.rel, sub));

class Run {
  readonly #undo: Undo[] = [];
  constructor(readonly o: CopyRenameOptions) {}

  check(): void {
    throwIfAborted(this.o.signal, this.o.ctx);
  }

  push(u: Undo): void {
    this.#undo.push(u);
  }

  async rollback(): Promise<unknown> {
    while (this.#undo.length > 0) {
      const u = this.#undo.pop()!;
      try {
        await u();
      } catch (e) {
        return e ?? new Error('rollback step failed');
      }
    }
    return undefined;
  }
}

async function walk(run: Run, loc: Loc): Promise<Entry[]> {
  const out: Entry[] = [];
  const visit = async (sub: string): Promise<void> => {
    run.check();
    const st = await loc.mount.stat(at(loc, sub));
    out.push({ sub, kind: st.kind, mtimeMs: st.mtimeMs, mode: st.mode });
    if (st.kind !== 'dir') return;
    const names = await loc.mount.list(at(loc, sub));
    for (const name of names.sort()) await visit(sub === '' ? name : `${sub}/${name}`);
  };
  await visit('');
  return out;
}

async function copyContent(run: Run, from: string, fromMount: VirtualMount, to: string, toMount: VirtualMount): Promise<void> {
  for (let offset = 0; ; ) {
    run.check();
    const chunk = await fromMount.read(from, { offset, length: CHUNK });
    if (chunk.length > 0) await toMount.write(to, chunk, { offset });
    offset += chunk.length;
    if (chunk.length < CHUNK) return;
  }
}

async function setMeta(m: VirtualMount, p: string, e: Entry): Promise<void> {
  if (hasMetadata(m)) await m.setMetadata(p, { mtimeMs: e.mtimeMs, mode: e.mode });
}

/**
 * Creates a new entry (`options`: a file or a folder, its mode) under a fresh temp name
 * beside `rel` (`.<name>.<16 hex>.tmp`) and returns its mount-relative path. The create is
 * exclusive, so an existing entry is never reused: a name already taken (`EEXIST`) draws
 * another, up to 8 tries. The signal is checked before each try. Any other error is
 * thrown as the mount threw it.
 * @internal Shared by `vfs.writeFile` (its temp file) and the copy-rename (stage, set-aside).
 */
export async function createTemp(
  m: VirtualMount,
  rel: string,
  options: CreateOptions,
  random: RandomSource,
  signal: AbortSignal | undefined,
  ctx: ErrorContext,
): Promise<string> {
  for (let i = 0; ; i++) {
    throwIfAborted(signal, ctx);
    const name = joinPath(parentOf(rel), tempNameFor(baseName(rel), randomHex(random)));
    try {
      await m.create(name, options);
      return name;
    } catch (e) {
      if (codeOf(e) === 'EEXIST' && i + 1 < TEMP_ATTEMPTS) continue;
      throw e;
    }
  }
}

/** A free temp name beside `rel` (claimed by `create`), for a stage or a set-aside copy. */
async function claim(run: Run, m: VirtualMount, rel: string, kind: 'file' | 'dir'): Promise<string> {
  const name = await createTemp(m, rel, { dir: kind === 'dir' }, run.o.random, run.o.signal, run.o.ctx);
  // Tolerates ENOENT: a later step may have moved what is at the name (its own undo
  // moves it back first, but a placeholder replaced by a rename is simply gone).
  run.push(async () => {
    try {
      await m.delete(name);
    } catch (e) {
      if (codeOf(e) !== 'ENOENT') throw e;
    }
  });
  return name;
}

/** Copies a walked tree; the root is created here unless `rootMade`. */
async function copyTree(run: Run, entries: readonly Entry[], from: Loc, to: Loc, rootMade = false): Promise<void> {
  for (const e of entries) {
    const dst = at(to, e.sub);
    if (!(rootMade && e.sub === '')) {
      run.check();
      // Folders are made with the default mode and get theirs at the end: a read-only
      // folder's mode would stop us filling it.
      await to.mount.create(dst, { dir: e.kind === 'dir' });
      run.push(() => to.mount.delete(dst));
    }
    if (e.kind === 'file') {
      await copyContent(run, at(from, e.sub), from.mount, dst, to.mount);
      await setMeta(to.mount, dst, e);
    }
  }
  for (let i = entries.length - 1; i >= 0; i--) {
    const e = entries[i]!;
    if (e.kind === 'dir') await setMeta(to.mount, at(to, e.sub), e);
  }
}

/** Deletes a walked tree, children first; each deletion's undo re-creates the entry from `restoreFrom`. */
async function deleteTree(run: Run, entries: readonly Entry[], loc: Loc, restoreFrom: Loc): Promise<void> {
  // Runs last in a rollback, after every entry is back: re-creating children changed
  // the folders' times. Best effort: a folder time is not worth stopping a rollback for
  // (a stopped rollback leaves the copy behind).
  run.push(async () => {
    for (let i = entries.length - 1; i >= 0; i--) {
      const e = entries[i]!;
      if (e.kind === 'dir') await setMeta(loc.mount, at(loc, e.sub), e).catch(() => undefined);
    }
  });
  for (let i = entries.length - 1; i >= 0; i--) {
    const e = entries[i]!;
    const p = at(loc, e.sub);
    run.check();
    await loc.mount.delete(p);
    run.push(async () => {
      await loc.mount.create(p, { dir: e.kind === 'dir' });
      if (e.kind === 'file') {
        await copyContent(noAbort(run), at(restoreFrom, e.sub), restoreFrom.mount, p, loc.mount);
        await setMeta(loc.mount, p, e);
      }
    });
  }
}

// Undo steps must run to the end even when the signal has fired.
function noAbort(run: Run): Run {
  return new Run({ ...run.o, signal: undefined });
}

/**
 * Renames `src` to `dst` by copy and delete, rolling back on any failure or abort.
 * The caller (the VFS) has already checked every rename rule.
 *
 * @throws CopyRenameFailure wrapping the step's error (and the rollback's, if any).
 */
export async function renameByCopy(src: Loc, dst: Loc, o: CopyRenameOptions): Promise<void> {
  const run = new Run(o);
  try {
    const entries = await walk(run, src);
    const kind = entries[0]!.kind;
    if (o.caseOnly) {
      // One entry, two spellings, no native rename: through a temp name and back.
      const stage: Loc = { mount: src.mount, rel: await claim(run, src.mount, src.rel, kind) };
      await copyTree(run, entries, src, stage, true);
      await deleteTree(run, entries, src, stage);
      await copyTree(run, entries, stage, dst);
      await deleteTree(run, entries, stage, dst);
      return;
    }
    if (hasRename(dst.mount)) {
      // Copy into a temp name, then publish with one atomic rename: nobody ever sees a
      // half-copied destination.
      const stage: Loc = { mount: dst.mount, rel: await claim(run, dst.mount, dst.rel, kind) };
      await copyTree(run, entries, src, stage, true);
      let aside: string | undefined;
      if (o.replace !== undefined) {
        // Set the old destination aside (claim a name of its kind, rename it over that),
        // so a rollback can put it back.
        aside = await claim(run, dst.mount, dst.rel, o.replace.kind);
        run.check();
        await dst.mount.rename(dst.rel, aside);
        const a = aside;
        run.push(() => dst.mount.rename!(a, dst.rel));
      }
      run.check();
      await dst.mount.rename(stage.rel, dst.rel);
      run.push(() => dst.mount.rename!(dst.rel, stage.rel));
      await deleteTree(run, entries, src, dst);
      // The commit point is behind us: only the set-aside copy (a file or an empty folder:
      // one call) is left to drop.
      if (aside !== undefined) await dst.mount.delete(aside);
      return;
    }
    // No atomic publish on this mount: copy straight to the name, after setting an
    // existing destination aside by copying it (a file or an empty folder).
    let aside: { loc: Loc; entries: Entry[] } | undefined;
    if (o.replace !== undefined) {
      const old = await walk(run, dst);
      const loc: Loc = { mount: dst.mount, rel: await claim(run, dst.mount, dst.rel, old[0]!.kind) };
      await copyTree(run, old, dst, loc, true);
      await deleteTree(run, old, dst, loc);
      aside = { loc, entries: old };
    }
    await copyTree(run, entries, src, dst);
    await deleteTree(run, entries, src, dst);
    if (aside !== undefined) await dst.mount.delete(aside.loc.rel);
  } catch (e) {
    const rollbackError = await run.rollback();
    throw new CopyRenameFailure(e, rollbackError);
  }
}
