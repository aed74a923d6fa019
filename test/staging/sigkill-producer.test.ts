/**
 * A producer killed with SIGKILL mid-stream (issue 5, part 2): after every kill the final
 * folder holds only complete files (every file the producer reported published among
 * them), and whatever the kill left is a temp name in the staging folder. area.cleanup()
 * removes those leftovers once they are older than orphanAge, and never a young leftover
 * or a file this process is still writing.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { createStagingArea, isTempFile } from '../../src/index.js';
import { exited, spawnNode } from '../helpers/child.js';
import { badFiles, checkFile, Lines, makePayload, seededRandom } from '../helpers/staging-kit.js';
import { tmpDir } from '../helpers/tmp.js';
import type { ProducerRequest } from './fixtures/producer.js';

const PRODUCER = fileURLToPath(new URL('./fixtures/producer.js', import.meta.url));
const KILLS = 6;
const SEED = Number.parseInt(process.env['ATOMFS_STAGING_SEED'] ?? '', 10) || (Math.random() * 2 ** 31) >>> 0;
const ORPHAN_AGE = 50;

describe('a staging producer killed with SIGKILL', () => {
  it('leaves only complete files in final and only temp names in staging, which cleanup() removes once older than orphanAge while sparing young leftovers and live files', { timeout: 60_000 }, async (t) => {
    t.diagnostic(`seed ${SEED} (replay with ATOMFS_STAGING_SEED=${SEED})`);
    const rand = seededRandom(SEED);
    const root = tmpDir(t);
    const staging = path.join(root, 'staging');
    const final = path.join(root, 'final');
    const published = new Set<string>();
    const leftovers = new Set<string>();
    let midFileKills = 0;

    for (let k = 0; k < KILLS; k++) {
      const req: ProducerRequest = {
        mode: 'staged',
        stagingDir: staging,
        finalDir: final,
        count: 1000,
        seed: SEED + k,
        prefix: `k${k}-`,
        concurrency: 2,
        pauseMs: 4,
        chunkSize: 64 * 1024,
        style: k % 2 === 0 ? 'open' : 'mixed',
        big: true,
        fsync: k % 3 !== 2,
      };
      const child = spawnNode(t, PRODUCER, [JSON.stringify(req)]);
      const out = new Lines(child.stdout);
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      const fail = (e: Error): never => {
        throw new Error(`${e.message}\nproducer stderr: ${stderr}`);
      };
      // Let a few files through (0 to 4), then kill right after a chunk that is not the
      // last of its file: that file is mid-stream in staging when the signal lands.
      const letThrough = Math.floor(rand() * 5);
      let from = 0;
      for (let n = 0; n < letThrough; n++) from = (await out.waitFor((l) => l.startsWith('published '), 20_000, { from }).catch(fail)).index + 1;
      const hit = await out
        .waitFor((l) => {
          const w = l.split(' ');
          return w[0] === 'chunk' && Number(w[2]) < Number(w[3]);
        }, 20_000, { from })
        .catch(fail);
      process.kill(child.pid!, 'SIGKILL');
      const ex = await exited(child);
      await out.ended;
      assert.equal(ex.signal, 'SIGKILL', `producer ended by itself (${ex.code}) instead of being killed`);
      const midName = hit.line.split(' ')[1]!;

      for (const w of out.words('published')) published.add(w[0]!);
      const inFinal = fs.readdirSync(final);
      assert.deepEqual(inFinal.filter(isTempFile), [], 'no temp name in final (same device)');
      assert.deepEqual(badFiles(final), [], `after kill ${k + 1}, every file in final is complete`);
      for (const name of published) assert.ok(inFinal.includes(name), `${name} was reported published before the kill and is in final`);
      if (!inFinal.includes(midName)) midFileKills++;
      const inStaging = fs.readdirSync(staging);
      assert.deepEqual(inStaging.filter((n) => !isTempFile(n)), [], 'staging holds nothing but temp names');
      for (const n of inStaging) leftovers.add(n);
    }
    t.diagnostic(`${KILLS} kills, ${midFileKills} mid-file, ${published.size} files published, ${leftovers.size} staging leftovers`);
    assert.ok(midFileKills >= 1, 'at least one kill landed in the middle of a file');
    assert.ok(leftovers.size >= 1, 'the kills left staging leftovers');

    // A patient area: leftovers younger than an hour are all kept.
    const patient = await createStagingArea({ stagingDir: staging, finalDir: final });
    assert.deepEqual(await patient.cleanup(), { removed: [], kept: leftovers.size });
    await patient.close();

    const area = await createStagingArea({ stagingDir: staging, finalDir: final, orphanAge: ORPHAN_AGE });
    // A file this process is writing: open, one chunk, then left open past orphanAge.
    const live = makePayload('live-', 0, 300_000);
    const f = await area.open(live.name, { size: live.data.length });
    await f.write(live.data.subarray(0, 100_000));
    await sleep(ORPHAN_AGE * 3);
    // A young leftover (another process' fresh temp), created just before the cleanup.
    const young = path.join(staging, '.young.bin.0123456789abcdef.tmp');
    fs.writeFileSync(young, 'being written elsewhere');

    const res = await area.cleanup();
    assert.deepEqual(new Set(res.removed), new Set([...leftovers].map((n) => path.join(staging, n))), 'exactly the old leftovers are removed');
    assert.equal(res.kept, 2, 'the young leftover and the live file are kept');
    assert.ok(fs.existsSync(young), 'a young leftover is not removed');
    assert.ok(fs.existsSync(f.tempPath), 'a file this process is writing is not removed, however old');
    assert.deepEqual(fs.readdirSync(staging).sort(), [path.basename(f.tempPath), path.basename(young)].sort());

    // The live file still completes.
    await f.write(live.data.subarray(100_000));
    await f.commit();
    assert.equal(checkFile(final, live.name), undefined);
    assert.deepEqual(badFiles(final), [], 'final still holds only complete files');
    fs.unlinkSync(young);
    assert.deepEqual(fs.readdirSync(staging), []);
    await area.close();
  });
});
