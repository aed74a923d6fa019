/**
 * Fencing tokens: a per-path counter file that hands every exclusive holder a larger token.
 *
 * @module
 */
import * as path from 'node:path';
import { errnoError } from '../internal/errno.js';
import { O } from '../internal/fs-ops.js';
import { call, dirSync, type Steps } from '../internal/steps.js';
import type { Where } from './place.js';

const TOKEN_RECORD = 64;
// Tokens reserved per durable write of the high-water mark: one fsync per 1,024 exclusive
// acquisitions instead of one per acquisition.
const TOKEN_RESERVE = 1024;

/**
 * The fencing token: one more than the last exclusive holder's. The counter file holds
 * `<last> <boot> <high-water mark>`: `last` is written without fsync (the page cache is
 * shared by every process of the host), the high-water mark durably, ahead of every token
 * handed out. After a reboot (another boot id) counting resumes above the high-water mark,
 * so a token never goes back, even if the last write of `last` was lost with the power.
 *
 * @internal
 */
export function* nextToken(where: Where): Steps<number> {
  const file = path.join(where.dir, `${where.prefix}token`);
  const boot = (yield* call('bootId')) || '-';
  let fd: number;
  let created = false;
  try {
    fd = yield* call('open', file, O.RDWR | O.CLOEXEC | O.NOFOLLOW, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    fd = yield* call('open', file, O.RDWR | O.CREAT | O.EXCL | O.CLOEXEC | O.NOFOLLOW, 0o644);
    created = true;
  }
  try {
    const buf = Buffer.alloc(TOKEN_RECORD);
    const n = yield* call('read', fd, buf, 0, TOKEN_RECORD, 0);
    const [curS, bootS, hwmS] = buf.toString('latin1', 0, n).trim().split(/\s+/);
    const cur = Number(curS) || 0;
    const hwm = Number(hwmS) || 0;
    const next = (bootS === boot && boot !== '-' ? cur : Math.max(cur, hwm)) + 1;
    const durable = next > hwm;
    const record = Buffer.from(`${next} ${boot} ${durable ? next + TOKEN_RESERVE : hwm}`.padEnd(TOKEN_RECORD - 1) + '\n', 'latin1');
    for (let off = 0; off < record.length; ) {
      const w = yield* call('write', fd, record, off, record.length - off);
      if (w <= 0) throw errnoError('ENOSPC', 'no space left on device', 'write');
      off += w;
    }
    if (durable) yield* call('fsync', fd);
    if (created) yield* dirSync(where.dir);
    return next;
  } finally {
    yield* call('close', fd);
  }
}
