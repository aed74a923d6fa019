/**
 * Steps through every system call of every writer and fails it, one at a time, with
 * several codes, through the injected seam. Before the commit point (rename/link) the
 * call must reject with the code and the caller's path, leave the target byte-identical
 * and leave no temp; after it, the new content is in place and no temp is left.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { AtomfsError, createWriteStream, isTempFile, openAtomic, writeFile, writeFileSync, writeFiles } from '../../src/index.js';
import type { FsOps } from '../../src/internal/fs-ops.js';
import { FaultOps } from '../helpers/fault-ops.js';
import { tmpDir } from '../helpers/tmp.js';

type Writer = (target: string, data: string, fs: FsOps) => Promise<void>;

const WRITERS: Record<string, Writer> = {
  writeFile: (p, d, ops) => writeFile(p, d, { fs: ops }),
  'writeFile (stream data)': (p, d, ops) => writeFile(p, Readable.from([d.slice(0, 3), d.slice(3)]), { fs: ops }),
  writeFileSync: async (p, d, ops) => writeFileSync(p, d, { fs: ops }),
  'writeFile (overwrite: false)': (p, d, ops) => writeFile(p, d, { fs: ops, overwrite: false }),
  openAtomic: async (p, d, ops) => {
    const f = await openAtomic(p, { fs: ops });
    try {
      await f.write(d.slice(0, 2));
      await f.write(d.slice(2));
      await f.commit();
    } finally {
      await f.abort();
    }
  },
  createWriteStream: (p, d, ops) => pipeline(Readable.from([d]), createWriteStream(p, { fs: ops })),
  writeFiles: async (p, d, ops) => {
    await writeFiles([{ path: p, data: d }], { fs: ops });
  },
};

const CODES = ['EIO', 'ENOSPC', 'EACCES'];

function tempsUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (isTempFile(e.name)) out.push(path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name));
  }
  return out;
}

async function stepThrough(t: { after(fn: () => void): void }, name: string, writer: Writer, scenario: 'existing' | 'new-deep'): Promise<number> {
  const root = tmpDir(t);
  const setup = (): { target: string; old: Buffer | null } => {
    fs.rmSync(path.join(root, 'w'), { recursive: true, force: true });
    fs.mkdirSync(path.join(root, 'w'));
    if (scenario === 'existing') {
      const target = path.join(root, 'w', 'target.txt');
      fs.writeFileSync(target, 'old content');
      return { target, old: Buffer.from('old content') };
    }
    return { target: path.join(root, 'w', 'a', 'b', 'target.txt'), old: null };
  };
  const okRun = new FaultOps();
  const { target } = setup();
  if (scenario === 'existing' && name.includes('overwrite: false')) return 0; // fails early by design
  await writer(target, 'new content', okRun);
  assert.equal(fs.readFileSync(target, 'utf8'), 'new content', `${name}: clean run`);
  const commitIndex = okRun.calls.findIndex((c) => c.name === 'rename' || c.name === 'link');
  assert.ok(commitIndex > 0, `${name}: a commit call was made`);
  let cases = 0;
  for (let i = 0; i < okRun.calls.length; i++) {
    for (const code of CODES) {
      const { target: tgt, old } = setup();
      const ops = new FaultOps().failAt(i, code);
      let error: unknown;
      try {
        await writer(tgt, 'new content', ops);
      } catch (e) {
        error = e;
      }
      const call = okRun.calls[i]!;
      const label = `${name} [${scenario}]: ${code} at call ${i} (${call.name})`;
      assert.equal(ops.hits.length, 1, `${label}: the fault was hit`);
      if (call.name === 'unlink' && okRun.calls[i - 1]?.name === 'link') {
        // No-clobber publish: the target is complete once link() succeeded; a failing
        // unlink of the temp name only leaves a second name, which cleanupOrphans removes.
        assert.equal(error, undefined, `${label}: resolves`);
        assert.equal(fs.readFileSync(tgt, 'utf8'), 'new content', label);
        const left = tempsUnder(root);
        assert.equal(left.length, 1, label);
        assert.equal(fs.statSync(left[0]!).ino, fs.statSync(tgt).ino, `${label}: the leftover is the target's second name`);
        cases++;
        continue;
      }
      assert.ok(error instanceof AtomfsError, `${label}: rejects with AtomfsError, got ${String(error)}`);
      assert.equal(error.code, code, label);
      assert.ok(error.path === tgt || error.path === path.dirname(tgt), `${label}: path is the caller's (${error.path})`);
      assert.deepEqual(tempsUnder(root), [], `${label}: no temp left`);
      if (i <= commitIndex) {
        if (old) assert.deepEqual(fs.readFileSync(tgt), old, `${label}: target intact`);
        else assert.equal(fs.existsSync(tgt), false, `${label}: no target`);
      } else {
        assert.equal(fs.readFileSync(tgt, 'utf8'), 'new content', `${label}: committed content in place`);
      }
      // A failed fsync is never retried on the same descriptor.
      if (call.name === 'fsync') {
        const fd = ops.calls[i]!.args[0];
        assert.equal(ops.calls.slice(i + 1).filter((c) => c.name === 'fsync' && c.args[0] === fd).length, 0, `${label}: fsync not retried`);
      }
      cases++;
    }
  }
  return cases;
}

describe('every system call of every writer, failed one at a time', () => {
  for (const [name, writer] of Object.entries(WRITERS)) {
    for (const scenario of ['existing', 'new-deep'] as const) {
      it(`${name} (${scenario} target) rejects cleanly at every step`, async (t) => {
        const cases = await stepThrough(t, name, writer, scenario);
        if (!(scenario === 'existing' && name.includes('overwrite: false'))) assert.ok(cases >= 18, `${name}: ${cases} cases`);
      });
    }
  }

  it('writeFiles with several folders discards every temp when one file fails before the commit', async (t) => {
    const root = tmpDir(t);
    const targets = ['a/1', 'a/2', 'b/3', 'c/4'].map((p) => path.join(root, p));
    for (const p of targets) {
      fs.mkdirSync(path.dirname(p), { recursive: true });
      fs.writeFileSync(p, 'old');
    }
    const ok = new FaultOps();
    await writeFiles(targets.map((p) => ({ path: p, data: 'new' })), { fs: ok });
    const firstRename = ok.calls.findIndex((c) => c.name === 'rename');
    for (const p of targets) fs.writeFileSync(p, 'old');
    for (let i = 0; i < firstRename; i++) {
      const ops = new FaultOps().failAt(i, 'EIO');
      await assert.rejects(writeFiles(targets.map((p) => ({ path: p, data: 'new' })), { fs: ops }), { code: 'EIO' });
      for (const p of targets) assert.equal(fs.readFileSync(p, 'utf8'), 'old', `call ${i}: ${p} untouched`);
      assert.deepEqual(tempsUnder(root), [], `call ${i}: no temp left`);
    }
  });
});

describe('no-overwrite writes where link(2) is refused (no hard links, as on FAT)', () => {
  const noLinks = (ops: FaultOps): FaultOps => {
    ops.before = (name) => {
      if (name === 'link') throw Object.assign(new Error('EPERM: no hard links here'), { code: 'EPERM', syscall: 'link' });
    };
    return ops;
  };

  it('publish over an exclusive placeholder: created when free, EEXIST when taken, the same for every writer', async (t) => {
    const dir = tmpDir(t);
    const ops = noLinks(new FaultOps());
    await writeFile(path.join(dir, 'a'), 'async', { overwrite: false, fs: ops });
    writeFileSync(path.join(dir, 'b'), 'sync', { overwrite: false, fs: ops });
    const f = await openAtomic(path.join(dir, 'c'), { overwrite: false, fs: ops });
    await f.write('streamed');
    await f.commit();
    await writeFiles([{ path: path.join(dir, 'd'), data: 'batch' }], { overwrite: false, fs: ops });
    assert.deepEqual(['a', 'b', 'c', 'd'].map((n) => fs.readFileSync(path.join(dir, n), 'utf8')), ['async', 'sync', 'streamed', 'batch']);
    assert.ok(ops.names().includes('link'), 'a link was tried first');
    await assert.rejects(writeFile(path.join(dir, 'a'), 'x', { overwrite: false, fs: ops }), { code: 'EEXIST', path: path.join(dir, 'a') });
    assert.throws(() => writeFileSync(path.join(dir, 'b'), 'x', { overwrite: false, fs: ops }), { code: 'EEXIST', path: path.join(dir, 'b') });
    assert.deepEqual(['a', 'b'].map((n) => fs.readFileSync(path.join(dir, n), 'utf8')), ['async', 'sync']);
    assert.deepEqual(fs.readdirSync(dir).sort(), ['a', 'b', 'c', 'd']);
  });

  it('a failed close of the placeholder or rename over it removes the placeholder and the temp: nothing at the target', async (t) => {
    const dir = tmpDir(t);
    for (const failing of ['close', 'rename'] as const) {
      const target = path.join(dir, `t-${failing}`);
      const ops = new FaultOps();
      let placeholder = false;
      ops.before = (name, args) => {
        if (name === 'link') throw Object.assign(new Error('EPERM: no hard links here'), { code: 'EPERM', syscall: 'link' });
        if (name === 'open' && args[0] === target) placeholder = true;
        else if (placeholder && name === failing) {
          placeholder = false;
          if (name === 'close') fs.closeSync(args[0] as number); // as Linux: released even when close fails
          throw Object.assign(new Error('EIO: injected'), { code: 'EIO', syscall: failing });
        }
      };
      await assert.rejects(writeFile(target, 'data', { overwrite: false, fs: ops }), { code: 'EIO', path: target, syscall: failing });
      assert.deepEqual(fs.readdirSync(dir), [], failing);
    }
  });

  it('when the placeholder was replaced by another process before our rename failed, that file is kept', async (t) => {
    const dir = tmpDir(t);
    const target = path.join(dir, 'target');
    const ops = new FaultOps();
    let placeholder = false;
    ops.before = (name, args) => {
      if (name === 'link') throw Object.assign(new Error('EPERM: no hard links here'), { code: 'EPERM', syscall: 'link' });
      if (name === 'open' && args[0] === target) placeholder = true;
      else if (placeholder && name === 'rename') {
        placeholder = false;
        // Another process publishes its own file at that name, then our rename fails.
        fs.writeFileSync(path.join(dir, 'other'), 'theirs');
        fs.renameSync(path.join(dir, 'other'), target);
        throw Object.assign(new Error('EIO: injected'), { code: 'EIO', syscall: 'rename' });
      }
    };
    await assert.rejects(writeFile(target, 'ours', { overwrite: false, fs: ops }), { code: 'EIO', path: target });
    assert.equal(fs.readFileSync(target, 'utf8'), 'theirs');
    assert.deepEqual(fs.readdirSync(dir), ['target']);
  });
});
