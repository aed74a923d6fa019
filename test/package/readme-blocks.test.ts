/**
 * The README is true (#18.2): every fenced ```ts / ```typescript / ```js / ```javascript
 * block of README.md is compiled with tsc strict (module and moduleResolution NodeNext)
 * against the package built in dist/, then run with node, each in a fresh temp folder as
 * its working folder. `atomfs`, `atomfs/testing` and `atomfs/postgres` resolve to the repo
 * through a `node_modules/atomfs` symlink in a temp project outside the repo, so the
 * package's own `exports` map (and its types) is what a block sees, as a user's would be.
 *
 * Markers. A block that is not a whole program says so with an HTML comment on the line
 * just before its fence (invisible on the rendered page, one line to read in the source):
 *
 *   <!-- fragment -->               a fragment: type-checked, never run;
 *   <!-- fragment: TS -->           the same, with TS (imports, `declare const x: T;` for its
 *                                   free identifiers, typed as the surrounding prose says)
 *                                   put before the block for the type-check;
 *   <!-- needs: postgres -->        a whole program that needs a PostgreSQL server: run on
 *                                   a throwaway server of the harness (DATABASE_URL);
 *   <!-- needs: root -->            one that needs root (it changes the machine):
 *                                   type-checked only.
 *
 * Any other HTML comment just before a ts/js fence is an error (a typo in a marker must not
 * silently turn a block into one that is never checked). Every block without a marker is a
 * whole program: it must type-check and exit 0.
 *
 * The API headings are checked in the same pass: each "`name(args)` → `Type`" in a heading
 * must match the declaration: a Promise exactly where the call returns one, the keys of a
 * `{a, b?}` result, the type a name says.
 *
 * One tsc invocation checks every block and heading (plus sentinels that prove a wrong block
 * or heading is caught and reported at its line, and a failing program caught when run); the
 * runnable blocks then run one after another.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REPO, runProcess, type RunResult } from '../helpers/cli.js';
import { pgMissing, startPg } from '../helpers/pg.js';

const TSC = path.join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');

type Kind = 'program' | 'fragment' | 'postgres' | 'root';

interface Block {
  /** 1-based README line of the first line of code (the line after the opening fence). */
  line: number;
  lang: 'ts' | 'js';
  kind: Kind;
  /** Code put before the block for the type-check (fragments only). */
  prelude: string;
  code: string;
}

const LANGS: Readonly<Record<string, 'ts' | 'js'>> = { ts: 'ts', typescript: 'ts', js: 'js', javascript: 'js' };

/** The ts/js blocks of a Markdown text, with their markers. Throws on a malformed marker or an unclosed fence. */
function extractBlocks(markdown: string): Block[] {
  const lines = markdown.split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^ {0,3}(`{3,}|~{3,})\s*([\w+-]*)/.exec(lines[i]!);
    if (open === null) continue;
    const fence = open[1]!;
    let end = i + 1;
    while (end < lines.length && !new RegExp(`^ {0,3}${fence[0]}{${fence.length},}\\s*$`).test(lines[end]!)) end++;
    if (end === lines.length) throw new Error(`line ${i + 1}: the fence opened here is never closed`);
    const lang = LANGS[open[2]!.toLowerCase()];
    if (lang !== undefined) {
      const { kind, prelude } = markerBefore(lines, i);
      blocks.push({ line: i + 2, lang, kind, prelude, code: lines.slice(i + 1, end).join('\n') });
    }
    i = end;
  }
  return blocks;
}

/** The marker in the HTML comment ending on the line before the fence at `fenceIndex`, if any. */
function markerBefore(lines: readonly string[], fenceIndex: number): { kind: Kind; prelude: string } {
  const last = fenceIndex - 1;
  if (last < 0 || !/-->\s*$/.test(lines[last]!)) return { kind: 'program', prelude: '' };
  let first = last;
  while (first >= 0 && !lines[first]!.includes('<!--')) first--;
  if (first < 0) throw new Error(`line ${last + 1}: '-->' without '<!--' before the fence on line ${fenceIndex + 1}`);
  const text = lines
    .slice(first, last + 1)
    .join('\n')
    .replace(/^[\s\S]*?<!--/, '')
    .replace(/-->\s*$/, '')
    .trim();
  const where = `the marker on line ${first + 1} (before the fence on line ${fenceIndex + 1})`;
  if (text === 'fragment') return { kind: 'fragment', prelude: '' };
  if (text.startsWith('fragment:')) {
    const prelude = text.slice('fragment:'.length).trim();
    if (prelude === '') throw new Error(`${where}: 'fragment:' with nothing after it`);
    return { kind: 'fragment', prelude };
  }
  const needs = /^needs:\s*(\S+)$/.exec(text);
  if (needs !== null) {
    if (needs[1] === 'postgres' || needs[1] === 'root') return { kind: needs[1], prelude: '' };
    throw new Error(`${where}: unknown need '${needs[1]}' (known: postgres, root)`);
  }
  throw new Error(`${where}: '<!-- ${text} -->' is not a marker (known: fragment, fragment: TS, needs: postgres, needs: root)`);
}

interface Source {
  /** File name in the temp project's src/ (named after the README line). */
  file: string;
  block: Block;
  /** Lines before the block's first line in the file (the prelude's). */
  offset: number;
}

function sourceFor(block: Block, name = `readme-L${block.line}`): Source {
  const file = `${name}.${block.lang}`;
  return { file, block, offset: block.prelude === '' ? 0 : block.prelude.split('\n').length };
}

function sourceText(s: Source): string {
  return (s.block.prelude === '' ? '' : s.block.prelude + '\n') + s.block.code + '\n';
}

interface Diagnostic {
  file: string;
  line: number;
  col: number;
  code: string;
  message: string;
}

/** tsc's `--pretty false` output: `file(line,col): error TSn: message`, continuation lines indented. */
function parseDiagnostics(out: string): { located: Diagnostic[]; other: string[] } {
  const located: Diagnostic[] = [];
  const other: string[] = [];
  for (const raw of out.split('\n')) {
    if (raw.trim() === '') continue;
    const m = /^(.+?)\((\d+),(\d+)\): error (TS\d+): (.*)$/.exec(raw);
    if (m !== null) located.push({ file: m[1]!, line: Number(m[2]), col: Number(m[3]), code: m[4]!, message: m[5]! });
    else if (/^\s/.test(raw) && located.length > 0) located[located.length - 1]!.message += '\n' + raw;
    else other.push(raw);
  }
  return { located, other };
}

/** A signature in an API heading: "### `name(args)` → `Type`" (several per heading allowed). */
interface Signature {
  line: number;
  name: string;
  returns: string;
}

/** The `name(...)` → `Type` pairs of the README's headings (`vfs.x(...)` and `new X(...)` are not package exports and do not match). */
function extractSignatures(markdown: string): Signature[] {
  const out: Signature[] = [];
  markdown.split('\n').forEach((text, i) => {
    if (!/^#{2,6}\s/.test(text)) return;
    for (const m of text.matchAll(/`([A-Za-z_$][\w$]*)\([^`]*\)`\s*→\s*`([^`]+)`/g)) out.push({ line: i + 1, name: m[1]!, returns: m[2]! });
  });
  return out;
}

/** Types a heading may name that are not the package's own. */
const OUTSIDE_TYPES: Readonly<Record<string, string>> = {
  void: 'void',
  boolean: 'boolean',
  string: 'string',
  number: 'number',
  Writable: `import('node:stream').Writable`,
};

/**
 * One line of TypeScript per signature, true exactly when the heading is: the call returns a
 * Promise exactly when the heading says `Promise<…>`, a `{a, b?}` result has those keys, and a
 * named result is assignable to that type.
 */
function signatureLine(sig: Signature, index: number): string {
  const promise = /^Promise<.*>$/.test(sig.returns);
  const inner = promise ? sig.returns.slice('Promise<'.length, -1).trim() : sig.returns;
  const r = `ReturnType<typeof atomfs.${sig.name}>`;
  const checks = [`(${JSON.stringify(promise ? PROMISE : NO_PROMISE)} as const) satisfies Returns<${r}>`];
  const keys = /^\{(.*)\}$/.exec(inner);
  if (keys !== null) {
    const names = keys[1]!.split(',').map((k) => k.trim().replace(/\?$/, ''));
    checks.push(`(${JSON.stringify(names)} as const) satisfies readonly (keyof Awaited<${r}>)[]`);
  } else if (/^[A-Za-z_$][\w$]*$/.test(inner)) {
    checks.push(`((x: Awaited<${r}>): ${OUTSIDE_TYPES[inner] ?? `atomfs.${inner}`} => x)`);
  } else {
    throw new Error(`line ${sig.line}: '${sig.returns}' is neither a name, {keys} nor Promise<…> of them`);
  }
  return `export const sig${index} = [${checks.join(', ')}];`;
}

const PROMISE = 'a Promise';
const NO_PROMISE = 'not a Promise';
const SIGNATURES_PRELUDE = [
  `import * as atomfs from 'atomfs';`,
  `type Returns<T> = T extends PromiseLike<unknown> ? ${JSON.stringify(PROMISE)} : ${JSON.stringify(NO_PROMISE)};`,
];

function describeRun(r: RunResult): string {
  return `exited ${r.code} (${r.signal ?? 'no signal'})\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
}

const README = fs.readFileSync(path.join(REPO, 'README.md'), 'utf8');
// Read when the file loads so each block is a test of its own; a malformed marker fails here.
const BLOCKS = extractBlocks(README);
const SOURCES = BLOCKS.map((b) => sourceFor(b));
// Not vacuous: wrong blocks, checked in the same tsc run, must be reported at their line.
const SENTINELS = {
  badImport: sourceFor({ line: 1, lang: 'ts', kind: 'program', prelude: '', code: `import { notAnExport } from 'atomfs';\nconsole.log(notAnExport);` }, 'sentinel-bad-import'),
  freeName: sourceFor(
    { line: 1, lang: 'ts', kind: 'fragment', prelude: `import { writeFile } from 'atomfs';`, code: `await writeFile('a', 1);\nawait writeFile('a', token);` },
    'sentinel-free-name',
  ),
  // A JavaScript program that type-checks and fails when it runs (the VFS example's old bug: a LocalMount's root that does not exist).
  failsToRun: sourceFor(
    {
      line: 1,
      lang: 'js',
      kind: 'program',
      prelude: '',
      code: `import { LocalMount, VirtualFileSystem } from 'atomfs';\nconst vfs = new VirtualFileSystem();\nvfs.mount('/srv', new LocalMount('missing'));\nawait vfs.writeFile('/srv/a', 'x');`,
    },
    'sentinel-fails-to-run',
  ),
};
const SENTINEL_SOURCES = Object.values(SENTINELS);

const SIGNATURES = extractSignatures(README);
// Not vacuous: headings that say a Promise where the call returns none, the reverse, and a key the result lacks.
const WRONG_SIGNATURES: Signature[] = [
  { line: 1, name: 'lockSync', returns: 'Promise<Lock>' },
  { line: 2, name: 'move', returns: '{strategy, bytes}' },
  { line: 3, name: 'writeFiles', returns: 'Promise<{paths, notAKey}>' },
];
/** All in one file, one line each after the prelude: a diagnostic's line tells its signature. */
const SIGNATURE_FILE = 'readme-signatures.ts';
const SIGNATURE_LIST = [...SIGNATURES, ...WRONG_SIGNATURES];

describe('README.md code blocks', { timeout: 150_000 }, () => {
  let work = '';
  let tsc: RunResult | undefined;
  let diagnostics: { located: Diagnostic[]; other: string[] } = { located: [], other: [] };

  after(() => {
    if (work !== '') fs.rmSync(work, { recursive: true, force: true });
  });

  before(async () => {
    // Outside the repo: no node_modules above the project but its own.
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'atomfs-readme-'));
    fs.mkdirSync(path.join(work, 'src'));
    fs.mkdirSync(path.join(work, 'node_modules'));
    fs.symlinkSync(REPO, path.join(work, 'node_modules', 'atomfs'), 'dir');
    fs.writeFileSync(path.join(work, 'package.json'), JSON.stringify({ name: 'readme-blocks', private: true, type: 'module' }));
    const all = [...SOURCES, ...SENTINEL_SOURCES];
    for (const s of all) fs.writeFileSync(path.join(work, 'src', s.file), sourceText(s));
    fs.writeFileSync(path.join(work, 'src', SIGNATURE_FILE), [...SIGNATURES_PRELUDE, ...SIGNATURE_LIST.map(signatureLine)].join('\n') + '\n');
    const config = {
      compilerOptions: {
        strict: true,
        target: 'ES2022',
        // Disposable for `await using`, which tsc compiles for Node 20 (as the README says).
        lib: ['ES2022', 'ESNext.Disposable'],
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        // Every block is a module (top-level await), whether or not it imports anything.
        moduleDetection: 'force',
        allowJs: true,
        checkJs: true,
        types: ['node'],
        typeRoots: [path.join(REPO, 'node_modules', '@types')],
        // The package's own declarations are checked by the pack test; here the blocks are.
        skipLibCheck: true,
        rootDir: 'src',
        outDir: 'out',
      },
      files: [...all.map((s) => `src/${s.file}`), `src/${SIGNATURE_FILE}`],
    };
    fs.writeFileSync(path.join(work, 'tsconfig.json'), JSON.stringify(config, null, 2));
    tsc = await runProcess(process.execPath, [TSC, '-p', 'tsconfig.json', '--pretty', 'false'], { cwd: work, timeoutMs: 90_000 });
    diagnostics = parseDiagnostics(tsc.stdout + tsc.stderr);
  });

  /** The errors tsc reported in one source, at README lines. */
  function errorsOf(s: Source): string[] {
    return diagnostics.located
      .filter((d) => d.file === `src/${s.file}`)
      .map((d) => {
        const inBlock = d.line - s.offset;
        const where = inBlock >= 1 ? `README.md:${s.block.line + inBlock - 1}:${d.col}` : `the marker's prelude, line ${d.line}`;
        return `${where} ${d.code}: ${d.message}`;
      });
  }

  /** The errors tsc reported on one signature's line. */
  function signatureErrors(index: number): string[] {
    return diagnostics.located
      .filter((d) => d.file === `src/${SIGNATURE_FILE}` && d.line === SIGNATURES_PRELUDE.length + 1 + index)
      .map((d) => `${d.code}: ${d.message}`);
  }

  /** Runs a compiled source with node in a fresh folder of its own as the working folder. */
  async function run(s: Source, env?: Record<string, string>): Promise<RunResult> {
    const js = path.join(work, 'out', s.file.replace(/\.ts$/, '.js'));
    assert.ok(fs.existsSync(js), js);
    const cwd = path.join(work, 'run', s.file.replace(/\.[jt]s$/, ''));
    fs.mkdirSync(cwd, { recursive: true });
    return runProcess(process.execPath, [js], { cwd, timeoutMs: 30_000, ...(env !== undefined ? { env } : {}) });
  }

  it('reads the blocks and their markers', () => {
    assert.ok(BLOCKS.length > 0, 'README.md has ts/js blocks');
    const md = [
      'text',
      '```ts',
      'whole();',
      '```',
      '<!-- fragment -->',
      '```typescript',
      'part();',
      '```',
      '```sh',
      'ls',
      '```',
      '<!--',
      'fragment: declare const a: number;',
      'declare const b: string;',
      '-->',
      '````js',
      '```',
      'b;',
      '````',
      '<!-- needs: postgres -->',
      '```javascript',
      '```',
    ].join('\n');
    assert.deepEqual(extractBlocks(md), [
      { line: 3, lang: 'ts', kind: 'program', prelude: '', code: 'whole();' },
      { line: 7, lang: 'ts', kind: 'fragment', prelude: '', code: 'part();' },
      { line: 17, lang: 'js', kind: 'fragment', prelude: 'declare const a: number;\ndeclare const b: string;', code: '```\nb;' },
      { line: 22, lang: 'js', kind: 'postgres', prelude: '', code: '' },
    ]);
    assert.throws(() => extractBlocks('<!-- fragmnt -->\n```ts\nx\n```'), /not a marker/);
    assert.throws(() => extractBlocks('<!-- needs: network -->\n```ts\nx\n```'), /unknown need 'network'/);
    assert.throws(() => extractBlocks('<!-- fragment: -->\n```ts\nx\n```'), /nothing after it/);
    assert.throws(() => extractBlocks('```ts\nx\n'), /never closed/);
    // A comment before a shell block is none of this test's business.
    assert.deepEqual(extractBlocks('<!-- anything -->\n```sh\nls\n```'), []);
  });

  it('tsc ran and reported nothing outside the blocks', () => {
    assert.ok(tsc !== undefined);
    assert.deepEqual(diagnostics.other, [], tsc.stdout + tsc.stderr);
    const known = new Set([...SOURCES, ...SENTINEL_SOURCES].map((s) => `src/${s.file}`).concat(`src/${SIGNATURE_FILE}`));
    assert.deepEqual(diagnostics.located.filter((d) => !known.has(d.file)), []);
  });

  it('a wrong block is caught, at its line', () => {
    const bad = errorsOf(SENTINELS.badImport);
    assert.equal(bad.length, 1, bad.join('\n'));
    assert.match(bad[0]!, /^README\.md:1:\d+ TS2305: Module '"atomfs"' has no exported member 'notAnExport'/);
    const free = errorsOf(SENTINELS.freeName);
    assert.equal(free.length, 2, free.join('\n'));
    assert.match(free[0]!, /^README\.md:1:\d+ TS2345: /); // a number is not data
    assert.match(free[1]!, /^README\.md:2:\d+ TS2304: Cannot find name 'token'/);
  });

  it('a JavaScript block is type-checked and run, and a program that fails is caught', async () => {
    assert.deepEqual(errorsOf(SENTINELS.failsToRun), []);
    const r = await run(SENTINELS.failsToRun);
    assert.equal(r.code, 1, describeRun(r));
    assert.match(r.stderr, /AtomfsError: ENOENT: no such file or directory, realpath '\/srv\/a'/);
  });

  it('a heading that says the wrong return is caught', () => {
    assert.deepEqual(
      extractSignatures('### `a(x)` → `Promise<T>`, `b()` → `{c, d?}`, `vfs.e()` → `X`\n`f()` → `Y`\n## `g(y, {z = 1})` → `Z`'),
      [
        { line: 1, name: 'a', returns: 'Promise<T>' },
        { line: 1, name: 'b', returns: '{c, d?}' },
        { line: 3, name: 'g', returns: 'Z' },
      ],
    );
    WRONG_SIGNATURES.forEach((sig, i) => {
      const errors = signatureErrors(SIGNATURES.length + i);
      assert.equal(errors.length, 1, `${sig.name} → ${sig.returns}: ${errors.join('\n')}`);
    });
    assert.match(signatureErrors(SIGNATURES.length)[0]!, /TS1360: Type '"a Promise"' does not satisfy the expected type '"not a Promise"'/);
    assert.match(signatureErrors(SIGNATURES.length + 1)[0]!, /TS1360: Type '"not a Promise"' does not satisfy the expected type '"a Promise"'/);
    assert.match(signatureErrors(SIGNATURES.length + 2)[0]!, /TS2322: Type '"notAKey"' is not assignable to type 'keyof WriteFilesResult'/);
  });

  it('the API headings name the return of each call as declared (a Promise where it is one)', () => {
    assert.ok(SIGNATURES.length > 0, 'README.md has "`name(args)` → `Type`" headings');
    const wrong = SIGNATURES.flatMap((sig, i) => signatureErrors(i).map((e) => `README.md:${sig.line} \`${sig.name}(…)\` → \`${sig.returns}\`: ${e}`));
    assert.deepEqual(wrong, []);
  });

  for (const s of SOURCES) {
    const b = s.block;
    const label = `README.md:${b.line} (${b.kind === 'program' ? 'a whole program' : b.kind === 'fragment' ? 'a fragment' : `needs ${b.kind}`})`;

    it(`${label} type-checks`, () => {
      assert.ok(tsc !== undefined);
      const errors = errorsOf(s);
      if (errors.length > 0) assert.fail(`\n${errors.join('\n')}\n--- the block as checked (src/${s.file}) ---\n${sourceText(s)}`);
    });

    it(`${label} runs`, async (t) => {
      if (b.kind === 'fragment') return t.skip('a fragment (marked): type-checked only');
      if (b.kind === 'root') return t.skip('needs root (marked): it changes the machine, so type-checked only');
      assert.equal(errorsOf(s).length, 0, 'it does not type-check (see the type-check test)');
      let r: RunResult;
      if (b.kind === 'postgres') {
        // On a throwaway server of its own (DATABASE_URL, as the block reads it); on your own
        // server (ATOMFS_TEST_PG_URL) it would leave the schema it names there: not run.
        const why = pgMissing();
        if (why !== undefined) return t.skip(why);
        const srv = await startPg();
        if (typeof srv === 'string') return t.skip(srv);
        try {
          if (!srv.own) return t.skip('ATOMFS_TEST_PG_URL is a server of your own: the block would leave its schema there');
          r = await run(s, { DATABASE_URL: srv.url });
        } finally {
          await srv.stop();
        }
      } else {
        r = await run(s);
      }
      assert.equal(r.code, 0, `README.md:${b.line} ${describeRun(r)}`);
    });
  }
});
