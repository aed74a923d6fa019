/**
 * A scripted fault seam: wraps an FsOps and fails (or observes) chosen calls, in both the
 * sync and async forms, so one script drives writeFile and writeFileSync alike.
 */
import { OP_NAMES, realOps, type FsOps, type OpName, type SyncFsOps } from '../../src/internal/fs-ops.js';

/** One recorded call. */
export interface CallRecord {
  readonly name: OpName;
  readonly args: readonly unknown[];
}

export interface Fault {
  readonly name: OpName;
  /** Fail the nth matching call (1-based). Default 1. */
  readonly nth?: number;
  /** Only calls whose first argument (a path) matches. */
  readonly pathMatch?: RegExp;
  /** The code to fail with. */
  readonly code: string;
}

/** Builds a Node-style errno error. */
export function errno(code: string, syscall: string, p?: unknown): NodeJS.ErrnoException {
  const e = new Error(`${code}: injected, ${syscall}${typeof p === 'string' ? ` '${p}'` : ''}`) as NodeJS.ErrnoException;
  e.code = code;
  e.syscall = syscall;
  if (typeof p === 'string') e.path = p;
  return e;
}

export class FaultOps implements FsOps {
  readonly sync: SyncFsOps;
  readonly async: FsOps['async'];
  readonly calls: CallRecord[] = [];
  readonly hits: Fault[] = [];
  #faults: Fault[] = [];
  #counts = new Map<Fault, number>();
  #failAt = new Map<number, string>();
  /** Called before each call is made (may throw to fail it). */
  before?: (name: OpName, args: readonly unknown[]) => void;

  constructor(inner: FsOps = realOps) {
    const sync = {} as Record<string, (...a: unknown[]) => unknown>;
    const asyncOps = {} as Record<string, (...a: unknown[]) => Promise<unknown>>;
    for (const name of OP_NAMES) {
      const s = inner.sync[name] as (...a: unknown[]) => unknown;
      const a = inner.async[name] as (...a: unknown[]) => Promise<unknown>;
      sync[name] = (...args) => {
        this.#check(name, args);
        return s(...args);
      };
      asyncOps[name] = async (...args) => {
        this.#check(name, args);
        return a(...args);
      };
    }
    this.sync = sync as unknown as SyncFsOps;
    this.async = asyncOps as unknown as FsOps['async'];
  }

  /** Scripts a failure. */
  failOn(name: OpName, code: string, opts: { nth?: number; pathMatch?: RegExp } = {}): this {
    this.#faults.push({ name, code, ...opts });
    return this;
  }

  /** Scripts a failure of the call with this 0-based index among all calls made. */
  failAt(index: number, code: string): this {
    this.#failAt.set(index, code);
    return this;
  }

  /** The names of the calls made, in order. */
  names(): OpName[] {
    return this.calls.map((c) => c.name);
  }

  #check(name: OpName, args: readonly unknown[]): void {
    const index = this.calls.length;
    this.calls.push({ name, args });
    this.before?.(name, args);
    const at = this.#failAt.get(index);
    if (at !== undefined) {
      this.hits.push({ name, code: at });
      throw errno(at, name, args[0]);
    }
    // Every fault counts every matching call (so `nth` means the nth such call overall),
    // then the first fault due fails it.
    let due: Fault | undefined;
    for (const f of this.#faults) {
      if (f.name !== name) continue;
      if (f.pathMatch && !(typeof args[0] === 'string' && f.pathMatch.test(args[0]))) continue;
      const n = (this.#counts.get(f) ?? 0) + 1;
      this.#counts.set(f, n);
      if (n === (f.nth ?? 1)) due ??= f;
    }
    if (due) {
      this.hits.push(due);
      throw errno(due.code, name, args[0]);
    }
  }
}
