/**
 * Lock marker names and the owner facts they carry.
 *
 * A marker is an empty file whose NAME says everything about its holder:
 *
 *   <prefix><mode>-<pid>-<host>-<start>-<order>
 *
 * - prefix: `.lock-` inside a locked folder, or `.<file>.lock-` beside a locked file;
 * - mode: `exclusive` or `shared` (seed 002's `.lock-{type}-{pid}`), or `queued`: a writer
 *   waiting in line. A queued marker is never counted for who may hold (only `exclusive`
 *   and `shared` markers are, which is what makes the lock safe); it makes the line
 *   visible, so each waiting writer waits for the one just ahead of it, and readers let
 *   the writers waiting go first (writer preference);
 * - host: the host name (sanitised) and the boot id, `name+boot`: a marker from an earlier
 *   boot of this host is dead whatever its pid says;
 * - start: the holder's start time in clock ticks (so a reused pid is not its owner);
 * - order: a time-ordered unique key (ms in base 36, then random hex): unique per
 *   acquisition, and it decides which of two waiting writers backs off.
 *
 * The marker's modification time is the holder's lease, refreshed by a heartbeat.
 *
 * @module
 */
import * as os from 'node:os';

/** Lock modes. */
export type LockMode = 'exclusive' | 'shared';

/** What a marker says of its owner: holding or contending (`exclusive`, `shared`), or waiting in line (`queued`). */
export type MarkerKind = LockMode | 'queued';

/** A parsed marker name. */
export interface Marker {
  readonly name: string;
  readonly mode: MarkerKind;
  readonly pid: number;
  readonly hostName: string;
  readonly boot: string;
  readonly start: number;
  readonly order: string;
}

/** Host names keep only characters that cannot be confused with the separators. */
export function sanitizeHost(h: string): string {
  return h.replace(/[^A-Za-z0-9_.]/g, '_').slice(0, 48) || 'host';
}

let hostCache: string | undefined;
/** This host's name, sanitised. */
export function thisHost(): string {
  return (hostCache ??= sanitizeHost(os.hostname()));
}

/** The first 8 hex digits of a boot id, or '0'. */
export function shortBoot(bootId: string): string {
  return bootId.replace(/-/g, '').slice(0, 8) || '0';
}

/** Builds a marker name. */
export function markerName(prefix: string, m: Omit<Marker, 'name'>): string {
  return `${prefix}${m.mode}-${m.pid}-${m.hostName}+${m.boot}-${m.start}-${m.order}`;
}

/** Parses a marker name (with its prefix), or `undefined` when it is not one. */
export function parseMarker(prefix: string, name: string): Marker | undefined {
  if (!name.startsWith(prefix)) return undefined;
  const parts = name.slice(prefix.length).split('-');
  if (parts.length !== 5) return undefined;
  const [mode, pid, host, start, order] = parts as [string, string, string, string, string];
  if (mode !== 'exclusive' && mode !== 'shared' && mode !== 'queued') return undefined;
  const plus = host.lastIndexOf('+');
  if (plus < 1 || !/^\d+$/.test(pid) || !/^\d+$/.test(start) || !/^[0-9a-z]{9}[0-9a-f]{8}$/.test(order)) return undefined;
  return { name, mode, pid: Number(pid), hostName: host.slice(0, plus), boot: host.slice(plus + 1), start: Number(start), order };
}

/** A time-ordered unique key: 9 base-36 digits of ms, then 8 random hex digits. */
export function orderKey(nowMs: number, randomHex8: string): string {
  return nowMs.toString(36).padStart(9, '0') + randomHex8;
}
