/**
 * A progress bar for long work on a terminal (bytes, rate, time left). Nothing is drawn
 * when stderr is not a TTY or output is JSON: scripts and logs get clean output.
 *
 * @module
 */
import cliProgress from 'cli-progress';
import type { CliIo } from './util.js';
import { formatBytes } from './util.js';

/** What a command reports progress to. */
export interface Progress {
  update(bytes: number, total: number): void;
  stop(): void;
}

const NONE: Progress = { update() {}, stop() {} };

/** A bar on stderr when it is a TTY and not disabled; otherwise a no-op. */
export function progressBar(io: CliIo, enabled: boolean, label: string): Progress {
  if (!enabled || !io.stderr.isTTY) return NONE;
  const started = Date.now();
  const bar = new cliProgress.SingleBar(
    {
      stream: io.stderr as NodeJS.WritableStream,
      format: `${label} [{bar}] {percentage}% | {done} / {all} | {rate}/s | ETA {eta_formatted}`,
      hideCursor: true,
      clearOnComplete: false,
      etaBuffer: 20,
      fps: 10,
    },
    cliProgress.Presets.shades_classic,
  );
  let startedBar = false;
  return {
    update(bytes, total) {
      const secs = Math.max((Date.now() - started) / 1000, 0.001);
      const payload = { done: formatBytes(bytes), all: formatBytes(total), rate: formatBytes(Math.round(bytes / secs)) };
      if (!startedBar) {
        bar.start(Math.max(total, 1), bytes, payload);
        startedBar = true;
      } else {
        bar.setTotal(Math.max(total, 1));
        bar.update(bytes, payload);
      }
    },
    stop() {
      if (startedBar) bar.stop();
    },
  };
}
