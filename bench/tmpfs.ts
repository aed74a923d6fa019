/**
 * A tmpfs for the cross-device move case: mounted for the case and unmounted afterwards
 * (also on Ctrl-C, through the bench's exit hooks).
 *
 * `mount -t tmpfs -o size=<size> tmpfs <fresh folder under os.tmpdir()>` needs root; without
 * it the case falls back to a fresh folder under /dev/shm when that is a tmpfs, and says so.
 *
 * @module
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fsTypeOf } from './util.js';

/** A tmpfs folder and how to get rid of it. */
export interface Tmpfs {
  /** An empty folder on a tmpfs. */
  readonly dir: string;
  /** How it was obtained, for the notes under the table. */
  readonly how: string;
  /** Unmounts (or removes) it; safe to call twice. */
  dispose(): void;
}

/**
 * Mounts a tmpfs of `size` (a mount(8) size such as `2g`). `atExit` registers the unmount
 * with the bench's interrupt handler; the returned `dispose` runs it and unregisters it.
 */
export function mountTmpfs(size: string, atExit: (fn: () => void) => () => void): Tmpfs {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'atomfs-bench-tmpfs-'));
  let mountError: string;
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    const unmount = (): void => {
      try {
        execFileSync('umount', [dir], { stdio: 'ignore' });
      } catch {
        // Busy (a child still had a file open when interrupted): detach it lazily.
        try {
          execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
        } catch {
          // not mounted any more
        }
      }
      try {
        fs.rmdirSync(dir);
      } catch {
        // already gone
      }
    };
    const dispose = atExit(unmount);
    return { dir, how: `a tmpfs mounted for the case (size=${size}) at ${dir}`, dispose };
  } catch (e) {
    const err = e as { stderr?: Buffer; message?: string };
    mountError = err.stderr?.toString().trim() || String(err.message ?? e);
    fs.rmdirSync(dir);
  }
  if (fsTypeOf('/dev/shm') !== 'tmpfs') throw new Error(`cannot mount a tmpfs (${mountError}) and /dev/shm is not a tmpfs`);
  const shm = fs.mkdtempSync(path.join('/dev/shm', 'atomfs-bench-'));
  const dispose = atExit(() => fs.rmSync(shm, { recursive: true, force: true }));
  return { dir: shm, how: `a folder under /dev/shm (tmpfs; mounting one failed: ${mountError})`, dispose };
}
