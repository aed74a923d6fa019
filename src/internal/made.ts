/**
 * Classes that are exported (for `instanceof` and their types) but made only by atomfs
 * itself: `Lock` by `lock()`, `AtomicFile` by `openAtomic()`, `StagingArea` by
 * `createStagingArea()`, `StagedFile` by `area.write()`, `VirtualFileHandle` by `vfs.open()`.
 * `new Lock({})` from outside would make a lock that holds nothing and whose heartbeat
 * throws later, far from the call: each such constructor checks that its first argument
 * came from its maker, and is otherwise `EINVAL` before anything happens.
 *
 * @module
 */
import { AtomfsError } from '../errors.js';

const made = new WeakSet<object>();

/** Marks the object a maker passes as an internal constructor's first argument. */
export function madeHere<T extends object>(o: T): T {
  made.add(o);
  return o;
}

/** Throws `EINVAL` unless `o` was marked by {@link madeHere}. */
export function assertMade(o: unknown, cls: string, maker: string): void {
  // WeakSet#has looks at identity only: no trap of a Proxy runs.
  if (typeof o !== 'object' || o === null || !made.has(o)) {
    throw new AtomfsError('EINVAL', `a ${cls} is made by ${maker}, not by new ${cls}()`, { operation: cls });
  }
}
