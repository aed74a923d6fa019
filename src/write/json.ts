/**
 * writeJson and readJson, and their blocking twins.
 *
 * @module
 */
import { AtomfsError } from '../errors.js';
import type { PathLike } from '../internal/paths.js';
import { readFile, readFileSync, type ReadFileOptions } from './read-file.js';
import { writeFile, writeFileSync, WRITE_NAMES, type WriteFileOptions } from './write-file.js';
import { isRevoked, textOf } from '../internal/paths.js';
import { checkOptionsObject, optionNames } from '../options.js';

const JSON_SET = optionNames(WRITE_NAMES, ['spaces', 'replacer']);

/** Options of {@link writeJson}. */
export interface WriteJsonOptions extends WriteFileOptions {
  /** Indentation, as for `JSON.stringify`. Default `2`. */
  readonly spaces?: number | string | undefined;
  /** A replacer, as for `JSON.stringify`. */
  readonly replacer?: ((this: unknown, key: string, value: unknown) => unknown) | (string | number)[] | null | undefined;
}

/**
 * Serialises a value as JSON (with a trailing newline) and writes it atomically with
 * {@link writeFile}.
 *
 * @param path - The file to replace or create.
 * @param value - Any JSON-serialisable value.
 * @param options - `spaces` (default 2), `replacer`, and every {@link WriteFileOptions}.
 * @throws {@link AtomfsError} `EINVAL` when the value cannot be serialised (undefined, a
 *   function, a cycle, a BigInt); every code of {@link writeFile}.
 * @example
 * ```ts
 * await writeJson('package.json', pkg, { spaces: 2 });
 * ```
 */
export async function writeJson(path: PathLike, value: unknown, options?: WriteJsonOptions): Promise<void> {
  const { text, writeOptions } = serialise('writeJson', path, value, options);
  await writeFile(path, text, writeOptions);
}

/**
 * {@link writeJson}, blocking: the same serialisation and {@link writeFileSync}'s steps.
 *
 * @param path - The file to replace or create.
 * @param value - Any JSON-serialisable value.
 * @param options - As {@link writeJson}.
 * @throws {@link AtomfsError} Every code of {@link writeJson}.
 * @example
 * ```ts
 * writeJsonSync('state.json', { step: 3 });
 * ```
 */
export function writeJsonSync(path: PathLike, value: unknown, options?: WriteJsonOptions): void {
  const { text, writeOptions } = serialise('writeJsonSync', path, value, options);
  writeFileSync(path, text, writeOptions);
}

function serialise(operation: string, path: PathLike, value: unknown, options: unknown): { text: string; writeOptions: WriteFileOptions } {
  const { spaces = 2, replacer, ...writeOptions } = checkOptionsObject(operation, options, typeof path === 'string' ? path : undefined, JSON_SET) as WriteJsonOptions;
  let text: string | undefined;
  try {
    text = JSON.stringify(value, replacer as Parameters<typeof JSON.stringify>[1], spaces);
  } catch (e) {
    throw new AtomfsError('EINVAL', `value cannot be serialised as JSON: ${(e as Error).message}`, { operation, path: textOf(path) }, { cause: e });
  }
  if (text === undefined) {
    throw new AtomfsError('EINVAL', 'value cannot be serialised as JSON (undefined or a function)', { operation, path: textOf(path) });
  }
  return { text: text + '\n', writeOptions };
}

/**
 * Reads and parses a JSON file, with {@link readFile}'s retries.
 *
 * @param path - The file to read.
 * @param options - `retries`, `signal`, `encoding` (default utf8).
 * @returns The parsed value.
 * @throws {@link AtomfsError} `EINVAL` with the parser's message when the content is not
 *   JSON; every code of {@link readFile}.
 * @example
 * ```ts
 * const cfg = await readJson<{ port: number }>('config.json');
 * ```
 */
export async function readJson<T = unknown>(path: PathLike, options?: ReadFileOptions): Promise<T> {
  return parse<T>('readJson', path, await readFile(path, withText(options)));
}

/**
 * {@link readJson}, blocking: the same steps and retries (the thread sleeps between them).
 *
 * @param path - The file to read.
 * @param options - As {@link readJson}.
 * @returns The parsed value.
 * @throws {@link AtomfsError} Every code of {@link readJson}.
 * @example
 * ```ts
 * const state = readJsonSync<{ step: number }>('state.json');
 * ```
 */
export function readJsonSync<T = unknown>(path: PathLike, options?: ReadFileOptions): T {
  return parse<T>('readJsonSync', path, readFileSync(path, withText(options), 'readJsonSync') as string);
}

function withText(options: ReadFileOptions | undefined): ReadFileOptions & { encoding: BufferEncoding } {
  // Not a spread of a bad value: readFile says what is wrong with it.
  if (options !== undefined && (options === null || typeof options !== 'object' || isRevoked(options))) return options as never;
  return { ...options, encoding: options?.encoding ?? 'utf8' };
}

function parse<T>(operation: string, path: PathLike, text: string): T {
  try {
    return JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text) as T;
  } catch (e) {
    throw new AtomfsError('EINVAL', `invalid JSON: ${(e as Error).message}`, { operation, path: textOf(path) }, { cause: e, reason: 'json' });
  }
}
