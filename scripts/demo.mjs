#!/usr/bin/env node
// The main job: the atomfs CLI on a real example. Writes a file through `atomfs write`,
// replaces it, then kills a writer with SIGKILL in the middle of a large write and shows
// that the old file is intact and the leftover temp is recognised and cleaned up.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanupOrphans, isTempFile } from '../dist/index.js';

const root = path.resolve(fileURLToPath(import.meta.url), '../..');
const cli = path.join(root, 'bin', 'atomfs.js');
const dir = path.join(root, 'demo-output');
fs.rmSync(dir, { recursive: true, force: true });
fs.mkdirSync(dir);
const target = path.join(dir, 'config.json');

function atomfs(args, input) {
  const r = spawnSync(process.execPath, [cli, ...args], { input, encoding: 'utf8' });
  process.stdout.write(`$ atomfs ${args.join(' ')}  -> exit ${r.status}\n${r.stdout}${r.stderr}`);
  return r;
}

console.log('1. Write a file from stdin, atomically and durably');
atomfs(['write', '--json', target], JSON.stringify({ version: 1 }) + '\n');
console.log(`   ${path.relative(root, target)}: ${fs.readFileSync(target, 'utf8').trim()}`);

console.log('\n2. Replace it; a no-clobber write refuses to touch it');
atomfs(['write', target], JSON.stringify({ version: 2 }) + '\n');
atomfs(['write', '--no-clobber', target], 'x');
console.log(`   content now: ${fs.readFileSync(target, 'utf8').trim()}`);

console.log('\n3. Kill a writer with SIGKILL after 32 MiB of a larger write');
const child = spawn(process.execPath, [cli, 'write', target], { stdio: ['pipe', 'ignore', 'inherit'] });
const chunk = Buffer.alloc(1 << 20, 0x61);
let sent = 0;
await new Promise((resolve) => {
  const pump = () => {
    while (sent < 32) {
      sent++;
      if (!child.stdin.write(chunk)) return child.stdin.once('drain', pump);
    }
    // Half the data is in the temp file: pull the plug before the rest arrives.
    setTimeout(() => {
      child.kill('SIGKILL');
      resolve();
    }, 200);
  };
  pump();
});
await new Promise((r) => child.once('exit', r));
child.stdin.destroy();
const names = fs.readdirSync(dir);
console.log(`   after the kill: ${names.join(', ')}`);
console.log(`   config.json still reads: ${fs.readFileSync(target, 'utf8').trim()}`);
const leftovers = names.filter(isTempFile);
console.log(`   leftover temp files recognised by isTempFile: ${leftovers.length}`);
const { removed } = await cleanupOrphans(dir, { olderThan: 0 });
console.log(`   cleanupOrphans removed ${removed.length}; folder now: ${fs.readdirSync(dir).join(', ')}`);

const ok = fs.readFileSync(target, 'utf8').trim() === '{"version":2}' && fs.readdirSync(dir).length === 1;
console.log(ok ? '\ndemo OK: the file was never half-written' : '\ndemo FAILED');
process.exitCode = ok ? 0 : 1;
