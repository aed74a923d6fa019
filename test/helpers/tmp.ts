/**
 * Temporary folders for tests: one per test, removed in every outcome.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TestContext } from 'node:test';

/**
 * Whether every folder above `p` lets other users through (o+x). Tests that drop to an
 * unprivileged uid need that: a checkout in root's home (mode 0700) is out of its reach.
 */
function reachableByOthers(p: string): boolean {
  for (let d = path.dirname(p); ; d = path.dirname(d)) {
    try {
      if ((fs.statSync(d).mode & 0o001) === 0) return false;
    } catch {
      // not there yet: made later, with its parent's reach
    }
    if (d === path.dirname(d)) return true;
  }
}

function diskRoot(): string {
  const given = process.env['ATOMFS_TEST_DIR'];
  if (given) return path.resolve(given);
  const inRepo = path.join(process.cwd(), '.test-tmp');
  if (process.getuid?.() !== 0 || reachableByOthers(inRepo)) return inRepo;
  // Root in a checkout others cannot enter: a disk folder outside it that they can. (Not
  // os.tmpdir(): that may be a tmpfs, and these tests want the disk.)
  const outside = path.join('/var/tmp', 'atomfs-tests');
  fs.mkdirSync(outside, { recursive: true, mode: 0o755 });
  fs.chmodSync(outside, 0o755);
  return outside;
}

/** The repo's own file system (not tmpfs): where real-disk tests write. */
export const DISK_ROOT = diskRoot();

/** A fresh folder on the repo's file system, removed after the test. */
export function tmpDir(t: TestContext | { after(fn: () => void): void }, root = DISK_ROOT): string {
  fs.mkdirSync(root, { recursive: true });
  const dir = fs.mkdtempSync(path.join(root, 'atomfs-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A fresh folder under the OS temp dir (often tmpfs or another device). */
export function osTmpDir(t: TestContext | { after(fn: () => void): void }): string {
  return tmpDir(t, os.tmpdir());
}

/** Names in a folder, sorted. */
export function list(dir: string): string[] {
  return fs.readdirSync(dir).sort();
}
