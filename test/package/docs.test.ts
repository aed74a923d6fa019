/**
 * The API reference (#18.3): `npm run docs` is TypeDoc over every entry point of the package,
 * with warnings as errors. This runs the same TypeDoc on the same config (into a temp folder,
 * plus a JSON model of the reference) and fails on any warning: an export without
 * documentation, a link that does not resolve, a type the reference cannot show.
 *
 * Then every error code a `@throws` of an exported function, method or constructor names
 * (a backticked `ENOENT`, `ABORT_ERR`, …) is checked, in two ways:
 * - it is in atomfs's list of codes (src/errors.ts): a member of `AtomfsErrorCode` (the
 *   codes atomfs raises itself) or a code `AtomfsError` has libuv's description for (the
 *   system-call codes it passes through);
 * - the function can produce it, as far as a look at its code can tell: the code is a
 *   string literal (in code, not a comment or a type) in the function's module or in a
 *   module it imports, directly or not; or it is a system-call code with a libuv
 *   description and the module graph reaches the file-system seam (src/internal/fs-ops.ts,
 *   where every system call is made). The literal rule is a static over-approximation: a
 *   code the graph only compares against counts too, and the seam rule admits any
 *   system-call code for any function that makes system calls. What it catches is a code
 *   no part of the function's code knows (a PostgresMount code documented on a local
 *   function, a typo, a copy-pasted list), and a code claimed by a function that makes no
 *   system call. A `@throws` that defers to another function ("every code of
 *   {@link lock}") must name one whose module the function's module graph reaches.
 *
 * src/errors.ts is left out of the literal search for every module but itself: its
 * `toAtomfsError` keeps the code of what it wraps, and the few codes it spells out are the
 * ones its own functions raise.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ReflectionKind } from 'typedoc';
import ts from 'typescript';
import { AtomfsError } from '../../src/index.js';
import { REPO, runProcess, type RunResult } from '../helpers/cli.js';

const TYPEDOC = path.join(REPO, 'node_modules', 'typedoc', 'bin', 'typedoc');
const SEAM = 'src/internal/fs-ops.ts';
const ERRORS = 'src/errors.ts';
const CODE_RE = /^`(E[A-Z0-9]+|ABORT_ERR)`$/;

/** The parts of TypeDoc's JSON model this test reads. */
interface Part {
  readonly kind: 'text' | 'code' | 'inline-tag' | 'relative-link';
  readonly text: string;
  readonly tag?: string;
  readonly target?: number | { readonly packageName: string; readonly qualifiedName: string };
}
interface Node {
  readonly id: number;
  readonly name: string;
  readonly kind: number;
  readonly children?: readonly Node[];
  readonly signatures?: readonly Node[];
  readonly getSignature?: Node;
  readonly setSignature?: Node;
  readonly sources?: readonly { readonly fileName: string; readonly line: number }[];
  readonly comment?: { readonly blockTags?: readonly { readonly tag: string; readonly content: readonly Part[] }[] };
  readonly type?: { readonly type: string; readonly types?: readonly { readonly type: string; readonly value?: unknown }[] };
}

/** A `@throws` of a callable the package exports. */
interface Throws {
  readonly where: string;
  readonly file: string;
  readonly codes: readonly string[];
  /** Ids of the functions and methods it links to ("every code of {@link lock}"). */
  readonly links: readonly number[];
}

function* walk(n: Node, owner: readonly Node[] = []): Generator<{ node: Node; owner: readonly Node[] }> {
  yield { node: n, owner };
  const below = [...owner, n];
  for (const c of n.children ?? []) yield* walk(c, below);
  for (const s of n.signatures ?? []) yield* walk(s, below);
  if (n.getSignature) yield* walk(n.getSignature, below);
  if (n.setSignature) yield* walk(n.setSignature, below);
}

const CALLABLE = ReflectionKind.Function | ReflectionKind.Method | ReflectionKind.Constructor | ReflectionKind.Accessor;
const SIGNATURE = ReflectionKind.CallSignature | ReflectionKind.ConstructorSignature | ReflectionKind.GetSignature | ReflectionKind.SetSignature;
// A member of an interface or a type literal has no code of its own to check.
const SHAPE = ReflectionKind.Interface | ReflectionKind.TypeLiteral | ReflectionKind.TypeAlias;

/** Every `@throws` on a signature of an exported function, method, constructor or accessor. */
function throwsOf(project: Node): Throws[] {
  const out: Throws[] = [];
  for (const { node, owner } of walk(project)) {
    if ((node.kind & SIGNATURE) === 0) continue;
    const decl = owner.at(-1);
    if (decl === undefined || (decl.kind & CALLABLE) === 0 || owner.some((o) => (o.kind & SHAPE) !== 0)) continue;
    const file = (node.sources ?? decl.sources)?.[0]?.fileName;
    for (const tag of node.comment?.blockTags ?? []) {
      if (tag.tag !== '@throws') continue;
      assert.ok(file !== undefined, `no source for ${decl.name}`);
      const codes = tag.content.flatMap((p) => (p.kind === 'code' ? (CODE_RE.exec(p.text)?.slice(1, 2) ?? []) : []));
      const links = tag.content.flatMap((p) => (p.kind === 'inline-tag' && typeof p.target === 'number' ? [p.target] : []));
      const where = `${owner.slice(1).map((o) => o.name).join('.')} (${file}:${node.sources?.[0]?.line ?? '?'})`;
      out.push({ where, file, codes, links });
    }
  }
  return out;
}

/** Relative module specifiers a file imports or re-exports as values (type-only ones run nothing). */
function valueImports(sf: ts.SourceFile): string[] {
  const specs: string[] = [];
  const visit = (n: ts.Node): void => {
    if (ts.isImportDeclaration(n) && !n.importClause?.isTypeOnly && ts.isStringLiteral(n.moduleSpecifier)) specs.push(n.moduleSpecifier.text);
    else if (ts.isExportDeclaration(n) && !n.isTypeOnly && n.moduleSpecifier && ts.isStringLiteral(n.moduleSpecifier)) specs.push(n.moduleSpecifier.text);
    else if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword && n.arguments[0] && ts.isStringLiteral(n.arguments[0])) {
      specs.push(n.arguments[0].text);
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return specs.filter((s) => s.startsWith('.'));
}

/** Error-code-shaped string literals used as values (not types, not comments). */
function codeLiterals(sf: ts.SourceFile): Set<string> {
  const found = new Set<string>();
  const visit = (n: ts.Node): void => {
    if ((ts.isStringLiteral(n) || ts.isNoSubstitutionTemplateLiteral(n)) && !ts.isLiteralTypeNode(n.parent) && /^(E[A-Z0-9]+|ABORT_ERR)$/.test(n.text)) {
      found.add(n.text);
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return found;
}

/** What the source tree says about each module: its value imports and its code literals. */
class SourceGraph {
  readonly #files = new Map<string, { imports: string[]; codes: Set<string> }>();
  readonly #closures = new Map<string, Set<string>>();

  #file(rel: string): { imports: string[]; codes: Set<string> } {
    let f = this.#files.get(rel);
    if (f === undefined) {
      const abs = path.join(REPO, rel);
      const sf = ts.createSourceFile(abs, fs.readFileSync(abs, 'utf8'), ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
      const imports = valueImports(sf).map((s) => path.relative(REPO, path.resolve(path.dirname(abs), s.replace(/\.js$/, '.ts'))));
      f = { imports, codes: codeLiterals(sf) };
      this.#files.set(rel, f);
    }
    return f;
  }

  /** The module and every module it reaches through value imports. */
  closure(rel: string): Set<string> {
    let seen = this.#closures.get(rel);
    if (seen === undefined) {
      seen = new Set<string>();
      const todo = [rel];
      while (todo.length > 0) {
        const f = todo.pop()!;
        if (seen.has(f)) continue;
        seen.add(f);
        todo.push(...this.#file(f).imports);
      }
      this.#closures.set(rel, seen);
    }
    return seen;
  }

  /** The code literals of `rel`'s module graph (errors.ts only when it is `rel` itself). */
  literals(rel: string): Set<string> {
    const all = new Set<string>();
    for (const f of this.closure(rel)) if (f !== ERRORS || rel === ERRORS) for (const c of this.#file(f).codes) all.add(c);
    return all;
  }
}

/** Whether `AtomfsError` has libuv's description for `code` (the codes of system calls it knows). */
function described(code: string): boolean {
  return !new AtomfsError(code, undefined, { operation: 'docs-test' }).message.includes('unknown error');
}

/** The members of the `AtomfsErrorCode` union, read from the reference itself. */
function atomfsErrorCodes(project: Node): Set<string> {
  const alias = [...walk(project)].map((w) => w.node).find((n) => n.name === 'AtomfsErrorCode' && n.kind === ReflectionKind.TypeAlias);
  assert.ok(alias?.type?.type === 'union', 'AtomfsErrorCode is a union in the reference');
  return new Set(alias.type.types!.flatMap((t) => (t.type === 'literal' && typeof t.value === 'string' ? [t.value] : [])));
}

/** The problems with one `@throws` (empty when there are none). */
function problems(t: Throws, known: ReadonlySet<string>, graph: SourceGraph, files: ReadonlyMap<number, string>): string[] {
  const out: string[] = [];
  const literals = graph.literals(t.file);
  const syscalls = graph.closure(t.file).has(SEAM);
  for (const code of t.codes) {
    if (!known.has(code) && !described(code)) out.push(`${t.where}: \`${code}\` is not an atomfs error code (src/errors.ts)`);
    else if (!literals.has(code) && !(syscalls && described(code))) {
      out.push(`${t.where}: \`${code}\` appears nowhere in ${t.file}'s module graph${described(code) ? ', which makes no system call' : ''}`);
    }
  }
  for (const id of t.links) {
    const target = files.get(id);
    if (target !== undefined && !graph.closure(t.file).has(target)) out.push(`${t.where}: defers to a function in ${target}, which ${t.file} does not import`);
  }
  return out;
}

describe('API reference (npm run docs)', () => {
  let dir: string;
  let run: RunResult;
  let project: Node | undefined;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'atomfs-docs-'));
    // The config's own settings (typedoc.json), only the output redirected.
    run = await runProcess(process.execPath, [TYPEDOC, '--out', path.join(dir, 'html'), '--json', path.join(dir, 'api.json')], { timeoutMs: 180_000 });
    if (run.code === 0) project = JSON.parse(fs.readFileSync(path.join(dir, 'api.json'), 'utf8')) as Node;
  });
  after(() => {
    if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('is TypeDoc over every entry point of package.json, warnings as errors, into the ignored docs/api', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { scripts: Record<string, string>; exports: Record<string, unknown> };
    assert.equal(pkg.scripts['docs'], 'typedoc');
    const cfg = JSON.parse(fs.readFileSync(path.join(REPO, 'typedoc.json'), 'utf8')) as {
      entryPoints: string[];
      out: string;
      treatWarningsAsErrors: boolean;
      validation: Record<string, boolean>;
    };
    assert.equal(cfg.treatWarningsAsErrors, true);
    for (const v of ['notExported', 'invalidLink', 'notDocumented']) assert.equal(cfg.validation[v], true, v);
    assert.equal(cfg.out, 'docs/api');
    assert.match(fs.readFileSync(path.join(REPO, '.gitignore'), 'utf8'), /^docs\/api\/?$/m);
    // Every code export's source: "./testing" -> dist/testing/index.js -> src/testing/index.ts.
    const wanted = Object.entries(pkg.exports)
      .filter(([k]) => k !== './package.json')
      .map(([k, v]) => {
        const js = (v as { default: string }).default;
        assert.ok(js.startsWith('./dist/'), `${k}: ${js}`);
        return `src/${js.slice('./dist/'.length).replace(/\.js$/, '.ts')}`;
      });
    assert.deepEqual([...cfg.entryPoints].sort(), wanted.sort());
  });

  it('builds with no warning and no error', () => {
    const text = (run.stdout + run.stderr).replace(/\x1b\[[0-9;]*m/g, '');
    const bad = text.split('\n').filter((l) => /\[(warning|error)\]/.test(l));
    assert.deepEqual(bad, [], text);
    assert.equal(run.code, 0, text);
    assert.ok(fs.existsSync(path.join(dir, 'html', 'index.html')));
  });

  it('every @throws code is an atomfs code the function can produce', () => {
    // A reference that did not build is this test's failure too, never a skip.
    assert.ok(project !== undefined, `no reference: TypeDoc failed (${run.code}): ${run.stderr.slice(0, 500)}`);
    const all = throwsOf(project);
    const known = atomfsErrorCodes(project);
    const files = new Map<number, string>();
    for (const { node } of walk(project)) {
      if ((node.kind & (ReflectionKind.Function | ReflectionKind.Method)) !== 0 && node.sources?.[0]) files.set(node.id, node.sources[0].fileName);
    }
    const graph = new SourceGraph();
    // Not vacuous: the reference holds the @throws of the whole API.
    assert.ok(all.length >= 60, `only ${all.length} @throws found`);
    assert.ok(all.reduce((n, x) => n + x.codes.length, 0) >= 200);
    assert.ok(all.filter((x) => x.links.some((id) => files.has(id))).length >= 3, 'the deferrals ("every code of {@link lock}") are seen');
    assert.deepEqual(all.flatMap((x) => problems(x, known, graph, files)), []);
  });

  it('the code check fails where it should', () => {
    assert.ok(project !== undefined, `no reference: TypeDoc failed (${run.code}): ${run.stderr.slice(0, 500)}`);
    const known = atomfsErrorCodes(project);
    const graph = new SourceGraph();
    const check = (file: string, codes: string[], links: number[] = [], files = new Map<number, string>()): string[] =>
      problems({ where: 'x', file, codes, links }, known, graph, files);
    // A typo, and a code no part of atomfs raises.
    assert.equal(check('src/write/json.ts', ['ENOENTT', 'EWHATEVER']).length, 2);
    // A code atomfs raises elsewhere only (PostgresMount), claimed by JSON writing.
    assert.deepEqual(check('src/write/json.ts', ['ECONNREFUSED']), ["x: `ECONNREFUSED` appears nowhere in src/write/json.ts's module graph"]);
    // A system-call code claimed by a module that makes no system call.
    assert.equal(check('src/errors.ts', ['ENOSPC']).length, 1);
    // A deferral to a function the module never imports.
    assert.equal(check('src/errors.ts', [], [1], new Map([[1, 'src/lock/lock.ts']])).length, 1);
    // And the true claims pass.
    assert.deepEqual(check('src/write/json.ts', ['EINVAL', 'ENOSPC', 'ABORT_ERR']), []);
    assert.deepEqual(check('src/errors.ts', ['EINVAL']), []);
  });
});
