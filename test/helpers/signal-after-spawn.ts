/**
 * A preload for the CLI under test (`node --import <this file> bin/atomfs.js ...`): right
 * after the first `child_process.spawn()` returns, the process sends itself the signal named
 * in ATOMFS_TEST_SIGNAL_AFTER_SPAWN. That is a signal arriving in the window where the
 * command already runs but the code after spawn() has not yet run: deterministic, instead
 * of racing a real sender against the scheduler.
 *
 * Importing this file has that effect on the importing process: import it nowhere else.
 */
import { createRequire, syncBuiltinESMExports } from 'node:module';

type Cp = typeof import('node:child_process');

const sig = process.env['ATOMFS_TEST_SIGNAL_AFTER_SPAWN'] as NodeJS.Signals | undefined;
if (sig) {
  const cp = createRequire(import.meta.url)('node:child_process') as Cp;
  const spawn = cp.spawn;
  let fired = false;
  const patched = function (this: unknown, ...args: unknown[]) {
    const child = (spawn as (...a: unknown[]) => ReturnType<Cp['spawn']>).apply(this, args);
    if (!fired) {
      fired = true;
      process.kill(process.pid, sig);
    }
    return child;
  };
  (cp as { spawn: unknown }).spawn = patched;
  // ESM `import { spawn } from 'node:child_process'` sees the patched function too.
  syncBuiltinESMExports();
}
