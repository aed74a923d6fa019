/**
 * atomfs/postgres: atomfs on PostgreSQL, so many hosts share one crash-safe namespace.
 * A separate entry point: only it loads the `pg` driver (an optional peer dependency).
 *
 * @module atomfs/postgres
 */
export { PostgresMount, type PostgresMountOptions, type PostgresCleanup } from './pg-mount.js';
export { postgresLocks, PostgresLockStore, type PostgresLocksOptions } from './locks.js';
