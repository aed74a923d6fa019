/**
 * cli-progress is loaded only when a progress bar is drawn: a module-load probe (Node's
 * loader hooks, see helpers/module-log.ts) lists what each run of the built CLI loaded.
 * On a pseudo-terminal (util-linux script) a copying move draws its bar and loads it, which
 * shows the probe sees it; `--version`, a run into pipes, `--json` and `--no-progress` never do.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { BIN, REPO, runProcess, shQuote, type RunResult } from '../helpers/cli.js';
import { tmpDir } from '../helpers/tmp.js';

const PROBE = path.join(REPO, 'build', 'test', 'helpers', 'module-log.js');

/** The URLs a run loaded, and whether cli-progress was among them. */
function loaded(log: string): { urls: string[]; cliProgress: boolean } {
  const urls = fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').filter(Boolean) : [];
  return { urls, cliProgress: urls.some((u) => u.includes('/node_modules/cli-progress/')) };
}

/** Runs the CLI with the probe, through pipes (no TTY). */
function viaPipes(log: string, args: readonly string[]): Promise<RunResult> {
  return runProcess(process.execPath, ['--import', PROBE, BIN, ...args], { env: { ATOMFS_TEST_MODULE_LOG: log } });
}

/** Runs the CLI with the probe on a pseudo-terminal (stdin, stdout and stderr are its TTY). */
function onTerminal(log: string, args: readonly string[]): Promise<RunResult> {
  const cmd = [process.execPath, '--import', PROBE, BIN, ...args].map(shQuote).join(' ');
  return runProcess('script', ['-qec', cmd, '/dev/null'], { env: { ATOMFS_TEST_MODULE_LOG: log }, timeoutMs: 60_000 });
}

describe('cli-progress is loaded only when a bar is drawn', () => {
  it('a copying move on a terminal draws its bar and loads cli-progress (the probe sees it)', async (t) => {
    const dir = tmpDir(t);
    fs.writeFileSync(path.join(dir, 'src'), Buffer.alloc(4 << 20, 7));
    const log = path.join(dir, 'modules');
    const r = await onTerminal(log, ['mv', '--strategy', 'copy', path.join(dir, 'src'), path.join(dir, 'dest')]);
    assert.equal(r.code, 0, r.stdout);
    assert.equal(fs.statSync(path.join(dir, 'dest')).size, 4 << 20);
    assert.ok(loaded(log).cliProgress, `cli-progress loaded: ${loaded(log).urls.join(' ')}`);
  });

  it('--version, -V and --help (on a terminal too) never load it', async (t) => {
    const dir = tmpDir(t);
    for (const [i, args] of [['--version'], ['-V'], ['mv', '--help']].entries()) {
      for (const run of [viaPipes, onTerminal]) {
        const log = path.join(dir, `modules-${i}-${run.name}`);
        const r = await run(log, args);
        assert.equal(r.code, 0, r.stderr);
        const { urls, cliProgress } = loaded(log);
        assert.ok(urls.some((u) => u.endsWith('/dist/cli/main.js')), `the probe saw the CLI load: ${urls.join(' ')}`);
        assert.equal(cliProgress, false, `${args.join(' ')} (${run.name}) loaded cli-progress`);
      }
    }
  });

  it('a copying move into pipes, or with --json or --no-progress on a terminal, never loads it', async (t) => {
    const dir = tmpDir(t);
    const cases: [string, string[], typeof viaPipes][] = [
      ['pipes', [], viaPipes],
      ['json', ['--json'], onTerminal],
      ['no-progress', ['--no-progress'], onTerminal],
    ];
    for (const [name, flags, run] of cases) {
      const src = path.join(dir, `src-${name}`);
      fs.writeFileSync(src, Buffer.alloc(4 << 20, 7));
      const log = path.join(dir, `modules-${name}`);
      const r = await run(log, ['mv', '--strategy', 'copy', ...flags, src, path.join(dir, `dest-${name}`)]);
      assert.equal(r.code, 0, r.stderr + r.stdout);
      assert.equal(fs.statSync(path.join(dir, `dest-${name}`)).size, 4 << 20, name);
      const { urls, cliProgress } = loaded(log);
      assert.ok(urls.some((u) => u.endsWith('/dist/move/move.js')), `the probe saw the move load: ${urls.length} URLs`);
      assert.equal(cliProgress, false, `${name}: cli-progress was loaded`);
    }
  });
});
