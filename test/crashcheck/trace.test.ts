/**
 * The strace reader and the replay, on recorded trace text (the shapes strace 6 prints with
 * -f -qq -yy -xx -e write=all): no process is traced here.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { replayTrace } from '../../src/crashcheck/replay.js';
import { fdArg, parseTrace, splitArgs, stringArg } from '../../src/crashcheck/trace.js';
import { SimulatedDisk } from '../../src/testing/index.js';

/** A string as strace -xx prints it. */
const hx = (s: string): string => [...Buffer.from(s)].map((b) => `\\x${b.toString(16).padStart(2, '0')}`).join('');
const q = (s: string): string => `"${hx(s)}"`;
const fd = (n: number, p: string): string => `${n}<${hx(p)}>`;
const CWD = `AT_FDCWD<${hx('/w')}>`;

/** -e write=all's dump of some bytes, 16 a line. */
function dump(data: string): string {
  const b = Buffer.from(data);
  const out: string[] = [];
  for (let off = 0; off < b.length; off += 16) {
    const chunk = [...b.subarray(off, off + 16)];
    const hex = chunk.map((x, i) => x.toString(16).padStart(2, '0') + ' ' + (i === 7 ? ' ' : '')).join('').padEnd(49);
    const ascii = chunk.map((x) => (x >= 0x20 && x < 0x7f ? String.fromCharCode(x) : '.')).join('').padEnd(16);
    out.push(` | ${off.toString(16).padStart(5, '0')}  ${hex} ${ascii} |`);
  }
  return out.join('\n');
}

function disk(files: Record<string, string> = {}): SimulatedDisk {
  const d = new SimulatedDisk();
  for (const [p, c] of Object.entries(files)) d.writeFile('/' + p, c);
  d.syncAll();
  return d;
}

describe('crashcheck: reading strace output', () => {
  it('a completed call: its arguments, the annotated descriptor it returned, an errno', () => {
    const calls = parseTrace(
      [
        `100  openat(${CWD}, ${q('out')}, O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC, 0666) = ${fd(3, '/w/out')}`,
        `100  openat(${CWD}, ${q('nope')}, O_RDONLY) = -1 ENOENT (No such file or directory)`,
        `100  mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f3195184000`,
      ].join('\n'),
    );
    assert.equal(calls.length, 3);
    assert.deepEqual([calls[0]!.name, calls[0]!.ret, calls[0]!.retPath, calls[0]!.errno], ['openat', 3, '/w/out', undefined]);
    assert.equal(stringArg(calls[0]!.args[1]), 'out');
    assert.deepEqual(fdArg(calls[0]!.args[0]), { fd: -100, path: '/w' });
    assert.equal(calls[0]!.args[2], 'O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC');
    assert.deepEqual([calls[1]!.ret, calls[1]!.errno], [-1, 'ENOENT']);
    assert.equal(calls[2]!.ret, 0x7f3195184000);
  });

  it('joins a call another thread interrupted, and keeps the place where it completed', () => {
    const calls = parseTrace(
      [
        `100  vfork( <unfinished ...>`,
        `101  execve(${q('/usr/bin/sort')}, [${q('sort')}], 0x55b0 /* 39 vars */ <unfinished ...>`,
        `100  <... vfork resumed>)              = 101`,
        `101  <... execve resumed>)             = 0`,
        `102  fsync(${fd(7, '/w/a, b')} <unfinished ...>`,
        `102  <... fsync resumed>)              = 0`,
      ].join('\n'),
    );
    assert.deepEqual(
      calls.map((c) => [c.pid, c.name, c.ret, c.line]),
      [
        [100, 'vfork', 101, 3],
        [101, 'execve', 0, 4],
        [102, 'fsync', 0, 6],
      ],
    );
    // A comma inside a descriptor's path does not split the arguments.
    assert.deepEqual(fdArg(calls[2]!.args[0]), { fd: 7, path: '/w/a, b' });
  });

  it('takes the bytes written from the hex dumps, every buffer of a writev, whatever -s cut', () => {
    const long = 'x'.repeat(40) + '\n' + 'y'.repeat(3);
    const calls = parseTrace(
      [
        `100  write(${fd(3, '/w/out')}, ${q('xxxxxxxxxxxxxxxx')}..., ${long.length}) = ${long.length}`,
        dump(long),
        `100  writev(${fd(3, '/w/out')}, [{iov_base=${q('ab')}, iov_len=2}, {iov_base=${q('cd')}, iov_len=2}], 2) = 4`,
        ` * 2 bytes in buffer 0`,
        dump('ab'),
        ` * 2 bytes in buffer 1`,
        dump('cd'),
        `100  close(${fd(3, '/w/out')}) = 0`,
      ].join('\n'),
    );
    assert.equal(Buffer.from(calls[0]!.data!).toString(), long);
    assert.equal(Buffer.from(calls[1]!.data!).toString(), 'abcd');
    assert.equal(calls[2]!.data, undefined);
  });

  it('splits arguments outside strings, structures and annotations (a device annotation nests one)', () => {
    assert.deepEqual(splitArgs(`0<${hx('/dev/null')}<char 1:3>>, {a=1, b=2}, ${q('a,b')}`), [`0<${hx('/dev/null')}<char 1:3>>`, '{a=1, b=2}', q('a,b')]);
    assert.deepEqual(fdArg(`0<${hx('/dev/null')}<char 1:3>>`), { fd: 0, path: '/dev/null' });
    assert.deepEqual(fdArg('1<pipe:[1234]>'), { fd: 1, path: undefined });
  });
});

describe('crashcheck: replaying a trace into the simulated disk', () => {
  it('keeps the program’s paths relative to the folder and a crash point per call that changed the crash states', () => {
    const d = disk({ out: 'old' });
    const r = replayTrace(
      parseTrace(
        [
          `100  openat(${CWD}, ${q('/etc/ld.so.cache')}, O_RDONLY|O_CLOEXEC) = ${fd(3, '/etc/ld.so.cache')}`,
          `100  close(${fd(3, '/etc/ld.so.cache')}) = 0`,
          `100  openat(${CWD}, ${q('out.tmp')}, O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC, 0666) = ${fd(3, '/w/out.tmp')}`,
          `100  write(${fd(3, '/w/out.tmp')}, ${q('new')}, 3) = 3`,
          dump('new'),
          `100  fsync(${fd(3, '/w/out.tmp')}) = 0`,
          `100  close(${fd(3, '/w/out.tmp')}) = 0`,
          `100  rename(${q('out.tmp')}, ${q('out')}) = 0`,
        ].join('\n'),
      ),
      '/w',
      d,
    );
    assert.deepEqual(
      r.steps.map((s) => s.text),
      ['openat("out.tmp", O_WRONLY|O_CREAT|O_TRUNC, 0666) = 3', 'write(3<out.tmp>, 3 bytes) = 3', 'fsync(3<out.tmp>) = 0', 'close(3<out.tmp>) = 0', 'rename("out.tmp", "out") = 0'],
    );
    // Point 0, then after the open, the write, the fsync and the rename (the close changes nothing).
    assert.deepEqual(
      r.points.map((p) => p.after),
      [0, 1, 2, 3, 5],
    );
    assert.equal(d.readFile('/out')?.toString(), 'new');
    const last = r.points.at(-1)!.snap;
    assert.deepEqual(
      last.pendingEntries.map((e) => e.label),
      ['create /out.tmp', 'rename /out.tmp -> /out'],
    );
    assert.equal(last.pendingData.size, 0);
  });

  it('follows descriptors through dup2, vfork and exec: the shell’s `sort in > out.tmp`', () => {
    const d = disk({ in: 'b\na\n' });
    const r = replayTrace(
      parseTrace(
        [
          `100  openat(${CWD}, ${q('out.tmp')}, O_WRONLY|O_CREAT|O_TRUNC, 0666) = ${fd(3, '/w/out.tmp')}`,
          `100  dup2(${fd(3, '/w/out.tmp')}, 1) = ${fd(1, '/w/out.tmp')}`,
          `100  close(${fd(3, '/w/out.tmp')}) = 0`,
          `100  vfork( <unfinished ...>`,
          `101  execve(${q('/usr/bin/sort')}, [${q('sort')}, ${q('in')}], 0x55 /* 3 vars */ <unfinished ...>`,
          `100  <... vfork resumed>)              = 101`,
          `101  <... execve resumed>)             = 0`,
          `101  openat(${CWD}, ${q('in')}, O_RDONLY) = ${fd(3, '/w/in')}`,
          `101  read(${fd(3, '/w/in')}, ${q('b\na\n')}, 4096) = 4`,
          `101  close(${fd(3, '/w/in')}) = 0`,
          `101  write(${fd(1, '/w/out.tmp')}, ${q('a\nb\n')}, 4) = 4`,
          dump('a\nb\n'),
          `101  close(${fd(1, '/w/out.tmp')}) = 0`,
        ].join('\n'),
      ),
      '/w',
      d,
    );
    assert.equal(d.readFile('/out.tmp')?.toString(), 'a\nb\n');
    assert.deepEqual(
      r.steps.map((s) => `${s.pid} ${s.text}`),
      [
        '100 openat("out.tmp", O_WRONLY|O_CREAT|O_TRUNC, 0666) = 3',
        '100 close(3<out.tmp>) = 0',
        '101 openat("in", O_RDONLY) = 3',
        '101 close(3<in>) = 0',
        '101 write(1<out.tmp>, 4 bytes) = 4',
        '101 close(1<out.tmp>) = 0',
      ],
    );
  });

  it('appends with O_APPEND, writes pwrite at its offset and truncates', () => {
    const d = disk({ log: 'one\n' });
    replayTrace(
      parseTrace(
        [
          `100  openat(${CWD}, ${q('log')}, O_WRONLY|O_APPEND) = ${fd(3, '/w/log')}`,
          `100  write(${fd(3, '/w/log')}, ${q('two\n')}, 4) = 4`,
          dump('two\n'),
          `100  openat(${CWD}, ${q('f')}, O_RDWR|O_CREAT, 0644) = ${fd(4, '/w/f')}`,
          `100  pwrite64(${fd(4, '/w/f')}, ${q('zz')}, 2, 3) = 2`,
          dump('zz'),
          `100  ftruncate(${fd(4, '/w/f')}, 7) = 0`,
        ].join('\n'),
      ),
      '/w',
      d,
    );
    assert.equal(d.readFile('/log')?.toString(), 'one\ntwo\n');
    assert.deepEqual([...d.readFile('/f')!], [0, 0, 0, 0x7a, 0x7a, 0, 0]);
  });

  const refused: readonly [string, string[], RegExp][] = [
    ['a shared writable mmap of a file in the folder', [`100  openat(${CWD}, ${q('m')}, O_RDWR|O_CREAT, 0644) = ${fd(3, '/w/m')}`, `100  mmap(NULL, 4096, PROT_READ|PROT_WRITE, MAP_SHARED, ${fd(3, '/w/m')}, 0) = 0x7f0000000000`], /cannot model a shared mmap of m \(PROT_READ\|PROT_WRITE\): writes through memory are invisible to strace \(trace line 2, pid 100\)/],
    ['O_DIRECT', [`100  openat(${CWD}, ${q('d')}, O_WRONLY|O_CREAT|O_DIRECT, 0644) = ${fd(3, '/w/d')}`], /cannot model O_DIRECT \(d\)/],
    ['io_uring', [`100  io_uring_setup(256, 0x7ffd) = 5`], /cannot model io_uring/],
    ['a write on a descriptor it never saw opened', [`100  write(${fd(5, '/w/x')}, ${q('a')}, 1) = 1`, dump('a')], /cannot model write on descriptor 5 \(x\), which was opened where the trace cannot show it/],
    ['RENAME_EXCHANGE', [`100  renameat2(${CWD}, ${q('a')}, ${CWD}, ${q('b')}, RENAME_EXCHANGE) = 0`], /cannot model renameat2 with RENAME_EXCHANGE/],
    ['copy_file_range into the folder', [`100  openat(${CWD}, ${q('c')}, O_WRONLY|O_CREAT, 0644) = ${fd(3, '/w/c')}`, `100  copy_file_range(${fd(4, '/src')}, NULL, ${fd(3, '/w/c')}, NULL, 10, 0) = 10`], /cannot model copy_file_range into c/],
  ];
  for (const [what, lines, message] of refused) {
    it(`refuses ${what} with ENOTSUP, naming it`, () => {
      assert.throws(() => replayTrace(parseTrace(lines.join('\n')), '/w', disk({ a: '', b: '' })), (e: NodeJS.ErrnoException) => {
        assert.equal(e.code, 'ENOTSUP');
        assert.match(e.message, message);
        return true;
      });
    });
  }

  it('ignores what happens outside the folder, a shared mmap there included', () => {
    const r = replayTrace(
      parseTrace(
        [
          `100  openat(${CWD}, ${q('/tmp/elsewhere')}, O_RDWR|O_CREAT, 0644) = ${fd(3, '/tmp/elsewhere')}`,
          `100  mmap(NULL, 4096, PROT_READ|PROT_WRITE, MAP_SHARED, ${fd(3, '/tmp/elsewhere')}, 0) = 0x7f0000000000`,
          `100  write(${fd(3, '/tmp/elsewhere')}, ${q('a')}, 1) = 1`,
          dump('a'),
          `100  write(1<pipe:[99]>, ${q('hi')}, 2) = 2`,
          dump('hi'),
        ].join('\n'),
      ),
      '/w',
      disk(),
    );
    assert.equal(r.steps.length, 0);
    assert.equal(r.points.length, 1);
  });
});
