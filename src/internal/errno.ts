/**
 * A Node-style system error (`code`, `syscall`) that atomfs raises itself, as the kernel
 * would have: a write that makes no progress is a full disk (Linux returns a short write,
 * not ENOSPC, when it fills up), a path that is not a folder is ENOTDIR. Callers turn it
 * into an `AtomfsError` with the path and operation, like any error from the seam.
 *
 * @module
 * @internal
 */

/** What the seam's own errors look like. @internal */
export type ErrnoError = Error & { readonly code: string; readonly syscall?: string };

/**
 * An `Error` with Node's `code` (and `syscall`), as the fs seam throws them.
 * @internal
 */
export function errnoError(code: string, message: string, syscall?: string): ErrnoError {
  return Object.assign(new Error(message), syscall === undefined ? { code } : { code, syscall });
}
