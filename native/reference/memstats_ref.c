/*
 * memstats_ref: the segment format of docs/FORMAT.md, implemented from the
 * document alone. Section and step names (C1-C6, W1-W4, R1-R7, E1-E4)
 * refer to FORMAT.md; each atomic access carries the memory order the
 * document gives for that step.
 *
 * Every byte of the mapping that another thread or process may write at
 * the same time is accessed through a C11 atomic (relaxed unless a step
 * says otherwise): the words are cast to _Atomic types of their size. On
 * x86-64 and ARMv8 a relaxed access of an aligned word of up to 8 bytes is
 * a plain load or store, so this costs nothing, and a reader never
 * executes an instruction that writes to its PROT_READ mapping.
 */
#define _GNU_SOURCE
#include "memstats_ref.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* ---- layout (FORMAT.md "Header" and "Slot") ---- */

enum {
  H_MAGIC = 0,
  H_VERSION_MAJOR = 8,
  H_VERSION_MINOR = 10,
  H_ENDIAN = 12,
  H_HEADER_SIZE = 16,
  H_SLOT_STRIDE = 20,
  H_CAPACITY = 24,
  H_FIELD_COUNT = 28,
  H_STATE = 32,
  H_FLAGS = 36,
  H_TOTAL_SIZE = 40,
  H_NEXT_OWNER_ID = 48,
  H_OVERFLOW_COUNT = 56,
  H_RECLAIMED_COUNT = 64,
  H_CREATED_AT = 72,
  H_CREATOR_PID = 80,
  H_FIELD_KINDS = 96,
  H_FIELD_NAMES = 128,
};

enum {
  S_OWNER = 0,
  S_SEQ = 8,
  S_FLAGS = 12,
  S_PID = 16,
  S_TID = 20,
  S_TOKEN = 24,
  S_PID_NS = 32,
  S_REGISTERED_AT = 40,
  S_UPDATED_AT = 48,
  S_RESERVED = 56,
  S_LABEL = 64,
  S_VALUES = 128,
};

#define MAGIC_BYTES "MEMSTATS"
#define ENDIAN_MARKER 0x01020304u
#define ENDIAN_SWAPPED 0x04030201u
#define STATE_INITIALISING 0u
#define STATE_READY 1u
#define CLAIMING_BIT (UINT64_C(1) << 63)
#define MAX_SAFE_INTEGER 9007199254740991.0 /* 2^53 - 1 */

static uint32_t roundup64(uint32_t n) { return (n + 63u) & ~63u; }
static uint32_t header_size_for(uint32_t fields) { return roundup64(128u + 32u * fields); }
static uint32_t min_stride_for(uint32_t fields) { return roundup64(128u + 16u * fields); }
/* The largest segment any valid header describes: a bigger file is mapped only this far. */
static const uint64_t MAX_TOTAL =
    (uint64_t)(128u + 32u * MSR_MAX_FIELDS) + (uint64_t)MSR_MAX_CAPACITY * MSR_MAX_STRIDE;

/* ---- atomic access to the mapping ---- */

#define A64(p) ((_Atomic uint64_t *)(void *)(p))
#define A32(p) ((_Atomic uint32_t *)(void *)(p))
#define A16(p) ((_Atomic uint16_t *)(void *)(p))

static uint64_t ld64(const unsigned char *p, memory_order mo) {
  return atomic_load_explicit((const _Atomic uint64_t *)(const void *)p, mo);
}
static uint32_t ld32(const unsigned char *p, memory_order mo) {
  return atomic_load_explicit((const _Atomic uint32_t *)(const void *)p, mo);
}
static uint16_t ld16(const unsigned char *p) {
  return atomic_load_explicit((const _Atomic uint16_t *)(const void *)p, memory_order_relaxed);
}
static void st64(unsigned char *p, uint64_t v) { atomic_store_explicit(A64(p), v, memory_order_relaxed); }
static void st32(unsigned char *p, uint32_t v) { atomic_store_explicit(A32(p), v, memory_order_relaxed); }
static void st16(unsigned char *p, uint16_t v) { atomic_store_explicit(A16(p), v, memory_order_relaxed); }

static double bits_to_f64(uint64_t b) {
  double d;
  memcpy(&d, &b, sizeof d);
  return d;
}
static uint64_t f64_to_bits(double d) {
  uint64_t b;
  memcpy(&b, &d, sizeof b);
  return b;
}
static double ldf64(const unsigned char *p) { return bits_to_f64(ld64(p, memory_order_relaxed)); }
static void stf64(unsigned char *p, double v) { st64(p, f64_to_bits(v)); }

/* Copies n bytes (a multiple of 8, 8-aligned) word by word with relaxed loads. */
static void ld_bytes(void *dst, const unsigned char *src, size_t n) {
  for (size_t k = 0; k < n; k += 8) {
    uint64_t w = ld64(src + k, memory_order_relaxed);
    memcpy((unsigned char *)dst + k, &w, 8);
  }
}
/* Stores n bytes (a multiple of 8, 8-aligned) word by word with relaxed stores. */
static void st_bytes(unsigned char *dst, const void *src, size_t n) {
  for (size_t k = 0; k < n; k += 8) {
    uint64_t w;
    memcpy(&w, (const unsigned char *)src + k, 8);
    st64(dst + k, w);
  }
}

static unsigned char *slot_at(const msr_segment *seg, uint32_t i) {
  return seg->base + seg->header_size + (size_t)i * seg->slot_stride;
}
static size_t peaks_offset(const msr_segment *seg) { return S_VALUES + 8u * seg->field_count; }

double msr_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec * 1000.0 + (double)(ts.tv_nsec / 1000000);
}

static double monotonic_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* ---- errors ---- */

const char *msr_code(int status) {
  switch (status) {
  case MSR_OK: return "OK";
  case MSR_E_SYSTEM: return "SYSTEM";
  case MSR_E_INVALID: return "INVALID_ARGUMENT";
  case MSR_E_EXISTS: return "EXISTS";
  case MSR_E_NOT_FOUND: return "NOT_FOUND";
  case MSR_E_NO_SPACE: return "NO_SPACE";
  case MSR_E_TRUNCATED: return "TRUNCATED";
  case MSR_E_BAD_MAGIC: return "BAD_MAGIC";
  case MSR_E_BYTE_ORDER: return "BYTE_ORDER";
  case MSR_E_VERSION: return "VERSION";
  case MSR_E_CORRUPT: return "CORRUPT";
  case MSR_E_UNFINISHED: return "UNFINISHED";
  case MSR_E_FAULT: return "FAULT";
  case MSR_E_FULL: return "FULL";
  case MSR_E_LOST: return "LOST";
  case MSR_E_READ_ONLY: return "READ_ONLY";
  default: return "UNKNOWN";
  }
}

const char *msr_strerror(int status) {
  switch (status) {
  case MSR_OK: return "success";
  case MSR_E_SYSTEM: return "a system call failed";
  case MSR_E_INVALID: return "invalid argument";
  case MSR_E_EXISTS: return "the segment exists";
  case MSR_E_NOT_FOUND: return "no such segment";
  case MSR_E_NO_SPACE: return "no space left in /dev/shm for the segment";
  case MSR_E_TRUNCATED: return "the file is smaller than its header says (truncated)";
  case MSR_E_BAD_MAGIC: return "not a memstats segment (bad magic)";
  case MSR_E_BYTE_ORDER: return "the segment was written on a host of the other byte order";
  case MSR_E_VERSION: return "unsupported major version";
  case MSR_E_CORRUPT: return "corrupt header";
  case MSR_E_UNFINISHED: return "the creator never finished the header (state stayed 0)";
  case MSR_E_FAULT: return "the mapping faulted (SIGBUS): truncated or unbacked";
  case MSR_E_FULL: return "the table is full";
  case MSR_E_LOST: return "the slot is no longer ours";
  case MSR_E_READ_ONLY: return "the segment is attached read-only";
  default: return "unknown error";
  }
}

/* ---- SIGBUS guard (FORMAT.md: a reader SHOULD guard every read) ---- */

static _Thread_local sigjmp_buf *volatile guard_env;
static struct sigaction previous_bus;
static pthread_once_t guard_once = PTHREAD_ONCE_INIT;

static void on_sigbus(int sig, siginfo_t *info, void *uctx) {
  sigjmp_buf *env = guard_env;
  if (env != NULL) {
    guard_env = NULL;
    siglongjmp(*env, 1);
  }
  /* Not a guarded read: give the signal back to whoever had it; the fault repeats there. */
  (void)info;
  (void)uctx;
  sigaction(sig, &previous_bus, NULL);
}

static void install_guard(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_sigbus;
  sa.sa_flags = SA_SIGINFO | SA_NODEFER; /* NODEFER: siglongjmp without restoring the mask */
  sigemptyset(&sa.sa_mask);
  sigaction(SIGBUS, &sa, &previous_bus);
}

/* Runs fn(a, b, c) with SIGBUS turned into MSR_E_FAULT. */
typedef int (*guarded_fn)(const msr_segment *seg, uint32_t i, void *out);
static int guarded(guarded_fn fn, const msr_segment *seg, uint32_t i, void *out) {
  pthread_once(&guard_once, install_guard);
  sigjmp_buf env;
  if (sigsetjmp(env, 0) != 0) return MSR_E_FAULT;
  guard_env = &env;
  atomic_signal_fence(memory_order_seq_cst);
  int r = fn(seg, i, out);
  atomic_signal_fence(memory_order_seq_cst);
  guard_env = NULL;
  return r;
}

/* ---- names ---- */

int msr_valid_name(const char *name) {
  if (name == NULL || name[0] != '/') return 0;
  size_t n = strlen(name + 1);
  if (n < 1 || n > 250) return 0;
  if (strcmp(name, "/.") == 0 || strcmp(name, "/..") == 0) return 0;
  for (size_t k = 1; k <= n; k++) {
    char c = name[k];
    int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
             c == '_' || c == '-';
    if (!ok) return 0;
  }
  return 1;
}

/* [A-Za-z_][A-Za-z0-9_]{0,30}, not __proto__ */
static int valid_field_name(const char *s, size_t n) {
  if (n < 1 || n > 31) return 0;
  if (n == 9 && memcmp(s, "__proto__", 9) == 0) return 0;
  for (size_t k = 0; k < n; k++) {
    char c = s[k];
    int alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
    if (!alpha && !(k > 0 && c >= '0' && c <= '9')) return 0;
  }
  return 1;
}

static int valid_value(double v) { return isfinite(v) && v >= 0 && v <= MAX_SAFE_INTEGER; }

/* ---- evidence: who this thread is ---- */

/*
 * /proc/<pid>/task/<tid>/stat: the state (field 3) and the start time
 * (field 22). Field 2 (comm) is in parentheses and may hold spaces and
 * ')', so fields are counted after the last ')'. Returns 0 or -errno.
 */
static int read_task_stat(uint32_t pid, uint32_t tid, char *state, uint64_t *start) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%u/task/%u/stat", pid, tid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  char buf[1024];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  int err = errno;
  close(fd);
  if (n <= 0) return n < 0 ? -err : -EIO;
  buf[n] = '\0';
  char *p = strrchr(buf, ')');
  if (p == NULL || p[1] != ' ' || p[2] == '\0') return -EIO;
  *state = p[2];
  /* p + 2 is field 3; skip 19 more spaces to reach field 22. */
  char *q = p + 2;
  for (int field = 3; field < 22; field++) {
    q = strchr(q, ' ');
    if (q == NULL) return -EIO;
    q++;
  }
  char *end;
  errno = 0;
  unsigned long long v = strtoull(q, &end, 10);
  if (end == q || errno != 0) return -EIO;
  *start = v;
  return 0;
}

static _Thread_local msr_evidence self_ev;
static _Thread_local int self_ev_valid;

void msr_self_evidence(msr_evidence *ev) {
  uint32_t pid = (uint32_t)getpid();
  if (!self_ev_valid || self_ev.pid != pid) { /* recomputed after fork */
    self_ev.pid = pid;
    self_ev.tid = (uint32_t)syscall(SYS_gettid);
    char state;
    uint64_t start;
    self_ev.token = read_task_stat(pid, self_ev.tid, &state, &start) == 0 ? start : 0;
    struct stat st;
    self_ev.pid_ns = stat("/proc/self/ns/pid", &st) == 0 ? (uint64_t)st.st_ino : 0;
    self_ev_valid = 1;
  }
  *ev = self_ev;
}

/* ---- liveness ("Who is alive") ---- */

#define CW_TID_MASK UINT64_C(0x3FFFFF)   /* bits 0-21 */
#define CW_TOKEN_MASK UINT64_C(0xFFFFF)  /* 20 bits, at 22-41 */
#define CW_NS_MASK UINT64_C(0x1FFFFF)    /* 21 bits, at 42-62 */

uint64_t msr_claim_word(const msr_evidence *ev) {
  return CLAIMING_BIT | ((ev->pid_ns & CW_NS_MASK) << 42) | ((ev->token & CW_TOKEN_MASK) << 22) |
         ((uint64_t)ev->tid & CW_TID_MASK);
}

/*
 * Certainly dead, by tests 1-3. `token_mask` selects the bits of the start
 * time that `token` holds (all of them, or the claim word's low 20);
 * `by_tid`: probe with tkill(tid) (a claim word has no pid).
 */
static int certainly_dead(uint32_t pid, uint32_t tid, uint64_t token, uint64_t token_mask, int by_tid) {
  char state;
  uint64_t start;
  if (read_task_stat(pid, tid, &state, &start) == 0) {
    if (state == 'Z' || state == 'X' || state == 'x') return 1;                /* test 1 */
    if (token != 0 && (start & token_mask) != (token & token_mask)) return 1; /* test 2 */
    return 0;
  }
  /* test 3: /proc may hide the thread (hidepid: ENOENT or EACCES), or it went away while we
     read (ESRCH): ask the kernel. ESRCH from tgkill is proof whatever /proc said. */
  long k = by_tid ? syscall(SYS_tkill, (pid_t)tid, 0) : syscall(SYS_tgkill, (pid_t)pid, (pid_t)tid, 0);
  return k == -1 && errno == ESRCH;
}

int msr_judge_owner(uint32_t pid, uint32_t tid, uint64_t token, uint64_t pid_ns) {
  msr_evidence me;
  msr_self_evidence(&me);
  if (pid_ns != me.pid_ns) return MSR_NOT_JUDGED;
  return certainly_dead(pid, tid, token, UINT64_MAX, 0) ? MSR_DEAD : MSR_ALIVE;
}

int msr_judge_claim_word(uint64_t word) {
  msr_evidence me;
  msr_self_evidence(&me);
  if (((word >> 42) & CW_NS_MASK) != (me.pid_ns & CW_NS_MASK)) return MSR_NOT_JUDGED;
  uint32_t tid = (uint32_t)(word & CW_TID_MASK);
  uint64_t token_bits = (word >> 22) & CW_TOKEN_MASK;
  return certainly_dead(tid, tid, token_bits, CW_TOKEN_MASK, 1) ? MSR_DEAD : MSR_ALIVE;
}

/* ---- creating (FORMAT.md "Creating a segment") ---- */

static void fill_segment(msr_segment *seg, unsigned char *base, size_t mapped, int writable) {
  seg->base = base;
  seg->mapped = mapped;
  seg->writable = writable;
}

int msr_create(msr_segment *seg, const char *name, uint32_t capacity, const msr_field *fields,
               uint32_t field_count, mode_t mode) {
  memset(seg, 0, sizeof *seg);
  if (!msr_valid_name(name)) return MSR_E_INVALID;
  if (capacity < 1 || capacity > MSR_MAX_CAPACITY) return MSR_E_INVALID;
  if (field_count < 1 || field_count > MSR_MAX_FIELDS) return MSR_E_INVALID;
  if ((mode & ~(mode_t)0777) != 0) return MSR_E_INVALID;
  for (uint32_t i = 0; i < field_count; i++) {
    size_t n = strlen(fields[i].name);
    if (!valid_field_name(fields[i].name, n)) return MSR_E_INVALID;
    if (fields[i].kind != MSR_KIND_THREAD && fields[i].kind != MSR_KIND_PROCESS) return MSR_E_INVALID;
    for (uint32_t j = 0; j < i; j++)
      if (strcmp(fields[i].name, fields[j].name) == 0) return MSR_E_INVALID;
  }
  uint32_t header_size = header_size_for(field_count);
  uint32_t stride = min_stride_for(field_count);
  uint64_t total = header_size + (uint64_t)capacity * stride;

  /* 1. Exactly one process wins. */
  int fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, mode);
  if (fd < 0) return errno == EEXIST ? MSR_E_EXISTS : MSR_E_SYSTEM;
  int status = MSR_E_SYSTEM;
  int err = 0;
  unsigned char *base = MAP_FAILED;
  /* 2. The umask filtered shm_open's mode. */
  if (fchmod(fd, mode) != 0) goto fail;
  /* 3. */
  if (ftruncate(fd, (off_t)total) != 0) goto fail;
  /* 4. Reserve every page. */
  int fr = posix_fallocate(fd, 0, (off_t)total);
  if (fr != 0) {
    errno = fr;
    if (fr == ENOSPC) status = MSR_E_NO_SPACE;
    goto fail;
  }
  /* 5. Every header word except state (the file is zero after ftruncate). */
  base = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) goto fail;
  uint64_t magic;
  memcpy(&magic, MAGIC_BYTES, 8);
  st64(base + H_MAGIC, magic);
  st16(base + H_VERSION_MAJOR, 1);
  st16(base + H_VERSION_MINOR, 1);
  st32(base + H_ENDIAN, ENDIAN_MARKER);
  st32(base + H_HEADER_SIZE, header_size);
  st32(base + H_SLOT_STRIDE, stride);
  st32(base + H_CAPACITY, capacity);
  st32(base + H_FIELD_COUNT, field_count);
  st64(base + H_TOTAL_SIZE, total);
  st64(base + H_NEXT_OWNER_ID, 1);
  stf64(base + H_CREATED_AT, msr_now_ms());
  st32(base + H_CREATOR_PID, (uint32_t)getpid());
  unsigned char kinds[32] = {0};
  for (uint32_t i = 0; i < field_count; i++) kinds[i] = fields[i].kind;
  st_bytes(base + H_FIELD_KINDS, kinds, sizeof kinds);
  for (uint32_t i = 0; i < field_count; i++) {
    unsigned char padded[MSR_FIELD_NAME_SIZE] = {0};
    memcpy(padded, fields[i].name, strlen(fields[i].name));
    st_bytes(base + H_FIELD_NAMES + 32u * i, padded, sizeof padded);
  }
  /* 6. Publish: every header byte above happens-before a reader's acquire load of state. */
  atomic_store_explicit(A32(base + H_STATE), STATE_READY, memory_order_release);
  close(fd);

  fill_segment(seg, base, total, 1);
  seg->version_minor = 1;
  seg->header_size = header_size;
  seg->slot_stride = stride;
  seg->capacity = capacity;
  seg->field_count = field_count;
  seg->total_size = total;
  for (uint32_t i = 0; i < field_count; i++) {
    snprintf(seg->field_names[i], sizeof seg->field_names[i], "%s", fields[i].name);
    seg->field_kinds[i] = fields[i].kind;
  }
  return MSR_OK;

fail:
  /* A half-made segment helps nobody. */
  err = errno;
  if (base != MAP_FAILED) munmap(base, total);
  close(fd);
  shm_unlink(name);
  errno = err;
  return status;
}

/* ---- attaching (FORMAT.md "Attaching and validating a header") ---- */

enum { V_WAIT = 1 };

struct validate_ctx {
  size_t size;
  msr_segment *seg;
};

/* Steps 2-7 on a mapping of `ctx->size` bytes (at least 128). V_WAIT: the creator is mid-header. */
static int validate_header(const msr_segment *mapping, uint32_t unused, void *out) {
  (void)unused;
  struct validate_ctx *ctx = out;
  const unsigned char *b = mapping->base;
  /* 2. state first, with acquire: pairs with the creator's release store (step 6). */
  uint32_t state = ld32(b + H_STATE, memory_order_acquire);
  uint64_t magic_word = ld64(b + H_MAGIC, memory_order_relaxed);
  uint64_t magic;
  memcpy(&magic, MAGIC_BYTES, 8);
  uint16_t major = ld16(b + H_VERSION_MAJOR);
  uint32_t endian = ld32(b + H_ENDIAN, memory_order_relaxed);
  /* 3. */
  if (state == STATE_INITIALISING && (magic_word == magic || magic_word == 0) && (major == 1 || major == 0) &&
      (endian == ENDIAN_MARKER || endian == 0))
    return V_WAIT;
  if (magic_word != magic) return MSR_E_BAD_MAGIC;
  if (endian == ENDIAN_SWAPPED) return MSR_E_BYTE_ORDER;
  if (endian != ENDIAN_MARKER) return MSR_E_CORRUPT;
  if (major != 1) return MSR_E_VERSION;
  /* 4. (state 0 with every word right was a wait above) */
  if (state != STATE_READY) return MSR_E_CORRUPT;
  /* 5. */
  uint32_t header_size = ld32(b + H_HEADER_SIZE, memory_order_relaxed);
  uint32_t stride = ld32(b + H_SLOT_STRIDE, memory_order_relaxed);
  uint32_t capacity = ld32(b + H_CAPACITY, memory_order_relaxed);
  uint32_t fields = ld32(b + H_FIELD_COUNT, memory_order_relaxed);
  uint64_t total = ld64(b + H_TOTAL_SIZE, memory_order_relaxed);
  if (fields < 1 || fields > MSR_MAX_FIELDS) return MSR_E_CORRUPT;
  if (capacity < 1 || capacity > MSR_MAX_CAPACITY) return MSR_E_CORRUPT;
  if (header_size != header_size_for(fields)) return MSR_E_CORRUPT;
  if (stride % 64 != 0 || stride < min_stride_for(fields) || stride > MSR_MAX_STRIDE) return MSR_E_CORRUPT;
  if (total != header_size + (uint64_t)capacity * stride) return MSR_E_CORRUPT;
  /* 6. */
  if (ctx->size < total) return MSR_E_TRUNCATED;
  /* 7. */
  msr_segment *seg = ctx->seg;
  for (uint32_t i = 0; i < fields; i++) {
    char raw[MSR_FIELD_NAME_SIZE];
    ld_bytes(raw, b + H_FIELD_NAMES + 32u * i, sizeof raw);
    size_t n = 0;
    while (n < sizeof raw && raw[n] != '\0') n++; /* up to the first NUL, or all 32 bytes */
    if (!valid_field_name(raw, n)) return MSR_E_CORRUPT;
    memcpy(seg->field_names[i], raw, n);
    seg->field_names[i][n] = '\0';
    for (uint32_t j = 0; j < i; j++)
      if (strcmp(seg->field_names[i], seg->field_names[j]) == 0) return MSR_E_CORRUPT;
  }
  uint16_t minor = ld16(b + H_VERSION_MINOR);
  unsigned char kinds[32];
  ld_bytes(kinds, b + H_FIELD_KINDS, sizeof kinds);
  for (uint32_t i = 0; i < fields; i++)
    seg->field_kinds[i] = (minor >= 1 && kinds[i] == MSR_KIND_PROCESS) ? MSR_KIND_PROCESS : MSR_KIND_THREAD;
  seg->version_minor = minor;
  seg->header_size = header_size;
  seg->slot_stride = stride;
  seg->capacity = capacity;
  seg->field_count = fields;
  seg->total_size = total;
  return MSR_OK;
}

int msr_attach(msr_segment *seg, const char *name, int writable, int timeout_ms) {
  memset(seg, 0, sizeof *seg);
  if (!msr_valid_name(name)) return MSR_E_INVALID;
  int fd = shm_open(name, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC, 0);
  if (fd < 0) return errno == ENOENT ? MSR_E_NOT_FOUND : MSR_E_SYSTEM;
  double deadline = monotonic_ms() + (timeout_ms > 0 ? timeout_ms : 0);
  double delay = 1;
  int prot = writable ? PROT_READ | PROT_WRITE : PROT_READ;
  int status;
  for (;;) {
    struct stat st;
    if (fstat(fd, &st) != 0) {
      status = MSR_E_SYSTEM;
      break;
    }
    uint64_t size = (uint64_t)st.st_size;
    if (size > 0 && size < 128) {
      /* 1. Too small for a header: truncated if what is there could start one, else not ours. */
      unsigned char head[8] = {0};
      ssize_t got = pread(fd, head, size < 8 ? (size_t)size : 8, 0);
      status = MSR_E_TRUNCATED;
      for (ssize_t k = 0; k < got; k++)
        if (head[k] != 0 && head[k] != (unsigned char)MAGIC_BYTES[k]) status = MSR_E_BAD_MAGIC;
      break;
    }
    status = V_WAIT; /* size 0: the creator has not sized it yet */
    if (size >= 128) {
      size_t len = (size_t)(size < MAX_TOTAL ? size : MAX_TOTAL);
      unsigned char *base = mmap(NULL, len, prot, MAP_SHARED, fd, 0);
      if (base == MAP_FAILED) {
        status = MSR_E_SYSTEM;
        break;
      }
      msr_segment mapping;
      memset(&mapping, 0, sizeof mapping);
      fill_segment(&mapping, base, len, writable);
      struct validate_ctx ctx = {len, seg};
      status = guarded(validate_header, &mapping, 0, &ctx);
      if (status == MSR_OK) {
        fill_segment(seg, base, len, writable);
        break;
      }
      munmap(base, len);
      if (status != V_WAIT) break;
    }
    /* 4. wait a little and start again from fstat */
    if (monotonic_ms() >= deadline) {
      status = MSR_E_UNFINISHED;
      break;
    }
    struct timespec ts = {0, (long)(delay * 1e6)};
    nanosleep(&ts, NULL);
    delay = delay * 2 > 50 ? 50 : delay * 2;
  }
  if (status == MSR_OK && writable) {
    /* A writer reserves the pages too: a segment written by an older version may be sparse. */
    int fr = posix_fallocate(fd, 0, (off_t)seg->total_size);
    if (fr != 0) {
      munmap(seg->base, seg->mapped);
      errno = fr;
      status = fr == ENOSPC ? MSR_E_NO_SPACE : MSR_E_SYSTEM;
    }
  }
  int err = errno;
  close(fd);
  errno = err;
  if (status != MSR_OK) memset(seg, 0, sizeof *seg);
  return status;
}

int msr_open(msr_segment *seg, const char *name, uint32_t capacity, const msr_field *fields,
             uint32_t field_count, mode_t mode, int *created) {
  int r = msr_create(seg, name, capacity, fields, field_count, mode);
  *created = r == MSR_OK;
  if (r == MSR_E_EXISTS) r = msr_attach(seg, name, 1, 2000);
  return r;
}

void msr_detach(msr_segment *seg) {
  if (seg->base != NULL) munmap(seg->base, seg->mapped);
  memset(seg, 0, sizeof *seg);
}

int msr_unlink(const char *name) {
  if (!msr_valid_name(name)) return MSR_E_INVALID;
  if (shm_unlink(name) != 0) return errno == ENOENT ? MSR_E_NOT_FOUND : MSR_E_SYSTEM;
  return MSR_OK;
}

/* ---- claiming (C1-C6) ---- */

/* At most 63 bytes, cut at a UTF-8 character boundary, NUL-padded to 64. */
static void encode_label(unsigned char out[MSR_LABEL_SIZE], const char *label) {
  memset(out, 0, MSR_LABEL_SIZE);
  if (label == NULL) return;
  size_t n = strlen(label);
  if (n > MSR_LABEL_SIZE - 1) {
    n = MSR_LABEL_SIZE - 1;
    while (n > 0 && ((unsigned char)label[n] & 0xC0) == 0x80) n--; /* label[n] continues a character */
  }
  memcpy(out, label, n);
}

static _Thread_local uint32_t claim_hint;

/* C1-C3 over every slot from the hint; MSR_E_FULL when none is free. */
static int try_claim(msr_segment *seg, const unsigned char *label, const msr_evidence *ev, msr_slot *slot) {
  uint64_t word = msr_claim_word(ev);
  for (uint32_t k = 0; k < seg->capacity; k++) {
    uint32_t i = (claim_hint + k) % seg->capacity;
    unsigned char *s = slot_at(seg, i);
    if (ld64(s + S_OWNER, memory_order_relaxed) != 0) continue; /* cheap look before the CAS */
    /* C1: acq_rel. Acquire pairs with the previous owner's release (or a reclaimer's CAS),
       so its last stores to the slot come before our fill. */
    uint64_t expected = 0;
    if (!atomic_compare_exchange_strong_explicit(A64(s + S_OWNER), &expected, word, memory_order_acq_rel,
                                                 memory_order_relaxed))
      continue;
    /* C2: the fill (C3) may not become visible before C1. */
    atomic_thread_fence(memory_order_release);
    /* C3: relaxed stores. */
    double now = msr_now_ms();
    st32(s + S_PID, ev->pid);
    st32(s + S_TID, ev->tid);
    st64(s + S_TOKEN, ev->token);
    st64(s + S_PID_NS, ev->pid_ns);
    stf64(s + S_REGISTERED_AT, now);
    stf64(s + S_UPDATED_AT, now);
    st_bytes(s + S_LABEL, label, MSR_LABEL_SIZE);
    for (uint32_t f = 0; f < 2 * seg->field_count; f++) st64(s + S_VALUES + 8u * f, 0);
    st32(s + S_FLAGS, 0);
    st64(s + S_RESERVED, 0);
    claim_hint = i + 1;
    slot->seg = seg;
    slot->index = i;
    slot->id = 0;
    slot->claim_word = word;
    return MSR_OK;
  }
  return MSR_E_FULL;
}

int msr_claim_begin_as(msr_segment *seg, const char *label, const msr_evidence *ev, msr_slot *slot) {
  memset(slot, 0, sizeof *slot);
  if (!seg->writable) return MSR_E_READ_ONLY;
  unsigned char bytes[MSR_LABEL_SIZE];
  encode_label(bytes, label);
  if (try_claim(seg, bytes, ev, slot) == MSR_OK) return MSR_OK;
  /* Every slot is taken: reclaim dead owners' slots, and scan again. */
  int r = msr_reclaim(seg, NULL, NULL);
  if (r < 0) return r;
  if (try_claim(seg, bytes, ev, slot) == MSR_OK) return MSR_OK;
  atomic_fetch_add_explicit(A64(seg->base + H_OVERFLOW_COUNT), 1, memory_order_relaxed);
  return MSR_E_FULL;
}

int msr_claim_begin(msr_segment *seg, const char *label, msr_slot *slot) {
  msr_evidence ev;
  msr_self_evidence(&ev);
  return msr_claim_begin_as(seg, label, &ev, slot);
}

int msr_claim_publish(msr_slot *slot) {
  if (slot->seg == NULL || slot->claim_word == 0 || slot->id != 0) return MSR_E_INVALID;
  msr_segment *seg = slot->seg;
  unsigned char *s = slot_at(seg, slot->index);
  /* C4: moves seq to an even number (only the claimer writes seq now). Release: C3 is
     visible before seq moves. */
  uint32_t seq = ld32(s + S_SEQ, memory_order_relaxed);
  atomic_fetch_add_explicit(A32(s + S_SEQ), (seq & 1u) ? 1u : 2u, memory_order_release);
  /* C5 */
  uint64_t id = atomic_fetch_add_explicit(A64(seg->base + H_NEXT_OWNER_ID), 1, memory_order_relaxed);
  uint64_t expected = slot->claim_word;
  if (id == 0 || (id & CLAIMING_BIT) != 0) {
    /* A corrupt counter: an id of 0 would free the slot, bit 63 would look like a claim. */
    atomic_compare_exchange_strong_explicit(A64(s + S_OWNER), &expected, 0, memory_order_release,
                                            memory_order_relaxed);
    slot->claim_word = 0;
    return MSR_E_CORRUPT;
  }
  /* C6: release: C3 and C4 are visible before the id. */
  if (!atomic_compare_exchange_strong_explicit(A64(s + S_OWNER), &expected, id, memory_order_release,
                                               memory_order_relaxed)) {
    /* A reclaimer judged us dead and took the slot: never write it again. */
    slot->claim_word = 0;
    return MSR_E_LOST;
  }
  slot->id = id;
  return MSR_OK;
}

int msr_claim_cancel(msr_slot *slot) {
  if (slot->seg == NULL || slot->claim_word == 0 || slot->id != 0) return MSR_E_INVALID;
  uint64_t expected = slot->claim_word;
  slot->claim_word = 0;
  /* Release, as for a published slot: our fill comes before the next claimer's. */
  if (!atomic_compare_exchange_strong_explicit(A64(slot_at(slot->seg, slot->index) + S_OWNER), &expected, 0,
                                               memory_order_release, memory_order_relaxed))
    return MSR_E_LOST;
  return MSR_OK;
}

int msr_claim(msr_segment *seg, const char *label, msr_slot *slot) {
  for (int attempt = 0; attempt < 4; attempt++) {
    int r = msr_claim_begin(seg, label, slot);
    if (r != MSR_OK) return r;
    r = msr_claim_publish(slot);
    if (r != MSR_E_LOST) return r; /* LOST: start again elsewhere */
  }
  return MSR_E_LOST;
}

/* ---- writing (the owner only) ---- */

static int owned(const msr_slot *slot) { return slot->seg != NULL && slot->id != 0; }

int msr_set(msr_slot *slot, uint32_t field, double value) {
  if (!owned(slot)) return MSR_E_LOST;
  if (field >= slot->seg->field_count || !valid_value(value)) return MSR_E_INVALID;
  unsigned char *s = slot_at(slot->seg, slot->index);
  unsigned char *v = s + S_VALUES + 8u * field;
  unsigned char *p = s + peaks_offset(slot->seg) + 8u * field;
  /*
   * No fence and no seqlock: each word stands alone, and an aligned 8-byte store is
   * single-copy atomic. A reader reports max(value, peak), so the order in which the
   * value and the peak become visible does not matter.
   */
  stf64(v, value);
  if (value > ldf64(p)) stf64(p, value);
  stf64(s + S_UPDATED_AT, msr_now_ms());
  return MSR_OK;
}

int msr_update(msr_slot *slot, const double *values) {
  if (!owned(slot)) return MSR_E_LOST;
  msr_segment *seg = slot->seg;
  for (uint32_t f = 0; f < seg->field_count; f++)
    if (!valid_value(values[f])) return MSR_E_INVALID;
  unsigned char *s = slot_at(seg, slot->index);
  size_t peaks = peaks_offset(seg);
  double now = msr_now_ms();
  /* W1: seq odd. */
  atomic_fetch_add_explicit(A32(s + S_SEQ), 1, memory_order_relaxed);
  /* W2: W3 may not become visible before W1. */
  atomic_thread_fence(memory_order_release);
  /* W3 */
  for (uint32_t f = 0; f < seg->field_count; f++) {
    stf64(s + S_VALUES + 8u * f, values[f]);
    if (values[f] > ldf64(s + peaks + 8u * f)) stf64(s + peaks + 8u * f, values[f]);
  }
  stf64(s + S_UPDATED_AT, now);
  /* W4: release: W3 is visible before seq is even again. */
  atomic_fetch_add_explicit(A32(s + S_SEQ), 1, memory_order_release);
  return MSR_OK;
}

int msr_release(msr_slot *slot) {
  if (!owned(slot)) return MSR_E_LOST;
  unsigned char *s = slot_at(slot->seg, slot->index);
  uint64_t expected = slot->id;
  slot->id = 0;
  slot->claim_word = 0;
  /* Release order: our last stores to the slot come before the next claimer's fill (its C1
     is acq_rel). */
  if (!atomic_compare_exchange_strong_explicit(A64(s + S_OWNER), &expected, 0, memory_order_release,
                                               memory_order_relaxed))
    return MSR_E_LOST;
  return MSR_OK;
}

/* ---- reading (R1-R7) ---- */

int msr_read_slot(const msr_segment *seg, uint32_t i, msr_row *row) {
  const unsigned char *s = slot_at(seg, i);
  uint32_t fields = seg->field_count;
  size_t peaks = peaks_offset(seg);
  uint64_t raw[2 * MSR_MAX_FIELDS];
  unsigned char label[MSR_LABEL_SIZE];

  uint32_t s1 = ld32(s + S_SEQ, memory_order_relaxed);    /* R1 */
  atomic_thread_fence(memory_order_acquire);              /* R2 */
  uint64_t o1 = ld64(s + S_OWNER, memory_order_relaxed);  /* R3 */
  if (o1 == 0) return MSR_SLOT_FREE;
  if (o1 & CLAIMING_BIT) return MSR_SLOT_CLAIMING;
  if (s1 & 1u) return MSR_SLOT_BUSY; /* a write in progress: the copy would be refused */
  /* R4: relaxed copies */
  for (uint32_t f = 0; f < fields; f++) {
    raw[f] = ld64(s + S_VALUES + 8u * f, memory_order_relaxed);
    raw[fields + f] = ld64(s + peaks + 8u * f, memory_order_relaxed);
  }
  uint32_t pid = ld32(s + S_PID, memory_order_relaxed);
  uint32_t tid = ld32(s + S_TID, memory_order_relaxed);
  uint64_t token = ld64(s + S_TOKEN, memory_order_relaxed);
  uint64_t pid_ns = ld64(s + S_PID_NS, memory_order_relaxed);
  uint64_t registered = ld64(s + S_REGISTERED_AT, memory_order_relaxed);
  uint64_t updated = ld64(s + S_UPDATED_AT, memory_order_relaxed);
  ld_bytes(label, s + S_LABEL, sizeof label);
  atomic_thread_fence(memory_order_acquire);              /* R5 */
  uint64_t o2 = ld64(s + S_OWNER, memory_order_relaxed);  /* R6 */
  uint32_t s2 = ld32(s + S_SEQ, memory_order_relaxed);    /* R7 */
  if (s1 != s2 || o1 != o2) return MSR_SLOT_BUSY;

  row->slot = i;
  row->owner = o1;
  row->seq = s1;
  row->pid = pid;
  row->tid = tid;
  row->token = token;
  row->pid_ns = pid_ns;
  row->registered_at = bits_to_f64(registered);
  row->updated_at = bits_to_f64(updated);
  size_t n = 0;
  while (n < sizeof label && label[n] != 0) n++;
  memcpy(row->label, label, n);
  row->label[n] = '\0';
  for (uint32_t f = 0; f < fields; f++) {
    double v = bits_to_f64(raw[f]);
    double p = bits_to_f64(raw[fields + f]);
    row->values[f] = v;
    row->peaks[f] = p > v ? p : v; /* a peak may become visible after its value */
  }
  return MSR_SLOT_ACTIVE;
}

static int read_slot_cb(const msr_segment *seg, uint32_t i, void *out) { return msr_read_slot(seg, i, out); }

struct process_entry {
  uint64_t pid_ns;
  uint32_t pid;
  double values[MSR_MAX_FIELDS];
};

static int by_process(const void *a, const void *b) {
  const struct process_entry *x = a, *y = b;
  if (x->pid_ns != y->pid_ns) return x->pid_ns < y->pid_ns ? -1 : 1;
  return x->pid < y->pid ? -1 : x->pid > y->pid;
}

struct scan_state {
  const msr_segment *seg;
  unsigned flags;
  msr_row_fn fn;
  void *ctx;
  msr_scan_stats *stats;
  struct process_entry *procs;
  size_t nprocs, cap_procs;
  int stopped;
  int error;
};

static void take_row(struct scan_state *st, const msr_row *row) {
  const msr_segment *seg = st->seg;
  if ((st->flags & MSR_SCAN_LIVENESS) &&
      msr_judge_owner(row->pid, row->tid, row->token, row->pid_ns) == MSR_DEAD) {
    st->stats->dead++;
    return;
  }
  st->stats->rows++;
  int any_process = 0;
  for (uint32_t f = 0; f < seg->field_count; f++) {
    if (seg->field_kinds[f] == MSR_KIND_PROCESS) any_process = 1;
    else st->stats->totals[f] += row->values[f];
  }
  if (any_process) {
    if (st->nprocs == st->cap_procs) {
      size_t cap = st->cap_procs ? 2 * st->cap_procs : 64;
      struct process_entry *p = realloc(st->procs, cap * sizeof *p);
      if (p == NULL) {
        st->error = MSR_E_SYSTEM;
        return;
      }
      st->procs = p;
      st->cap_procs = cap;
    }
    struct process_entry *e = &st->procs[st->nprocs++];
    e->pid_ns = row->pid_ns;
    e->pid = row->pid;
    memcpy(e->values, row->values, sizeof e->values);
  }
  if (st->fn != NULL && !st->stopped && st->fn(row, st->ctx) != 0) st->stopped = 1;
}

int msr_scan(const msr_segment *seg, unsigned flags, int budget_ms, msr_row_fn fn, void *ctx,
             msr_scan_stats *stats) {
  memset(stats, 0, sizeof *stats);
  struct scan_state st = {seg, flags, fn, ctx, stats, NULL, 0, 0, 0, 0};
  uint32_t *again = malloc((size_t)seg->capacity * sizeof *again);
  if (again == NULL) return MSR_E_SYSTEM;
  uint32_t nagain = 0;
  double deadline = budget_ms > 0 ? monotonic_ms() + budget_ms : 0;
  int status = MSR_OK;
  msr_row row;
  uint32_t i = 0;
  for (; i < seg->capacity && !st.stopped && st.error == 0; i++) {
    if (budget_ms > 0 && (i & 63u) == 0 && monotonic_ms() > deadline) break;
    int r = guarded(read_slot_cb, seg, i, &row);
    if (r == MSR_SLOT_BUSY) r = guarded(read_slot_cb, seg, i, &row); /* tried twice */
    if (r == MSR_E_FAULT) {
      status = r;
      goto out;
    }
    if (r == MSR_SLOT_BUSY) again[nagain++] = i;
    else if (r == MSR_SLOT_CLAIMING) stats->claiming++;
    else if (r == MSR_SLOT_ACTIVE) take_row(&st, &row);
  }
  stats->skipped += seg->capacity - i; /* not reached in time */
  /* once more after the rest of the batch, then skipped */
  for (uint32_t k = 0; k < nagain && !st.stopped && st.error == 0; k++) {
    int r = guarded(read_slot_cb, seg, again[k], &row);
    if (r == MSR_E_FAULT) {
      status = r;
      goto out;
    }
    if (r == MSR_SLOT_BUSY) stats->skipped++;
    else if (r == MSR_SLOT_CLAIMING) stats->claiming++;
    else if (r == MSR_SLOT_ACTIVE) take_row(&st, &row);
  }
  if (st.error != 0) {
    status = st.error;
    goto out;
  }
  /* Per-process fields: each (pidNamespace, pid) once, with its largest value. */
  qsort(st.procs, st.nprocs, sizeof *st.procs, by_process);
  for (size_t k = 0; k < st.nprocs;) {
    size_t end = k;
    while (end < st.nprocs && by_process(&st.procs[k], &st.procs[end]) == 0) end++;
    for (uint32_t f = 0; f < seg->field_count; f++) {
      if (seg->field_kinds[f] != MSR_KIND_PROCESS) continue;
      double m = st.procs[k].values[f];
      for (size_t j = k + 1; j < end; j++)
        if (st.procs[j].values[f] > m) m = st.procs[j].values[f];
      stats->totals[f] += m;
    }
    k = end;
  }
  stats->overflow_count = ld64(seg->base + H_OVERFLOW_COUNT, memory_order_relaxed);
  stats->reclaimed_count = ld64(seg->base + H_RECLAIMED_COUNT, memory_order_relaxed);
  stats->next_owner_id = ld64(seg->base + H_NEXT_OWNER_ID, memory_order_relaxed);
out:
  free(again);
  free(st.procs);
  return status;
}

/* ---- reclaiming ---- */

int msr_reclaim(msr_segment *seg, msr_reclaim_fn fn, void *ctx) {
  if (!seg->writable) return MSR_E_READ_ONLY;
  int count = 0;
  for (uint32_t i = 0; i < seg->capacity; i++) {
    unsigned char *s = slot_at(seg, i);
    /* E1: acquire, pairs with C6: the owner's identity (C3) is visible. */
    uint64_t o1 = ld64(s + S_OWNER, memory_order_acquire);
    if (o1 == 0) continue;
    int verdict;
    if (o1 & CLAIMING_BIT) {
      verdict = msr_judge_claim_word(o1);
    } else {
      /* E2-E4: the evidence of owner o1. seq is not checked: an owner killed inside an
         update leaves it odd, and the identity does not change while an id owns the slot. */
      uint32_t pid = ld32(s + S_PID, memory_order_relaxed);
      uint32_t tid = ld32(s + S_TID, memory_order_relaxed);
      uint64_t token = ld64(s + S_TOKEN, memory_order_relaxed);
      uint64_t pid_ns = ld64(s + S_PID_NS, memory_order_relaxed);
      atomic_thread_fence(memory_order_acquire);
      if (ld64(s + S_OWNER, memory_order_relaxed) != o1) continue;
      verdict = msr_judge_owner(pid, tid, token, pid_ns);
    }
    if (verdict != MSR_DEAD) continue;
    uint64_t expected = o1;
    if (atomic_compare_exchange_strong_explicit(A64(s + S_OWNER), &expected, 0, memory_order_seq_cst,
                                                memory_order_relaxed)) {
      atomic_fetch_add_explicit(A64(seg->base + H_RECLAIMED_COUNT), 1, memory_order_relaxed);
      count++;
      if (fn != NULL) fn(i, o1, ctx);
    }
  }
  return count;
}

uint64_t msr_owner_word(const msr_segment *seg, uint32_t i) {
  return ld64(slot_at(seg, i) + S_OWNER, memory_order_relaxed);
}

void msr_counters(const msr_segment *seg, uint64_t *next_owner_id, uint64_t *overflow_count,
                  uint64_t *reclaimed_count) {
  *next_owner_id = ld64(seg->base + H_NEXT_OWNER_ID, memory_order_relaxed);
  *overflow_count = ld64(seg->base + H_OVERFLOW_COUNT, memory_order_relaxed);
  *reclaimed_count = ld64(seg->base + H_RECLAIMED_COUNT, memory_order_relaxed);
}
