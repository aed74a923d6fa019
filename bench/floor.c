/*
 * floor.c: the physical floor for atomfs' write path.
 *
 * Makes exactly the system calls a crash-safe replace needs, and nothing else:
 *
 *   open(temp, O_WRONLY|O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC, 0600)
 *   write (looped until every byte is written)
 *   fsync(temp)                      (skipped when fsync = 0)
 *   close(temp)
 *   rename(temp, target)
 *   open(dir, O_RDONLY|O_DIRECTORY)  \
 *   fsync(dir)                        > skipped when fsync = 0
 *   close(dir)                       /
 *
 * No group commit, no coalescing: every write pays its own folder fsync, as a naive but
 * correct C program would. The benchmark compiles this at run time (cc -O2 -pthread) into
 * a temp folder; no binary is ever committed.
 *
 * Usage:
 *   floor small <dir> <count> <size> <concurrency> <fsync 0|1>
 *       <count> writes of <size> bytes to <dir>/f0 .. f<count-1>, by <concurrency>
 *       threads taking the next index from a shared counter.
 *   floor big <dir> <total-bytes> <chunk-bytes> <fsync 0|1>
 *       One file <dir>/big of <total-bytes>, written <chunk-bytes> at a time.
 *   floor move <src> <dest> <chunk-bytes> <threads> <direct 0|1>
 *       The least a durable cross-device move of one file can do, as a ceiling for
 *       atomfs' move (not the same calls: most of them Node cannot make):
 *         mmap(src)                        (no copy into user memory)
 *         open(temp beside dest, O_EXCL, O_DIRECT if direct), fallocate(temp, size) when threads > 1
 *         pwrite from the mapping, <chunk-bytes> each, by <threads> threads in stripes
 *         (aligned by O_DIRECT; an unaligned tail through a second, buffered fd)
 *         fsync(temp), rename(temp, dest), fsync(dest's folder), unlink(src), fsync(src's folder)
 *       Preallocated (fallocate), ext4 and XFS take direct writes in parallel; without it,
 *       one at a time. Node has neither mmap nor fallocate.
 *
 * Prints one line of JSON: {"ops":N,"bytes":B,"seconds":S}. Exits 1 on any error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libgen.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 1024
#define PATH_LEN 4096

static const char *g_dir;
static long g_count;
static size_t g_size;
static int g_fsync;
static unsigned char *g_buf;
static atomic_long g_next;

static void die(const char *what, const char *path) {
  fprintf(stderr, "floor: %s %s: %s\n", what, path ? path : "", strerror(errno));
  exit(1);
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Every byte, like atomfs' writeAll: a short write is continued, EINTR retried, a write
 * that makes no progress is ENOSPC. At the file offset when `at` < 0, else by pwrite at `at`.
 */
static void write_all_at(int fd, const unsigned char *buf, size_t len, off_t at, const char *path) {
  size_t off = 0;
  while (off < len) {
    ssize_t n = at < 0 ? write(fd, buf + off, len - off) : pwrite(fd, buf + off, len - off, at + (off_t)off);
    if (n < 0) {
      if (errno == EINTR) continue;
      die(at < 0 ? "write" : "pwrite", path);
    }
    if (n == 0) {
      errno = ENOSPC;
      die(at < 0 ? "write" : "pwrite", path);
    }
    off += (size_t)n;
  }
}

static void write_all(int fd, const unsigned char *buf, size_t len, const char *path) {
  write_all_at(fd, buf, len, -1, path);
}

static void fsync_dir(const char *dir) {
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) die("open dir", dir);
  if (fsync(dfd) != 0) die("fsync dir", dir);
  if (close(dfd) != 0) die("close dir", dir);
}

/* One atomic replace of <dir>/<name> with <len> bytes written <chunk> at a time. */
static void replace(const char *name, const unsigned char *buf, size_t chunk, size_t len, unsigned long salt) {
  char target[PATH_LEN], temp[PATH_LEN];
  snprintf(target, sizeof target, "%s/%s", g_dir, name);
  /* The same shape as atomfs' temp names: .<base>.<16 hex>.tmp beside the target. */
  snprintf(temp, sizeof temp, "%s/.%s.%016lx.tmp", g_dir, name, salt);
  int fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) die("open", temp);
  size_t done = 0;
  while (done < len) {
    size_t n = len - done < chunk ? len - done : chunk;
    write_all(fd, buf, n, temp);
    done += n;
  }
  if (g_fsync && fsync(fd) != 0) die("fsync", temp);
  if (close(fd) != 0) die("close", temp);
  if (rename(temp, target) != 0) die("rename", target);
  if (g_fsync) fsync_dir(g_dir);
}

static void *small_worker(void *arg) {
  unsigned long tid = (unsigned long)(uintptr_t)arg;
  char name[64];
  /* Bounded: each thread takes indices until all <count> are taken. */
  for (;;) {
    long i = atomic_fetch_add(&g_next, 1);
    if (i >= g_count) break;
    snprintf(name, sizeof name, "f%ld", i);
    replace(name, g_buf, g_size, g_size, ((unsigned long)getpid() << 32) ^ (tid << 20) ^ (unsigned long)i);
  }
  return NULL;
}

/* floor move: the state its writer threads share. */
static const unsigned char *g_map;
static size_t g_aligned, g_chunk;
static int g_dfd;
static const char *g_temp;

static void *move_worker(void *arg) {
  /* Bounded: each thread takes chunk indices until every aligned chunk is taken. */
  (void)arg;
  for (;;) {
    long i = atomic_fetch_add(&g_next, 1);
    size_t off = (size_t)i * g_chunk;
    if (off >= g_aligned) break;
    size_t n = g_aligned - off < g_chunk ? g_aligned - off : g_chunk;
    write_all_at(g_dfd, g_map + off, n, (off_t)off, g_temp);
  }
  return NULL;
}

static void floor_move(const char *src, const char *dest, size_t chunk, long threads, int direct) {
  char temp[PATH_LEN], dbuf[PATH_LEN], sbuf[PATH_LEN];
  snprintf(dbuf, sizeof dbuf, "%s", dest);
  snprintf(sbuf, sizeof sbuf, "%s", src);
  const char *ddir = dirname(dbuf);
  const char *sdir = dirname(sbuf);
  snprintf(temp, sizeof temp, "%s/.floor.%016lx.tmp", ddir, (unsigned long)getpid());
  g_temp = temp;
  int sfd = open(src, O_RDONLY | O_CLOEXEC);
  if (sfd < 0) die("open", src);
  struct stat st;
  if (fstat(sfd, &st) != 0) die("fstat", src);
  size_t size = (size_t)st.st_size;
  g_map = size ? mmap(NULL, size, PROT_READ, MAP_SHARED, sfd, 0) : NULL;
  if (size && g_map == MAP_FAILED) die("mmap", src);
  g_dfd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | (direct ? O_DIRECT : 0), 0600);
  if (g_dfd < 0 && direct && errno == EINVAL) {
    /* No direct I/O on this file system: the page cache, as atomfs does there. The failed
       open may have created the file already. */
    direct = 0;
    unlink(temp);
    g_dfd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  }
  if (g_dfd < 0) die("open", temp);
  if (threads > 1 && size && fallocate(g_dfd, 0, 0, (off_t)size) != 0) die("fallocate", temp);
  g_chunk = chunk;
  g_aligned = direct ? size & ~(size_t)4095 : size;
  atomic_store(&g_next, 0);
  pthread_t tids[MAX_THREADS];
  for (long t = 0; t < threads; t++) {
    int err = pthread_create(&tids[t], NULL, move_worker, NULL);
    if (err != 0) {
      errno = err;
      die("pthread_create", NULL);
    }
  }
  for (long t = 0; t < threads; t++) pthread_join(tids[t], NULL);
  if (g_aligned < size) {
    int tfd = open(temp, O_WRONLY | O_CLOEXEC);
    if (tfd < 0) die("open", temp);
    if (lseek(tfd, (off_t)g_aligned, SEEK_SET) < 0) die("lseek", temp);
    write_all(tfd, g_map + g_aligned, size - g_aligned, temp);
    if (close(tfd) != 0) die("close", temp);
  }
  if (fsync(g_dfd) != 0) die("fsync", temp);
  if (close(g_dfd) != 0) die("close", temp);
  if (size && munmap((void *)g_map, size) != 0) die("munmap", src);
  if (close(sfd) != 0) die("close", src);
  if (rename(temp, dest) != 0) die("rename", dest);
  fsync_dir(ddir);
  if (unlink(src) != 0) die("unlink", src);
  fsync_dir(sdir);
}

static long parse_long(const char *s, const char *what) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno != 0 || *end != '\0' || v < 0) {
    fprintf(stderr, "floor: bad %s: %s\n", what, s);
    exit(2);
  }
  return v;
}

static void usage(void) {
  fprintf(stderr,
          "usage: floor small <dir> <count> <size> <concurrency> <fsync 0|1>\n"
          "       floor big <dir> <total-bytes> <chunk-bytes> <fsync 0|1>\n"
          "       floor move <src> <dest> <chunk-bytes> <threads> <direct 0|1>\n");
  exit(2);
}

int main(int argc, char **argv) {
  if (argc < 2) usage();
  if (strcmp(argv[1], "small") == 0 && argc == 7) {
    g_dir = argv[2];
    g_count = parse_long(argv[3], "count");
    g_size = (size_t)parse_long(argv[4], "size");
    long threads = parse_long(argv[5], "concurrency");
    g_fsync = (int)parse_long(argv[6], "fsync");
    if (threads < 1 || threads > MAX_THREADS) usage();
    g_buf = malloc(g_size ? g_size : 1);
    if (!g_buf) die("malloc", NULL);
    memset(g_buf, 'x', g_size);
    atomic_store(&g_next, 0);
    pthread_t tids[MAX_THREADS];
    double t0 = now();
    if (threads == 1) {
      small_worker(NULL);
    } else {
      for (long t = 0; t < threads; t++) {
        if (pthread_create(&tids[t], NULL, small_worker, (void *)(uintptr_t)t) != 0) die("pthread_create", NULL);
      }
      for (long t = 0; t < threads; t++) pthread_join(tids[t], NULL);
    }
    double secs = now() - t0;
    printf("{\"ops\":%ld,\"bytes\":%ld,\"seconds\":%.9f}\n", g_count, g_count * (long)g_size, secs);
    return 0;
  }
  if (strcmp(argv[1], "big") == 0 && argc == 6) {
    g_dir = argv[2];
    long total = parse_long(argv[3], "total-bytes");
    long chunk = parse_long(argv[4], "chunk-bytes");
    g_fsync = (int)parse_long(argv[5], "fsync");
    if (chunk < 1) usage();
    g_buf = malloc((size_t)chunk);
    if (!g_buf) die("malloc", NULL);
    /* Not all zeros, so no layer can cheat with sparse or compressed blocks. */
    for (long i = 0; i < chunk; i++) g_buf[i] = (unsigned char)(i * 131 + 7);
    double t0 = now();
    replace("big", g_buf, (size_t)chunk, (size_t)total, (unsigned long)getpid());
    double secs = now() - t0;
    printf("{\"ops\":1,\"bytes\":%ld,\"seconds\":%.9f}\n", total, secs);
    return 0;
  }
  if (strcmp(argv[1], "move") == 0 && argc == 7) {
    long chunk = parse_long(argv[4], "chunk-bytes");
    long threads = parse_long(argv[5], "threads");
    int direct = (int)parse_long(argv[6], "direct");
    if (chunk < 4096 || chunk % 4096 != 0 || threads < 1 || threads > MAX_THREADS) usage();
    struct stat st;
    if (stat(argv[2], &st) != 0) die("stat", argv[2]);
    double t0 = now();
    floor_move(argv[2], argv[3], (size_t)chunk, threads, direct);
    double secs = now() - t0;
    printf("{\"ops\":1,\"bytes\":%ld,\"seconds\":%.9f}\n", (long)st.st_size, secs);
    return 0;
  }
  usage();
  return 2;
}
