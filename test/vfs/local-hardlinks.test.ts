/**
 * A hard link inside a LocalMount's root to a file outside it (issue 16, "Also"): a change
 * in place through the mount would change the outside file. Such changes are refused
 * (`EACCES`) before anything changes, unless `allowHardLinks`; replacing the file
 * (`vfs.writeFile`, a shortening truncate) leaves the outside name alone and is allowed.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { LocalMount, VirtualFileSystem } from '../../src/index.js';
import { tmpDir } from '../helpers/tmp.js';

const OUTSIDE = 'outside: do not touch\n';

function setUp(t: TestContext, allowHardLinks?: boolean): { vfs: VirtualFileSystem; mount: LocalMount; outside: string; root: string } {
  const dir = tmpDir(t);
  const root = path.join(dir, 'root');
  fs.mkdirSync(root);
  const outside = path.join(dir, 'secret.txt');
  fs.writeFileSync(outside, OUTSIDE);
  fs.chmodSync(outside, 0o640);
  fs.utimesSync(outside, 1_000_000, 1_000_000);
  fs.linkSync(outside, path.join(root, 'link.txt'));
  const mount = new LocalMount(root, allowHardLinks === undefined ? {} : { allowHardLinks });
  const vfs = new VirtualFileSystem();
  vfs.mount('/r', mount);
  return { vfs, mount, outside, root };
}

function untouched(outside: string, what: string): void {
  assert.equal(fs.readFileSync(outside, 'utf8'), OUTSIDE, `${what}: the outside file's bytes changed`);
  const st = fs.statSync(outside);
  assert.equal(st.mode & 0o7777, 0o640, `${what}: its mode changed`);
  assert.equal(st.mtimeMs, 1_000_000_000, `${what}: its time changed`);
}

describe('LocalMount and a hard link to a file outside its root', () => {
  it('refuses every change in place with EACCES and changes nothing outside', async (t) => {
    const { vfs, mount, outside, root } = setUp(t);
    const attempts: [string, () => Promise<unknown>][] = [
      ['mount.write', () => mount.write('/link.txt', new TextEncoder().encode('pwned'))],
      ['mount.write at an offset', () => mount.write('/link.txt', new TextEncoder().encode('X'), { offset: 3 })],
      ['mount.truncate longer', () => mount.truncate('/link.txt', 4096)],
      ['mount.truncate to 0', () => mount.truncate('/link.txt', 0)],
      ['mount.setMetadata mode', () => mount.setMetadata('/link.txt', { mode: 0o777 })],
      ['mount.setMetadata mtime', () => mount.setMetadata('/link.txt', { mtimeMs: 5 })],
      ['vfs.truncate longer', () => vfs.truncate('/r/link.txt', 100)],
      [
        "vfs.open 'r+' then write",
        async () => {
          const h = await vfs.open('/r/link.txt', 'r+');
          try {
            await h.write('pwned');
          } finally {
            await h.close();
          }
        },
      ],
      [
        "vfs.open 'a' then write",
        async () => {
          const h = await vfs.open('/r/link.txt', 'a');
          try {
            await h.write('pwned');
          } finally {
            await h.close();
          }
        },
      ],
    ];
    for (const [what, fn] of attempts) {
      await assert.rejects(fn(), { code: 'EACCES' }, what);
      untouched(outside, what);
    }
    // Reading is fine, and so is replacing the entry: the outside name keeps its file.
    assert.equal(await vfs.readFile('/r/link.txt', { encoding: 'utf8' }), OUTSIDE);
    // A shortening truncate writes the kept bytes to a new file renamed over the entry.
    await vfs.truncate('/r/link.txt', 7);
    untouched(outside, 'a shortening truncate');
    assert.equal(await vfs.readFile('/r/link.txt', { encoding: 'utf8' }), 'outside');
    fs.rmSync(path.join(root, 'link.txt'));
    fs.linkSync(outside, path.join(root, 'link.txt'));
    await vfs.writeFile('/r/link.txt', 'replaced');
    untouched(outside, 'vfs.writeFile');
    assert.equal(await vfs.readFile('/r/link.txt', { encoding: 'utf8' }), 'replaced');
    // Now a file with one link: changes in place work again.
    await mount.write('/link.txt', new TextEncoder().encode('R'));
    assert.equal(await vfs.readFile('/r/link.txt', { encoding: 'utf8' }), 'Replaced');
  });

  it('allowHardLinks: true lets a change in place through (the outside file changes: the caller asked)', async (t) => {
    const { mount, outside } = setUp(t, true);
    await mount.write('/link.txt', new TextEncoder().encode('O'));
    assert.equal(fs.readFileSync(outside, 'utf8'), 'Outside: do not touch\n');
    assert.throws(() => new LocalMount('/tmp', { allowHardLinks: 'yes' as unknown as boolean }), { code: 'EINVAL' });
  });
});
