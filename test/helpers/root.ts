/**
 * Real-fault fixtures that need root: tmpfs mounts, read-only bind mounts, dropping
 * privileges. Each mount is unmounted in every outcome; outside root, tests skip with a
 * message (CI runs as root, so they run there).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TestContext } from 'node:test';
import { DISK_ROOT } from './tmp.js';

/** Whether this process is root (so mounts and chown work). */
export const IS_ROOT = process.getuid?.() === 0;

/** The reason string for t.skip when not root. */
export const NEED_ROOT = 'needs root (mount, chown, setuid); CI runs as root';

/** Skips the test (with a message) unless root; returns whether it may run. */
export function requireRoot(t: TestContext): boolean {
  if (!IS_ROOT) {
    t.skip(NEED_ROOT);
    return false;
  }
  return true;
}

/**
 * A fresh empty folder to mount on. ONE after hook unmounts it and only then removes it
 * (never recursively): node:test runs after hooks in registration order, so separate hooks
 * for "unmount" and "remove the folder" would remove first, fail with EBUSY and leave the
 * mount behind (and a recursive remove would reach into a bind mount's source).
 */
function mountPoint(t: TestContext): { mnt: string; mounted: () => void } {
  fs.mkdirSync(DISK_ROOT, { recursive: true });
  const mnt = fs.mkdtempSync(path.join(DISK_ROOT, 'atomfs-mnt-'));
  // A flag, not a device comparison: a bind mount of a folder on the same disk has the
  // same st_dev as its parent.
  let isMounted = false;
  t.after(() => {
    if (isMounted) unmount(mnt);
    fs.rmdirSync(mnt);
  });
  return { mnt, mounted: () => void (isMounted = true) };
}

/** Mounts a tmpfs of the given size (e.g. '64k') on a fresh folder; unmounted and removed after the test. */
export function mountTmpfs(t: TestContext, size: string): string {
  const { mnt, mounted } = mountPoint(t);
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0755`, 'tmpfs', mnt]);
  mounted();
  return mnt;
}

/** Bind-mounts `src` read-only on a fresh folder; unmounted and removed after the test. */
export function mountReadOnly(t: TestContext, src: string): string {
  const { mnt, mounted } = mountPoint(t);
  execFileSync('mount', ['--bind', src, mnt]);
  mounted();
  execFileSync('mount', ['-o', 'remount,bind,ro', mnt]);
  return mnt;
}

function unmount(mnt: string): void {
  for (let i = 0; i < 10; i++) {
    try {
      execFileSync('umount', [mnt], { stdio: 'ignore' });
      return;
    } catch {
      // Busy (a descriptor still closing): try lazily on the last attempt.
      if (i === 9) execFileSync('umount', ['-l', mnt], { stdio: 'ignore' });
    }
  }
}

/** Fills a file system until a write makes no progress; returns the filler's path. */
export function fillUp(dir: string, leave = 0): string {
  const filler = path.join(dir, 'filler');
  const fd = fs.openSync(filler, 'w');
  const block = Buffer.alloc(4096, 0x5a);
  try {
    for (let i = 0; i < 1_000_000; i++) {
      try {
        if (fs.writeSync(fd, block) === 0) break;
      } catch {
        break;
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  if (leave > 0) {
    const st = fs.statSync(filler);
    fs.truncateSync(filler, Math.max(0, st.size - leave));
  }
  return filler;
}
