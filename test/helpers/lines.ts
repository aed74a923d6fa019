/**
 * Line-by-line reading of a child's output, keeping every line (waitForLine in child.ts
 * consumes only the line it looks for).
 */
import type { Readable } from 'node:stream';

export class LineReader {
  readonly lines: string[] = [];
  #partial = '';
  #ended = false;
  #listeners = new Set<() => void>();
  /** Resolves when the stream has ended (every line is in `lines`). */
  readonly ended: Promise<void>;

  constructor(stream: Readable) {
    stream.setEncoding('utf8');
    stream.on('data', (d: string) => {
      const parts = (this.#partial + d).split('\n');
      this.#partial = parts.pop()!;
      if (parts.length > 0) {
        this.lines.push(...parts);
        this.#notify();
      }
    });
    this.ended = new Promise((resolve) => {
      const end = (): void => {
        if (this.#ended) return;
        this.#ended = true;
        // A line cut short by a kill is kept too, marked by having no newline.
        if (this.#partial) this.lines.push(this.#partial + ' <cut>');
        this.#partial = '';
        this.#notify();
        resolve();
      };
      stream.once('end', end);
      stream.once('close', end);
    });
  }

  #notify(): void {
    for (const f of [...this.#listeners]) f();
  }

  /** Resolves once `count` lines satisfy `pred`, with the last of them; bounded by `ms`. */
  waitFor(pred: (line: string) => boolean, ms: number, count = 1): Promise<string> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        let n = 0;
        for (const l of this.lines) {
          if (pred(l) && ++n === count) return done(undefined, l);
        }
        if (this.#ended) done(new Error(`output ended before ${count} matching line(s); got:\n${this.lines.slice(-20).join('\n')}`));
      };
      const timer = setTimeout(() => done(new Error(`timed out after ${ms} ms waiting for ${count} matching line(s)`)), ms);
      const done = (err?: Error, line?: string): void => {
        clearTimeout(timer);
        this.#listeners.delete(check);
        if (err) reject(err);
        else resolve(line!);
      };
      this.#listeners.add(check);
      check();
    });
  }
}

/** Collects a stream's text (for error messages). */
export function collect(stream: Readable | null | undefined): () => string {
  let s = '';
  stream?.setEncoding('utf8');
  stream?.on('data', (d: string) => {
    if (s.length < 64 * 1024) s += d;
  });
  return () => s;
}
