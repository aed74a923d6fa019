/**
 * The contract between {@link lock} and a lock store: a service that keeps locks somewhere
 * other than marker files (atomfs/postgres's `postgresLocks`), so that hosts that share no
 * file system, and whose clocks disagree, can share locks. The core library defines only
 * this contract; a store's code (and its driver) loads from its own entry point.
 *
 * @module
 */
import type { LockMode } from './markers.js';

/**
 * What a fenced change carries to the storage that checks it: which lock store, which lock
 * name, and the holder's token. The storage rejects the change when it has seen a larger
 * token for that name.
 */
export interface FenceToken {
  /** The kind of store that issued the token (`'postgres'`). */
  readonly store: string;
  /** Where the store keeps its tables (for `'postgres'`, the schema). */
  readonly namespace: string;
  /** The lock's name. */
  readonly name: string;
  /** The fencing token of the exclusive acquisition. */
  readonly token: number;
}

/** One acquisition request, as `lock()` resolved it. @internal */
export interface StoreRequest {
  readonly name: string;
  readonly mode: LockMode;
  /** Milliseconds to wait; `Infinity` waits forever. */
  readonly timeout: number;
  /** The lease (the lock's `stale` option), in ms. */
  readonly lease: number;
  /** The longest pause between two attempts while waiting, in ms. */
  readonly retryInterval: number;
  readonly signal: AbortSignal | undefined;
  /** `lock`, `withLock`, …, for errors. */
  readonly operation: string;
}

/** A lock a store holds for us. @internal */
export interface StoreHold {
  /** The fencing token (exclusive only). */
  readonly token: number | undefined;
  /** What a fenced change carries (exclusive only). */
  readonly fence: FenceToken | undefined;
  /**
   * Extends the lease by the lease length from now (the store's clock). Resolves `false`
   * when the hold is gone (reclaimed by another holder); rejects when the store cannot be
   * reached.
   */
  renew(): Promise<boolean>;
  /** Gives the lock up; resolves `false` when it was already gone. */
  release(): Promise<boolean>;
}

/** The store's side of the contract. @internal */
export interface StoreDriver {
  acquire(req: StoreRequest): Promise<StoreHold>;
  isLocked(name: string, mode: LockMode, operation: string): Promise<boolean>;
}

/** The key under which a store object carries its driver. @internal */
export const STORE = Symbol.for('atomfs.lockStore');

/**
 * A lock store: pass it as `lock(name, { store })`. Made by a store's factory
 * (`postgresLocks` of atomfs/postgres); its methods are the store's own.
 */
export interface LockStore {
  /** @internal The driver `lock()` talks to. */
  readonly [STORE]: StoreDriver;
}

/** The driver of `v` when it is a lock store, else `undefined`. @internal */
export function storeDriver(v: unknown): StoreDriver | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const d = (v as Partial<LockStore>)[STORE];
  return typeof d === 'object' && d !== null && typeof d.acquire === 'function' && typeof d.isLocked === 'function' ? d : undefined;
}
