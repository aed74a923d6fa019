/**
 * `vfs.writeFile` on a mount without an atomic write of its own: a temp entry beside the
 * file, renamed over it (atomic wherever the mount's rename is), or, on a mount without
 * rename, the file rewritten in place (not atomic, as the README says).
 *
 * @module
 * @internal
 */
import { attachSuppressed, type ErrorContext } from '../errors.js';
import { throwIfAborted } from '../internal/abort.js';
import type { RandomSource } from '../internal/temp-name.js';
import type { CallIn } from './file-handle.js';
import { hasMetadata, hasRename, isConditional, type VirtualMount, type VStat, type WriteCondition } from './mount.js';
import { createTemp } from './rename-copy.js';
import { translate } from './vfs-errors.js';

/** What the write knows by the time it gets here (the checks are done). @internal */
export interface PlainWrite {
  /** The file as it was looked at, if it was there. */
  readonly existing: VStat | undefined;
  /** The mode asked for, if any. */
  readonly mode: number | undefined;
  readonly cond: WriteCondition;
  readonly random: RandomSource;
  readonly signal: AbortSignal | undefined;
  readonly ctx: ErrorContext;
}

/**
 * Writes `bytes` as the whole content of `rel`: through a temp and a rename when the
 * mount can rename (the condition, if any, checked by that rename), else in place. A
 * failure removes the temp. @internal
 */
export async function writeInPlaceOrByTemp(m: VirtualMount, rel: string, bytes: Uint8Array, w: PlainWrite, call: CallIn): Promise<void> {
  const { existing, mode, cond, random, signal, ctx } = w;
  const keepMode = mode ?? existing?.mode;
  if (!hasRename(m)) {
    await call(async () => {
      if (existing === undefined) await m.create(rel, { dir: false, mode });
      else await m.truncate(rel, 0);
      if (bytes.length > 0) await m.write(rel, bytes, { offset: 0 });
      if (mode !== undefined && hasMetadata(m)) await m.setMetadata(rel, { mode });
    }, ctx);
    return;
  }
  const tmp = await call(() => createTemp(m, rel, { dir: false, mode: keepMode }, random, signal, ctx), ctx);
  try {
    if (bytes.length > 0) await m.write(tmp, bytes, { offset: 0 });
    // The mode is set explicitly too: `create` may apply a umask.
    if (keepMode !== undefined && hasMetadata(m)) await m.setMetadata(tmp, { mode: keepMode });
    // Last chance to cancel: after the rename the write has happened.
    throwIfAborted(signal, ctx);
    // A condition goes with the publishing rename, which checks it atomically.
    if (isConditional(cond)) await m.rename(tmp, rel, cond);
    else await m.rename(tmp, rel);
  } catch (e) {
    const err = translate(e, ctx);
    let cleanup: unknown;
    try {
      await m.delete(tmp);
    } catch (c) {
      cleanup = c;
    }
    throw attachSuppressed(err, cleanup);
  }
}
