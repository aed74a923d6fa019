/**
 * Resolves the path and options of a lock call into the plan the acquisition runs on.
 *
 * @module
 */
import { AtomfsError } from '../errors.js';
import { textOf, validateUserPath } from '../internal/paths.js';
import { BASE_NAMES, boolOpt, checkOptionsObject, enumOpt, msOpt, optionNames, resolveBase, type ResolvedBase } from '../options.js';
import type { LockMode } from './markers.js';
import { storeDriver, type StoreDriver } from './store.js';

const LOCK_NAMES = optionNames(BASE_NAMES, ['mode', 'timeout', 'retryInterval', 'stale', 'onCompromised', 'leaseOnly', 'blocking', 'store']);
// Options that only mean something for marker files.
const FILE_ONLY = ['fs', 'leaseOnly', 'blocking'] as const;
// A store's lock name: any text a person would type, short enough to index.
const NAME_MAX_BYTES = 1024;

/** A lock call's path and options, checked and resolved: what the acquisition runs on. @internal */
export interface LockPlan extends ResolvedBase {
  /** The entry point (`lock`, `lockSync`, `isLocked`), for errors. */
  readonly operation: string;
  readonly given: string;
  readonly abs: string;
  readonly mode: LockMode;
  readonly timeout: number;
  readonly retryInterval: number;
  readonly stale: number;
  readonly onCompromised: ((e: AtomfsError) => void) | undefined;
  readonly leaseOnly: boolean;
  readonly blocking: boolean;
  /** The lock store, when the lock is not kept in marker files. */
  readonly store: StoreDriver | undefined;
}

// A store's lock name: a non-empty string without NUL, at most NAME_MAX_BYTES of UTF-8.
function storeName(operation: string, p: unknown): string {
  if (typeof p !== 'string' || p.length === 0) throw new AtomfsError('EINVAL', `a store's lock name must be a non-empty string, got ${textOf(p)}`, { operation });
  if (p.includes('\0')) throw new AtomfsError('EINVAL', "a lock name must not contain NUL ('\\0')", { operation, path: p });
  if (Buffer.byteLength(p) > NAME_MAX_BYTES) throw new AtomfsError('ENAMETOOLONG', `a lock name is at most ${NAME_MAX_BYTES} bytes`, { operation, path: p.slice(0, 64) });
  return p;
}

/** Checks the path (or a store's lock name) and options of `operation` and resolves them into its plan. @internal */
export function resolveLock(operation: string, p: unknown, options: unknown): LockPlan {
  const pre = checkOptionsObject(operation, options, typeof p === 'string' ? p : undefined, LOCK_NAMES);
  const storeOpt = pre['store'];
  const store = storeOpt === undefined ? undefined : storeDriver(storeOpt);
  if (storeOpt !== undefined && store === undefined) {
    throw new AtomfsError('EINVAL', 'store must be a lock store (postgresLocks() of atomfs/postgres)', { operation, path: typeof p === 'string' ? p : undefined });
  }
  if (store !== undefined) {
    for (const k of FILE_ONLY) {
      if (pre[k] !== undefined) throw new AtomfsError('EINVAL', `option '${k}' is for file locks; a lock store does not take it`, { operation, path: typeof p === 'string' ? p : undefined });
    }
  }
  const { given, abs } = store === undefined ? validateUserPath(operation, p) : { given: storeName(operation, p), abs: '' };
  const o = pre;
  const onCompromised = o['onCompromised'];
  if (onCompromised !== undefined && typeof onCompromised !== 'function') {
    throw new AtomfsError('EINVAL', 'onCompromised must be a function', { operation, path: given });
  }
  const b = resolveBase(operation, o, given);
  // No spread: an object literal with a spread and more properties costs ~8 µs on Node 20.
  return {
    operation,
    signal: b.signal,
    logger: b.logger,
    ops: b.ops,
    random: b.random,
    given,
    abs,
    mode: enumOpt<LockMode>(operation, o, 'mode', ['exclusive', 'shared'], 'exclusive', given),
    timeout: msOpt(operation, o, 'timeout', 10_000, 0, given, true),
    retryInterval: msOpt(operation, o, 'retryInterval', store === undefined ? 25 : 500, 1, given),
    stale: msOpt(operation, o, 'stale', 10_000, 100, given),
    onCompromised: onCompromised as LockPlan['onCompromised'],
    leaseOnly: boolOpt(operation, o, 'leaseOnly', false, given),
    blocking: boolOpt(operation, o, 'blocking', true, given),
    store,
  };
}
