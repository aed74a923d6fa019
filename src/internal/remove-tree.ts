/**
 * Recursive removal through the seam.
 *
 * @module
 */
import * as path from 'node:path';
import type { AsyncFsOps, FileStat } from './fs-ops.js';

const errCode = (e: unknown): string | undefined => (e as NodeJS.ErrnoException).code;

/** rm -r through the seam, never following symlinks (a symlink is unlinked, not entered). */
export async function removeTree(sys: AsyncFsOps, target: string): Promise<void> {
  let st: FileStat;
  try {
    st = await sys.lstat(target);
  } catch (e) {
    if (errCode(e) === 'ENOENT') return;
    throw e;
  }
  if (!st.isDirectory()) {
    await sys.unlink(target);
    return;
  }
  for (const d of await sys.readdir(target)) await removeTree(sys, path.join(target, d.name));
  await sys.rmdir(target);
}
