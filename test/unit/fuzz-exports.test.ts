/**
 * Bad input to every export (SPEC §4, issue 16.5): generated malformed argument lists —
 * wrong types, null, NaN, ±Infinity, negative and huge numbers, empty strings, NUL bytes,
 * paths through files, objects whose getters throw, Proxies live and revoked — given to every
 * function and constructor of `atomfs` and `atomfs/testing`, and to the methods of the
 * objects users make (a VFS, its mounts, a DirectoryLocker). Each call must end as an
 * `AtomfsError` with a code, or pass the caller's own thrown error through unchanged (a
 * getter or trap that throws); nothing may be created outside the test's sandbox; no call
 * may hang. A call whose arguments happen to be valid may succeed: what it made is put away.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as net from 'node:net';
import { describe, it } from 'node:test';
import * as api from '../../src/index.js';
import * as testing from '../../src/testing/index.js';
import * as postgres from '../../src/postgres/index.js';
import { FaultOps } from '../helpers/fault-ops.js';
import { tmpDir } from '../helpers/tmp.js';
import { seeded } from '../helpers/xorshift.js';

/** What a getter or Proxy trap of ours throws: it must come back unchanged. */
const CALLER = new Error('the caller’s own error');

const PER_TARGET = 24;
const CALL_LIMIT_MS = 5_000;

function malformedValues(sandbox: string): { label: string; make: () => unknown }[] {
  const file = path.join(sandbox, 'a-file');
  const revoked = (): unknown => {
    const r = Proxy.revocable({}, {});
    r.revoke();
    return r.proxy;
  };
  const trapAll = (): unknown =>
    new Proxy(
      {},
      {
        get: () => {
          throw CALLER;
        },
        has: () => {
          throw CALLER;
        },
        ownKeys: () => {
          throw CALLER;
        },
        getPrototypeOf: () => {
          throw CALLER;
        },
        getOwnPropertyDescriptor: () => {
          throw CALLER;
        },
      },
    );
  const throwingGetters = (): unknown => {
    const o = {};
    for (const k of ['signal', 'fs', 'logger', 'timeout', 'mode', 'overwrite', 'fsync', 'encoding', 'caseInsensitive', 'then', 'length', 'path', 'operation', 'code', 'capabilities', 'read']) {
      Object.defineProperty(o, k, {
        get: () => {
          throw CALLER;
        },
        enumerable: true,
      });
    }
    return o;
  };
  return [
    { label: 'undefined', make: () => undefined },
    { label: 'null', make: () => null },
    { label: 'NaN', make: () => NaN },
    { label: 'Infinity', make: () => Infinity },
    { label: '-Infinity', make: () => -Infinity },
    { label: '-1', make: () => -1 },
    { label: '2**60', make: () => 2 ** 60 },
    { label: '1e308', make: () => 1e308 },
    { label: '0', make: () => 0 },
    { label: '123n', make: () => 123n },
    { label: 'true', make: () => true },
    { label: "''", make: () => '' },
    { label: "'\\0'", make: () => '\0' },
    { label: 'NUL in a path', make: () => path.join(sandbox, 'a\0b') },
    { label: 'a path through a file', make: () => path.join(file, 'below') },
    { label: 'a name of 300 bytes', make: () => path.join(sandbox, 'n'.repeat(300)) },
    { label: 'Symbol', make: () => Symbol('s') },
    { label: 'a function', make: () => () => 1 },
    { label: 'an array', make: () => [1, 'two'] },
    { label: '{}', make: () => ({}) },
    { label: 'a Date', make: () => new Date(0) },
    { label: 'getters that throw', make: throwingGetters },
    { label: 'a Proxy whose traps throw', make: trapAll },
    { label: 'a revoked Proxy', make: revoked },
    { label: 'options of wrong types', make: () => ({ timeout: 'soon', mode: 7, overwrite: 'yes', fsync: 'yes', signal: {}, fs: {}, logger: 1, encoding: 9, caseInsensitive: 'no' }) },
    { label: 'options out of range', make: () => ({ timeout: -5, retryInterval: NaN, stale: Infinity, olderThan: -1, maxSize: -1, minSize: NaN, highWaterMark: 1e308 }) },
    { label: 'a non-file URL', make: () => new URL('http://127.0.0.1/x') },
  ];
}

interface Target {
  readonly name: string;
  readonly arity: number;
  /** A plausible first argument (a path the target can reach); by default a fresh sandbox path. */
  readonly first?: string;
  readonly call: (args: unknown[]) => unknown;
}

const readyAll: Promise<void>[] = [];

function targetsOf(sandbox: string): Target[] {
  const out: Target[] = [];
  const add = (name: string, fn: unknown, isClass: boolean, self?: object, first?: string): void => {
    if (typeof fn !== 'function') return;
    const f = fn as (...a: unknown[]) => unknown;
    const arity = Math.max(1, f.length + 1);
    out.push({ name, arity, ...(first !== undefined ? { first } : {}), call: isClass ? (args) => Reflect.construct(f, args) : (args) => Reflect.apply(f, self, args) });
  };
  const isClass = (v: unknown): boolean => typeof v === 'function' && /^class\b/.test(Function.prototype.toString.call(v));
  for (const [k, v] of Object.entries(api)) add(k, v, isClass(v));
  for (const [k, v] of Object.entries(testing)) add(`testing.${k}`, v, isClass(v));
  // The methods of what users make.
  const vfs = new api.VirtualFileSystem();
  vfs.mount('/m', new api.MemoryMount());
  vfs.mount('/disk', new api.LocalMount(path.join(sandbox, 'mounted')));
  // Each mount holds a file `/f`, so a call's later arguments are reached, not only its path.
  const memory = new api.MemoryMount();
  const roInner = new api.MemoryMount();
  fs.writeFileSync(path.join(sandbox, 'mounted', 'f'), 'local');
  const instances: [string, object, string | undefined][] = [
    ['vfs', vfs, '/m/f'],
    ['MemoryMount', memory, '/f'],
    ['LocalMount', new api.LocalMount(path.join(sandbox, 'mounted')), '/f'],
    ['ReadOnlyMount', new api.ReadOnlyMount(roInner), '/f'],
    ['DirectoryLocker', new api.DirectoryLocker(path.join(sandbox, 'locked')), undefined],
  ];
  const ready = async (): Promise<void> => {
    for (const m of [memory, roInner]) {
      await m.create('/f', { dir: false });
      await m.write('/f', new TextEncoder().encode('memory'));
    }
    await vfs.writeFile('/m/f', 'vfs');
  };
  readyAll.push(ready());
  for (const [label, obj, first] of instances) {
    const proto = Object.getPrototypeOf(obj) as object;
    for (const key of Object.getOwnPropertyNames(proto)) {
      if (key === 'constructor') continue;
      const d = Object.getOwnPropertyDescriptor(proto, key);
      if (typeof d?.value === 'function') add(`${label}.${key}`, d.value, false, obj, first);
    }
  }
  return out;
}

/** A 127.0.0.1 port nobody listens on (taken, then given back). */
function refusedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * The exports of `atomfs/postgres`, and the methods of a mount and a lock store whose
 * server refuses connections: a call with a malformed argument is EINVAL before anything
 * connects, a well-formed one ECONNREFUSED (or EINVAL once closed), never a TypeError.
 */
function pgTargetsOf(url: string): { targets: Target[]; made: { close(): Promise<void> }[] } {
  const out: Target[] = [];
  const isClass = (v: unknown): boolean => typeof v === 'function' && /^class\b/.test(Function.prototype.toString.call(v));
  const add = (name: string, fn: unknown, cls: boolean, self?: object, first?: string): void => {
    if (typeof fn !== 'function') return;
    const f = fn as (...a: unknown[]) => unknown;
    out.push({ name, arity: Math.max(1, f.length + 1), ...(first !== undefined ? { first } : {}), call: cls ? (args) => Reflect.construct(f, args) : (args) => Reflect.apply(f, self, args) });
  };
  for (const [k, v] of Object.entries(postgres)) add(`postgres.${k}`, v, isClass(v));
  const mount = new postgres.PostgresMount({ connectionString: url, timeout: 2_000 });
  const store = postgres.postgresLocks({ connectionString: url, timeout: 2_000 });
  for (const [label, obj, first] of [['PostgresMount', mount, '/f'], ['PostgresLockStore', store, undefined]] as const) {
    const proto = Object.getPrototypeOf(obj) as object;
    for (const key of Object.getOwnPropertyNames(proto)) {
      // close() last, by the test: closing first would make every other call EINVAL.
      if (key === 'constructor' || key === 'close' || key === 'ready') continue;
      const d = Object.getOwnPropertyDescriptor(proto, key);
      if (typeof d?.value === 'function') add(`${label}.${key}`, d.value, false, obj, first);
    }
  }
  return { targets: out, made: [mount, store] };
}

/**
 * A stream reports a failure as an 'error' event, not a throw: the first event of a new
 * stream (an error, or ready/finish/close) within the bound, as an outcome.
 */
async function streamOutcome(v: unknown): Promise<{ error: unknown } | undefined> {
  const s = v as { on?: unknown; once?: unknown; destroy?: unknown; writable?: unknown; readable?: unknown };
  if (typeof s?.once !== 'function' || typeof s.destroy !== 'function' || (s.writable === undefined && s.readable === undefined)) return undefined;
  const st = v as NodeJS.EventEmitter & { destroy(): void; end?(): void };
  const r = await new Promise<{ error: unknown } | undefined>((resolve) => {
    const timer = setTimeout(() => resolve(undefined), 200);
    st.once('error', (error: unknown) => {
      clearTimeout(timer);
      resolve({ error });
    });
    st.once('ready', () => {
      clearTimeout(timer);
      resolve(undefined);
    });
  });
  st.on('error', () => {});
  st.destroy();
  return r;
}

/** Puts away what a valid call made: locks, areas, open files and handles, streams. */
async function putAway(v: unknown): Promise<void> {
  if (v === null || typeof v !== 'object') return;
  const o = v as Record<string, unknown>;
  for (const m of ['release', 'abort', 'close', 'destroy']) {
    if (typeof o[m] === 'function') {
      try {
        await (o[m] as () => unknown).call(v);
      } catch {
        // already released, closed or aborted
      }
      return;
    }
  }
}

function listAll(dir: string): string[] {
  try {
    return fs.readdirSync(dir).sort();
  } catch {
    return [];
  }
}

/**
 * Calls every target PER_TARGET times with seeded argument lists, at least one argument
 * malformed each time; returns how the calls ended.
 */
async function fuzz(targets: readonly Target[], values: ReturnType<typeof malformedValues>, sandbox: string, seed: number): Promise<{ calls: number; valid: number; failures: string[] }> {
  const rand = seeded(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const failures: string[] = [];
  let calls = 0;
  let valid = 0;
  for (const target of targets) {
    for (let round = 0; round < PER_TARGET; round++) {
      // Each position is a malformed value or a plausible one (a fresh path in the
      // sandbox first, undefined after); at least one is malformed.
      const bad = Math.floor(rand() * target.arity);
      const labels: string[] = [];
      const args: unknown[] = [];
      for (let i = 0; i < target.arity; i++) {
        if (i === bad || rand() < 0.3) {
          const v = pick(values);
          labels.push(v.label);
          args.push(v.make());
        } else {
          labels.push(i === 0 ? 'a path' : 'undefined');
          args.push(i === 0 ? (target.first ?? path.join(sandbox, `p${calls}`)) : undefined);
        }
      }
      calls++;
      const what = `${target.name}(${labels.join(', ')})`;
      let outcome: unknown;
      let threw = false;
      try {
        let r = target.call(args);
        if (r !== null && typeof r === 'object' && typeof (r as { then?: unknown }).then === 'function') {
          let timer: NodeJS.Timeout | undefined;
          r = await Promise.race([
            r as Promise<unknown>,
            new Promise((_, reject) => {
              timer = setTimeout(() => reject(new Error(`HANG: no answer in ${CALL_LIMIT_MS} ms`)), CALL_LIMIT_MS);
            }),
          ]).finally(() => clearTimeout(timer));
        }
        outcome = r;
      } catch (e) {
        threw = true;
        outcome = e;
      }
      if (!threw) {
        const s = await streamOutcome(outcome);
        if (s) {
          threw = true;
          outcome = s.error;
        }
      }
      if (!threw) {
        valid++;
        await putAway(outcome);
        continue;
      }
      if (outcome === CALLER) continue;
      if (outcome instanceof api.AtomfsError && typeof outcome.code === 'string' && outcome.code.length > 0) continue;
      const e = outcome as Error | undefined;
      failures.push(`${what}: ${e?.constructor?.name ?? typeof e} ${String(e?.message ?? e).split('\n')[0]}`);
    }
  }
  return { calls, valid, failures };
}

describe('every export and constructor, given malformed arguments', () => {
  it(`ends each call as an AtomfsError with a code or the caller's own error, creates nothing outside the sandbox, and never hangs (>= 500 calls)`, { timeout: 300_000 }, async (t) => {
    // The sandbox sits alone in a folder of its own: anything beside it was made outside.
    const fence = tmpDir(t);
    const sandbox = path.join(fence, 'sandbox');
    fs.mkdirSync(sandbox);
    fs.writeFileSync(path.join(sandbox, 'a-file'), 'x');
    fs.mkdirSync(path.join(sandbox, 'mounted'));
    fs.mkdirSync(path.join(sandbox, 'locked'));
    const home = process.cwd();
    const cwdBefore = listAll(home);
    const values = malformedValues(sandbox);
    const targets = targetsOf(sandbox);
    await Promise.all(readyAll);
    // Relative paths land in the sandbox.
    process.chdir(sandbox);
    t.after(() => process.chdir(home));
    const { calls, valid, failures } = await fuzz(targets, values, sandbox, 0x5eed16);
    process.chdir(home);
    if (process.env['ATOMFS_FUZZ_OUT']) fs.writeFileSync(process.env['ATOMFS_FUZZ_OUT'], failures.join('\n'));
    t.diagnostic(`${calls} calls over ${targets.length} functions, constructors and methods; ${valid} happened to be valid`);
    assert.ok(calls >= 500, `only ${calls} calls`);
    assert.deepEqual(failures, [], `${failures.length} calls ended otherwise:\n${failures.slice(0, 80).join('\n')}`);
    assert.deepEqual(listAll(fence), ['sandbox'], 'something was created beside the sandbox');
    assert.deepEqual(listAll(home), cwdBefore, 'something was created in the working folder');
  });

  it(`atomfs/postgres: its exports, and a mount's and a lock store's methods, end as an AtomfsError with a code and never hang`, { timeout: 300_000 }, async (t) => {
    const fence = tmpDir(t);
    const sandbox = path.join(fence, 'sandbox');
    fs.mkdirSync(sandbox);
    fs.writeFileSync(path.join(sandbox, 'a-file'), 'x');
    const url = `postgres://atomfs@127.0.0.1:${await refusedPort()}/atomfs`;
    const { targets, made } = pgTargetsOf(url);
    const home = process.cwd();
    process.chdir(sandbox);
    t.after(() => process.chdir(home));
    let result;
    try {
      result = await fuzz(targets, malformedValues(sandbox), sandbox, 0x9057);
    } finally {
      process.chdir(home);
      for (const m of made) await m.close();
    }
    const { calls, valid, failures } = result;
    t.diagnostic(`${calls} calls over ${targets.length} functions, constructors and methods; ${valid} happened to be valid`);
    assert.ok(targets.some((x) => x.name === 'PostgresMount.rename') && targets.some((x) => x.name === 'postgres.postgresLocks'), targets.map((x) => x.name).join(', '));
    assert.ok(calls >= 200, `only ${calls} calls`);
    assert.deepEqual(failures, [], `${failures.length} calls ended otherwise:\n${failures.slice(0, 80).join('\n')}`);
    assert.deepEqual(listAll(fence), ['sandbox'], 'something was created beside the sandbox');
  });

  it('a huge but valid delay (stale, retryInterval, cleanupInterval of 2**40 ms) never becomes a 1 ms timer', async (t) => {
    const dir = tmpDir(t);
    // Node takes no timer above 2**31 - 1 ms: it warns and fires after 1 ms. A lock's
    // heartbeat (every stale / 2) then touched its marker a thousand times a second.
    const ops = new FaultOps();
    const l = await api.lock(path.join(dir, 'f'), { stale: 2 ** 40, retryInterval: 2 ** 40, fs: ops });
    const before = ops.names().filter((n) => n === 'utimes').length;
    await new Promise((r) => setTimeout(r, 120));
    const beats = ops.names().filter((n) => n === 'utimes').length - before;
    await l.release();
    assert.equal(beats, 0, 'heartbeats in 120 ms');
    const area = await api.createStagingArea({ stagingDir: path.join(dir, 's'), finalDir: path.join(dir, 'f2'), cleanupInterval: 2 ** 40, fs: ops });
    const listed = ops.names().filter((n) => n === 'readdir').length;
    await new Promise((r) => setTimeout(r, 120));
    area.close();
    assert.equal(ops.names().filter((n) => n === 'readdir').length - listed, 0, 'cleanups in 120 ms');
  });

  it("the issue's own examples: each is EINVAL from its constructor or function, not a TypeError", () => {
    const cases: [string, () => unknown, string][] = [
      ['new LocalMount(123)', () => new api.LocalMount(123 as unknown as string), 'LocalMount'],
      ["new LocalMount('/tmp', null)", () => new api.LocalMount('/tmp', null as unknown as undefined), 'LocalMount'],
      ["new LocalMount('/tmp', { fsync: 'yes' })", () => new api.LocalMount('/tmp', { fsync: 'yes' as unknown as boolean }), 'LocalMount'],
      ['new MemoryMount(null)', () => new api.MemoryMount(null as unknown as undefined), 'MemoryMount'],
      ['new ReadOnlyMount(undefined)', () => new api.ReadOnlyMount(undefined as unknown as api.VirtualMount), 'ReadOnlyMount'],
      ['new Lock({})', () => Reflect.construct(api.Lock, [{}]), 'Lock'],
      ['new AtomfsError(1)', () => Reflect.construct(api.AtomfsError, [1, undefined, { operation: 'x' }]), 'AtomfsError'],
      ["toAtomfsError(e, 'ctx')", () => api.toAtomfsError(new Error('x'), 'ctx' as unknown as api.ErrorContext), 'toAtomfsError'],
    ];
    for (const [what, fn, operation] of cases) assert.throws(fn, { name: 'AtomfsError', code: 'EINVAL', operation }, what);
    // Without a context, a plain error is wrapped (operation 'unknown'), not a TypeError.
    const e = (api.toAtomfsError as (err: unknown) => api.AtomfsError)(Object.assign(new Error('x'), { code: 'ENOENT' }));
    assert.equal(e.code, 'ENOENT');
    assert.equal(e.operation, 'unknown');
  });
});

