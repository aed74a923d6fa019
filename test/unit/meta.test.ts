/**
 * Checks on the code base itself: the seam is the only importer of node:fs, no default
 * exports, every public export documented with @throws and @example, the README agrees
 * with the code.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import * as api from '../../src/index.js';
import { TEMP_NAME_RE } from '../../src/internal/temp-name.js';

const ROOT = process.cwd();
const SRC = path.join(ROOT, 'src');

function sources(dir = SRC): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

describe('code base', () => {
  it('only internal/fs-ops.ts imports node:fs', () => {
    const offenders = sources().filter(
      (f) => !f.endsWith(path.join('internal', 'fs-ops.ts')) && /from ['"](node:)?fs(\/promises)?['"]/.test(fs.readFileSync(f, 'utf8')),
    );
    assert.deepEqual(offenders, []);
  });

  it('has no default exports and no import-time side effects in the barrel', () => {
    for (const f of sources()) assert.ok(!/export default/.test(fs.readFileSync(f, 'utf8')), f);
    const barrel = fs.readFileSync(path.join(SRC, 'index.ts'), 'utf8');
    const code = barrel.replace(/\/\*\*[\s\S]*?\*\//g, '').split('\n').filter((l) => l.trim() !== '');
    for (const line of code) assert.match(line, /^export (type )?\{|^ |^\} from /, `barrel line: ${line}`);
  });

  it('documents every public function and class with @throws and @example', () => {
    const missing: string[] = [];
    const documented = new Set<string>();
    for (const f of sources()) {
      if (f.includes(`${path.sep}internal${path.sep}`)) continue;
      const text = fs.readFileSync(f, 'utf8');
      const re = /(\/\*\*(?:(?!\*\/)[\s\S])*\*\/)?\s*export (?:async )?(function|class) (\w+)/g;
      for (const m of text.matchAll(re)) {
        const [, doc = '', kind, name] = m;
        // Overloads: the documentation sits on the first declaration.
        if (!(name! in api) || doc.includes('@internal') || (documented.has(name!) && doc === '')) continue;
        documented.add(name!);
        if (!doc.includes('@example')) missing.push(`${name} (${path.relative(ROOT, f)}): no @example`);
        if (kind === 'function' && !doc.includes('@throws')) missing.push(`${name}: no @throws`);
      }
    }
    assert.deepEqual(missing, []);
  });
});

describe('README', () => {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');

  it('documents the temp-name pattern the code uses', () => {
    const m = /temp-name pattern: `([^`]+)`/.exec(readme);
    assert.ok(m, 'README states the temp-name pattern');
    assert.equal(m[1], TEMP_NAME_RE.source);
  });

  it('lists every log event the code emits', () => {
    for (const msg of Object.values(api.LOG_EVENTS)) assert.ok(readme.includes(msg), msg);
  });

  it('names every runtime export of the package', () => {
    for (const name of Object.keys(api)) assert.ok(readme.includes(`\`${name}`), name);
  });

  it('gives the two set-up commands', () => {
    assert.match(readme, /npm run demo/);
    assert.match(readme, /npm test/);
  });
});
