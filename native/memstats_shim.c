/*
 * memstats-shm native shim: the only C in the project.
 *
 * Every function is a thin wrapper over one system call (or one /proc read)
 * so that TypeScript holds all the logic. Errors come back as -errno from the
 * same call that failed, because errno read later from JavaScript may have
 * been clobbered by the runtime in between. Sizes travel as doubles: they
 * are exact below 2^53 and avoid the slow u64 path of Deno's FFI.
 *
 * Build: cc -O2 -shared -fPIC -o libmemstats_shim.so memstats_shim.c [-lrt]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/syscall.h>
#endif
#if defined(__APPLE__)
#include <pthread.h>
#endif

#define MS_SHIM_ABI 1
/* Not an errno on any system: the name exists but is not a regular file. */
#define MS_ENOTREG 10001

/* Bumped whenever a signature below changes; the loader refuses a mismatch. */
int32_t ms_abi(void) { return MS_SHIM_ABI; }

/* kind: 0 attach read-write, 1 attach read-only, 2 create exclusively. */
int32_t ms_open(const char *name, int32_t kind, uint32_t mode) {
  int flags = O_CLOEXEC | O_NOFOLLOW;
  if (kind == 0) flags |= O_RDWR;
  else if (kind == 1) flags |= O_RDONLY | O_NONBLOCK;
  else if (kind == 2) flags |= O_RDWR | O_CREAT | O_EXCL;
  else return -EINVAL;
  /* shm_open is variadic on macOS: always pass the mode explicitly. */
  int fd = shm_open(name, flags, (mode_t)mode);
  if (fd < 0) return -errno;
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  /* A FIFO or device in the shm directory must never be mapped. */
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return -MS_ENOTREG;
  }
  return fd;
}

/* out: [size bytes, owner uid, permission bits, mtime ms, our effective uid] */
int32_t ms_fstat(int32_t fd, double *out) {
  struct stat st;
  if (fstat(fd, &st) != 0) return -errno;
  out[0] = (double)st.st_size;
  out[1] = (double)st.st_uid;
  out[2] = (double)(st.st_mode & 07777);
#if defined(__APPLE__)
  out[3] = (double)st.st_mtimespec.tv_sec * 1e3 + st.st_mtimespec.tv_nsec / 1e6;
#else
  out[3] = (double)st.st_mtim.tv_sec * 1e3 + st.st_mtim.tv_nsec / 1e6;
#endif
  out[4] = (double)geteuid();
  return 0;
}

int32_t ms_ftruncate(int32_t fd, double size) {
  return ftruncate(fd, (off_t)size) == 0 ? 0 : -errno;
}

/* shm_open's mode is filtered by the umask; set the exact bits asked for. */
int32_t ms_fchmod(int32_t fd, uint32_t mode) {
  return fchmod(fd, (mode_t)mode) == 0 ? 0 : -errno;
}

void *ms_map(int32_t fd, double len, int32_t read_only, int32_t *err) {
  int prot = read_only ? PROT_READ : (PROT_READ | PROT_WRITE);
  void *p = mmap(NULL, (size_t)len, prot, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    *err = -errno;
    return NULL;
  }
  *err = 0;
  return p;
}

int32_t ms_unmap(void *addr, double len) {
  return munmap(addr, (size_t)len) == 0 ? 0 : -errno;
}

int32_t ms_close(int32_t fd) { return close(fd) == 0 ? 0 : -errno; }

int32_t ms_unlink(const char *name) {
  return shm_unlink(name) == 0 ? 0 : -errno;
}

int32_t ms_getpid(void) { return (int32_t)getpid(); }

uint32_t ms_geteuid(void) { return (uint32_t)geteuid(); }

/* The kernel's id of the calling thread; unique among live threads. */
int32_t ms_gettid(void) {
#if defined(__linux__)
  return (int32_t)syscall(SYS_gettid);
#elif defined(__APPLE__)
  uint64_t tid = 0;
  pthread_threadid_np(NULL, &tid);
  return (int32_t)(tid & 0x7fffffff);
#else
  return (int32_t)getpid();
#endif
}

/*
 * Liveness evidence: the start time of thread `tid` of process `pid`, in
 * clock ticks since boot (field 22 of /proc/<pid>/task/<tid>/stat). A thread
 * that is gone, or a zombie, gives -ESRCH. A reused pid or tid gives a
 * different start time, so (pid, tid, start time) names one thread forever.
 * Without /proc only the process is checked and 0 means "alive, no token".
 */
double ms_thread_start(int32_t pid, int32_t tid) {
#if defined(__linux__)
  char path[64];
  char buf[1024];
  snprintf(path, sizeof path, "/proc/%d/task/%d/stat", (int)pid, (int)tid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? -ESRCH : -errno;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  int e = errno;
  close(fd);
  if (n <= 0) return n == 0 ? -ESRCH : -e;
  buf[n] = 0;
  /* The command name may hold spaces and ')': fields resume after the last ')'. */
  char *p = strrchr(buf, ')');
  if (!p || p[1] != ' ') return -EPROTO;
  p += 2;
  if (*p == 'Z' || *p == 'X' || *p == 'x') return -ESRCH;
  /* p is at field 3 (state); step to field 22 (starttime). */
  for (int field = 3; field < 22; field++) {
    p = strchr(p, ' ');
    if (!p) return -EPROTO;
    p++;
  }
  double ticks = 0;
  for (; *p >= '0' && *p <= '9'; p++) ticks = ticks * 10 + (*p - '0');
  return ticks;
#else
  (void)tid;
  if (kill(pid, 0) != 0 && errno == ESRCH) return -ESRCH;
  return 0;
#endif
}

/* The inode of our pid namespace: pids only mean something inside one. */
double ms_pid_namespace(void) {
#if defined(__linux__)
  struct stat st;
  if (stat("/proc/self/ns/pid", &st) != 0) return -errno;
  return (double)st.st_ino;
#else
  return 0;
#endif
}

void ms_sleep_ms(double ms) {
  struct timespec ts;
  ts.tv_sec = (time_t)(ms / 1000);
  ts.tv_nsec = (long)((ms - (double)ts.tv_sec * 1000) * 1e6);
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}
