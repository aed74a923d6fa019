/**
 * The concurrency workload on one PostgresMount namespace (test/postgres/pg-concurrency):
 * what each worker writes, so that the checker can tell every file's expected content from
 * the workers' logs alone, and the checker itself, which reads the tables directly.
 *
 * Workers own the content of their files (worker `w` writes only `w<w>-f<k>`), while the
 * folders `D0…` are shared: every worker moves them into one another at random (a folder
 * into its own subtree must fail) and moves its files between them.
 */
import pg from 'pg';
import { readTree, type TreeEntry } from './pg-invariants.js';

/** The content of version `seq` of file `name`: sizes from a few bytes to past one chunk. */
export function contentOf(name: string, seq: number): Buffer {
  const len = seq % 3 === 0 ? 300_000 + ((seq * 7919) % 50_000) : 20 + (seq % 1000);
  const out = Buffer.alloc(len);
  for (let i = 0; i < len; i++) out[i] = (seq * 31 + i) & 0xff;
  out.write(`${name}:${seq}:`, 0, 'latin1');
  return out;
}

/** One line of a worker's log: a write or delete of one of its files and how it ended. */
export interface LogLine {
  readonly op: 'write' | 'delete';
  readonly f: string;
  readonly seq?: number;
  /** true: acknowledged; false: refused (nothing changed); null: unknown (a lost connection). */
  readonly ok: boolean | null;
}

/** What every file must be after all workers are done: its content's seq, or absent (`null`); several when an outcome is unknown. */
export function expectedFiles(logs: readonly LogLine[][]): Map<string, Set<number | null>> {
  const out = new Map<string, Set<number | null>>();
  for (const log of logs) {
    for (const l of log) {
      const after = l.op === 'write' ? l.seq! : null;
      if (l.ok === true) out.set(l.f, new Set([after]));
      else if (l.ok === null) (out.get(l.f) ?? out.set(l.f, new Set([null])).get(l.f)!).add(after);
      else if (!out.has(l.f)) out.set(l.f, new Set([null]));
    }
  }
  return out;
}

/** What the checker found wrong (empty when everything holds). */
export async function checkWorkload(url: string, schema: string, logs: readonly LogLine[][], folders: readonly string[]): Promise<string[]> {
  const problems: string[] = [];
  const tree = await readTree(url, schema);
  const byName = new Map<string, [string, TreeEntry][]>();
  for (const [p, e] of tree) {
    if (p === '/') continue;
    const name = p.slice(p.lastIndexOf('/') + 1);
    byName.set(name, [...(byName.get(name) ?? []), [p, e]]);
  }
  for (const d of folders) {
    const at = byName.get(d) ?? [];
    if (at.length !== 1 || at[0]![1].kind !== 'dir') problems.push(`folder ${d}: ${at.length} entries`);
  }
  for (const [f, want] of expectedFiles(logs)) {
    const at = byName.get(f) ?? [];
    if (at.length > 1) {
      problems.push(`${f}: ${at.length} entries (${at.map((a) => a[0]).join(', ')})`);
      continue;
    }
    const got = at[0];
    if (got === undefined) {
      if (!want.has(null)) problems.push(`${f}: missing, expected seq ${[...want].join('|')}`);
      continue;
    }
    const seq = Number(/:(\d+):/.exec(got[1].content!.subarray(0, 64).toString('latin1'))?.[1] ?? -1);
    if (!want.has(seq) || !got[1].content!.equals(contentOf(f, seq))) problems.push(`${f} at ${got[0]}: content of seq ${seq}, expected ${[...want].join('|')}`);
  }
  for (const name of byName.keys()) if (!folders.includes(name) && !logs.some((log) => log.some((l) => l.f === name))) problems.push(`${name}: no worker wrote it`);
  // Sizes match chunks: a file of N bytes is exactly ceil(N / CHUNK) chunks (its bytes in
  // its row count as chunk 0: the content view), every one full
  // but the last (this workload writes whole files, never sparse ones).
  const c = new pg.Client({ connectionString: url });
  c.on('error', () => undefined);
  await c.connect();
  try {
    const S = `"${schema}"`;
    const bad = await c.query<{ name: string }>(
      `SELECT i.name FROM ${S}.inode i LEFT JOIN ${S}.content c ON c.inode = i.id WHERE i.kind = 'file'
        GROUP BY i.id, i.name, i.size
       HAVING coalesce(sum(octet_length(c.data)), 0) <> i.size OR count(c.idx) <> ceil(i.size / ${256 * 1024}.0)
           OR coalesce(max(c.idx), -1) <> count(c.idx) - 1`,
    );
    for (const r of bad.rows) problems.push(`${r.name}: size and chunks disagree`);
  } finally {
    await c.end().catch(() => undefined);
  }
  return problems;
}
