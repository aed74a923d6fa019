/**
 * How a move copies one file across devices (or with strategy 'copy'): one kernel copy
 * (copy_file_range, or sendfile across file systems) or a stream of our own. A pure
 * function of what is known about the file, the destination and the call, so that every
 * combination is tested as a table.
 *
 * @module
 * @internal
 */

/** What the choice depends on. @internal */
export interface CopyFacts {
  /** `verify: 'checksum'`: only a stream of our own reads every byte back. */
  readonly checksum: boolean;
  /** Root copying another user's set-id file: the mode comes after the chown, so our own copy. */
  readonly setIdLater: boolean;
  /** A blocking call (moveSync): it cannot keep a disk writing behind its reads. */
  readonly sync: boolean;
  /** Under the streaming threshold: one kernel call costs fewer round trips than any loop. */
  readonly small: boolean;
  /** The same device: a reflink or an in-kernel copy. */
  readonly sameDevice: boolean;
  /** Neither `onProgress` nor `signal`: nobody waits between chunks. */
  readonly quiet: boolean;
}

/**
 * `'kernel'`, `'stream'`, or `'kernel-if-in-memory'`: a kernel copy when the destination
 * keeps its files in memory (a tmpfs: no disk to keep writing behind the copy), which the
 * caller asks the file system only then (a statfs that the other answers spare).
 * @internal
 */
export type CopyChoice = 'kernel' | 'stream' | 'kernel-if-in-memory';

/** @internal */
export function chooseCopy(f: CopyFacts): CopyChoice {
  if (f.checksum || f.setIdLater) return 'stream';
  if (f.sync || f.small || f.sameDevice) return 'kernel';
  return f.quiet ? 'kernel-if-in-memory' : 'stream';
}
