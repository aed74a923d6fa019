/**
 * Shared pieces of the CLI: the io object, usage errors, durations, loggers, output.
 *
 * @module
 */
import { isAtomfsError } from '../errors.js';
import type { Logger } from '../logger.js';

/** Where a command reads and writes; the process' own streams, or test doubles. */
export interface CliIo {
  /** The input: `atomfs write` reads the file's new content from it. */
  readonly stdin: NodeJS.ReadableStream & {
    /** Whether it is a terminal. */
    isTTY?: boolean;
  };
  /** Results: the commands' output and their `--json` lines. */
  readonly stdout: {
    /** Writes text. */
    write(s: string): unknown;
    /** Whether it is a terminal. */
    isTTY?: boolean;
  };
  /** Errors, help on bad usage, the ATOMFS_LOG lines and the progress bar. */
  readonly stderr: {
    /** Writes text. */
    write(s: string): unknown;
    /** Whether it is a terminal: the progress bar is drawn only there. */
    isTTY?: boolean;
    /** The terminal's width in columns, when it is one. */
    columns?: number;
  };
  /** The environment (ATOMFS_LOG is read from it). */
  readonly env: NodeJS.ProcessEnv;
  /** Aborted when the user interrupts the command (SIGINT, SIGTERM, SIGHUP). */
  readonly signal?: AbortSignal | undefined;
}

/** Exit codes: 0 success, 1 the operation failed, 2 bad usage. */
export const EXIT = Object.freeze({
  /** Success. */
  ok: 0,
  /** The operation failed. */
  failed: 1,
  /** Bad usage: an unknown command, flag or value. */
  usage: 2,
});

/** A mistake in how the command was called: exit 2 with a usage hint. */
export class UsageError extends Error {}

const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Parses a duration like `500ms`, `10s`, `5m`, `1h`, `2d` (a bare number is seconds, as for
 * flock(1) and sleep(1)) into milliseconds.
 */
export function parseDuration(flag: string, v: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(v.trim());
  if (!m) throw new UsageError(`${flag} takes a duration like 500ms, 10s, 5m, 1h or 2d, got '${v}'`);
  return Math.round(Number(m[1]) * UNITS[m[2] ?? 's']!);
}

/** Parses a non-negative integer. */
export function parseCount(flag: string, v: string): number {
  if (!/^\d+$/.test(v)) throw new UsageError(`${flag} takes a whole number, got '${v}'`);
  return Number(v);
}

/** The ATOMFS_LOG levels, most verbose first. */
export const LOG_LEVELS = Object.freeze(['debug', 'info', 'warn', 'error'] as const);

/**
 * Checks ATOMFS_LOG: unset or empty (no log) or one of {@link LOG_LEVELS}; a typo would
 * otherwise silently turn the log off.
 */
export function checkLogLevel(env: NodeJS.ProcessEnv): void {
  const v = env['ATOMFS_LOG'];
  if (v === undefined || v === '' || (LOG_LEVELS as readonly string[]).includes(v)) return;
  throw new UsageError(`ATOMFS_LOG must be one of ${LOG_LEVELS.join(', ')}, got '${v}'`);
}

/**
 * A logger that prints JSON lines to stderr for the events at or above ATOMFS_LOG's level
 * (debug prints everything; info and warn print warnings and errors; error only errors).
 */
export function envLogger(io: CliIo): Logger | undefined {
  const v = io.env['ATOMFS_LOG'];
  const level = (LOG_LEVELS as readonly string[]).indexOf(v ?? '');
  if (level < 0) return undefined;
  const line = (name: string) => (fields: object, msg: string) =>
    void io.stderr.write(JSON.stringify({ level: name, time: Date.now(), msg, ...fields }) + '\n');
  const off = (): void => undefined;
  return {
    debug: level <= 0 ? line('debug') : off,
    warn: level <= 2 ? line('warn') : off,
    error: line('error'),
  };
}

/** An error's code: an AtomfsError's or a Node error's, else `ERROR`. */
export function errorCode(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code !== '' ? code : 'ERROR';
}

/** An error as the one line the CLI prints on stderr: `atomfs: CODE: message`. */
export function errorText(e: unknown): string {
  const msg = isAtomfsError(e) ? e.message : `${errorCode(e)}: ${(e as Error)?.message ?? String(e)}`;
  return `atomfs: ${msg.replace(/\n/g, ' ')}\n`;
}

/** Prints a value as one JSON line. */
export function printJson(io: CliIo, value: unknown): void {
  io.stdout.write(JSON.stringify(value) + '\n');
}

/** Human-readable bytes: 1.5 MiB. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${units[i]}`;
}
