/**
 * The writers under comparison, behind one shape: `write(file, data)`.
 *
 * Each is configured for one durability setting. Where a library has no switch for it the
 * writer is left out of that setting rather than compared unfairly: steno never fsyncs,
 * so it only appears in the `fsync: false` cases.
 *
 * @module
 */
import * as fsp from 'node:fs/promises';
import { writeFile as atomicallyWriteFile } from 'atomically';
import { Writer as StenoWriter } from 'steno';
import writeFileAtomic from 'write-file-atomic';
import { writeFile as atomfsWriteFile } from '../src/index.js';

/** One writer, configured for one durability setting. */
export interface SmallWriter {
  /** Row label in the tables. */
  readonly name: string;
  /** A short note printed under the table (what this writer does differently). */
  readonly note?: string;
  write(file: string, data: Buffer): Promise<void>;
}

/** Row labels, shared with the targets so a rename cannot silently break a check. */
export const W = Object.freeze({
  atomfs: 'atomfs',
  wfa: 'write-file-atomic',
  atomically: 'atomically',
  steno: 'steno',
  fs: 'fs.promises.writeFile',
  floor: 'C floor',
});

/** The writers for the small-write cases, with or without fsync. */
export function smallWriters(fsync: boolean): SmallWriter[] {
  const list: SmallWriter[] = [
    { name: W.atomfs, write: (f, d) => atomfsWriteFile(f, d, { fsync }) },
    {
      name: W.wfa,
      note: fsync ? 'write-file-atomic fsyncs the file but never the folder after the rename.' : undefined,
      write: (f, d) => writeFileAtomic(f, d, { fsync }),
    },
    {
      name: W.atomically,
      note: fsync ? 'atomically fsyncs the file but never the folder after the rename.' : undefined,
      write: (f, d) => atomicallyWriteFile(f, d, { fsync }),
    },
  ];
  if (!fsync) {
    // The same writes without the process-wide exit cleanup (one Map insert and delete per
    // write, the handlers installed once): the difference to the atomfs row is its cost.
    list.push({
      name: `${W.atomfs} (cleanupOnExit: false)`,
      note: 'atomfs without removing its temp when a signal ends the process: the difference to the atomfs row is what that costs.',
      write: (f, d) => atomfsWriteFile(f, d, { fsync, cleanupOnExit: false }),
    });
    list.push(stenoWriter());
  }
  list.push({
    name: W.fs,
    note: fsync
      ? 'fs.promises.writeFile with flush: true rewrites the file in place (O_TRUNC, write, fsync): not atomic, no folder fsync.'
      : 'fs.promises.writeFile rewrites the file in place (O_TRUNC): not atomic.',
    // `flush: true` (Node >= 20.10) fsyncs before close: the nearest plain-fs equivalent.
    write: (f, d) => fsp.writeFile(f, d, { flush: fsync }),
  });
  return list;
}

/**
 * steno is used the way its README shows: one `Writer` per file, kept for the life of the
 * program (its coalescing lives in the Writer). The map grows to one Writer per path.
 */
function stenoWriter(): SmallWriter {
  const writers = new Map<string, StenoWriter>();
  return {
    name: W.steno,
    note: 'steno has no fsync at all: it appears only in the fsync-off cases.',
    write: (f, d) => {
      let w = writers.get(f);
      if (!w) writers.set(f, (w = new StenoWriter(f)));
      return w.write(d);
    },
  };
}
