/**
 * Type-level tests: compiled by `npm run build:test` (tsc), never run. Each
 * `@ts-expect-error` line must be a type error, or the build fails.
 */
import { openAtomic, readFile, writeFile, writeFileSync, type AtomfsError, type WriteFileOptions } from '../../src/index.js';

export async function typeChecks(): Promise<void> {
  await writeFile('a', 'text');
  await writeFile('a', new Uint8Array(1), { mode: 0o600, fsync: false, symlinks: 'replace' });
  // @ts-expect-error a string is not an options object
  await writeFile('a', 'x', 'utf8');
  // @ts-expect-error unknown symlink policy
  await writeFile('a', 'x', { symlinks: 'ignore' });
  // @ts-expect-error callbacks are not supported: promises only
  await writeFile('a', 'x', {}, () => {});
  // @ts-expect-error writeFileSync takes no streams
  writeFileSync('a', (async function* () { yield 'x'; })());
  const text: string = await readFile('a', { encoding: 'utf8' });
  const bytes: Buffer = await readFile('a');
  // @ts-expect-error without an encoding readFile returns bytes
  const wrong: string = await readFile('a');
  await using f = await openAtomic('a');
  await f.write('x');
  const code: AtomfsError['code'] = 'EXDEV';
  const opts: WriteFileOptions = { overwrite: false };
  void [text, bytes, wrong, code, opts];
}
