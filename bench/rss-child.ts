/**
 * One measurement of the `rss-1gib` case, run in a fresh `node` process so the figure is
 * cold (nothing allocated, cached or grown by an earlier measurement):
 * `node build/bench/rss-child.js <mode> <bytes> <target> [source]`.
 *
 * Modes: `atomfs-cws` (atomfs createWriteStream, fed by a generator of 1 MiB chunks),
 * `atomfs-open` (openAtomic, one `write` per 1 MiB chunk), `wfa` (write-file-atomic given
 * the whole Buffer, which it needs: it cannot stream), `atomfs-move` and `move-file`
 * (moving `source` to `target`).
 *
 * It samples `process.memoryUsage.rss()` every SAMPLE_MS from just before the operation
 * (every module already loaded) until it has finished, and prints one JSON line: the RSS
 * at start, the highest sample, the kernel's high-water mark (VmHWM, which no sample can
 * miss, but which also remembers the start-up) and the seconds taken.
 *
 * @module
 */
import * as fs from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { performance } from 'node:perf_hooks';
import { moveFile } from 'move-file';
import writeFileAtomic from 'write-file-atomic';
import { createWriteStream as atomfsCreateWriteStream, move as atomfsMove, openAtomic } from '../src/index.js';
import { pattern } from './cases.js';
import { RSS_MODES, SAMPLE_MS, type RssMode, type RssReport } from './rss-protocol.js';

const MIB = 1024 * 1024;

function vmHwm(): number {
  try {
    const m = /^VmHWM:\s+(\d+) kB$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) * 1024 : -1;
  } catch {
    return -1;
  }
}

async function operate(mode: RssMode, bytes: number, target: string, source: string | undefined): Promise<void> {
  const chunks = bytes / MIB;
  switch (mode) {
    case 'atomfs-cws': {
      // The same chunk every time: the source holds 1 MiB, so what grows is the writer's.
      const chunk = pattern(MIB);
      function* gen(): Generator<Buffer> {
        for (let i = 0; i < chunks; i++) yield chunk;
      }
      await pipeline(gen(), atomfsCreateWriteStream(target));
      return;
    }
    case 'atomfs-open': {
      const chunk = pattern(MIB);
      const f = await openAtomic(target);
      try {
        for (let i = 0; i < chunks; i++) await f.write(chunk);
        await f.commit();
      } finally {
        await f.abort();
      }
      return;
    }
    case 'wfa': {
      // Made inside the measurement on purpose: a caller of a library that cannot stream
      // has to hold the whole content, and that is part of what it costs.
      const data = Buffer.allocUnsafe(bytes);
      data.fill(pattern(MIB));
      await writeFileAtomic(target, data, { fsync: true });
      return;
    }
    case 'atomfs-move':
      await atomfsMove(source!, target);
      return;
    case 'move-file':
      await moveFile(source!, target);
      return;
  }
}

async function run(): Promise<void> {
  const [modeArg, bytesArg, target, source] = process.argv.slice(2);
  const bytes = Number(bytesArg);
  const mode = RSS_MODES.find((m) => m === modeArg);
  const moving = mode === 'atomfs-move' || mode === 'move-file';
  if (!mode || !Number.isInteger(bytes) || bytes < MIB || bytes % MIB !== 0 || !target || moving !== (source !== undefined)) {
    throw new Error(`usage: rss-child.js <${RSS_MODES.join('|')}> <bytes, whole MiB> <target> [source, for the moves], got ${process.argv.slice(2).join(' ')}`);
  }
  const startRss = process.memoryUsage.rss();
  let peakRss = startRss;
  let samples = 1;
  const sample = (): void => {
    const r = process.memoryUsage.rss();
    if (r > peakRss) peakRss = r;
    samples++;
  };
  const timer = setInterval(sample, SAMPLE_MS);
  const t0 = performance.now();
  try {
    await operate(mode, bytes, target, source);
  } finally {
    clearInterval(timer);
  }
  const seconds = (performance.now() - t0) / 1000;
  sample();
  const report: RssReport = { startRss, peakRss, hwm: vmHwm(), samples, seconds };
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

run().catch((e: unknown) => {
  process.stderr.write(`rss-child: ${String((e as Error)?.stack ?? e)}\n`);
  process.exitCode = 1;
});
