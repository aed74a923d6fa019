/**
 * A typo never drops a safety option (issue 17.2): `writeFile(p, d, {fsyncc: false})` used to
 * succeed silently, without the fsync it seemed to turn off (or keep). Every function and
 * constructor that takes options refuses a name it does not know with EINVAL, naming it and
 * the closest known one, before anything is touched.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import * as api from '../../src/index.js';
import { exploreCrashes, SimulatedDisk } from '../../src/testing/index.js';
import { tmpDir } from '../helpers/tmp.js';

describe('unknown option names', () => {
  it('are EINVAL everywhere, with the closest known name, and nothing is made', async (t) => {
    const dir = tmpDir(t);
    const f = path.join(dir, 'f');
    fs.writeFileSync(path.join(dir, 'existing'), 'x');
    const area = await api.createStagingArea({ stagingDir: path.join(dir, 'staging'), finalDir: path.join(dir, 'final') });
    t.after(() => area.close());
    const vfs = new api.VirtualFileSystem();
    vfs.mount('/m', new api.MemoryMount());
    const before = fs.readdirSync(dir).sort();
    const cases: [string, () => unknown, string, string][] = [
      ['writeFile', () => api.writeFile(f, 'x', { fsyncc: false } as never), 'fsyncc', 'fsync'],
      ['writeFileSync', () => api.writeFileSync(f, 'x', { overwite: false } as never), 'overwite', 'overwrite'],
      ['writeFiles (options)', () => api.writeFiles([{ path: f, data: 'x' }], { fsyncc: false } as never), 'fsyncc', 'fsync'],
      ['writeFiles (an entry)', () => api.writeFiles([{ path: f, data: 'x', mod: 0o600 } as never]), 'mod', 'mode'],
      ['openAtomic', () => api.openAtomic(f, { mkdirP: true } as never), 'mkdirP', 'mkdirp'],
      ['createWriteStream', () => api.createWriteStream(f, { symlink: 'follow' } as never), 'symlink', 'symlinks'],
      ['writeJson', () => api.writeJson(f, {}, { space: 2 } as never), 'space', 'spaces'],
      ['readFile', () => api.readFile(path.join(dir, 'existing'), { encodig: 'utf8' } as never), 'encodig', 'encoding'],
      ['readJson', () => api.readJson(path.join(dir, 'existing'), { retris: 1 } as never), 'retris', 'retries'],
      ['rename', () => api.rename(path.join(dir, 'existing'), f, { overwrit: false } as never), 'overwrit', 'overwrite'],
      ['move', () => api.move(path.join(dir, 'existing'), f, { verfy: 'checksum' } as never), 'verfy', 'verify'],
      ['lock', () => api.lock(f, { timout: 5 } as never), 'timout', 'timeout'],
      ['withLock', () => api.withLock(f, () => 1, { stael: 500 } as never), 'stael', 'stale'],
      ['DirectoryLocker', () => new api.DirectoryLocker(dir, { retryinterval: 5 } as never), 'retryinterval', 'retryInterval'],
      ['cleanupOrphans', () => api.cleanupOrphans(dir, { olderthan: 0 } as never), 'olderthan', 'olderThan'],
      ['validateFile', () => api.validateFile(path.join(dir, 'existing'), { maxsize: 1 } as never), 'maxsize', 'maxSize'],
      ['tempPath', () => api.tempPath(f, { prefx: 'x' } as never), 'prefx', 'prefix'],
      ['createStagingArea', () => api.createStagingArea({ stagingDir: path.join(dir, 's2'), finalDir: path.join(dir, 'f2'), fsyncc: false } as never), 'fsyncc', 'fsync'],
      ['StagingArea.write', () => area.write('a', 'x', { validat: {} } as never), 'validat', 'validate'],
      ['vfs.mount', () => vfs.mount('/n', new api.MemoryMount(), { readonly: true } as never), 'readonly', 'readOnly'],
      ['vfs.mkdir', () => vfs.mkdir('/m/a', { recursiv: true } as never), 'recursiv', 'recursive'],
      ['vfs.readFile', () => vfs.readFile('/m/a', { encodng: 'utf8' } as never), 'encodng', 'encoding'],
      ['vfs.writeFile', () => vfs.writeFile('/m/a', 'x', { mod: 0o600 } as never), 'mod', 'mode'],
      ['vfs.rename', () => vfs.rename('/m/a', '/m/b', { overwite: true } as never), 'overwite', 'overwrite'],
      ['MemoryMount', () => new api.MemoryMount({ caseinsensitive: true } as never), 'caseinsensitive', 'caseInsensitive'],
      ['LocalMount', () => new api.LocalMount(dir, { fsyncc: false } as never), 'fsyncc', 'fsync'],
      ['SimulatedDisk', () => new SimulatedDisk({ boots: 2 } as never), 'boots', 'boot'],
      ['exploreCrashes', () => exploreCrashes(async () => undefined, () => true, { sampels: 3 } as never), 'sampels', 'samples'],
    ];
    for (const [what, call, typo, meant] of cases) {
      let outcome: unknown;
      try {
        outcome = await call();
      } catch (e) {
        outcome = e;
      }
      assert.ok(outcome instanceof api.AtomfsError, `${what}: accepted an unknown option '${typo}'`);
      assert.equal(outcome.code, 'EINVAL', what);
      assert.ok(outcome.message.includes(`unknown option '${typo}' (did you mean '${meant}'?)`), `${what}: ${outcome.message}`);
    }
    assert.deepEqual(fs.readdirSync(dir).sort(), before, 'nothing was made');
    assert.deepEqual(await vfs.list('/m'), [], 'nothing was made in the VFS');
    // A name far from every known one lists them instead of guessing.
    await assert.rejects(api.writeFile(f, 'x', { zzzzzzzzzz: 1 } as never), (e: Error) => /unknown option 'zzzzzzzzzz' \(known: signal, logger, fs, fsync, /.test(e.message));
  });
});
