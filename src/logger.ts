/**
 * The logging hook: any pino-shaped logger. Silent by default; never `console`.
 *
 * @module
 */

/** Fields atomfs attaches to a log event. File contents are never logged. */
export type LogFields = Readonly<Record<string, unknown>>;

/**
 * A logger with pino's `(fields, message)` methods. pino, bunyan-style wrappers or a
 * three-function object all fit.
 *
 * @example
 * ```ts
 * import pino from 'pino';
 * await writeFile('a.json', '{}', { logger: pino({ level: 'debug' }) });
 * ```
 */
export interface Logger {
  debug(fields: LogFields, message: string): void;
  warn(fields: LogFields, message: string): void;
  error(fields: LogFields, message: string): void;
}

const noop = (): void => {};

/**
 * A logger that drops everything: the default.
 *
 * @example
 * ```ts
 * await writeFile('a.txt', 'x', { logger: silentLogger });
 * ```
 */
export const silentLogger: Logger = Object.freeze({ debug: noop, warn: noop, error: noop });

/**
 * The event messages atomfs logs (seed 004), as constants so tests and log filters can
 * refer to them.
 *
 * @example
 * ```ts
 * if (msg === LOG_EVENTS.writeFailed) page();
 * ```
 */
export const LOG_EVENTS = Object.freeze({
  writeStarted: 'Starting atomic write',
  tempWritten: 'Temp file written',
  renamed: 'Temp file renamed to target',
  writeCompleted: 'Atomic write completed successfully',
  writeFailed: 'Atomic write failed',
  tempCleaned: 'Temp file cleaned up',
  tempCleanupFailed: 'Failed to clean up temp file',
} as const);
