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
  /** The steps of a successful operation (start, temp written, renamed, done, temp removed). */
  debug(fields: LogFields, message: string): void;
  /** A temp file that could not be removed (the operation itself is unaffected). */
  warn(fields: LogFields, message: string): void;
  /** A failed operation, with its `errorCode`. */
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
  /** debug: a write begins, with its `targetPath` and `tempPath`. */
  writeStarted: 'Starting atomic write',
  /** debug: the temp file holds all the data and is closed, with its `size`. */
  tempWritten: 'Temp file written',
  /** debug: the temp file replaced the target. */
  renamed: 'Temp file renamed to target',
  /** debug: the write is complete, with its `size` and `duration`. */
  writeCompleted: 'Atomic write completed successfully',
  /** error: the write failed, with its `errorCode`; the target is unchanged. */
  writeFailed: 'Atomic write failed',
  /** debug: a temp file was removed (after a failure, or by cleanup). */
  tempCleaned: 'Temp file cleaned up',
  /** warn: a temp file could not be removed. */
  tempCleanupFailed: 'Failed to clean up temp file',
  /** debug: `rename`/`renameSync` replaced the destination, with `sourcePath` and `targetPath`. */
  pathRenamed: 'Renamed',
  /** error: a rename failed, with its `errorCode`; nothing changed. */
  renameFailed: 'Rename failed',
  /** debug: a move across file systems copied, verified and published the destination, with its `size`. */
  moveCopied: 'Copied and published',
  /** error: a move failed, with its `errorCode`. */
  moveFailed: 'Move failed',
  /** warn: a lock whose holder was dead or whose lease ran out was taken over, with `holderPid` and `holderHost`. */
  lockReclaimed: 'Reclaimed a stale lock',
  /** warn: a held lock was found lost (its marker replaced or gone, a renewal refused), with its `errorCode`. */
  lockCompromised: 'Lock compromised',
  /** error: the application's `onCompromised` callback threw, with its `errorMessage`. */
  onCompromisedThrew: 'onCompromised threw',
  /** warn: the staging area could not remove a leftover, with its `errorCode`. */
  stagingCleanupFailed: 'Staging cleanup failed',
} as const);
