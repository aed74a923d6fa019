/**
 * Where a path's lock markers live: inside a folder, beside anything else.
 *
 * @module
 */
import * as path from 'node:path';
import { canonicalPath } from '../internal/canonical.js';
import { call, type Steps } from '../internal/steps.js';
import type { LockPlan } from './plan.js';

/** Where a lock's markers are made, and the other places listed with them. @internal */
export interface Where {
  /** Where our marker is created. */
  readonly dir: string;
  readonly prefix: string;
  /**
   * Other places whose markers count too. A folder's markers live inside it, but a path
   * locked before it existed (as a file) has its markers beside it: a folder lock also
   * lists those, or two holders could each see a clear place of their own.
   */
  readonly also: readonly { readonly dir: string; readonly prefix: string }[];
}

/**
 * Where a path's markers live: inside it when it is a folder, beside it otherwise. A lock
 * inside a folder also lists beside it, and a lock on a path that is missing also lists
 * inside it: the path may turn into a folder while a waiter keeps its `Where`, and a lock
 * taken on either side must be seen from the other. (An existing file is not listed as a
 * folder: that would cost a failing call per attempt for the common case. A file replaced
 * by a folder while a lock on it is waited for is not covered.)
 *
 * @internal
 */
export function* locate(plan: LockPlan): Steps<Where> {
  // Every spelling of one file is one lock: through a symlink to it, a symlink in a parent
  // folder, a dangling link (the file it would create), as writeFile follows them.
  const real = yield* canonicalPath(plan.abs, { operation: 'lock', path: plan.given });
  const beside = { dir: path.dirname(real), prefix: `.${path.basename(real)}.lock-` };
  const inside = { dir: real, prefix: '.lock-' };
  try {
    const st = yield* call('stat', real);
    return st.isDirectory() ? { ...inside, also: [beside] } : { ...beside, also: [] };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  return { ...beside, also: [inside] };
}
