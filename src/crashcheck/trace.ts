/**
 * Reading `strace -f -qq -yy -xx -e write=all` output into system calls.
 *
 * Why these flags:
 * - `-f` follows every process and thread; each line then starts with its pid. A call
 *   another thread interrupts is printed in two parts (`name(args <unfinished ...>` and
 *   `<... name resumed>rest`), joined here; a call's place is where it completed.
 * - `-yy` prints, after every descriptor, the path it refers to (`3</srv/out>`, and
 *   `AT_FDCWD</srv>`): the kernel's own answer, so relative paths resolve without modelling
 *   chdir races, and a descriptor's file is known even when it was inherited.
 * - `-xx` prints every string byte as `\xNN`: names with quotes, commas, spaces or bytes
 *   that are not UTF-8 cannot be misread.
 * - The data written is taken from `-e write=all`'s hex dumps (every byte of every
 *   write, pwrite, writev and pwritev, buffer by buffer), not from the call's own string
 *   argument: that one is cut at `-s` bytes, and raising `-s` to "big enough" makes strace
 *   allocate buffers of that size for every string it prints, while the dump streams the
 *   bytes as they were written, whatever their number.
 *
 * @module
 */

/** One completed system call. */
export interface TracedCall {
  /** The process (thread) id strace printed. */
  readonly pid: number;
  readonly name: string;
  /** The argument texts, split at top-level commas (strings still encoded, annotations kept). */
  readonly args: readonly string[];
  /** The return value (-1 on error; mmap's address in hex is parsed too), `undefined` for `?`. */
  readonly ret: number | undefined;
  /** The path annotation of a returned descriptor (`= 3</srv/out>`), decoded. */
  readonly retPath: string | undefined;
  /** The errno name on failure (`ENOENT`). */
  readonly errno: string | undefined;
  /** The bytes the call wrote, from the hex dump (write-type calls only). */
  readonly data: Uint8Array | undefined;
  /** 1-based line of the trace where the call completed. */
  readonly line: number;
}

const LINE_RE = /^(\d+)\s+(.*)$/;
const UNFINISHED = ' <unfinished ...>';
const RESUMED_RE = /^<\.\.\. ([A-Za-z0-9_]+) resumed>(.*)$/;
const CALL_RE = /^([A-Za-z0-9_]+)\((.*)\)\s+=\s+(-?\d+|0x[0-9a-fA-F]+|\?)(<.*>)?(?:\s+([A-Z][A-Z0-9_]*)(?:\s+\(.*\))?)?(?:\s+\(.*\))?\s*$/;
const DUMP_RE = /^ \| ([0-9a-f]+) {2}/;

/**
 * Decodes strace's printing of a string or annotation (`\xNN`, and the C escapes strace
 * uses without `-xx`) into bytes.
 */
export function decodeBytes(s: string): Buffer {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c !== 0x5c) {
      // Printable ASCII as itself (strace prints nothing else unescaped).
      out.push(c & 0xff);
      continue;
    }
    const e = s[++i];
    if (e === 'x') {
      out.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (e !== undefined && e >= '0' && e <= '7') {
      let j = i;
      while (j < i + 3 && s[j]! >= '0' && s[j]! <= '7') j++;
      out.push(parseInt(s.slice(i, j), 8));
      i = j - 1;
    } else {
      const map: Record<string, number> = { n: 10, t: 9, r: 13, v: 11, f: 12, a: 7, b: 8 };
      out.push(map[e ?? ''] ?? (e ?? '').charCodeAt(0));
    }
  }
  return Buffer.from(out);
}

/** The text of a string argument (`"\x6f\x75\x74"` → `out`), or `undefined` when it is not one. */
export function stringArg(arg: string | undefined): string | undefined {
  if (arg === undefined) return undefined;
  const m = /^"((?:[^"\\]|\\.)*)"/.exec(arg);
  return m ? decodeBytes(m[1]!).toString('utf8') : undefined;
}

/**
 * A descriptor argument: its number and, with `-yy`, the path it referred to
 * (`3<\x2f\x73\x72\x76>` → 3 and `/srv`; `AT_FDCWD</srv>` → -100 and `/srv`). The path is
 * `undefined` for what is not a file (`pipe:[123]`, `socket:[…]`) and a deleted file's path
 * ends in ` (deleted)`.
 */
export function fdArg(arg: string | undefined): { readonly fd: number; readonly path: string | undefined } | undefined {
  if (arg === undefined) return undefined;
  const m = /^(-?\d+|AT_FDCWD)(?:<(.*)>)?$/.exec(arg.trim());
  if (!m) return undefined;
  const fd = m[1] === 'AT_FDCWD' ? AT_FDCWD : Number(m[1]);
  return { fd, path: annotationPath(m[2]) };
}

/** The value strace prints as AT_FDCWD. */
export const AT_FDCWD = -100;

function annotationPath(inner: string | undefined): string | undefined {
  if (inner === undefined) return undefined;
  // A device's annotation carries its numbers: `/dev/null<char 1:3>`.
  const text = decodeBytes(inner.replace(/<[^<>]*>$/, '')).toString('utf8');
  return text.startsWith('/') ? text : undefined;
}

/**
 * Splits an argument list at top-level commas: outside strings, `{}`, `[]`, `()` and the
 * `<…>` annotations that follow a descriptor.
 */
export function splitArgs(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let inStr = false;
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (inStr) {
      cur += c;
      if (c === '\\') cur += s[++i] ?? '';
      else if (c === '"') inStr = false;
      continue;
    }
    if (c === '"') inStr = true;
    else if (c === '{' || c === '[' || c === '(') depth++;
    else if (c === '}' || c === ']' || c === ')') depth--;
    // `<` opens an annotation only right after a descriptor (a digit, or AT_FDCWD's D).
    else if (c === '<' && /[0-9D>]/.test(s[i - 1] ?? '')) depth++;
    else if (c === '>' && depth > 0 && s[i - 1] !== '-') depth--;
    if (c === ',' && depth === 0) {
      out.push(cur.trim());
      cur = '';
      continue;
    }
    cur += c;
  }
  if (cur.trim() !== '') out.push(cur.trim());
  return out;
}

/** The calls whose data `-e write=all` dumps. */
const DUMPED: ReadonlySet<string> = new Set(['write', 'pwrite64', 'writev', 'pwritev', 'pwritev2']);

/**
 * Parses a whole trace. Lines that are no completed call (an unfinished call that never
 * resumed, a signal, an exit notice) are skipped; dump lines are attached to the call they
 * follow.
 * Never throws: a line it cannot read is skipped (what matters is then missed by the
 * replay, which refuses calls it has no descriptor or data for).
 */
export function parseTrace(text: string): TracedCall[] {
  const lines = text.split('\n');
  const pending = new Map<string, string>();
  const calls: TracedCall[] = [];
  let dumpTo: { call: TracedCall; chunks: number[] } | undefined;
  const flushDump = (): void => {
    if (dumpTo === undefined) return;
    (dumpTo.call as { data: Uint8Array | undefined }).data = Uint8Array.from(dumpTo.chunks);
    dumpTo = undefined;
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.startsWith(' | ')) {
      const d = DUMP_RE.exec(line);
      if (d && dumpTo) {
        // 16 bytes as `xx ` with one more space after the 8th: 49 columns after the offset.
        const start = d[0].length;
        for (const hex of line.slice(start, start + 49).match(/[0-9a-f]{2}/g) ?? []) dumpTo.chunks.push(parseInt(hex, 16));
      }
      continue;
    }
    if (line.startsWith(' * ')) continue; // "* 2 bytes in buffer 0" of a writev
    const lm = LINE_RE.exec(line);
    if (!lm) continue;
    flushDump();
    const pid = Number(lm[1]);
    let body = lm[2]!;
    if (body.endsWith(UNFINISHED)) {
      const name = /^([A-Za-z0-9_]+)\(/.exec(body)?.[1];
      if (name !== undefined) pending.set(`${pid}:${name}`, body.slice(0, -UNFINISHED.length));
      continue;
    }
    const r = RESUMED_RE.exec(body);
    if (r) {
      const start = pending.get(`${pid}:${r[1]}`);
      if (start === undefined) continue;
      pending.delete(`${pid}:${r[1]}`);
      body = start + r[2]!;
    }
    const c = CALL_RE.exec(body);
    if (!c) continue;
    const retText = c[3]!;
    const call: TracedCall = {
      pid,
      name: c[1]!,
      args: splitArgs(c[2]!),
      ret: retText === '?' ? undefined : retText.startsWith('0x') ? parseInt(retText, 16) : Number(retText),
      retPath: c[4] === undefined ? undefined : annotationPath(c[4].slice(1, -1)),
      errno: c[5],
      data: undefined,
      line: i + 1,
    };
    calls.push(call);
    if (DUMPED.has(call.name) && call.ret !== undefined && call.ret > 0) dumpTo = { call, chunks: [] };
  }
  flushDump();
  return calls;
}
