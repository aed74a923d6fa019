/**
 * The tests' one line reader: line-by-line reading of a child's output, keeping every line,
 * with bounded waits for lines (the crash, move and staging tests read children with it;
 * LockClient in lock-kit.ts waits on it). waitForLine in child.ts is different: it
 * consumes only the line it looks for.
 */
import type { Readable } from 'node:stream';

/** What a wait looks for: a line starting with this text, or a line passing this test. */
export type LineMatch = string | ((line: string) => boolean);

/** A line found by {@link LineReader.waitFor}, and its index in `lines`. */
export interface LineHit {
  readonly line: string;
  readonly index: number;
}

/**
 * What becomes of a last line with no newline (cut short by a kill) when the output ends:
 * kept marked by a trailing ` <cut>` (the default), kept as it is, or dropped.
 */
export type CutLine = 'mark' | 'keep' | 'drop';

export class LineReader {
  readonly lines: string[] = [];
  #partial = '';
  #ended = false;
  #listeners = new Set<() => void>();
  /** Resolves when the stream has ended (every line is in `lines`). */
  readonly ended: Promise<void>;

  constructor(stream: Readable | null | undefined, opts: { cut?: CutLine } = {}) {
    if (!stream) throw new Error('LineReader: no stream (spawn with stdio pipe)');
    const cut = opts.cut ?? 'mark';
    stream.setEncoding('utf8');
    stream.on('data', (d: string) => {
      const parts = (this.#partial + d).split('\n');
      this.#partial = parts.pop()!;
      if (parts.length > 0) {
        this.lines.push(...parts);
        this.wake();
      }
    });
    this.ended = new Promise((resolve) => {
      const end = (): void => {
        if (this.#ended) return;
        this.#ended = true;
        if (this.#partial && cut !== 'drop') this.lines.push(cut === 'mark' ? `${this.#partial} <cut>` : this.#partial);
        this.#partial = '';
        this.wake();
        resolve();
      };
      stream.once('end', end);
      stream.once('close', end);
    });
  }

  /** Runs the pending waits' checks again (for what the output does not signal, such as the child's exit). */
  wake(): void {
    for (const f of [...this.#listeners]) f();
  }

  /**
   * Runs `check` now, after every new line and at the end of the output, until it returns
   * a value (resolves with it) or throws (rejects with that); rejects with `timeout()`
   * after `ms`.
   */
  until<T>(check: () => T | undefined, ms: number, timeout: () => Error): Promise<T> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const run = (): void => {
        if (settled) return;
        let value: T | undefined;
        try {
          value = check();
        } catch (e) {
          return done(e as Error);
        }
        if (value !== undefined) done(undefined, value);
      };
      const timer = setTimeout(() => done(timeout()), ms);
      const done = (err?: Error, value?: T): void => {
        settled = true;
        clearTimeout(timer);
        this.#listeners.delete(run);
        if (err) reject(err);
        else resolve(value!);
      };
      this.#listeners.add(run);
      run();
    });
  }

  /**
   * Resolves with the `count`-th line (default the first) at index `from` (default 0) or
   * later that matches; rejects when the output ends first, or after `ms`.
   */
  waitFor(match: LineMatch, ms: number, opts: { from?: number; count?: number } = {}): Promise<LineHit> {
    const { from = 0, count = 1 } = opts;
    const test = typeof match === 'string' ? (l: string): boolean => l.startsWith(match) : match;
    const what = `${count === 1 ? 'a line' : `${count} lines`} ${typeof match === 'string' ? `starting with '${match}'` : 'matching'}`;
    const tail = (): string => this.lines.slice(-20).join('\n');
    return this.until<LineHit>(
      () => {
        let n = 0;
        for (let i = from; i < this.lines.length; i++) {
          if (test(this.lines[i]!) && ++n === count) return { line: this.lines[i]!, index: i };
        }
        if (this.#ended) throw new Error(`output ended before ${what}; last lines:\n${tail()}`);
        return undefined;
      },
      ms,
      () => new Error(`timed out after ${ms} ms waiting for ${what}; last lines:\n${tail()}`),
    );
  }

  /** Lines starting with `word ` split into their words (without the first). */
  words(word: string): string[][] {
    return this.lines.filter((l) => l.startsWith(word + ' ')).map((l) => l.split(' ').slice(1));
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
