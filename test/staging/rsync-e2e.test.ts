/**
 * End to end with real rsync (issue 5, part 1): a producer child publishes 300 files of
 * 0 B to 4 MiB while the parent runs `rsync -a --remove-source-files final/ dest/` over and
 * over. Through a staging area every file arrives in dest complete and none is lost; the
 * same run with a naive producer (createWriteStream straight into final/) must show
 * partial files in dest, which proves the check can fail.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isTempFile } from '../../src/index.js';
import { exited, spawnNode } from '../helpers/child.js';
import { checkFile, hasCommand, killIfRunning, Lines, run } from '../helpers/staging-kit.js';
import { tmpDir } from '../helpers/tmp.js';
import type { ProducerRequest } from './fixtures/producer.js';

const PRODUCER = fileURLToPath(new URL('./fixtures/producer.js', import.meta.url));
const HAS_RSYNC = hasCommand('rsync');
const FILES = 300;
const STALL_EVERY = 20;
/** Wall-clock bound of one scenario (producer plus the rsync loop). */
const SCENARIO_MS = 45_000;
const SEED = Number.parseInt(process.env['ATOMFS_STAGING_SEED'] ?? '', 10) || (Math.random() * 2 ** 31) >>> 0;

interface Report {
  /** Files that stopped half-written while a whole rsync pass ran. */
  stalled: string[];
  published: string[];
  passes: number;
  passesWhileProducing: number;
  exitCodes: Map<number, number>;
  inDest: string[];
  partial: { name: string; why: string }[];
  lost: string[];
  leftInFinal: string[];
  leftInStaging: string[];
  ms: number;
}

/** Runs one producer (staged or naive) against a looping rsync; returns what dest holds. */
async function scenario(t: TestContext, mode: 'staged' | 'naive'): Promise<Report> {
  const started = Date.now();
  const root = tmpDir(t);
  const staging = path.join(root, 'staging');
  const final = path.join(root, 'final');
  const dest = path.join(root, 'dest');
  for (const d of [final, dest]) fs.mkdirSync(d);
  const req: ProducerRequest = {
    mode,
    stagingDir: staging,
    finalDir: final,
    count: FILES,
    seed: SEED,
    prefix: 'f',
    concurrency: 4,
    // Small pauses between chunks, as a producer that streams (a camera, a download) makes.
    pauseMs: 15,
    chunkSize: 256 * 1024,
    style: 'mixed',
    big: true,
    fsync: true,
    // Every 20th file stops half-written until a whole rsync pass has run: what a stalled
    // real producer does. This makes the naive run's failure independent of timing.
    stallEvery: STALL_EVERY,
  };
  const producer = spawnNode(t, PRODUCER, [JSON.stringify(req)], { stdio: ['pipe', 'pipe', 'pipe'] });
  const out = new Lines(producer.stdout);
  // A `go` written just as the producer exits must not crash the test with EPIPE.
  producer.stdin!.on('error', () => {});
  let stderr = '';
  producer.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const producerExit = exited(producer);
  let producerDone = false;
  void producerExit.then(() => (producerDone = true));

  const running = new Set<ChildProcess>();
  t.after(() => running.forEach(killIfRunning));
  const exitCodes = new Map<number, number>();
  const released = new Set<string>();
  let passes = 0;
  let passesWhileProducing = 0;
  const deadline = started + SCENARIO_MS;
  for (;;) {
    assert.ok(Date.now() < deadline, `${mode}: the rsync loop did not finish within ${SCENARIO_MS} ms (${passes} passes)`);
    const doneBefore = producerDone;
    // Stalls announced before this pass starts are released once it has finished.
    const stalled = out.words('stall').map((w) => w[0]!).filter((n) => !released.has(n));
    const r = await run('rsync', ['-a', '--remove-source-files', final + '/', dest + '/'], 20_000, (c) => {
      running.add(c);
      c.once('close', () => running.delete(c));
    });
    passes++;
    if (!doneBefore) passesWhileProducing++;
    const code = r.code ?? -1;
    exitCodes.set(code, (exitCodes.get(code) ?? 0) + 1);
    if (mode === 'staged') assert.equal(r.code, 0, `rsync failed: ${r.stderr}`);
    else assert.ok([0, 23, 24].includes(code), `rsync failed (${code}): ${r.stderr}`);
    for (const name of stalled) {
      released.add(name);
      if (!producerDone) producer.stdin!.write(`go ${name}\n`);
    }
    if (doneBefore && fs.readdirSync(final).length === 0) break;
  }
  producer.stdin!.end();
  const ex = await producerExit;
  await out.ended;
  assert.deepEqual(ex, { code: 0, signal: null }, `producer failed: ${stderr}`);
  assert.equal(out.words('done')[0]?.[0], String(FILES), 'the producer published every file');

  assert.deepEqual(out.words('stall-timeout'), [], 'every stall was released by the rsync loop');
  const published = out.words('published').map((w) => w[0]!);
  const inDest = fs.readdirSync(dest).sort();
  const partial: { name: string; why: string }[] = [];
  for (const name of inDest) {
    const why = checkFile(dest, name);
    if (why !== undefined) partial.push({ name, why });
  }
  const destSet = new Set(inDest);
  return {
    stalled: [...released],
    published,
    passes,
    passesWhileProducing,
    exitCodes,
    inDest,
    partial,
    lost: published.filter((n) => !destSet.has(n)),
    leftInFinal: fs.readdirSync(final),
    leftInStaging: fs.existsSync(staging) ? fs.readdirSync(staging) : [],
    ms: Date.now() - started,
  };
}

function describeReport(t: TestContext, mode: string, r: Report): void {
  t.diagnostic(
    `${mode}: seed ${SEED}, ${r.published.length} published (${r.stalled.length} stalled mid-file), ${r.inDest.length} in dest, ${r.partial.length} partial ` +
      `(${r.partial.filter((p) => r.stalled.includes(p.name)).length} of them stalled ones), ${r.lost.length} lost, ` +
      `${r.passes} rsync passes (${r.passesWhileProducing} while producing), exit codes ${JSON.stringify([...r.exitCodes])}, ${r.ms} ms`,
  );
}

describe('staging area with real rsync', () => {
  it('every file published through the staging area reaches dest complete while rsync --remove-source-files runs in a loop, and none is lost', { timeout: 90_000 }, async (t) => {
    if (!HAS_RSYNC) return t.skip('rsync not installed');
    const r = await scenario(t, 'staged');
    describeReport(t, 'staged', r);
    assert.equal(r.published.length, FILES);
    assert.deepEqual(r.partial, [], 'no partial file in dest');
    assert.deepEqual(r.lost, [], 'no file lost');
    assert.deepEqual(r.inDest, [...r.published].sort(), 'dest holds exactly the published files');
    assert.ok(r.inDest.every((n) => !isTempFile(n)), 'no staging temp name was ever transferred');
    assert.deepEqual(r.leftInFinal, []);
    assert.deepEqual(r.leftInStaging, [], 'no staging leftovers after a clean run');
    assert.ok(r.passesWhileProducing >= 3, `rsync ran ${r.passesWhileProducing} times while files were being produced`);
    assert.ok(r.stalled.length >= 10, `${r.stalled.length} files stalled half-written during a whole rsync pass`);
  });

  it('the same rsync loop over a naive producer that writes straight into final/ finds partial files in dest', { timeout: 90_000 }, async (t) => {
    if (!HAS_RSYNC) return t.skip('rsync not installed');
    const r = await scenario(t, 'naive');
    describeReport(t, 'naive', r);
    if (r.partial.length > 0) t.diagnostic(`first partial: ${r.partial[0]!.name}: ${r.partial[0]!.why}`);
    assert.equal(r.published.length, FILES);
    assert.ok(r.stalled.length >= 10, `${r.stalled.length} files stalled half-written during a whole rsync pass`);
    assert.ok(r.partial.length >= 1, 'the check detects at least one partial file when files are written in place');
  });
});
