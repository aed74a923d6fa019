/**
 * validateFile (issue 5, part 5): every check reports `valid: false` with a clear `reason`
 * and a `code` instead of throwing; a FIFO never hangs; an unreadable file, read as an
 * unprivileged user, is EACCES.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { validateFile, type ValidationResult } from '../../src/index.js';
import { exited, spawnNode } from '../helpers/child.js';
import { requireRoot } from '../helpers/root.js';
import { Lines, withTimeout } from '../helpers/staging-kit.js';
import { tmpDir } from '../helpers/tmp.js';

const VALIDATE_AS = fileURLToPath(new URL('./fixtures/validate-as.js', import.meta.url));
const NOBODY = 65534;

/** validateFile bounded in time: a hang fails the test instead of stalling the run. */
async function check(p: string, options?: Parameters<typeof validateFile>[1]): Promise<ValidationResult> {
  return withTimeout(validateFile(p, options), 5_000, `validateFile(${p}) did not settle within 5 s`);
}

describe('validateFile', () => {
  it('accepts valid UTF-8 and valid JSON, and reports the size', async (t) => {
    const dir = tmpDir(t);
    const text = path.join(dir, 'text.txt');
    fs.writeFileSync(text, 'héllo wörld ✓ 😀\n');
    assert.deepEqual(await check(text), { valid: true, size: Buffer.byteLength('héllo wörld ✓ 😀\n') });
    const json = path.join(dir, 'ok.json');
    fs.writeFileSync(json, '{"a": [1, 2, {"b": "ç"}]}\n');
    assert.deepEqual(await check(json, { json: true }), { valid: true, size: fs.statSync(json).size });
    const empty = path.join(dir, 'empty');
    fs.writeFileSync(empty, '');
    assert.deepEqual(await check(empty), { valid: true, size: 0 });
    // A multi-byte character split across the 1 MiB read boundary is still valid.
    const big = path.join(dir, 'boundary.txt');
    fs.writeFileSync(big, Buffer.concat([Buffer.alloc(1024 * 1024 - 1, 0x61), Buffer.from('é✓', 'utf8')]));
    assert.deepEqual(await check(big), { valid: true, size: 1024 * 1024 - 1 + 5 });
  });

  it('reports invalid UTF-8, a character cut off at the end, and truncated JSON as EINVAL with the reason', async (t) => {
    const dir = tmpDir(t);
    const bad = path.join(dir, 'bad.txt');
    fs.writeFileSync(bad, Buffer.from([0x61, 0x62, 0xff, 0xfe, 0x63]));
    assert.deepEqual(await check(bad), { valid: false, code: 'EINVAL', reason: 'not valid UTF-8', size: 5 });
    assert.deepEqual(await check(bad, { encoding: null }), { valid: true, size: 5 }, 'encoding: null skips the UTF-8 check');

    const cut = path.join(dir, 'cut.txt');
    fs.writeFileSync(cut, Buffer.concat([Buffer.from('ok '), Buffer.from('😀', 'utf8').subarray(0, 3)]));
    const r = await check(cut);
    assert.equal(r.valid, false);
    assert.equal(r.code, 'EINVAL');
    assert.match(r.reason!, /truncated character at the end/);
    assert.equal(r.size, 6);

    const trunc = path.join(dir, 'trunc.json');
    fs.writeFileSync(trunc, '{"items": [1, 2, 3');
    const j = await check(trunc, { json: true });
    assert.equal(j.valid, false);
    assert.equal(j.code, 'EINVAL');
    assert.match(j.reason!, /^invalid JSON: /);
    assert.deepEqual(await check(trunc), { valid: true, size: 18 }, 'without json: true, only UTF-8 is checked');
    const emptyJson = path.join(dir, 'empty.json');
    fs.writeFileSync(emptyJson, '');
    assert.match((await check(emptyJson, { json: true })).reason!, /^invalid JSON/, 'an empty file is not JSON');
  });

  it('reports a folder (EISDIR), a missing file (ENOENT) and a FIFO (without opening it, so never hanging)', async (t) => {
    const dir = tmpDir(t);
    assert.deepEqual(await check(dir), { valid: false, code: 'EISDIR', reason: 'not a regular file: a folder', size: 0 });
    const missing = path.join(dir, 'missing');
    const m = await check(missing);
    assert.equal(m.valid, false);
    assert.equal(m.code, 'ENOENT');
    assert.match(m.reason!, /no such file or directory/);
    assert.ok(m.reason!.includes(missing), 'the reason names the path');
    const fifo = path.join(dir, 'pipe');
    execFileSync('mkfifo', [fifo]);
    // No writer ever opens it: opening it for reading would block forever.
    assert.deepEqual(await check(fifo), { valid: false, code: 'EINVAL', reason: 'not a regular file: a FIFO', size: 0 });
    assert.deepEqual(await check(fifo, { json: true, sha256: 'a'.repeat(64) }), { valid: false, code: 'EINVAL', reason: 'not a regular file: a FIFO', size: 0 });
    const link = path.join(dir, 'link-to-pipe');
    fs.symlinkSync(fifo, link);
    assert.equal((await check(link)).reason, 'not a regular file: a FIFO');
  });

  it('follows a symlink to a valid file and reports a dangling one as ENOENT', async (t) => {
    const dir = tmpDir(t);
    const target = path.join(dir, 'target.json');
    fs.writeFileSync(target, '[1]');
    const link = path.join(dir, 'link.json');
    fs.symlinkSync('target.json', link);
    const sha = createHash('sha256').update('[1]').digest('hex');
    assert.deepEqual(await check(link, { json: true, sha256: sha, minSize: 3, maxSize: 3 }), { valid: true, size: 3 });
    const chain = path.join(dir, 'chain');
    fs.symlinkSync(link, chain);
    assert.deepEqual(await check(chain), { valid: true, size: 3 });
    const dangling = path.join(dir, 'dangling');
    fs.symlinkSync('nowhere', dangling);
    assert.equal((await check(dangling)).code, 'ENOENT');
  });

  it('checks minSize, maxSize and sha256, naming the sizes and the hash found', async (t) => {
    const dir = tmpDir(t);
    const p = path.join(dir, 'data.bin');
    fs.writeFileSync(p, 'abcdef');
    const sha = createHash('sha256').update('abcdef').digest('hex');
    assert.deepEqual(await check(p, { minSize: 6, maxSize: 6, sha256: sha }), { valid: true, size: 6 });
    assert.deepEqual(await check(p, { sha256: sha.toUpperCase() }), { valid: true, size: 6 }, 'upper-case hex is accepted');
    assert.deepEqual(await check(p, { minSize: 7 }), { valid: false, code: 'EINVAL', reason: 'too small: 6 bytes < minSize 7', size: 6 });
    assert.deepEqual(await check(p, { maxSize: 5 }), { valid: false, code: 'EINVAL', reason: 'too large: 6 bytes > maxSize 5', size: 6 });
    const other = createHash('sha256').update('abcdeg').digest('hex');
    assert.deepEqual(await check(p, { sha256: other }), { valid: false, code: 'EINVAL', reason: `SHA-256 mismatch: ${sha}`, size: 6 });
  });

  it('throws EINVAL for bad arguments, and ABORT_ERR for an aborted signal', async (t) => {
    const dir = tmpDir(t);
    const p = path.join(dir, 'f');
    fs.writeFileSync(p, 'x');
    await assert.rejects(validateFile(''), { code: 'EINVAL' });
    await assert.rejects(validateFile(p, { sha256: 'abc' }), { code: 'EINVAL', path: p });
    await assert.rejects(validateFile(p, { sha256: 'g'.repeat(64) }), { code: 'EINVAL', path: p });
    await assert.rejects(validateFile(p, { minSize: -1 }), { code: 'EINVAL', path: p });
    await assert.rejects(validateFile(p, { maxSize: 1.5 }), { code: 'EINVAL', path: p });
    await assert.rejects(validateFile(p, { encoding: 'latin1' as never }), { code: 'EINVAL', path: p });
    await assert.rejects(validateFile(p, { json: 'yes' as never }), { code: 'EINVAL', path: p });
    await assert.rejects(validateFile(p, 'x' as never), { code: 'EINVAL', path: p });
    await assert.rejects(validateFile(p, { signal: AbortSignal.abort() }), { code: 'ABORT_ERR', path: p });
  });

  it('reports EACCES for a file without read permission when run as an unprivileged user (uid 65534)', { timeout: 20_000 }, async (t) => {
    if (!requireRoot(t)) return;
    const dir = tmpDir(t);
    fs.chmodSync(dir, 0o755);
    const secret = path.join(dir, 'secret.json');
    fs.writeFileSync(secret, '{"k": 1}');
    fs.chmodSync(secret, 0o600);
    const open = path.join(dir, 'open.json');
    fs.writeFileSync(open, '{"k": 2}');
    fs.chmodSync(open, 0o644);
    const child = spawnNode(t, VALIDATE_AS, [String(NOBODY), String(NOBODY), secret, open]);
    const out = new Lines(child.stdout);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const ex = await withTimeout(exited(child), 15_000, 'the unprivileged child did not exit within 15 s');
    await out.ended;
    assert.deepEqual(ex, { code: 0, signal: null }, stderr);
    const results = out.words('RESULT').map((w) => JSON.parse(w.join(' ')) as ValidationResult & { path: string; uid: number; gid: number });
    assert.equal(results.length, 2);
    const [s, o] = results as [(typeof results)[0], (typeof results)[0]];
    assert.equal(s.uid, NOBODY);
    assert.equal(s.gid, NOBODY);
    assert.deepEqual(o, { path: open, uid: NOBODY, gid: NOBODY, valid: true, size: 8 }, 'a readable file beside it is valid: the folder is reachable');
    assert.equal(s.valid, false);
    assert.equal(s.code, 'EACCES');
    assert.match(s.reason!, /permission denied/);
    assert.ok(s.reason!.includes(secret), 'the reason names the path');
    assert.equal(s.size, 8, 'the size is known from stat even though the content is unreadable');
    // As root the same file is readable.
    assert.deepEqual(await check(secret, { json: true }), { valid: true, size: 8 });
  });
});
