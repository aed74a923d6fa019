#!/usr/bin/env node
/**
 * Reports the source files over 600 lines and the functions over 80 lines under src/ (the
 * code-size rules of the architecture issue), as JSON with `--json`. The test in
 * test/package/sizes.test.ts holds the list of what is still over to the sizes it had, so the
 * list can only shrink.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export const MAX_FILE_LINES = 600;
export const MAX_FUNCTION_LINES = 80;

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function sources(dir) {
  const out = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...sources(p));
    else if (e.name.endsWith('.ts')) out.push(p);
  }
  return out.sort();
}

function nameOf(node, sf) {
  if (node.name !== undefined) return node.name.getText(sf);
  const p = node.parent;
  if (p !== undefined && ts.isVariableDeclaration(p)) return p.name.getText(sf);
  if (p !== undefined && ts.isPropertyAssignment(p)) return p.name.getText(sf);
  return '(anonymous)';
}

/** Files over the limit and functions over theirs, with their line counts. */
export function measure(root = ROOT) {
  const files = [];
  const functions = [];
  for (const file of sources(path.join(root, 'src'))) {
    const rel = path.relative(root, file);
    const text = fs.readFileSync(file, 'utf8');
    const lines = text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
    if (lines > MAX_FILE_LINES) files.push({ file: rel, lines });
    const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
    const visit = (node) => {
      // A migration step is an arrow that returns its SQL as an array: text, not logic.
      const data = ts.isArrowFunction(node) && ts.isArrayLiteralExpression(node.body);
      if (ts.isFunctionLike(node) && 'body' in node && node.body !== undefined && !data) {
        const start = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line;
        const end = sf.getLineAndCharacterOfPosition(node.end).line;
        const n = end - start + 1;
        if (n > MAX_FUNCTION_LINES) functions.push({ file: rel, name: nameOf(node, sf), lines: n });
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  return { files, functions };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const r = measure();
  if (process.argv.includes('--json')) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
  else {
    for (const f of r.files) console.log(`${f.file}: ${f.lines} lines (> ${MAX_FILE_LINES})`);
    for (const f of r.functions) console.log(`${f.file}: ${f.name}: ${f.lines} lines (> ${MAX_FUNCTION_LINES})`);
  }
}
