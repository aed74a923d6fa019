/**
 * Real-fault fixtures that need root: tmpfs mounts, read-only bind mounts, dropping
 * privileges. Each mount is unmounted in every outcome; outside root, tests skip with a
 * message (CI runs as root, so they run there).
 */
import { execFileSync, spawnSync } from 'node:child_process';
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
 * Drops this process (a child fixture started as root) to `uid`/`gid`, supplementary
 * groups cleared; returns the ids it then runs with.
 */
export function dropPrivileges(uid: number, gid: number): { uid: number; gid: number } {
  process.setgroups!([]);
  process.setgid!(gid);
  process.setuid!(uid);
  return { uid: process.getuid!(), gid: process.getgid!() };
}

/** A test context, or anything else with an `after` hook. */
export type HasAfter = TestContext | { after(fn: () => void | Promise<void>): void };

/** Whether `p` is a mount point (its device differs from its parent's). */
export function isMountPoint(p: string): boolean {
  try {
    return fs.statSync(p).dev !== fs.statSync(path.dirname(p)).dev;
  } catch {
    return false;
  }
}

/** Unmounts `mnt`, retrying while busy (a descriptor still closing), lazily on the last attempt; whether it worked. */
export function unmount(mnt: string): boolean {
  for (let i = 0; i < 20; i++) {
    try {
      execFileSync('umount', i === 19 ? ['-l', mnt] : [mnt], { stdio: 'ignore', timeout: 10_000 });
      return true;
    } catch {
      spawnSync('sleep', ['0.05']);
    }
  }
  return false;
}

/**
 * A fresh empty folder (0755) on the repo's file system to mount on; call `mounted()` once
 * something is mounted there. ONE after hook unmounts it and only then removes it (never
 * recursively): node:test runs after hooks in registration order, so separate hooks for
 * "unmount" and "remove the folder" would remove first, fail with EBUSY and leave the
 * mount behind (and a recursive remove would reach into a bind mount's source).
 */
export function mountPoint(t: HasAfter): { mnt: string; mounted: () => void } {
  fs.mkdirSync(DISK_ROOT, { recursive: true });
  const mnt = fs.mkdtempSync(path.join(DISK_ROOT, 'atomfs-mnt-'));
  fs.chmodSync(mnt, 0o755);
  // A flag, because a bind mount of a folder on the same disk has the same st_dev as its
  // parent; the device comparison too, for a mount made without the flag (a FUSE daemon's).
  let isMounted = false;
  t.after(() => {
    if ((isMounted || isMountPoint(mnt)) && !unmount(mnt)) throw new Error(`could not unmount ${mnt}`);
    fs.rmdirSync(mnt);
  });
  return { mnt, mounted: () => void (isMounted = true) };
}

/** Mounts a tmpfs of the given size (e.g. '64k') on a fresh folder; unmounted and removed after the test. */
export function mountTmpfs(t: HasAfter, size: string, mode = '0755'): string {
  const { mnt, mounted } = mountPoint(t);
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=${mode}`, 'tmpfs', mnt], { timeout: 10_000 });
  mounted();
  return mnt;
}

/** Whether an ext4 image can be made and loop-mounted here (root, mkfs.ext4, a loop device), and if not, why. */
export function ext4Support(): { ok: true } | { ok: false; why: string } {
  if (!IS_ROOT) return { ok: false, why: NEED_ROOT };
  if (spawnSync('sh', ['-c', 'command -v mkfs.ext4'], { stdio: 'ignore' }).status !== 0) return { ok: false, why: "mkfs.ext4 missing (Debian package 'e2fsprogs')" };
  if (!fs.existsSync('/dev/loop-control')) return { ok: false, why: 'no loop devices (/dev/loop-control)' };
  return { ok: true };
}

/**
 * Makes an ext4 image of `sizeMiB` on the repo's file system and loop-mounts it on a fresh
 * folder; after the test it is unmounted (which frees the loop device), then the image and
 * the folder are removed.
 */
export function mountExt4(t: HasAfter, sizeMiB: number): string {
  const { mnt, mounted } = mountPoint(t);
  const img = `${mnt}.img`;
  // Registered after mountPoint's hook, so it runs once the file system is unmounted.
  t.after(() => fs.rmSync(img, { force: true }));
  fs.writeFileSync(img, '');
  fs.truncateSync(img, sizeMiB * 1024 * 1024);
  execFileSync('mkfs.ext4', ['-q', '-F', '-m', '0', img], { stdio: 'ignore', timeout: 30_000 });
  execFileSync('mount', ['-o', 'loop', img, mnt], { timeout: 10_000 });
  mounted();
  return mnt;
}

/** Bind-mounts `src` read-only on a fresh folder; unmounted and removed after the test. */
export function mountReadOnly(t: HasAfter, src: string): string {
  const { mnt, mounted } = mountPoint(t);
  execFileSync('mount', ['--bind', src, mnt], { timeout: 10_000 });
  mounted();
  execFileSync('mount', ['-o', 'remount,bind,ro', mnt], { timeout: 10_000 });
  return mnt;
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
