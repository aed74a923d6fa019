/**
 * atomfs: crash-safe file operations for Node.js.
 *
 * Public barrel: named re-exports only, no logic, no side effects.
 *
 * @module atomfs
 */
export { AtomfsError, isAtomfsError, toAtomfsError, type AtomfsErrorCode, type ErrorContext } from './errors.js';
export { LOG_EVENTS, silentLogger, type Logger, type LogFields } from './logger.js';
export type { BaseOptions, BlockingOptions, DurabilityOptions } from './options.js';
export type { FsOps, SyncFsOps, AsyncFsOps, FileStat, DirEntry, FileWatch } from './internal/fs-ops.js';
export type { PathLike } from './internal/paths.js';
export { writeFile, writeFileSync, type WriteFileOptions, type WriteData, type Chunk, type SymlinkPolicy } from './write/write-file.js';
export { writeFiles, type WriteFilesEntry, type WriteFilesResult } from './write/write-files.js';
export { openAtomic, AtomicFile, type AtomicFileState } from './write/atomic-file.js';
export { createWriteStream } from './write/write-stream.js';
export { writeJson, writeJsonSync, readJson, readJsonSync, type WriteJsonOptions } from './write/json.js';
export { readFile, type ReadFileOptions } from './write/read-file.js';
export { tempPath, isTempFile, type TempPathOptions } from './temp/temp-path.js';
export { cleanupOrphans, type CleanupOptions, type CleanupResult } from './temp/cleanup-orphans.js';
export { rename, renameSync, type RenameOptions } from './move/rename.js';
export { move, moveSync, type MoveOptions, type MoveResult, type MoveProgress, type MoveStrategy, type MoveVerify } from './move/move.js';
export { validateFile, type ValidateFileOptions, type ValidationResult } from './temp/validate-file.js';
export {
  createStagingArea,
  StagingArea,
  StagedFile,
  type StagingAreaOptions,
  type StagingWriteOptions,
  type StagingValidator,
  type PublishResult,
} from './staging/staging-area.js';
export { lock, lockSync, isLocked, withLock, Lock, type LockOptions, type LockMode, type LockStore, type FenceToken } from './lock/lock.js';
export { DirectoryLocker } from './lock/directory-locker.js';
export { VirtualFileSystem } from './vfs/vfs.js';
export { VirtualFileHandle } from './vfs/file-handle.js';
export {
  type MountOptions,
  type VfsRenameOptions,
  type VfsWriteFileOptions,
  type VfsRemoveOptions,
  type Fenced,
  type VfsMkdirOptions,
  type VfsOpenFlags,
} from './vfs/vfs-options.js';
export type {
  VirtualMount,
  MountCapability,
  VStat,
  CreateOptions,
  ReadOptions as MountReadOptions,
  WriteOptions as MountWriteOptions,
  MountRenameOptions,
  AtomicWriteOptions as MountAtomicWriteOptions,
  DeleteOptions as MountDeleteOptions,
  MetadataUpdate,
  MountHandle,
  MountOpenOptions,
  WriteCondition,
} from './vfs/mount.js';
export { MemoryMount, type MemoryMountOptions } from './vfs/memory-mount.js';
export { LocalMount, type LocalMountOptions } from './vfs/local-mount.js';
export { ReadOnlyMount } from './vfs/read-only-mount.js';
