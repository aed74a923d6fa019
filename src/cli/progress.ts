/**
 * A progress bar for long work on a terminal (bytes, rate, time left). Nothing is drawn
 * when stderr is not a TTY or output is JSON: scripts and logs get clean output.
 *
 * `cli-progress` is loaded only when a bar is about to be drawn (the first progress report
 * on a terminal): `atomfs --version`, a run into a pipe or a log, `--json` and
 * `--no-progress` never load it, and so never pay for it.
 *
 * @module
 */
import type { CliIo } from './util.js';
import { formatBytes } from './util.js';

type CliProgress = typeof import('cli-progress');
type Bar = InstanceType<CliProgress['SingleBar']>;

/** What a command reports progress to. */
export interface Progress {
  update(bytes: number, total: number): void;
  stop(): void;
}

const NONE: Progress = { update() {}, stop() {} };

/**
 * A bar on stderr when it is a TTY and not disabled; otherwise a no-op. `unit` writes the
 * amounts (bytes by default; `atomfs crashcheck` counts states).
 */
export function progressBar(io: CliIo, enabled: boolean, label: string, unit: (n: number) => string = formatBytes): Progress {
  if (!enabled || !io.stderr.isTTY) return NONE;
  const started = Date.now();
  let bar: Bar | undefined;
  let loading = false;
  let stopped = false;
  let drawn = false;
  let latest = { bytes: 0, total: 0 };
  const draw = (b: Bar): void => {
    const { bytes, total } = latest;
    const secs = Math.max((Date.now() - started) / 1000, 0.001);
    const payload = { done: unit(bytes), all: unit(total), rate: unit(Math.round(bytes / secs)) };
    if (!drawn) {
      b.start(Math.max(total, 1), bytes, payload);
      drawn = true;
    } else {
      b.setTotal(Math.max(total, 1));
      b.update(bytes, payload);
    }
  };
  return {
    update(bytes, total) {
      latest = { bytes, total };
      if (bar !== undefined) return draw(bar);
      if (loading || stopped) return;
      loading = true;
      // Reports that come while it loads are kept in `latest`; the bar starts from the last.
      import('cli-progress').then(
        ({ default: cliProgress }) => {
          if (stopped) return;
          bar = new cliProgress.SingleBar(
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
          draw(bar);
        },
        // No bar is no reason to fail the move.
        () => undefined,
      );
    },
    stop() {
      stopped = true;
      if (bar !== undefined && drawn) bar.stop();
    },
  };
}
