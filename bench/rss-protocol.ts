/**
 * What the parent of the `rss-1gib` case and its child (bench/rss-child.ts) share: the
 * modes and the report. A module of its own so that the parent does not load the child.
 *
 * @module
 */

/** What the child prints (one JSON line on stdout). */
export interface RssReport {
  /** RSS in bytes just before the operation, every module already loaded. */
  readonly startRss: number;
  /** The highest sample of `process.memoryUsage.rss()`, the start and the end included. */
  readonly peakRss: number;
  /** VmHWM from /proc/self/status in bytes (the kernel's peak since start-up), or -1 where there is none. */
  readonly hwm: number;
  readonly samples: number;
  readonly seconds: number;
}

/** One way of writing or moving a big file, as the child's first argument. */
export const RSS_MODES = ['atomfs-cws', 'atomfs-open', 'wfa', 'atomfs-move', 'move-file'] as const;
export type RssMode = (typeof RSS_MODES)[number];

/** How often the child samples its RSS. */
export const SAMPLE_MS = 20;
