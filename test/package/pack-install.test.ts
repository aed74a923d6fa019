/**
 * The package installs (#18.1): a clean copy of the repo is packed with `npm pack` (which
 * builds through `prepare`), the tarball is installed into a fresh project outside the repo
 * WITHOUT the network, and the installed package is used the ways people use packages: every
 * export from ESM, `require` from CommonJS, a strict type-check of a file using every export
 * under moduleResolution NodeNext, Node16 and bundler, and the `atomfs` bin.
 *
 * Offline install: `npm ci` fills the npm cache with tarballs by integrity, not with the
 * registry's metadata documents, so `npm install --offline <tarball>` cannot resolve
 * `cli-progress@^3.12.0`. The temp project gets a lockfile instead: the tarball (with its
 * sha512) plus the repo's own lockfile entries for the runtime dependencies, and
 * `npm ci --offline` takes them from the cache. A dependency missing from the cache skips
 * the test with the reason (ENOTCACHED), it never reaches the network.
 *
 * Every child is bounded by a timeout and reaped (runProcess); every temp folder is removed.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REPO, runProcess, type RunResult } from '../helpers/cli.js';

const PKG = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  license: string;
  engines: { node: string };
  bin: Record<string, string>;
  dependencies: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
};
const TSC = path.join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');
const SUBPATHS = ['atomfs', 'atomfs/testing', 'atomfs/cli'] as const;

/** What the build and the pack need from a clean clone (the rest of the repo is not packed). */
const CLONE = ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.base.json', 'README.md', 'LICENSE', 'bin', 'src'];

/** The names src/index.ts exports, split into values and types. */
function barrelNames(): { values: string[]; types: string[] } {
  const text = fs.readFileSync(path.join(REPO, 'src', 'index.ts'), 'utf8');
  const values: string[] = [];
  const types: string[] = [];
  for (const m of text.matchAll(/export\s+(type\s+)?\{([^}]*)\}\s*from/g)) {
    for (const raw of m[2]!.split(',')) {
      let item = raw.trim();
      if (item === '') continue;
      let isType = m[1] !== undefined;
      if (item.startsWith('type ')) {
        isType = true;
        item = item.slice(5).trim();
      }
      const name = item.includes(' as ') ? item.split(' as ')[1]!.trim() : item;
      (isType ? types : values).push(name);
    }
  }
  return { values: values.sort(), types: types.sort() };
}

/** Every bare (non-relative) specifier reachable from `entry` through static and dynamic imports and worker URLs. */
function bareImports(entry: string): Set<string> {
  const bare = new Set<string>();
  const seen = new Set<string>();
  const walk = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    // Comments out first: the TSDoc examples `import ... from 'atomfs'` are not imports.
    const code = fs
      .readFileSync(file, 'utf8')
      .replace(/\/\*[\s\S]*?\*\//g, '')
      .replace(/(^|\s)\/\/.*$/gm, '$1');
    const re = /(?:import|export)\s[^;]*?from\s*['"]([^'"]+)['"]|import\s*\(\s*['"]([^'"]+)['"]\s*\)|import\s*['"]([^'"]+)['"]|new URL\(\s*['"](\.[^'"]+)['"]/g;
    for (const m of code.matchAll(re)) {
      const spec = m[1] ?? m[2] ?? m[3] ?? m[4]!;
      if (spec.startsWith('.')) walk(path.resolve(path.dirname(file), spec));
      else bare.add(spec);
    }
  };
  walk(entry);
  return bare;
}

function ok(r: RunResult, what: string): string {
  assert.equal(r.code, 0, `${what} exited ${r.code} (${r.signal ?? 'no signal'})\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.stdout;
}

/** npm, quiet and offline-minded, bounded. */
function npm(args: string[], cwd: string, timeoutMs: number): Promise<RunResult> {
  return runProcess('npm', args, {
    cwd,
    timeoutMs,
    env: { npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' },
  });
}

/** The keys each specifier exports, as seen from a child run in `cwd`. */
async function exportedKeys(cwd: string, specs: readonly string[], how: 'import' | 'require'): Promise<Record<string, string[]>> {
  const script =
    how === 'import'
      ? `const out = {}; for (const s of ${JSON.stringify(specs)}) out[s] = Object.keys(await import(s)).sort(); console.log(JSON.stringify(out));`
      : `const out = {}; for (const s of ${JSON.stringify(specs)}) out[s] = Object.keys(require(s)).sort(); console.log(JSON.stringify(out));`;
  const file = path.join(cwd, how === 'import' ? 'keys.mjs' : 'keys.cjs');
  fs.writeFileSync(file, script);
  const out = ok(await runProcess(process.execPath, [file], { cwd, timeoutMs: 15_000 }), `${how} of ${specs.join(', ')}`);
  return JSON.parse(out) as Record<string, string[]>;
}

describe('the packed package', { timeout: 120_000 }, () => {
  let skip: string | undefined;
  let work = '';
  let project = '';
  let files: string[] = [];

  // Removed in every outcome (after runs even when before or a test fails).
  after(() => {
    if (work !== '') fs.rmSync(work, { recursive: true, force: true });
  });

  before(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'atomfs-pack-'));
    // A clean clone: sources and configs only, no dist/, the repo's node_modules for the build.
    const clone = path.join(work, 'clone');
    fs.mkdirSync(clone);
    for (const name of CLONE) fs.cpSync(path.join(REPO, name), path.join(clone, name), { recursive: true });
    fs.symlinkSync(fs.realpathSync(path.join(REPO, 'node_modules')), path.join(clone, 'node_modules'), 'dir');

    // `npm pack` runs `prepare`, which builds dist/ in the clone.
    const packed = ok(await npm(['pack', '--json', '--pack-destination', work], clone, 90_000), 'npm pack');
    const info = JSON.parse(packed.slice(packed.indexOf('['))) as Array<{ filename: string; integrity: string; files: Array<{ path: string }> }>;
    files = info[0]!.files.map((f) => f.path).sort();
    const tarball = info[0]!.filename;
    assert.ok(fs.existsSync(path.join(work, tarball)), `${tarball} in ${work}`);

    // A fresh project outside the repo (no node_modules above it to hide a missing dependency).
    project = path.join(work, 'project');
    fs.mkdirSync(project);
    fs.renameSync(path.join(work, tarball), path.join(project, tarball));
    const lock = JSON.parse(fs.readFileSync(path.join(REPO, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { dev?: boolean }>;
    };
    const integrity = 'sha512-' + createHash('sha512').update(fs.readFileSync(path.join(project, tarball))).digest('base64');
    const packages: Record<string, unknown> = {
      '': { name: 'consumer', version: '1.0.0', dependencies: { atomfs: `file:${tarball}` } },
      'node_modules/atomfs': {
        version: PKG.version,
        resolved: `file:${tarball}`,
        integrity,
        license: PKG.license,
        dependencies: PKG.dependencies,
        peerDependencies: PKG.peerDependencies,
        peerDependenciesMeta: PKG.peerDependenciesMeta,
        bin: PKG.bin,
        engines: PKG.engines,
      },
    };
    for (const [k, v] of Object.entries(lock.packages)) if (k !== '' && v.dev !== true) packages[k] = v;
    fs.writeFileSync(
      path.join(project, 'package.json'),
      JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module', dependencies: { atomfs: `file:${tarball}` } }, null, 2),
    );
    fs.writeFileSync(
      path.join(project, 'package-lock.json'),
      JSON.stringify({ name: 'consumer', version: '1.0.0', lockfileVersion: 3, requires: true, packages }, null, 2),
    );
    const installed = await npm(['ci', '--offline', '--ignore-scripts', '--no-audit', '--no-fund'], project, 60_000);
    if (installed.code !== 0 && /ENOTCACHED/.test(installed.stderr)) {
      skip = `a runtime dependency is not in the npm cache (run 'npm ci' once with the network): ${installed.stderr.split('\n')[0]}`;
      return;
    }
    ok(installed, 'npm ci --offline');
  });

  it('ships the build, the bin, README and LICENSE, and no source maps, sources or build info', (t) => {
    if (skip !== undefined) return t.skip(skip);
    for (const f of ['LICENSE', 'README.md', 'package.json', 'bin/atomfs.js', 'dist/index.js', 'dist/index.d.ts', 'dist/testing/index.js', 'dist/cli/main.js']) {
      assert.ok(files.includes(f), `${f} in the tarball: ${files.join(', ')}`);
    }
    assert.deepEqual(files.filter((f) => /\.map$|\.tsbuildinfo$|^src\/|^test\//.test(f)), []);
    const dist = path.join(project, 'node_modules', 'atomfs', 'dist');
    const withMaps = fs
      .readdirSync(dist, { recursive: true, encoding: 'utf8' })
      .filter((f) => /\.[jt]s$/.test(f) && /sourceMappingURL/.test(fs.readFileSync(path.join(dist, f), 'utf8')));
    assert.deepEqual(withMaps, []);
    assert.equal(fs.readFileSync(path.join(project, 'node_modules', 'atomfs', 'LICENSE'), 'utf8').split('\n')[0], 'MIT License');
  });

  it('every export imports from ESM, the same as the repo build', async (t) => {
    if (skip !== undefined) return t.skip(skip);
    const installed = await exportedKeys(project, SUBPATHS, 'import');
    const repoSpecs = ['dist/index.js', 'dist/testing/index.js', 'dist/cli/main.js'].map((f) => `file://${path.join(REPO, f)}`);
    const repo = await exportedKeys(work, repoSpecs, 'import');
    SUBPATHS.forEach((s, i) => {
      assert.ok(installed[s]!.length > 0, s);
      assert.deepEqual(installed[s], repo[repoSpecs[i]!], s);
    });
    assert.deepEqual(installed['atomfs'], barrelNames().values);
  });

  it('requires from CommonJS on every Node that engines admits', async (t) => {
    if (skip !== undefined) return t.skip(skip);
    assert.equal(PKG.engines.node, '>=20.19', 'require(esm) is unflagged from Node 20.19: engines must not admit less');
    const esm = await exportedKeys(project, SUBPATHS, 'import');
    const cjs = await exportedKeys(project, SUBPATHS, 'require');
    for (const s of SUBPATHS) assert.deepEqual(cjs[s]!.filter((k) => k !== '__esModule'), esm[s], s);
  });

  it('the library never loads cli-progress; the CLI reaches it, installed, and loads it only to draw a bar', async (t) => {
    if (skip !== undefined) return t.skip(skip);
    const dist = path.join(project, 'node_modules', 'atomfs', 'dist');
    for (const entry of ['index.js', 'testing/index.js']) {
      const bare = [...bareImports(path.join(dist, entry))].filter((s) => !s.startsWith('node:'));
      assert.deepEqual(bare, [], `${entry} reaches only node: built-ins`);
    }
    assert.ok(bareImports(path.join(dist, 'cli', 'main.js')).has('cli-progress'), 'the walker sees the CLI import cli-progress');
    // At run time too: cli-progress (CommonJS) is not in require.cache after the library, nor
    // after the CLI's module (it is imported when a bar is drawn, see test/cli/progress-lazy);
    // it resolves from the project, so that import will find it.
    const probe = path.join(project, 'probe.cjs');
    fs.writeFileSync(
      probe,
      `const loaded = () => Object.keys(require.cache).some((k) => k.includes('cli-progress'));
       require('atomfs'); require('atomfs/testing'); const lib = loaded();
       import('atomfs/cli').then(() => console.log(JSON.stringify({ lib, cli: loaded(), at: require.resolve('cli-progress') })));`,
    );
    const r = JSON.parse(ok(await runProcess(process.execPath, [probe], { cwd: project, timeoutMs: 15_000 }), 'probe')) as { lib: boolean; cli: boolean; at: string };
    assert.deepEqual({ lib: r.lib, cli: r.cli }, { lib: false, cli: false });
    assert.ok(r.at.startsWith(fs.realpathSync(project) + path.sep), `cli-progress installed in the project: ${r.at}`);
  });

  for (const [mode, module] of [
    ['NodeNext', 'NodeNext'],
    ['Node16', 'Node16'],
    ['bundler', 'ESNext'],
  ] as const) {
    it(`type-checks a file using every export, strict, moduleResolution ${mode}`, async (t) => {
      if (skip !== undefined) return t.skip(skip);
      const { values, types } = barrelNames();
      const use = [
        `import { ${values.join(', ')} } from 'atomfs';`,
        `import * as testing from 'atomfs/testing';`,
        `import { main } from 'atomfs/cli';`,
        `export type { ${types.join(', ')} } from 'atomfs';`,
        `export const everyValue: readonly unknown[] = [${values.join(', ')}, testing, main];`,
        `export async function demo(): Promise<void> {`,
        `  await writeFile('a.txt', 'x', { fsync: false });`,
        `  const text: string = await readFile('a.txt', { encoding: 'utf8' });`,
        `  try { await rename('a.txt', 'b.txt'); } catch (err) { if (isAtomfsError(err)) { const code: string = err.code; void code; } }`,
        `  void text;`,
        `}`,
      ].join('\n');
      const dir = path.join(project, `tsc-${mode}`);
      fs.mkdirSync(dir);
      fs.writeFileSync(path.join(dir, 'use.ts'), use + '\n');
      fs.writeFileSync(path.join(dir, 'bad.ts'), `import { notAnExport } from 'atomfs';\nexport const x: unknown = notAnExport;\n`);
      const config = (file: string): object => ({
        compilerOptions: {
          strict: true,
          noEmit: true,
          target: 'ES2022',
          lib: ['ES2022'],
          module,
          moduleResolution: mode,
          types: ['node'],
          typeRoots: [path.join(REPO, 'node_modules', '@types')],
          skipLibCheck: false,
        },
        files: [file],
      });
      fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify(config('use.ts'), null, 2));
      fs.writeFileSync(path.join(dir, 'tsconfig.bad.json'), JSON.stringify(config('bad.ts'), null, 2));
      ok(await runProcess(process.execPath, [TSC, '-p', 'tsconfig.json'], { cwd: dir, timeoutMs: 45_000 }), `tsc (${mode})`);
      // Not vacuous: a name the package does not export is an error.
      const bad = await runProcess(process.execPath, [TSC, '-p', 'tsconfig.bad.json'], { cwd: dir, timeoutMs: 45_000 });
      assert.notEqual(bad.code, 0);
      assert.match(bad.stdout, /TS2305|TS2724/, bad.stdout);
    });
  }

  it('the installed bin prints the package version', async (t) => {
    if (skip !== undefined) return t.skip(skip);
    const out = ok(await runProcess(path.join(project, 'node_modules', '.bin', 'atomfs'), ['--version'], { cwd: project, timeoutMs: 15_000 }), 'atomfs --version');
    assert.equal(out.trim(), PKG.version);
  });
});
