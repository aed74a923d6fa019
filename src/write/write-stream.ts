/**
 * createWriteStream: a Node Writable over an {@link AtomicFile}.
 *
 * @module
 */
import { Writable } from 'node:stream';
import type { PathLike } from '../internal/paths.js';
import { openAtomic, type AtomicFile } from './atomic-file.js';
import { resolveWritePlan, type WriteFileOptions } from './write-file.js';

/**
 * A Writable that writes a file atomically: chunks go to a temp file, `end()` commits it
 * ('finish' and 'close' fire after the rename and the fsyncs), `destroy(err)` aborts it
 * and leaves the target untouched. Pipe into it with `stream.pipeline` so a failing source
 * destroys it.
 *
 * @param path - The file to replace or create.
 * @param options - See {@link WriteFileOptions}.
 * @returns The stream. Errors (bad options included) are emitted as 'error'.
 * @throws {@link AtomfsError} `EINVAL` synchronously for a bad path or option; I/O errors
 *   (`ENOSPC`, `EACCES`, …) arrive as the stream's 'error' event.
 * @example
 * ```ts
 * import { pipeline } from 'node:stream/promises';
 * await pipeline(fs.createReadStream('in.bin'), createWriteStream('out.bin'));
 * ```
 */
export function createWriteStream(path: PathLike, options?: WriteFileOptions): Writable {
  // Validate now so a typo fails at the call, not on the first write.
  resolveWritePlan('createWriteStream', path, options);
  let file: AtomicFile | undefined;
  return new Writable({
    construct(callback) {
      openAtomic(path, options).then(
        (f) => {
          file = f;
          callback();
        },
        (e: Error) => callback(e),
      );
    },
    write(chunk: Buffer, _encoding, callback) {
      file!.write(chunk).then(() => callback(), callback);
    },
    writev(chunks, callback) {
      // One write(2) loop for the whole batch instead of one per chunk.
      file!.write(Buffer.concat(chunks.map((c) => c.chunk as Buffer))).then(() => callback(), callback);
    },
    final(callback) {
      file!.commit().then(() => callback(), callback);
    },
    destroy(err, callback) {
      if (!file) return callback(err);
      file.abort().then(
        () => callback(err),
        () => callback(err),
      );
    },
  });
}
