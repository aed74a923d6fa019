/**
 * Temporary folders for tests: one per test, removed in every outcome.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TestContext } from 'node:test';

/** The repo's own file system (not tmpfs): where real-disk tests write. */
export const DISK_ROOT = path.resolve(process.env['ATOMFS_TEST_DIR'] ?? path.join(process.cwd(), '.test-tmp'));

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
