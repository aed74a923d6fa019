/**
 * `npm run bench:report -- RESULTS.json [OUT_DIR]`: the charts of a saved bench run (the
 * JSON `npm run bench` writes), as SVG files in OUT_DIR (default: `charts/` beside the JSON
 * file). `npm run bench` calls {@link writeCharts} itself at the end of a run.
 *
 * @module
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chartsOf, type BenchResults } from './charts.js';

/** Writes every chart of `results` into `dir` (created if missing); returns the files written. */
export function writeCharts(results: BenchResults, dir: string): string[] {
  fs.mkdirSync(dir, { recursive: true });
  return chartsOf(results).map((c) => {
    const file = path.join(dir, c.file);
    fs.writeFileSync(file, c.svg);
    return file;
  });
}

/** Reads a results file, refusing anything that is not one. */
export function readResults(file: string): BenchResults {
  const r = JSON.parse(fs.readFileSync(file, 'utf8')) as BenchResults;
  if (r?.version !== 1 || !Array.isArray(r.cases)) throw new Error(`${file}: not a bench results file (version 1)`);
  return r;
}

function main(args: readonly string[]): number {
  const [file, out] = args;
  if (file === undefined || args.length > 2) {
    console.error('usage: npm run bench:report -- RESULTS.json [OUT_DIR]');
    return 2;
  }
  const dir = out ?? path.join(path.dirname(file), 'charts');
  for (const f of writeCharts(readResults(file), dir)) console.log(f);
  return 0;
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) process.exitCode = main(process.argv.slice(2));
