/**
 * The CLI's argument parsing: node:util's parseArgs (Node's own parser, no dependency),
 * with the mistakes people make reported in plain words and a hint of what they meant.
 *
 * @module
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { closestName } from '../options.js';
import { UsageError } from './util.js';

/** A verb's options, as parseArgs takes them. */
export type VerbOptions = NonNullable<ParseArgsConfig['options']>;

/** What {@link parseVerb} returns: parseArgs' values, positionals and tokens. */
export type ParsedVerb<O extends VerbOptions> = ReturnType<typeof parseArgs<{ args: string[]; options: O; allowPositionals: true; tokens: true; strict: true }>>;

/**
 * Parses a verb's arguments (options anywhere, positionals, `--` ends the options). A
 * mistake is a {@link UsageError} in plain words: an unknown option with the closest known
 * one ("unknown option '--verfy' (did you mean '--verify'?)"), an option without its value,
 * a value given to a flag that takes none.
 *
 * @throws {@link UsageError} for an unknown option or a missing or unwanted value.
 * @example
 * ```ts
 * const { values, positionals } = parseVerb(['--json', 'a'], { json: { type: 'boolean' } });
 * // values.json === true, positionals: ['a']; parseVerb(['--jsno'], ...) throws
 * // "unknown option '--jsno' (did you mean '--json'?)"
 * ```
 */
export function parseVerb<const O extends VerbOptions>(args: readonly string[], options: O): ParsedVerb<O> {
  checkOptions(args, options);
  return parseArgs({ args: [...args], options, allowPositionals: true as const, tokens: true as const, strict: true as const });
}

/**
 * Whether the arguments ask for `--json`, read leniently (an unknown option elsewhere does
 * not hide it), so that even a usage error can be reported as JSON.
 *
 * @throws Never: a lenient parse does not fail.
 * @example
 * ```ts
 * asksForJson(['--bogus', '--json'], { json: { type: 'boolean' } }); // true
 * ```
 */
export function asksForJson(args: readonly string[], options: VerbOptions): boolean {
  if (options['json'] === undefined) return false;
  const { tokens } = parseArgs({ args: [...args], options, allowPositionals: true, tokens: true, strict: false });
  return tokens.some((t) => t.kind === 'option' && t.name === 'json' && t.value === undefined);
}

// parseArgs' own messages for these are terse (and one has an unclosed quote): the tokens of
// a lenient parse say exactly what went wrong, and where.
function checkOptions(args: readonly string[], options: VerbOptions): void {
  const { tokens } = parseArgs({ args: [...args], options, allowPositionals: true, tokens: true, strict: false });
  for (const t of tokens) {
    if (t.kind !== 'option') continue;
    const spec = options[t.name];
    if (spec === undefined) throw new UsageError(unknown(args[t.index]!, t.rawName, options));
    if (spec.type === 'boolean' && t.value !== undefined) throw new UsageError(`option '${t.rawName}' takes no value, got '${args[t.index]}'`);
    if (spec.type === 'string') {
      if (t.value === undefined) throw new UsageError(`option '${t.rawName}' needs a value`);
      // `--sha256 --json`: the next word is an option, not the value it was meant to be.
      if (!t.inlineValue && t.value.startsWith('-') && t.value !== '-') {
        throw new UsageError(`option '${t.rawName}' needs a value, got the option '${t.value}' (write ${longName(t.name, t.rawName)}=${t.value} if that is the value)`);
      }
    }
  }
}

function longName(name: string, raw: string): string {
  return raw.startsWith('--') ? raw : `--${name}`;
}

/** "unknown option '--x' (did you mean '--y'?)", naming what was typed. */
function unknown(arg: string, raw: string, options: VerbOptions): string {
  const longs = Object.keys(options);
  if (raw.startsWith('--')) return `unknown option '${raw}'${didYouMean(raw.slice(2), longs, '--')}`;
  // '-json' for '--json': parseArgs reads it as -j -s -o -n.
  const word = arg.slice(1).split('=')[0]!;
  const long = word.length > 1 ? didYouMean(word, longs, '--') : '';
  if (long !== '') return `unknown option '${arg}'${long}`;
  const letter = raw.slice(1);
  const shorts = longs.flatMap((k) => (options[k]!.short === undefined ? [] : [options[k]!.short!]));
  const other = shorts.find((s) => s !== letter && s.toLowerCase() === letter.toLowerCase());
  const where = arg === raw ? '' : ` in '${arg}'`;
  return `unknown option '${raw}'${where}${other === undefined ? '' : ` (did you mean '-${other}'?)`}`;
}

/**
 * ` (did you mean 'x'?)` for an unknown word among known ones (a verb), or nothing.
 *
 * @throws Never.
 * @example
 * ```ts
 * didYouMean('mvv', ['mv', 'lock']); // " (did you mean 'mv'?)"
 * ```
 */
export function didYouMean(word: string, known: Iterable<string>, prefix = ''): string {
  const hit = closestName(word, known);
  return hit === undefined ? '' : ` (did you mean '${prefix}${hit}'?)`;
}
