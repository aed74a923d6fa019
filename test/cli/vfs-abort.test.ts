/**
 * The wait `atomfs vfs` puts around a read of stdin or a full stdout: an interrupt ends it
 * with ABORT_ERR, and the promise given up on never becomes an unhandled rejection when it
 * fails later (main destroys stdin after an interrupt, which rejects a pending read; an
 * unhandled rejection ended an interrupted put with exit 1 instead of 128+N).
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { orAbort } from '../../src/cli/abort-race.js';

/** A promise that rejects after `ms`, as a read of a destroyed stdin does. */
function failsLater(ms: number): Promise<never> {
  return new Promise((_, reject) => setTimeout(() => reject(new Error('premature close')), ms));
}

/** Runs `fn`, then counts the unhandled rejections seen within `ms` after it. */
async function unhandledDuring(fn: () => Promise<unknown>, ms = 100): Promise<unknown[]> {
  const seen: unknown[] = [];
  const on = (e: unknown): void => void seen.push(e);
  process.on('unhandledRejection', on);
  try {
    await fn();
    await sleep(ms);
  } finally {
    process.off('unhandledRejection', on);
  }
  return seen;
}

describe('orAbort', () => {
  it('an already aborted signal rejects at once with ABORT_ERR, and the abandoned promise failing later is handled', async () => {
    const ac = new AbortController();
    ac.abort(new Error('SIGINT'));
    const seen = await unhandledDuring(() => assert.rejects(orAbort(failsLater(20), ac.signal, '/a/f'), { code: 'ABORT_ERR', path: '/a/f' }));
    assert.deepEqual(seen, []);
  });

  it('an abort while waiting rejects with ABORT_ERR, and the abandoned promise failing later is handled', async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('SIGTERM')), 10);
    const seen = await unhandledDuring(() => assert.rejects(orAbort(failsLater(40), ac.signal, '/a/f'), { code: 'ABORT_ERR' }));
    assert.deepEqual(seen, []);
  });

  it('without an abort, the value or the error passes through', async () => {
    const ac = new AbortController();
    assert.equal(await orAbort(Promise.resolve(7), ac.signal, '/x'), 7);
    await assert.rejects(orAbort(failsLater(5), ac.signal, '/x'), /premature close/);
    assert.equal(await orAbort(Promise.resolve(8), undefined, '/x'), 8);
  });
});
