/**
 * A throwaway PostgreSQL server for the tests: `initdb` in a temp folder (as an
 * unprivileged user when the tests run as root), then `postgres` as a foreground child in
 * its own process group on a random 127.0.0.1 port, stopped (and its folder removed) in
 * every outcome. `ATOMFS_TEST_PG_URL` points the tests at a server of your own instead (the
 * tests that kill the server then skip). Without the server binaries the tests skip with
 * one message naming the Debian package; under `CI=true` that is a failure instead.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before } from 'node:test';
import pg from 'pg';

/** The skip reason when no server can be had here. */
export const NO_PG = 'PostgreSQL server binaries not found (Debian package: postgresql) and ATOMFS_TEST_PG_URL is not set';

/** A server the tests use. */
export interface PgServer {
  /** A connection URL (database `postgres`). */
  readonly url: string;
  /** Whether the harness started it (so it may kill and restart it). */
  readonly own: boolean;
  /** The postmaster's pid (own servers only). */
  pid(): number | undefined;
  /** SIGKILL to the postmaster and every backend (the whole process group), waits for the exit. */
  kill9(): Promise<void>;
  /** Starts it again on the same folder and port (after `kill9`), resolves once it accepts connections. */
  start(): Promise<void>;
  /** SIGSTOP / SIGCONT of the whole server. */
  pause(): void;
  resume(): void;
  /** A fresh schema name, dropped again by `stop()`. */
  schema(): string;
  /** Stops the server (or, for your own server, drops the schemas the tests made). */
  stop(): Promise<void>;
}

function binDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  const versions = fs.existsSync(root) ? fs.readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : [];
  for (const v of versions) if (fs.existsSync(path.join(root, v, 'bin', 'postgres'))) return path.join(root, v, 'bin');
  const r = spawnSync('pg_config', ['--bindir'], { encoding: 'utf8' });
  const dir = r.status === 0 ? r.stdout.trim() : '';
  return dir !== '' && fs.existsSync(path.join(dir, 'postgres')) ? dir : undefined;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

// The server refuses to run as root: as root, the cluster belongs to `postgres` (Debian's
// package makes that user) or else to nobody.
function serverUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const r = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const g = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  if (r.status === 0 && g.status === 0) return { uid: Number(r.stdout.trim()), gid: Number(g.stdout.trim()) };
  return { uid: 65534, gid: 65534 };
}

async function canConnect(url: string): Promise<boolean> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1_000 });
  c.on('error', () => undefined);
  try {
    await c.connect();
    await c.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => undefined);
  }
}

async function waitReady(url: string, child: ChildProcess, log: () => string): Promise<void> {
  const until = Date.now() + 60_000;
  for (let i = 0; i < 600 && Date.now() < until; i++) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`postgres exited (${child.exitCode ?? child.signalCode}):\n${log()}`);
    if (await canConnect(url)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`postgres did not accept connections within 60 s:\n${log()}`);
}

/**
 * Why the PostgreSQL tests cannot run here, or undefined when they can. Under `CI=true`
 * there is no reason: a missing server must fail the run, so `startPg` then throws.
 */
export function pgMissing(): string | undefined {
  if ((process.env['ATOMFS_TEST_PG_URL'] ?? '') !== '' || binDir() !== undefined || process.env['CI'] === 'true') return undefined;
  return NO_PG;
}

const live = new Set<ChildProcess>();
let exitHook = false;

/**
 * Starts a server (or wraps `ATOMFS_TEST_PG_URL`), or returns the skip reason. Under
 * `CI=true` a missing server throws instead.
 */
export async function startPg(options: { readonly durable?: boolean } = {}): Promise<PgServer | string> {
  const schemas: string[] = [];
  const schema = (): string => {
    const s = `t_${randomBytes(6).toString('hex')}`;
    schemas.push(s);
    return s;
  };
  const own = process.env['ATOMFS_TEST_PG_URL'];
  if (own !== undefined && own !== '') {
    return {
      url: own,
      own: false,
      pid: () => undefined,
      kill9: () => Promise.reject(new Error('not a server the harness started')),
      start: () => Promise.resolve(),
      pause: () => undefined,
      resume: () => undefined,
      schema,
      stop: async () => {
        const c = new pg.Client({ connectionString: own });
        c.on('error', () => undefined);
        await c.connect();
        for (const s of schemas) await c.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
        await c.end();
      },
    };
  }
  const bin = binDir();
  if (bin === undefined) {
    if (process.env['CI'] === 'true') throw new Error(`${NO_PG}: under CI=true this is a failure (.ci/run installs postgresql)`);
    return NO_PG;
  }
  const user = serverUser();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'atomfs-pg-'));
  const data = path.join(dir, 'data');
  fs.mkdirSync(data, { mode: 0o700 });
  if (user !== undefined) {
    fs.chownSync(dir, user.uid, user.gid);
    fs.chownSync(data, user.uid, user.gid);
  }
  const ids = user === undefined ? {} : { uid: user.uid, gid: user.gid };
  const init = spawnSync(path.join(bin, 'initdb'), ['-A', 'trust', '--no-sync', '-U', 'postgres', '-E', 'UTF8', '--locale=C', '-D', data], { ...ids, encoding: 'utf8', cwd: dir, timeout: 120_000 });
  if (init.status !== 0) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed: ${init.stderr || init.stdout}`);
  }
  const port = await freePort();
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  let child: ChildProcess | undefined;
  let log = '';
  if (!exitHook) {
    exitHook = true;
    // Last resort (a test runner that dies): no server outlives this process.
    process.on('exit', () => {
      for (const c of live) if (c.pid !== undefined) try { process.kill(-c.pid, 'SIGKILL'); } catch { /* gone */ }
    });
  }
  const start = async (): Promise<void> => {
    // fsync off: the tests kill processes, never the machine, and the WAL a killed server
    // wrote is in the page cache either way; crash recovery still runs on every restart.
    // `durable` keeps the server's defaults (fsync, synchronous_commit on): for benchmarks
    // of what a durable COMMIT costs.
    const c = spawn(
      path.join(bin, 'postgres'),
      ['-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', ...(options.durable === true ? [] : ['-c', 'fsync=off']), '-c', 'max_connections=200', '-c', 'shared_buffers=32MB'],
      { ...ids, cwd: dir, detached: true, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    child = c;
    live.add(c);
    c.once('exit', () => live.delete(c));
    c.stderr?.on('data', (d: Buffer) => {
      log = (log + d.toString()).slice(-8_000);
    });
    await waitReady(url, c, () => log);
  };
  // The postmaster and its children: every backend calls setsid(), so a signal to the
  // postmaster's process group would not reach them.
  const family = (): number[] => {
    const top = child?.pid;
    if (top === undefined) return [];
    const kids: number[] = [];
    for (const d of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(d)) continue;
      try {
        const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
        if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === top) kids.push(Number(d));
      } catch {
        // exited meanwhile
      }
    }
    return [top, ...kids];
  };
  const signalAll = (sig: NodeJS.Signals): void => {
    // Children first, so a stopped or killed postmaster cannot fork a new one behind the loop.
    for (const pid of family().reverse()) try { process.kill(pid, sig); } catch { /* gone */ }
  };
  const exited = async (c: ChildProcess | undefined, ms: number): Promise<boolean> => {
    if (c === undefined || c.exitCode !== null || c.signalCode !== null) return true;
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      c.once('exit', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  };
  // Backends are the postmaster's children in its group; wait until none is left.
  const groupGone = async (): Promise<void> => {
    const pgid = child?.pid;
    for (let i = 0; pgid !== undefined && i < 200; i++) {
      try {
        process.kill(-pgid, 0);
      } catch {
        return;
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  };
  try {
    await start();
  } catch (e) {
    signalAll('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    url,
    own: true,
    pid: () => child?.pid,
    kill9: async () => {
      signalAll('SIGKILL');
      await exited(child, 10_000);
      await groupGone();
    },
    start,
    pause: () => signalAll('SIGSTOP'),
    resume: () => signalAll('SIGCONT'),
    schema,
    stop: async () => {
      signalAll('SIGCONT');
      signalAll('SIGINT'); // fast shutdown: SIGTERM would wait for every client to leave
      if (!(await exited(child, 10_000))) signalAll('SIGKILL');
      await exited(child, 10_000);
      signalAll('SIGKILL');
      await groupGone();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The server of one `describe` suite: started before its tests (`set` receives it), and after
 * them every mount or store in `closers` closed, then the server stopped, in every outcome.
 */
export function serverForSuite(set: (s: PgServer) => void, closers: readonly { close(): Promise<void> }[]): void {
  let srv: PgServer | undefined;
  before(async () => {
    const s = await startPg();
    if (typeof s === 'string') throw new Error(s);
    srv = s;
    set(s);
  });
  after(async () => {
    for (const c of closers) await c.close();
    await srv?.stop();
  });
}

/** How a call settled: `'ok'`, or the code of what it rejected with. */
export async function settledCode(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    return String((e as { code?: unknown }).code);
  }
}
