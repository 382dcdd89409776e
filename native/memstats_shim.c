/*
 * memstats-shm native shim: the only C in the project.
 *
 * Three jobs, each as small as it can be:
 *
 * 1. System calls. Thin wrappers that return -errno from the very call that
 *    failed (errno read later from JavaScript may have been clobbered by the
 *    runtime in between). Sizes and addresses travel as doubles: exact below
 *    2^53, and they avoid the slow 64-bit integer paths of some FFIs.
 *
 * 2. The read protocol (docs/FORMAT.md, "Reading"). A reader must order its
 *    loads with acquire fences, which JavaScript cannot express, and must
 *    never write to a read-only mapping, which some engines' atomic loads do.
 *    So `ms_scan` reads slots here, with C11 atomics, and copies consistent
 *    snapshots out. Every read of a mapping is guarded: a SIGBUS (the file was
 *    truncated under us, or /dev/shm could not supply a page) becomes -EFAULT
 *    instead of killing the process.
 *
 * 3. Release at exit. Claimed slots are tracked per OS thread, so a slot is
 *    given back when its thread ends (a Worker that is terminated) and when
 *    the process exits, even when no JavaScript runs at that point.
 *
 * The writer's hot path is not here: JavaScript stores values directly, and
 * asks for a release fence (`ms_fence_release`) where FORMAT.md needs one.
 *
 * Build: cc -O2 -shared -fPIC -std=c11 -pthread -Wl,-z,nodelete \
 *           -o libmemstats_shim.so memstats_shim.c [-lrt]
 * (`-z nodelete`: the thread-exit hook must outlive any dlclose.)
 */
#if defined(__TINYC__)
/*
 * Bun's built-in TinyCC (`bun:ffi` `cc`) ships no libc headers and has no
 * `__atomic_*` builtins and no thread-local storage. It compiles this file
 * when no prebuilt library matches and no system compiler exists, with the
 * declarations below instead of the headers: the prototypes this file
 * calls and the Linux x86-64 constants and struct layouts it uses, which
 * glibc and musl share (kernel ABI). x86-64 only: its stores are not
 * reordered with other stores nor its loads with other loads (TSO), so an
 * acquire or release fence is a compiler barrier, and the CAS is
 * `lock cmpxchg`. TinyCC's arm64 backend has no inline assembler, so there
 * the loader refuses this path (src/ffi/locate.ts). Without thread-local
 * storage there is no SIGBUS guard (see `guarded`): docs/SECURITY.md.
 */
#if !defined(__x86_64__) || !defined(__linux__)
#error "the TinyCC build of the shim supports Linux x86-64 only"
#endif
#define MS_NO_HEADERS 1
typedef signed char int8_t;
typedef unsigned char uint8_t;
typedef int int32_t;
typedef unsigned int uint32_t;
typedef long long int64_t;
typedef unsigned long long uint64_t;
typedef unsigned long uintptr_t;
typedef unsigned long size_t;
typedef long ssize_t;
typedef long off_t;
typedef long time_t;
typedef unsigned int mode_t;
typedef unsigned int uid_t;
typedef int pid_t;
#define NULL ((void *)0)
#define EPERM 1
#define ENOENT 2
#define ESRCH 3
#define EINTR 4
#define ENOMEM 12
#define EACCES 13
#define EFAULT 14
#define EINVAL 22
#define EPROTO 71
#define O_RDONLY 0
#define O_RDWR 02
#define O_CREAT 0100
#define O_EXCL 0200
#define O_NONBLOCK 04000
#define O_NOFOLLOW 0400000
#define O_CLOEXEC 02000000
#define S_IFMT 0170000
#define S_IFREG 0100000
#define S_ISREG(m) (((m) & S_IFMT) == S_IFREG)
#define PROT_READ 1
#define PROT_WRITE 2
#define MAP_SHARED 1
#define MAP_FAILED ((void *)-1)
#define CLOCK_MONOTONIC 1
#define SYS_gettid 186
#define SYS_tkill 200
#define SYS_tgkill 234
struct timespec {
  time_t tv_sec;
  long tv_nsec;
};
/* struct stat of Linux x86-64 (the kernel's, glibc's and musl's). */
struct stat {
  unsigned long st_dev, st_ino, st_nlink;
  unsigned int st_mode, st_uid, st_gid, __pad0;
  unsigned long st_rdev;
  long st_size, st_blksize, st_blocks;
  struct timespec st_atim, st_mtim, st_ctim;
  long __unused[3];
};
/* The leading members of struct statvfs, equal in glibc and musl; the rest is room. */
struct statvfs {
  unsigned long f_bsize, f_frsize, f_blocks, f_bfree, f_bavail;
  unsigned long __rest[27];
};
/* Zero-initialised in both libcs: PTHREAD_MUTEX_INITIALIZER and PTHREAD_ONCE_INIT are zeros. */
typedef union {
  char __size[40];
  long __align;
} pthread_mutex_t;
typedef unsigned int pthread_key_t;
typedef int pthread_once_t;
#define PTHREAD_MUTEX_INITIALIZER {{0}}
#define PTHREAD_ONCE_INIT 0
extern int *__errno_location(void);
#define errno (*__errno_location())
extern int shm_open(const char *, int, mode_t);
extern int shm_unlink(const char *);
extern int open(const char *, int, ...);
extern int close(int);
extern ssize_t read(int, void *, size_t);
extern int fstat(int, struct stat *);
extern int stat(const char *, struct stat *);
extern int ftruncate(int, off_t);
extern int posix_fallocate(int, off_t, off_t);
extern int statvfs(const char *, struct statvfs *);
extern int fchmod(int, mode_t);
extern void *mmap(void *, size_t, int, int, int, off_t);
extern int munmap(void *, size_t);
extern pid_t getpid(void);
extern uid_t geteuid(void);
extern long syscall(long, ...);
extern int kill(pid_t, int);
extern int clock_gettime(int, struct timespec *);
extern int nanosleep(const struct timespec *, struct timespec *);
extern int snprintf(char *, size_t, const char *, ...);
extern char *strchr(const char *, int);
extern char *strrchr(const char *, int);
extern void *memcpy(void *, const void *, size_t);
extern void *realloc(void *, size_t);
extern void *calloc(size_t, size_t);
extern void free(void *);
extern int pthread_mutex_lock(pthread_mutex_t *);
extern int pthread_mutex_unlock(pthread_mutex_t *);
extern int pthread_key_create(pthread_key_t *, void (*)(void *));
extern int pthread_setspecific(pthread_key_t, const void *);
extern int pthread_once(pthread_once_t *, void (*)(void));
/* `atexit` lives in glibc's static libc_nonshared.a; both libcs export the call it makes. */
extern int __cxa_atexit(void (*)(void *), void *, void *);
static int at_exit(void (*fn)(void)) { return __cxa_atexit((void (*)(void *))fn, NULL, NULL); }

/* Atomics on x86-64 (TSO): aligned loads are atomic, fences are compiler barriers. */
#define COMPILER_BARRIER() __asm__ volatile("" ::: "memory")
#define LOAD_RELAXED(p) (*(volatile __typeof__(*(p)) *)(p))
#define LOAD_ACQUIRE(p) ({ __typeof__(*(p)) v_ = LOAD_RELAXED(p); COMPILER_BARRIER(); v_; })
#define FENCE_ACQUIRE() COMPILER_BARRIER()
#define FENCE_RELEASE() COMPILER_BARRIER()

static int cas_u64(uint64_t *p, uint64_t expected, uint64_t desired) {
  uint64_t prev;
  __asm__ volatile("lock cmpxchgq %2, %1" : "=a"(prev), "+m"(*p) : "r"(desired), "0"(expected) : "memory");
  return prev == expected;
}

#else /* a C11 compiler with system headers: gcc, clang, musl-gcc, Xcode */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/syscall.h>
#endif

static int at_exit(void (*fn)(void)) { return atexit(fn); }

/* ------------------------------------------------------------------------ */
/* Atomics: GCC/Clang builtins on plain memory (the C11 memory model).       */

#define LOAD_RELAXED(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define LOAD_ACQUIRE(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define FENCE_ACQUIRE() __atomic_thread_fence(__ATOMIC_ACQUIRE)
#define FENCE_RELEASE() __atomic_thread_fence(__ATOMIC_RELEASE)

static int cas_u64(uint64_t *p, uint64_t expected, uint64_t desired) {
  return __atomic_compare_exchange_n(p, &expected, desired, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}
#endif

#define MS_SHIM_ABI 2
/* Not an errno on any system: the name exists but is not a regular file. */
#define MS_ENOTREG 10001

/* Bumped whenever a signature below changes; the loader refuses a mismatch. */
int32_t ms_abi(void) { return MS_SHIM_ABI; }

/*
 * Fences for the JavaScript writer (FORMAT.md, "Claiming" and "Writing"): a
 * release fence after the claim CAS and after making `seq` odd, so that the
 * stores that follow cannot become visible before them. A call into C is also
 * a compiler barrier in every engine's JIT.
 */
void ms_fence_release(void) { FENCE_RELEASE(); }
void ms_fence_acquire(void) { FENCE_ACQUIRE(); }

/* ------------------------------------------------------------------------ */
/* SIGBUS guard: a fault on a guarded range returns -EFAULT from the call.    */

#if !defined(MS_NO_HEADERS)
/*
 * The handler reads these thread-locals. glibc: initial-exec, so reading
 * them never allocates inside a signal handler (a dlopened library's
 * dynamic TLS is set up lazily there). musl refuses to dlopen a library with
 * initial-exec TLS ("initial-exec TLS resolves to dynamic definition"), and
 * sets up every thread's dynamic TLS at dlopen, so the default model is
 * safe there.
 */
#if defined(__GLIBC__)
#define MS_TLS __attribute__((tls_model("initial-exec")))
#else
#define MS_TLS
#endif
static __thread sigjmp_buf *guard_jmp MS_TLS;
static __thread const char *guard_lo MS_TLS;
static __thread const char *guard_hi MS_TLS;
static struct sigaction previous_bus;
static int guard_state; /* 0 none, 1 installing, 2 installed */

static void on_sigbus(int sig, siginfo_t *si, void *ctx) {
  sigjmp_buf *j = guard_jmp;
  const char *a = (const char *)si->si_addr;
  if (j != NULL && a >= guard_lo && a < guard_hi) {
    guard_jmp = NULL;
    siglongjmp(*j, 1);
  }
  /* Not ours: whoever handled SIGBUS before us handles it now. */
  if ((previous_bus.sa_flags & SA_SIGINFO) && previous_bus.sa_sigaction != NULL) {
    previous_bus.sa_sigaction(sig, si, ctx);
  } else if (!(previous_bus.sa_flags & SA_SIGINFO) && previous_bus.sa_handler != SIG_DFL &&
             previous_bus.sa_handler != SIG_IGN) {
    previous_bus.sa_handler(sig);
  } else {
    signal(SIGBUS, SIG_DFL); /* the faulting access runs again and takes the default action */
  }
}

static void install_guard(void) {
  int s = __atomic_load_n(&guard_state, __ATOMIC_ACQUIRE);
  if (s == 2) return;
  int expected = 0;
  if (__atomic_compare_exchange_n(&guard_state, &expected, 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigbus;
    /* NODEFER: SIGBUS stays unblocked after the jump, so sigsetjmp need not save the mask. */
    sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, &previous_bus);
    __atomic_store_n(&guard_state, 2, __ATOMIC_RELEASE);
    return;
  }
  while (__atomic_load_n(&guard_state, __ATOMIC_ACQUIRE) != 2) {
  }
}

/*
 * Call fn(arg) with [lo, lo + len) guarded: a SIGBUS on that range inside fn
 * returns -EFAULT from here. fn keeps its state in its own frame, which the
 * jump abandons, so nothing here is live across sigsetjmp.
 */
static int32_t guarded(const void *lo, size_t len, int32_t (*fn)(void *), void *arg) {
  sigjmp_buf jb;
  install_guard();
  guard_lo = (const char *)lo;
  guard_hi = (const char *)lo + len;
  guard_jmp = &jb;
  if (sigsetjmp(jb, 0) != 0) return -EFAULT;
  int32_t r = fn(arg);
  guard_jmp = NULL;
  return r;
}
#else
/* No thread-local storage for the jump target: reads are unguarded (docs/SECURITY.md). */
static int32_t guarded(const void *lo, size_t len, int32_t (*fn)(void *), void *arg) {
  (void)lo;
  (void)len;
  return fn(arg);
}
#endif

/* ------------------------------------------------------------------------ */
/* Files and mappings.                                                       */

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

/* out: [size, owner uid, permission bits, mtime ms, our euid, allocated bytes, inode] */
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
  out[5] = (double)st.st_blocks * 512.0;
  out[6] = (double)st.st_ino;
  return 0;
}

int32_t ms_ftruncate(int32_t fd, double size) { return ftruncate(fd, (off_t)size) == 0 ? 0 : -errno; }

/* Reserve every block now, so a full /dev/shm fails here (ENOSPC), not later with SIGBUS. */
int32_t ms_fallocate(int32_t fd, double size) {
#if defined(__linux__)
  int rc = posix_fallocate(fd, 0, (off_t)size); /* returns the error number; errno is untouched */
  return -rc;
#else
  (void)fd;
  (void)size;
  return 0;
#endif
}

/* out: [bytes available to us, total bytes] of the file system holding `path`. */
int32_t ms_statvfs(const char *path, double *out) {
  struct statvfs s;
  if (statvfs(path, &s) != 0) return -errno;
  out[0] = (double)s.f_bavail * (double)s.f_frsize;
  out[1] = (double)s.f_blocks * (double)s.f_frsize;
  return 0;
}

/* shm_open's mode is filtered by the umask; set the exact bits asked for. */
int32_t ms_fchmod(int32_t fd, uint32_t mode) { return fchmod(fd, (mode_t)mode) == 0 ? 0 : -errno; }

/* mmap(MAP_SHARED): the address (exact as a double: user addresses are below 2^53), or -errno. */
double ms_map(int32_t fd, double len, int32_t read_only) {
  int prot = read_only ? PROT_READ : (PROT_READ | PROT_WRITE);
  void *p = mmap(NULL, (size_t)len, prot, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return -errno;
  return (double)(uintptr_t)p;
}

static void release_tracked_in(const char *lo, const char *hi);

/* Unmap; slots still tracked inside the mapping are released first (nobody can write them now). */
int32_t ms_unmap(double addr, double len) {
  char *a = (char *)(uintptr_t)addr;
  release_tracked_in(a, a + (size_t)len);
  return munmap(a, (size_t)len) == 0 ? 0 : -errno;
}

int32_t ms_close(int32_t fd) { return close(fd) == 0 ? 0 : -errno; }

int32_t ms_unlink(const char *name) { return shm_unlink(name) == 0 ? 0 : -errno; }

struct copy {
  const uint8_t *base;
  size_t len, acquire_off;
  uint8_t *out;
  uint32_t *first;
};

static int32_t copy_out(void *arg) {
  struct copy *c = arg;
  *c->first = LOAD_ACQUIRE((const uint32_t *)(c->base + c->acquire_off));
  for (size_t i = 0; i < c->len; i++) c->out[i] = LOAD_RELAXED(c->base + i);
  return 0;
}

/*
 * Guarded copy of `len` bytes at `base` into `out`, after an acquire load of
 * the u32 at `base + acquire_off`, returned in `out_first`. Reading a header:
 * acquire the `state` word, so that a reader that sees READY sees every byte
 * its creator wrote before publishing it. -EFAULT when the mapping faulted
 * (truncated under us, or a page /dev/shm could not supply).
 */
int32_t ms_read(double base, double len, double acquire_off, uint8_t *out, uint32_t *out_first) {
  struct copy c = {(const uint8_t *)(uintptr_t)base, (size_t)len, (size_t)acquire_off, out, out_first};
  return guarded(c.base, c.len, copy_out, &c);
}

/* ------------------------------------------------------------------------ */
/* Processes and threads.                                                    */

int32_t ms_getpid(void) { return (int32_t)getpid(); }

uint32_t ms_geteuid(void) { return (uint32_t)geteuid(); }

static int32_t current_tid(void) {
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

/* The kernel's id of the calling thread; unique among live threads. */
int32_t ms_gettid(void) { return current_tid(); }

/*
 * Whether thread `tid` (of process `pid`, or of any process when pid is 0)
 * exists: 0 yes, -ESRCH certainly not, another -errno when it cannot tell.
 * A signal 0 is never delivered; EPERM means it exists but is not ours.
 */
static int32_t thread_exists(int32_t pid, int32_t tid) {
#if defined(__linux__)
  long rc = pid > 0 ? syscall(SYS_tgkill, pid, tid, 0) : syscall(SYS_tkill, tid, 0);
  if (rc == 0 || errno == EPERM) return 0;
  return -errno;
#else
  (void)tid;
  if (kill(pid > 0 ? pid : tid, 0) == 0 || errno == EPERM) return 0;
  return -errno;
#endif
}

int32_t ms_thread_exists(int32_t pid, int32_t tid) { return thread_exists(pid, tid); }

/*
 * Liveness evidence: the start time of thread `tid` of process `pid` (pid 0:
 * of whatever process it belongs to), in clock ticks since boot (field 22 of
 * /proc/<pid>/task/<tid>/stat). -ESRCH means certainly dead: no such thread,
 * or a zombie. A file that cannot be seen is not proof of death (hidepid=2
 * hides other users' processes): the kernel is asked whether the thread
 * exists, and without proof -EACCES ("cannot tell") comes back. A reused pid
 * or tid gives a different start time, so (pid, tid, start) names one thread
 * forever. Without /proc, 0 means "alive, no start time".
 */
double ms_thread_start(int32_t pid, int32_t tid) {
#if defined(__linux__)
  char path[64];
  char buf[1024];
  snprintf(path, sizeof path, "/proc/%d/task/%d/stat", (int)(pid > 0 ? pid : tid), (int)tid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    /* Hidden (hidepid), not permitted, out of descriptors: none of it is proof; the kernel may have some. */
    int x = thread_exists(pid, tid);
    return x == -ESRCH ? -ESRCH : -EACCES;
  }
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
  return thread_exists(pid, tid) == -ESRCH ? -ESRCH : 0;
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

/* ------------------------------------------------------------------------ */
/* Who is alive: verdicts on slot owners, cached per reader.                  */

/*
 * A reader leaves out every slot whose owner is certainly dead
 * (docs/FORMAT.md, "Who is alive"), judging each owner when it first sees
 * its id and again at most JUDGE_RECHECK_MS later while it lives: with
 * tgkill (does the thread still exist? ~1 us), and with the full /proc check
 * (same thread, not a zombie? ~10 us) every JUDGE_FULL_MS. Owner ids are
 * never reused and the dead never come back, so a dead verdict stands for
 * as long as the slot keeps that id. A fresh judgement (reclaim, census)
 * always makes the full check.
 */
enum { JUDGE_RECHECK_MS = 500, JUDGE_FULL_MS = 10000 };

/* Claim word: bits 0-21 tid, 22-41 low 20 bits of the start time, 42-62 low 21 bits of the namespace. */
enum { CLAIM_TID_BITS = 22, CLAIM_TOKEN_BITS = 20, CLAIM_NS_BITS = 21 };

struct judge {
  uint32_t capacity;
  double ns;        /* our pid namespace inode: owners recorded in another are never judged */
  double deaths;    /* owners found dead, ever */
  double *id;       /* per slot: the owner id judged */
  double *at;       /* per slot: when (monotonic ms); -1: dead */
  double *full_at;  /* per slot: when last checked in full */
};

/* A verdict cache for a table of `capacity` slots, for a reader in pid namespace `ns`; 0 without memory. */
double ms_judge_new(double capacity, double ns) {
  struct judge *j = calloc(1, sizeof *j);
  if (j == NULL) return 0;
  size_t n = (size_t)capacity;
  j->capacity = (uint32_t)n;
  j->ns = ns;
  j->id = calloc(n, sizeof(double));
  j->at = calloc(n, sizeof(double));
  j->full_at = calloc(n, sizeof(double));
  if (j->id == NULL || j->at == NULL || j->full_at == NULL) {
    free(j->id);
    free(j->at);
    free(j->full_at);
    free(j);
    return 0;
  }
  return (double)(uintptr_t)j;
}

void ms_judge_free(double handle) {
  struct judge *j = (struct judge *)(uintptr_t)handle;
  if (j == NULL) return;
  free(j->id);
  free(j->at);
  free(j->full_at);
  free(j);
}

/* How many owners this judge has found dead, ever. */
double ms_judge_deaths(double handle) {
  struct judge *j = (struct judge *)(uintptr_t)handle;
  return j == NULL ? 0 : j->deaths;
}

/* Whether the owner (pid, tid, token, ns) is certainly dead, from /proc or the kernel (FORMAT.md). */
static int owner_is_dead(double ours, int32_t pid, int32_t tid, double token, double ns) {
  if (ns != ours) return 0; /* pids mean nothing across namespaces */
  double start = ms_thread_start(pid, tid);
  if (start < 0) return start == -ESRCH;
  if (start == 0 || token == 0) return 0;
  return start != token;
}

/* Whether the claimer a claim word names is certainly dead (its evidence is in the word itself). */
static int claimer_is_dead(double ours, uint64_t word) {
  uint64_t ns_bits = (word >> (CLAIM_TID_BITS + CLAIM_TOKEN_BITS)) & ((1ULL << CLAIM_NS_BITS) - 1);
  if (ns_bits != ((uint64_t)ours & ((1ULL << CLAIM_NS_BITS) - 1))) return 0;
  int32_t tid = (int32_t)(word & ((1ULL << CLAIM_TID_BITS) - 1));
  double start = ms_thread_start(0, tid); /* pid 0: the thread, whichever process it belongs to */
  if (start < 0) return start == -ESRCH;
  uint64_t token_bits = (word >> CLAIM_TID_BITS) & ((1ULL << CLAIM_TOKEN_BITS) - 1);
  /* No start time here, or none in the word (its claimer could not read its own): only "gone" is proof. */
  if (start == 0 || token_bits == 0) return 0;
  return ((uint64_t)start & ((1ULL << CLAIM_TOKEN_BITS) - 1)) != token_bits;
}

/* The verdict on a slot's owner, as copied: 1 dead, 0 alive. Caches what it learns. */
static int judge_dead(struct judge *j, uint32_t slot, uint64_t owner, int32_t pid, int32_t tid, double token,
                      double ns, double now, int fresh) {
  if (owner >> 63) return claimer_is_dead(j->ns, owner); /* a claim: judged afresh each time (rare) */
  double id = (double)(int64_t)owner;
  int same = j->id[slot] == id;
  if (same) {
    if (j->at[slot] < 0) return 1;
    if (!fresh && now - j->at[slot] < JUDGE_RECHECK_MS) return 0;
  }
  int dead;
  if (ns != j->ns) {
    dead = 0;
  } else if (!fresh && same && now - j->full_at[slot] < JUDGE_FULL_MS) {
    dead = thread_exists(pid, tid) == -ESRCH;
  } else {
    dead = owner_is_dead(j->ns, pid, tid, token, ns);
    j->full_at[slot] = now;
  }
  j->id[slot] = id;
  j->at[slot] = dead ? -1 : now;
  if (dead) j->deaths++;
  return dead;
}

/* ------------------------------------------------------------------------ */
/* The read protocol: ms_scan.                                               */

/* Slot offsets (src/layout.ts `S`). */
enum {
  SLOT_OWNER = 0,
  SLOT_SEQ = 8,
  SLOT_PID = 16,
  SLOT_TID = 20,
  SLOT_TOKEN = 24,
  SLOT_NS = 32,
  SLOT_REGISTERED = 40,
  SLOT_UPDATED = 48,
  SLOT_LABEL = 64,
  SLOT_VALUES = 128,
  LABEL_BYTES = 64,
};

/* Header offsets of the counters returned with every scan. */
enum { HEADER_OVERFLOW = 56, HEADER_RECLAIMED = 64 };

/* The request block of ms_scan, in doubles (src/reader.ts `IO` mirrors it). */
enum {
  IO_BASE = 0,       /* in: address of the mapping */
  IO_LENGTH,         /* in: bytes mapped */
  IO_HEADER_SIZE,    /* in */
  IO_STRIDE,         /* in */
  IO_FIELDS,         /* in: fieldCount */
  IO_START,          /* in: first slot */
  IO_COUNT,          /* in: slots to scan (at most IO_MAX_RECORDS) */
  IO_FLAGS,          /* in: SCAN_* bits */
  IO_MAX_RECORDS,    /* in: room for this many records */
  IO_BUDGET,         /* in: ms this call may take before it stops early (0: no limit) */
  IO_JUDGE,          /* in: a verdict cache from ms_judge_new (needed by SCAN_LIVE and SCAN_JUDGE) */
  IO_PROCESS_KINDS,  /* in: bit j set when field j is a per-process figure (not summed here) */
  IO_SKIPPED,        /* out: slots left out because no consistent copy could be taken */
  IO_SCANNED,        /* out: slots looked at (< IO_COUNT when the budget ran out) */
  IO_OVERFLOW,       /* out: header overflowCount */
  IO_RECLAIMED,      /* out: header reclaimedCount */
  IO_RECORD_SIZE,    /* out: doubles per record */
  IO_LIVE,           /* out: live slots seen (with SCAN_LIVE) */
  IO_DEAD,           /* out: slots of dead owners seen (with SCAN_LIVE) */
  IO_DEATHS,         /* out: the judge's count of owners found dead, ever */
  IO_SUMS = 32,      /* out: per field, the sum of live values (per-thread fields; 32 doubles) */
  IO_HEAD = 64,      /* records start here */
};

/* Fields of one record, in doubles; values and peaks follow, then the label's 64 bytes. */
enum {
  R_SLOT = 0,
  R_OWNER_HI, /* owner word, high 32 bits (bit 31: claiming) */
  R_OWNER_LO,
  R_SEQ,
  R_PID,
  R_TID,
  R_TOKEN,
  R_NS,
  R_REGISTERED,
  R_UPDATED,
  R_DEAD, /* with SCAN_JUDGE: 1 when the owner (or claimer) is certainly dead */
  R_SPARE,
  R_FIXED, /* values start here */
};

/*
 * SCAN_LABELS: copy the label. SCAN_CLAIMING: also return slots being
 * claimed (their owner word only). SCAN_EVIDENCE: accept a copy whose owner
 * did not move even if `seq` is odd or moved: the owner's identity (pid,
 * tid, token, namespace) is written only by a claim, before the owner id is,
 * so it is consistent whenever the owner word is; the values may not be
 * (a reclaimer needs the identity of an owner killed inside update()).
 * SCAN_LIVE: leave out (and count) slots whose owner is certainly dead, and
 * sum the live values. SCAN_JUDGE: judge every record into R_DEAD and keep
 * it (reclaim, census). SCAN_FRESH: judge with the full check now, not from
 * cached verdicts. SCAN_NO_RECORDS: count and sum only.
 */
enum {
  SCAN_LABELS = 1,
  SCAN_CLAIMING = 2,
  SCAN_EVIDENCE = 4,
  SCAN_LIVE = 8,
  SCAN_JUDGE = 16,
  SCAN_NO_RECORDS = 32,
  SCAN_FRESH = 64,
};

/* Tries per slot in the first pass, and again after the pass, before it counts as skipped. */
enum { FIRST_TRIES = 2, LATER_TRIES = 1 };

static double monotonic_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

struct scan {
  double *io;
  const uint8_t *base;
  struct judge *judge;
  size_t header, stride;
  int fields, flags, rsize;
  uint32_t process_kinds;
  int64_t start, count, room;
  double deadline, now;
};

/* Whether the judge's verdict on owner word `owner` of `slot` stands without a look at the evidence. */
static inline int verdict_stands(const struct judge *j, uint32_t slot, uint64_t owner, double now) {
  if (owner >> 63) return 0;
  if (j->id[slot] != (double)(int64_t)owner) return 0;
  return j->at[slot] < 0 || now - j->at[slot] < JUDGE_RECHECK_MS;
}

/*
 * One attempt at a consistent copy of slot `slot` (at `s`) into `r`.
 * Returns 1 when copied (active, or claiming with SCAN_CLAIMING), 0 when the
 * slot is free (or claiming), -1 when a write was under way (try again).
 * `owner_out` receives the owner word. Only what the scan needs is copied:
 * counting and summing (SCAN_NO_RECORDS) copies the values, and the owner's
 * identity only when its verdict must be renewed.
 *
 *   s1 = seq; fence(acquire); o1 = owner; copy; fence(acquire); o2 = owner; s2 = seq
 *   accept when s1 is even, s1 == s2 and o1 == o2
 */
static inline __attribute__((always_inline)) int copy_slot(const struct scan *sc, uint32_t slot,
                                                          const uint8_t *s, double *r, uint64_t *owner_out) {
  const int flags = sc->flags, fields = sc->fields;
  const uint32_t *seq = (const uint32_t *)(s + SLOT_SEQ);
  const uint64_t *owner = (const uint64_t *)(s + SLOT_OWNER);
  uint32_t s1 = LOAD_RELAXED(seq);
  FENCE_ACQUIRE();
  /*
   * R3 may be relaxed: the seq check after R5 catches a copy from a later
   * claim. Reading evidence (E1) skips that check, so the owner word is an
   * acquire load: the identity copied after it is the one its claim
   * published (C6 is a release), or the owner word moves by the re-check.
   */
  uint64_t o1 = (flags & SCAN_EVIDENCE) ? LOAD_ACQUIRE(owner) : LOAD_RELAXED(owner);
  if (o1 == 0) return 0;
  int claiming = (o1 >> 63) != 0;
  if (claiming && !(flags & SCAN_CLAIMING)) return 0;
  /* A write is under way: a copy now would be refused anyway (unless only the identity is wanted). */
  if ((s1 & 1) != 0 && !claiming && !(flags & SCAN_EVIDENCE)) return -1;
  if (!claiming) {
    int records = !(flags & SCAN_NO_RECORDS);
    if (records || sc->judge == NULL || (flags & SCAN_FRESH) || !verdict_stands(sc->judge, slot, o1, sc->now)) {
      r[R_PID] = LOAD_RELAXED((const uint32_t *)(s + SLOT_PID));
      r[R_TID] = LOAD_RELAXED((const uint32_t *)(s + SLOT_TID));
      r[R_TOKEN] = (double)LOAD_RELAXED((const uint64_t *)(s + SLOT_TOKEN));
      r[R_NS] = (double)LOAD_RELAXED((const uint64_t *)(s + SLOT_NS));
    }
    const uint64_t *v = (const uint64_t *)(s + SLOT_VALUES);
    uint64_t *out = (uint64_t *)(r + R_FIXED);
    if (records) {
      uint64_t reg = LOAD_RELAXED((const uint64_t *)(s + SLOT_REGISTERED));
      uint64_t upd = LOAD_RELAXED((const uint64_t *)(s + SLOT_UPDATED));
      memcpy(&r[R_REGISTERED], &reg, 8);
      memcpy(&r[R_UPDATED], &upd, 8);
      for (int j = 0; j < 2 * fields; j++) out[j] = LOAD_RELAXED(v + j);
    } else {
      for (int j = 0; j < fields; j++) out[j] = LOAD_RELAXED(v + j); /* values only: sums */
    }
    if (flags & SCAN_LABELS) {
      const uint64_t *l = (const uint64_t *)(s + SLOT_LABEL);
      uint64_t *lo = (uint64_t *)(r + R_FIXED + 2 * fields);
      for (int j = 0; j < LABEL_BYTES / 8; j++) lo[j] = LOAD_RELAXED(l + j);
    }
  }
  FENCE_ACQUIRE();
  uint64_t o2 = LOAD_RELAXED(owner);
  uint32_t s2 = LOAD_RELAXED(seq);
  if (o1 != o2) return -1;
  /* A claim word is its own evidence; the slot's other words are not written yet. */
  if (!claiming && !(flags & SCAN_EVIDENCE) && ((s1 & 1) != 0 || s1 != s2)) return -1;
  r[R_OWNER_HI] = (double)(uint32_t)(o1 >> 32);
  r[R_OWNER_LO] = (double)(uint32_t)o1;
  r[R_SEQ] = s1;
  *owner_out = o1;
  return 1;
}

/* A copied record: judge it, sum it, keep it (returns 1) or drop it (0). */
static inline __attribute__((always_inline)) int take(struct scan *sc, uint32_t slot, double *r, uint64_t owner,
                                                     int32_t *live, int32_t *dead) {
  double *io = sc->io;
  r[R_SLOT] = slot;
  r[R_DEAD] = 0;
  if (sc->flags & (SCAN_LIVE | SCAN_JUDGE)) {
    int fresh = (sc->flags & SCAN_FRESH) != 0;
    r[R_DEAD] = !fresh && verdict_stands(sc->judge, slot, owner, sc->now)
      ? sc->judge->at[slot] < 0
      : judge_dead(sc->judge, slot, owner, (int32_t)r[R_PID], (int32_t)r[R_TID], r[R_TOKEN], r[R_NS], sc->now, fresh);
  }
  if (sc->flags & SCAN_LIVE) {
    if (r[R_DEAD] != 0) {
      (*dead)++;
      return 0;
    }
    (*live)++;
    if ((owner >> 63) == 0) {
      for (int j = 0; j < sc->fields; j++) {
        if (!((sc->process_kinds >> j) & 1)) io[IO_SUMS + j] += r[R_FIXED + j];
      }
    }
  }
  return !(sc->flags & SCAN_NO_RECORDS);
}

/*
 * The scan for totals only (SCAN_NO_RECORDS, with SCAN_LIVE and nothing else:
 * what `aggregateStats()` needs): per slot, the seqlock copy of the values and a
 * cached verdict on the owner; the owner's identity is copied (by
 * copy_slot) only when its verdict must be renewed. Same protocol, same
 * counts and sums as scan_slots, fewer instructions.
 */
static int32_t scan_totals(struct scan *sc) {
  /* Locals, not sc->: an acquire fence is a compiler barrier, so fields read through a pointer reload. */
  double *const io = sc->io;
  const struct judge *const j = (sc->flags & SCAN_LIVE) ? sc->judge : NULL;
  const uint8_t *const base = sc->base + sc->header;
  const size_t stride = sc->stride;
  const int fields = sc->fields;
  const int64_t start = sc->start, count = sc->count;
  const double deadline = sc->deadline, now = sc->now;
  int32_t skipped = 0, live = 0, dead = 0;
  int64_t scanned = 0;
  double sums[32] = {0};
  double *r = io + IO_HEAD; /* scratch record for the slow path */
  for (int64_t i = 0; i < count; i++) {
    if (deadline > 0 && (i & 63) == 63 && monotonic_ms() > deadline) break;
    scanned++;
    const uint32_t slot = (uint32_t)(start + i);
    const uint8_t *s = base + (size_t)slot * stride;
    const uint32_t *seq = (const uint32_t *)(s + SLOT_SEQ);
    const uint64_t *owner = (const uint64_t *)(s + SLOT_OWNER);
    const uint64_t *v = (const uint64_t *)(s + SLOT_VALUES);
    double values[32];
    int done = 0;
    for (int t = 0; t < FIRST_TRIES + LATER_TRIES && !done; t++) {
      uint32_t s1 = LOAD_RELAXED(seq);
      FENCE_ACQUIRE();
      uint64_t o1 = LOAD_RELAXED(owner);
      if (o1 == 0 || (o1 >> 63) != 0) {
        done = 1; /* free, or being claimed: not counted */
        break;
      }
      if (s1 & 1) continue;
      for (int f = 0; f < fields; f++) {
        uint64_t bits = LOAD_RELAXED(v + f);
        memcpy(&values[f], &bits, 8);
      }
      FENCE_ACQUIRE();
      if (LOAD_RELAXED(owner) != o1 || LOAD_RELAXED(seq) != s1) continue;
      done = 1;
      int is_dead;
      if (j == NULL) {
        is_dead = 0; /* without SCAN_LIVE: every owner counts (a measure of what judging costs) */
      } else if (j->id[slot] == (double)(int64_t)o1 &&
                 (j->at[slot] < 0 || now - j->at[slot] < JUDGE_RECHECK_MS)) {
        /* Owner ids are below 2^63: a signed conversion is one instruction, an unsigned one a branch. */
        is_dead = j->at[slot] < 0;
      } else {
        /* Renew the verdict: copy the identity consistently, then judge. */
        uint64_t o = 0;
        int got = -1;
        for (int u = 0; u < FIRST_TRIES && got < 0; u++) got = copy_slot(sc, slot, s, r, &o);
        if (got <= 0 || o != o1) {
          done = got == 0; /* freed meanwhile: not counted; changed hands: try the slot again */
          continue;
        }
        is_dead = judge_dead(sc->judge, slot, o1, (int32_t)r[R_PID], (int32_t)r[R_TID], r[R_TOKEN], r[R_NS], now, 0);
      }
      if (is_dead) {
        dead++;
      } else {
        live++;
        for (int f = 0; f < fields; f++) sums[f] += values[f];
      }
    }
    if (!done) skipped++;
  }
  for (int f = 0; f < fields; f++) {
    if (!((sc->process_kinds >> f) & 1)) io[IO_SUMS + f] += sums[f];
  }
  io[IO_SKIPPED] = skipped;
  io[IO_SCANNED] = (double)scanned;
  io[IO_LIVE] = live;
  io[IO_DEAD] = dead;
  return 0;
}

static int32_t scan_slots(void *arg) {
  struct scan *sc = arg;
  double *io = sc->io;
  if ((sc->flags & ~SCAN_LIVE) == SCAN_NO_RECORDS) {
    io[IO_OVERFLOW] = (double)LOAD_RELAXED((const uint64_t *)(sc->base + HEADER_OVERFLOW));
    io[IO_RECLAIMED] = (double)LOAD_RELAXED((const uint64_t *)(sc->base + HEADER_RECLAIMED));
    return scan_totals(sc);
  }
  int32_t n = 0, skipped = 0, live = 0, dead = 0;
  int64_t scanned = 0;
  /* Slots to look at again after the pass: their indexes, in the tail after the record area. */
  int64_t again_count = 0;
  int32_t *again = (int32_t *)(io + IO_HEAD + (size_t)sc->room * sc->rsize);
  io[IO_OVERFLOW] = (double)LOAD_RELAXED((const uint64_t *)(sc->base + HEADER_OVERFLOW));
  io[IO_RECLAIMED] = (double)LOAD_RELAXED((const uint64_t *)(sc->base + HEADER_RECLAIMED));
  for (int64_t i = 0; i < sc->count; i++) {
    if (sc->deadline > 0 && (i & 63) == 63 && monotonic_ms() > sc->deadline) break;
    scanned++;
    const uint8_t *s = sc->base + sc->header + (size_t)(sc->start + i) * sc->stride;
    double *r = io + IO_HEAD + (size_t)n * sc->rsize;
    uint64_t owner = 0;
    int got = -1;
    uint32_t slot = (uint32_t)(sc->start + i);
    for (int t = 0; t < FIRST_TRIES && got < 0; t++) got = copy_slot(sc, slot, s, r, &owner);
    if (got > 0) n += take(sc, slot, r, owner, &live, &dead);
    else if (got < 0) again[again_count++] = (int32_t)(sc->start + i);
  }
  for (int64_t k = 0; k < again_count; k++) {
    int32_t slot = again[k];
    const uint8_t *s = sc->base + sc->header + (size_t)slot * sc->stride;
    double *r = io + IO_HEAD + (size_t)n * sc->rsize;
    uint64_t owner = 0;
    int got = -1;
    for (int t = 0; t < LATER_TRIES && got < 0; t++) got = copy_slot(sc, (uint32_t)slot, s, r, &owner);
    if (got > 0) n += take(sc, (uint32_t)slot, r, owner, &live, &dead);
    else if (got < 0) skipped++;
  }
  io[IO_SKIPPED] = skipped;
  io[IO_SCANNED] = (double)scanned;
  io[IO_LIVE] = live;
  io[IO_DEAD] = dead;
  return n;
}

/*
 * Scan slots [start, start + count) of a mapped table and write one record
 * per active slot (and per claiming slot with SCAN_CLAIMING) to io + IO_HEAD.
 * A slot whose copy is inconsistent is retried once in the pass and once
 * more after it; then it is counted in IO_SKIPPED and left out. With
 * SCAN_LIVE, slots of dead owners are left out and counted, and the live
 * values summed into IO_SUMS (which the caller zeroes before a read).
 * Returns the number of records, or -EFAULT when the mapping faulted (file
 * truncated, or a page /dev/shm could not supply), -EINVAL for a bad request.
 */
int32_t ms_scan(double *io) {
  struct scan sc;
  sc.io = io;
  sc.base = (const uint8_t *)(uintptr_t)io[IO_BASE];
  size_t length = (size_t)io[IO_LENGTH];
  sc.header = (size_t)io[IO_HEADER_SIZE];
  sc.stride = (size_t)io[IO_STRIDE];
  sc.fields = (int)io[IO_FIELDS];
  sc.start = (int64_t)io[IO_START];
  sc.count = (int64_t)io[IO_COUNT];
  sc.flags = (int)io[IO_FLAGS];
  sc.room = (int64_t)io[IO_MAX_RECORDS];
  sc.deadline = io[IO_BUDGET] > 0 ? monotonic_ms() + io[IO_BUDGET] : 0;
  sc.judge = (struct judge *)(uintptr_t)io[IO_JUDGE];
  sc.process_kinds = (uint32_t)io[IO_PROCESS_KINDS];
  sc.now = (sc.flags & (SCAN_LIVE | SCAN_JUDGE)) ? monotonic_ms() : 0;
  sc.rsize = R_FIXED + 2 * sc.fields + ((sc.flags & SCAN_LABELS) ? LABEL_BYTES / 8 : 0);
  io[IO_RECORD_SIZE] = sc.rsize;
  io[IO_SKIPPED] = 0;
  io[IO_SCANNED] = 0;
  io[IO_LIVE] = 0;
  io[IO_DEAD] = 0;
  if (sc.count > sc.room) sc.count = sc.room;
  if (sc.fields < 1 || sc.fields > 32 || sc.start < 0 || sc.count < 0 ||
      sc.header + (size_t)(sc.start + sc.count) * sc.stride > length) {
    return -EINVAL;
  }
  if ((sc.flags & (SCAN_LIVE | SCAN_JUDGE)) &&
      (sc.judge == NULL || (uint64_t)(sc.start + sc.count) > sc.judge->capacity)) {
    return -EINVAL;
  }
  int32_t n = guarded(sc.base, length, scan_slots, &sc);
  io[IO_DEATHS] = sc.judge != NULL ? sc.judge->deaths : 0;
  return n;
}

/* ------------------------------------------------------------------------ */
/* Release at exit: every claimed slot, tracked with its owner thread.       */

struct claim {
  uint64_t *owner; /* the slot's owner word */
  uint64_t id;     /* the owner id written there by the claim */
  int32_t tid;     /* the claiming thread */
};

static pthread_mutex_t claims_lock = PTHREAD_MUTEX_INITIALIZER;
static struct claim *claims;
static size_t claims_len, claims_cap;
static pthread_key_t thread_key;
static pthread_once_t hooks_once = PTHREAD_ONCE_INIT;

/* Give back every tracked claim matching `tid` (0: all), or inside [lo, hi) when lo is set. */
static void release_where(int32_t tid, const char *lo, const char *hi) {
  pthread_mutex_lock(&claims_lock);
  size_t keep = 0;
  for (size_t i = 0; i < claims_len; i++) {
    struct claim c = claims[i];
    const char *at = (const char *)c.owner;
    int match = lo != NULL ? (at >= lo && at < hi) : (tid == 0 || c.tid == tid);
    if (match) cas_u64(c.owner, c.id, 0); /* fails harmlessly if the slot changed hands */
    else claims[keep++] = c;
  }
  claims_len = keep;
  pthread_mutex_unlock(&claims_lock);
}

static void release_tracked_in(const char *lo, const char *hi) { release_where(0, lo, hi); }

static void on_thread_exit(void *unused) {
  (void)unused;
  release_where(current_tid(), NULL, NULL);
}

static void on_process_exit(void) { release_where(0, NULL, NULL); }

static void install_hooks(void) {
  pthread_key_create(&thread_key, on_thread_exit);
  at_exit(on_process_exit);
}

/*
 * Track a claim made by the calling thread: the owner word at
 * `base + offset` now holds `id`. When this thread ends, or the process
 * exits, the slot is released with CAS(id -> 0). Returns 0 or -ENOMEM.
 */
int32_t ms_track(double base, double offset, double id) {
  pthread_once(&hooks_once, install_hooks);
  /* A non-null value makes the key's destructor run when this thread ends. */
  pthread_setspecific(thread_key, (void *)1);
  pthread_mutex_lock(&claims_lock);
  if (claims_len == claims_cap) {
    size_t cap = claims_cap ? claims_cap * 2 : 64;
    struct claim *grown = realloc(claims, cap * sizeof *grown);
    if (grown == NULL) {
      pthread_mutex_unlock(&claims_lock);
      return -ENOMEM;
    }
    claims = grown;
    claims_cap = cap;
  }
  claims[claims_len].owner = (uint64_t *)((uintptr_t)base + (size_t)offset);
  claims[claims_len].id = (uint64_t)id;
  claims[claims_len].tid = current_tid();
  claims_len++;
  pthread_mutex_unlock(&claims_lock);
  return 0;
}

/* Stop tracking the claim at `base + offset` (released by JavaScript). */
void ms_untrack(double base, double offset) {
  uint64_t *owner = (uint64_t *)((uintptr_t)base + (size_t)offset);
  pthread_mutex_lock(&claims_lock);
  for (size_t i = 0; i < claims_len; i++) {
    if (claims[i].owner == owner) {
      claims[i] = claims[--claims_len];
      break;
    }
  }
  pthread_mutex_unlock(&claims_lock);
}

struct release {
  uint64_t *owner;
  uint64_t id;
};

static int32_t release_guarded(void *arg) {
  struct release *r = arg;
  cas_u64(r->owner, r->id, 0);
  return 0;
}

/*
 * Release the claim at `base + offset` held with `id`: stop tracking it, then
 * CAS(id -> 0), guarded, so that releasing into a truncated file is -EFAULT,
 * not a SIGBUS.
 */
int32_t ms_release(double base, double offset, double id) {
  ms_untrack(base, offset);
  struct release r = {(uint64_t *)((uintptr_t)base + (size_t)offset), (uint64_t)id};
  return guarded(r.owner, 8, release_guarded, &r);
}

/* Release every claim of this process (the main thread's exit hook: Workers may still run). */
void ms_release_all(void) { release_where(0, NULL, NULL); }
