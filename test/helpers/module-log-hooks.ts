/**
 * The loader hooks of module-log.ts (they run on the loader's own thread): each resolved
 * URL is appended to ATOMFS_TEST_MODULE_LOG, synchronously, so nothing is lost at exit.
 */
import { appendFileSync } from 'node:fs';

interface Resolved {
  readonly url: string;
}

/** Node's resolve hook: resolves as usual, then notes the URL. */
export async function resolve(specifier: string, context: unknown, next: (s: string, c: unknown) => Promise<Resolved>): Promise<Resolved> {
  const r = await next(specifier, context);
  const log = process.env['ATOMFS_TEST_MODULE_LOG'];
  if (log) appendFileSync(log, `${r.url}\n`);
  return r;
}
