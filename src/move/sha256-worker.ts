/**
 * The worker thread behind {@link ThreadedSha256} (see sha256-thread.ts): the SHA-256 of
 * chunks of shared memory, one hash per session, chunk after chunk in the order they are
 * sent. It replies once to every `update` and `digest`, in order.
 *
 * @module
 */
import { createHash, type Hash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import type { HashReply, HashRequest } from './sha256-thread.js';

const port = parentPort;
if (!port) throw new Error('sha256-worker.js runs as a worker thread only');

const sessions = new Map<number, { readonly hash: Hash; readonly memory: Uint8Array }>();

port.on('message', (m: HashRequest) => {
  if (m.op === 'open') {
    sessions.set(m.id, { hash: createHash('sha256'), memory: new Uint8Array(m.memory) });
    return;
  }
  if (m.op === 'close') {
    sessions.delete(m.id);
    return;
  }
  let reply: HashReply;
  try {
    const s = sessions.get(m.id);
    if (!s) throw new Error(`no hash session ${m.id}`);
    if (m.op === 'update') {
      s.hash.update(s.memory.subarray(m.offset, m.offset + m.length));
      reply = { id: m.id };
    } else {
      sessions.delete(m.id);
      reply = { id: m.id, hex: s.hash.digest('hex') };
    }
  } catch (e) {
    reply = { id: m.id, error: e instanceof Error ? e.message : String(e) };
  }
  port.postMessage(reply);
});
