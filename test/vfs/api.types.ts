/**
 * Type-level tests of the VFS API: compiled by `npm run build:test` (tsc), never run. Each
 * `@ts-expect-error` line must be a type error, or the build fails.
 */
import { MemoryMount, VirtualFileSystem, type VirtualMount, type VStat } from '../../src/index.js';

export async function vfsTypeChecks(): Promise<void> {
  const vfs = new VirtualFileSystem();
  vfs.mount('/m', new MemoryMount({ caseInsensitive: true }), { readOnly: false });
  const text: string = await vfs.readFile('/m/a', { encoding: 'utf8' });
  const bytes: Buffer = await vfs.readFile('/m/a');
  // @ts-expect-error without an encoding readFile returns bytes
  const wrong: string = await vfs.readFile('/m/a');
  // @ts-expect-error not a Node open flag the VFS supports
  await vfs.open('/m/a', 'rw');
  // @ts-expect-error rename options are an object, not a boolean
  await vfs.rename('/m/a', '/m/b', true);
  await vfs.rename('/m/a', '/m/b', { overwrite: true, allowCrossMount: false, signal: AbortSignal.timeout(1000) });
  await using h = await vfs.open('/m/a', 'a+');
  const n: number = await h.write('x');
  const mount: VirtualMount = new MemoryMount();
  const st: VStat = await mount.stat('/');
  // @ts-expect-error a mount has files and folders only
  const kind: 'symlink' = st.kind;
  // @ts-expect-error the seven methods are async-only
  mount.statSync('/');
  const version: string | undefined = st.version;
  await vfs.writeFile('/m/a', 'x', { ifMatch: version! });
  await vfs.writeFile('/m/a', 'x', { ifNoneMatch: '*' });
  // @ts-expect-error ifNoneMatch takes only '*' (any existing entry)
  await vfs.writeFile('/m/a', 'x', { ifNoneMatch: 'v1' });
  // @ts-expect-error a version is the string stat() reported
  await vfs.writeFile('/m/a', 'x', { ifMatch: 7 });
  void [text, bytes, wrong, n, kind];
}
