/*
 * memstats_ref_tool: the reference implementation (memstats_ref.c) as a
 * command for tests and for people. Every command prints one JSON line on
 * stdout; an error prints {"error":{"code":..,"message":..}} and exits 1.
 *
 *   create NAME CAPACITY FIELD[:process|:thread]... [--mode OCTAL]
 *   write NAME LABEL V1..Vn [--then V1..Vn]... [--single] [--threads K]
 *         [--label-hex HEX] [--stop-in-claim [--token T]] [--hold]
 *       K threads (default 1) each claim a slot and write every group of
 *       values (multi-field writes, or one field at a time with --single);
 *       prints the slots. --stop-in-claim stops after C3 (the slot keeps
 *       its claim word; --token T records T as the start time instead of the
 *       real one, e.g. 0 for "unknown"). --hold keeps the slots until stdin closes; then
 *       (or at once without --hold) they are released and the tool exits.
 *   read NAME [--all] [--budget MS]
 *       live rows (--all: dead owners' too), totals and counts.
 *   reclaim NAME
 *   churn NAME ROUNDS
 *       claim, write a mark, check the slot stays ours, release; prints ids.
 *   stress NAME [--writers N] [--readers M] [--reclaimers R] [--seconds S] [--no-abandon]
 *         [--shim-readers M]
 *       creates NAME and hammers it from threads of this process (see the
 *       stress section). --shim-readers: M more reader threads that read
 *       through the shim's ms_scan, in each of its modes, and check its
 *       verdicts on owners too (only when built with the shim:
 *       -DMSR_WITH_SHIM shim_reader.c ../memstats_shim.c).
 *   unlink NAME
 */
#define _GNU_SOURCE
#include "memstats_ref.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifdef MSR_WITH_SHIM
#include "shim_reader.h"
#endif

/* ---- output ---- */

static void put_json_string(const char *s) {
  putchar('"');
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\') printf("\\%c", ch);
    else if (ch < 0x20) printf("\\u%04x", ch);
    else putchar(ch);
  }
  putchar('"');
}

static void fail_json(const char *code, const char *fmt, const char *arg) {
  char msg[512];
  snprintf(msg, sizeof msg, fmt, arg);
  printf("{\"error\":{\"code\":\"%s\",\"message\":", code);
  put_json_string(msg);
  printf("}}\n");
  fflush(stdout);
  exit(1);
}

static void fail_status(int status, const char *what) {
  char msg[256];
  if (status == MSR_E_SYSTEM || status == MSR_E_NO_SPACE)
    snprintf(msg, sizeof msg, "%s: %s (%s)", what, msr_strerror(status), strerror(errno));
  else
    snprintf(msg, sizeof msg, "%s: %s", what, msr_strerror(status));
  fail_json(msr_code(status), "%s", msg);
}

static void put_number(double v) {
  if (isnan(v)) printf("\"NaN\"");
  else if (isinf(v)) printf(v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
  else printf("%.17g", v);
}

static void put_utf8(uint32_t cp) {
  if (cp < 0x80) {
    if (cp == '"' || cp == '\\') putchar('\\');
    putchar((int)cp);
  } else if (cp < 0x800) {
    putchar((int)(0xC0 | (cp >> 6)));
    putchar((int)(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    putchar((int)(0xE0 | (cp >> 12)));
    putchar((int)(0x80 | ((cp >> 6) & 0x3F)));
    putchar((int)(0x80 | (cp & 0x3F)));
  } else {
    putchar((int)(0xF0 | (cp >> 18)));
    putchar((int)(0x80 | ((cp >> 12) & 0x3F)));
    putchar((int)(0x80 | ((cp >> 6) & 0x3F)));
    putchar((int)(0x80 | (cp & 0x3F)));
  }
}

/* Control and bidirectional characters a label must not bring to a terminal (FORMAT.md "Labels"). */
static int unsafe(uint32_t cp) {
  return cp <= 0x1F || (cp >= 0x7F && cp <= 0x9F) || cp == 0x61C || cp == 0x200E || cp == 0x200F ||
         (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
}

static void put_code_point(uint32_t cp) { put_utf8(unsafe(cp) ? 0xFFFD : cp); }

/* A label as a JSON string: UTF-8 decoded leniently (WHATWG: each maximal invalid subpart becomes U+FFFD). */
static void put_label(const char *s) {
  const unsigned char *b = (const unsigned char *)s;
  size_t n = strlen(s);
  uint32_t cp = 0;
  int needed = 0, seen = 0;
  unsigned lower = 0x80, upper = 0xBF;
  putchar('"');
  for (size_t k = 0; k < n; k++) {
    unsigned c = b[k];
    if (needed == 0) {
      if (c <= 0x7F) put_code_point(c);
      else if (c >= 0xC2 && c <= 0xDF) needed = 1, cp = c & 0x1F;
      else if (c >= 0xE0 && c <= 0xEF) {
        if (c == 0xE0) lower = 0xA0;
        if (c == 0xED) upper = 0x9F;
        needed = 2, cp = c & 0x0F;
      } else if (c >= 0xF0 && c <= 0xF4) {
        if (c == 0xF0) lower = 0x90;
        if (c == 0xF4) upper = 0x8F;
        needed = 3, cp = c & 0x07;
      } else put_code_point(0xFFFD);
      continue;
    }
    if (c < lower || c > upper) {
      cp = 0, needed = 0, seen = 0, lower = 0x80, upper = 0xBF;
      put_code_point(0xFFFD);
      k--; /* this byte starts over */
      continue;
    }
    lower = 0x80, upper = 0xBF;
    cp = (cp << 6) | (c & 0x3F);
    if (++seen == needed) {
      put_code_point(cp);
      cp = 0, needed = 0, seen = 0;
    }
  }
  if (needed != 0) put_code_point(0xFFFD);
  putchar('"');
}

static void put_owner(uint64_t owner) {
  if (owner >> 63) printf("\"0x%016" PRIx64 "\"", owner);
  else printf("%" PRIu64, owner);
}

/* ---- arguments ---- */

static int parse_double(const char *s, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (end == s || *end != '\0' || errno != 0) return 0;
  *out = v;
  return 1;
}

static long parse_long(const char *s, const char *what) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 0);
  if (end == s || *end != '\0' || errno != 0 || v < 0) fail_json("INVALID_ARGUMENT", "%s: not a number >= 0", what);
  return v;
}

static void attach_or_fail(msr_segment *seg, const char *name, int writable) {
  int r = msr_attach(seg, name, writable, 2000);
  if (r != MSR_OK) fail_status(r, name);
}

/* ---- create ---- */

static int cmd_create(int argc, char **argv) {
  if (argc < 3) fail_json("INVALID_ARGUMENT", "%s", "usage: create NAME CAPACITY FIELD[:process]... [--mode OCTAL]");
  const char *name = argv[0];
  long capacity = parse_long(argv[1], "CAPACITY");
  msr_field fields[MSR_MAX_FIELDS];
  static char names[MSR_MAX_FIELDS][64];
  uint32_t n = 0;
  mode_t mode = 0600;
  for (int k = 2; k < argc; k++) {
    if (strcmp(argv[k], "--mode") == 0 && k + 1 < argc) {
      mode = (mode_t)strtol(argv[++k], NULL, 8);
      continue;
    }
    if (n == MSR_MAX_FIELDS) fail_json("INVALID_ARGUMENT", "%s", "at most 32 fields");
    snprintf(names[n], sizeof names[n], "%s", argv[k]);
    char *colon = strchr(names[n], ':');
    uint8_t kind = MSR_KIND_THREAD;
    if (colon != NULL) {
      *colon = '\0';
      if (strcmp(colon + 1, "process") == 0) kind = MSR_KIND_PROCESS;
      else if (strcmp(colon + 1, "thread") != 0) fail_json("INVALID_ARGUMENT", "unknown kind in %s", argv[k]);
    }
    fields[n].name = names[n];
    fields[n].kind = kind;
    n++;
  }
  msr_segment seg;
  int r = msr_create(&seg, name, (uint32_t)(capacity > (long)UINT32_MAX ? 0 : capacity), fields, n, mode);
  if (r != MSR_OK) fail_status(r, name);
  printf("{\"name\":\"%s\",\"capacity\":%u,\"headerSize\":%u,\"slotStride\":%u,\"totalSize\":%" PRIu64 "}\n",
         name, seg.capacity, seg.header_size, seg.slot_stride, seg.total_size);
  msr_detach(&seg);
  return 0;
}

/* ---- write ---- */

struct write_plan {
  msr_segment *seg;
  const char *label;
  double groups[16][MSR_MAX_FIELDS];
  int ngroups;
  int single;
  int stop_in_claim;
  int token_given;
  uint64_t token;
};

struct writer {
  pthread_t thread;
  struct write_plan *plan;
  msr_slot slot;
  uint32_t tid;
  int status;
};

static pthread_mutex_t hold_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hold_cond = PTHREAD_COND_INITIALIZER;
static int ready_count, released_flag;

static void *writer_main(void *arg) {
  struct writer *w = arg;
  struct write_plan *p = w->plan;
  w->tid = (uint32_t)syscall(SYS_gettid);
  if (p->stop_in_claim) {
    msr_evidence ev;
    msr_self_evidence(&ev);
    if (p->token_given) ev.token = p->token;
    w->status = msr_claim_begin_as(p->seg, p->label, &ev, &w->slot);
  } else {
    w->status = msr_claim(p->seg, p->label, &w->slot);
  }
  for (int g = 0; g < p->ngroups && w->status == MSR_OK && !p->stop_in_claim; g++) {
    if (p->single) {
      for (uint32_t f = 0; f < p->seg->field_count && w->status == MSR_OK; f++)
        w->status = msr_set(&w->slot, f, p->groups[g][f]);
    } else {
      w->status = msr_update(&w->slot, p->groups[g]);
    }
  }
  pthread_mutex_lock(&hold_lock);
  ready_count++;
  pthread_cond_broadcast(&hold_cond);
  while (!released_flag) pthread_cond_wait(&hold_cond, &hold_lock);
  pthread_mutex_unlock(&hold_lock);
  return NULL;
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static int cmd_write(int argc, char **argv) {
  if (argc < 3) fail_json("INVALID_ARGUMENT", "%s", "usage: write NAME LABEL V1..Vn [--then V1..Vn]... [options]");
  static struct write_plan plan;
  static msr_segment seg;
  static char label_bytes[256];
  const char *name = argv[0];
  plan.label = argv[1];
  int threads = 1, hold = 0;
  int count[16] = {0};
  plan.ngroups = 1;
  for (int k = 2; k < argc; k++) {
    const char *a = argv[k];
    if (strcmp(a, "--then") == 0) {
      if (plan.ngroups == 16) fail_json("INVALID_ARGUMENT", "%s", "at most 15 --then groups");
      plan.ngroups++;
    } else if (strcmp(a, "--single") == 0) plan.single = 1;
    else if (strcmp(a, "--hold") == 0) hold = 1;
    else if (strcmp(a, "--stop-in-claim") == 0) plan.stop_in_claim = 1;
    else if (strcmp(a, "--threads") == 0 && k + 1 < argc) threads = (int)parse_long(argv[++k], "--threads");
    else if (strcmp(a, "--token") == 0 && k + 1 < argc) {
      plan.token_given = 1;
      plan.token = (uint64_t)parse_long(argv[++k], "--token");
    }
    else if (strcmp(a, "--label-hex") == 0 && k + 1 < argc) {
      const char *h = argv[++k];
      size_t n = strlen(h);
      if (n % 2 != 0 || n / 2 >= sizeof label_bytes) fail_json("INVALID_ARGUMENT", "%s", "bad --label-hex");
      for (size_t j = 0; j < n / 2; j++) {
        int hi = hex_value(h[2 * j]), lo = hex_value(h[2 * j + 1]);
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) fail_json("INVALID_ARGUMENT", "%s", "bad --label-hex");
        label_bytes[j] = (char)(hi * 16 + lo);
      }
      label_bytes[n / 2] = '\0';
      plan.label = label_bytes;
    } else {
      int g = plan.ngroups - 1;
      if (count[g] == (int)MSR_MAX_FIELDS || !parse_double(a, &plan.groups[g][count[g]]))
        fail_json("INVALID_ARGUMENT", "not a value: %s", a);
      count[g]++;
    }
  }
  if (threads < 1 || threads > 64) fail_json("INVALID_ARGUMENT", "%s", "--threads: 1 to 64");
  attach_or_fail(&seg, name, 1);
  for (int g = 0; g < plan.ngroups; g++)
    if (count[g] != (int)seg.field_count) fail_json("INVALID_ARGUMENT", "%s", "each group needs one value per field");
  plan.seg = &seg;
  static struct writer writers[64];
  for (int t = 0; t < threads; t++) {
    writers[t].plan = &plan;
    if (pthread_create(&writers[t].thread, NULL, writer_main, &writers[t]) != 0)
      fail_json("SYSTEM", "%s", "pthread_create failed");
  }
  pthread_mutex_lock(&hold_lock);
  while (ready_count < threads) pthread_cond_wait(&hold_cond, &hold_lock);
  pthread_mutex_unlock(&hold_lock);
  int status = MSR_OK;
  for (int t = 0; t < threads; t++)
    if (writers[t].status != MSR_OK) status = writers[t].status;
  if (status == MSR_OK) {
    printf("{\"pid\":%d,\"slots\":[", (int)getpid());
    for (int t = 0; t < threads; t++) {
      printf("%s{\"slot\":%u,\"owner\":", t ? "," : "", writers[t].slot.index);
      put_owner(plan.stop_in_claim ? writers[t].slot.claim_word : writers[t].slot.id);
      printf(",\"tid\":%u}", writers[t].tid);
    }
    printf("]}\n");
    fflush(stdout);
    if (hold) {
      char buf[256];
      while (read(0, buf, sizeof buf) > 0) {
      }
    }
  }
  pthread_mutex_lock(&hold_lock);
  released_flag = 1;
  pthread_cond_broadcast(&hold_cond);
  pthread_mutex_unlock(&hold_lock);
  for (int t = 0; t < threads; t++) {
    pthread_join(writers[t].thread, NULL);
    if (writers[t].slot.id != 0) msr_release(&writers[t].slot);
    else if (writers[t].slot.claim_word != 0) msr_claim_cancel(&writers[t].slot);
  }
  if (status != MSR_OK) fail_status(status, "write");
  msr_detach(&seg);
  return 0;
}

/* ---- read ---- */

struct collected {
  msr_row *rows;
  size_t n, cap;
};

static int collect(const msr_row *row, void *ctx) {
  struct collected *c = ctx;
  if (c->n == c->cap) {
    c->cap = c->cap ? 2 * c->cap : 64;
    c->rows = realloc(c->rows, c->cap * sizeof *c->rows);
    if (c->rows == NULL) fail_json("SYSTEM", "%s", "out of memory");
  }
  c->rows[c->n++] = *row;
  return 0;
}

static int by_slot(const void *a, const void *b) {
  const msr_row *x = a, *y = b;
  return x->slot < y->slot ? -1 : x->slot > y->slot;
}

static void put_fields(const msr_segment *seg, const double *v) {
  putchar('{');
  for (uint32_t f = 0; f < seg->field_count; f++) {
    printf("%s\"%s\":", f ? "," : "", seg->field_names[f]);
    put_number(v[f]);
  }
  putchar('}');
}

static int cmd_read(int argc, char **argv) {
  if (argc < 1) fail_json("INVALID_ARGUMENT", "%s", "usage: read NAME [--all] [--budget MS]");
  unsigned flags = MSR_SCAN_LIVENESS;
  int budget = 1000;
  for (int k = 1; k < argc; k++) {
    if (strcmp(argv[k], "--all") == 0) flags = 0;
    else if (strcmp(argv[k], "--budget") == 0 && k + 1 < argc) budget = (int)parse_long(argv[++k], "--budget");
    else fail_json("INVALID_ARGUMENT", "unknown option %s", argv[k]);
  }
  msr_segment seg;
  attach_or_fail(&seg, argv[0], 0);
  struct collected c = {NULL, 0, 0};
  msr_scan_stats st;
  int r = msr_scan(&seg, flags, budget, collect, &c, &st);
  if (r != MSR_OK) fail_status(r, argv[0]);
  qsort(c.rows, c.n, sizeof *c.rows, by_slot);
  printf("{\"version\":\"1.%u\",\"capacity\":%u,\"fields\":[", seg.version_minor, seg.capacity);
  for (uint32_t f = 0; f < seg.field_count; f++) printf("%s\"%s\"", f ? "," : "", seg.field_names[f]);
  printf("],\"kinds\":{");
  for (uint32_t f = 0; f < seg.field_count; f++)
    printf("%s\"%s\":\"%s\"", f ? "," : "", seg.field_names[f],
           seg.field_kinds[f] == MSR_KIND_PROCESS ? "process" : "thread");
  printf("},\"rows\":[");
  for (size_t k = 0; k < c.n; k++) {
    const msr_row *row = &c.rows[k];
    printf("%s{\"slot\":%u,\"owner\":%" PRIu64 ",\"pid\":%u,\"tid\":%u,\"token\":%" PRIu64
           ",\"pidNamespace\":%" PRIu64 ",\"label\":",
           k ? "," : "", row->slot, row->owner, row->pid, row->tid, row->token, row->pid_ns);
    put_label(row->label);
    printf(",\"registeredAt\":");
    put_number(row->registered_at);
    printf(",\"updatedAt\":");
    put_number(row->updated_at);
    printf(",\"values\":");
    put_fields(&seg, row->values);
    printf(",\"peaks\":");
    put_fields(&seg, row->peaks);
    putchar('}');
  }
  printf("],\"totals\":");
  put_fields(&seg, st.totals);
  printf(",\"dead\":%u,\"skipped\":%u,\"claiming\":%u,\"overflowCount\":%" PRIu64 ",\"reclaimedCount\":%" PRIu64
         ",\"nextOwnerId\":%" PRIu64 "}\n",
         st.dead, st.skipped, st.claiming, st.overflow_count, st.reclaimed_count, st.next_owner_id);
  free(c.rows);
  msr_detach(&seg);
  return 0;
}

/* ---- reclaim ---- */

static int reclaimed_printed;
static void print_reclaimed(uint32_t slot, uint64_t observed, void *ctx) {
  (void)ctx;
  printf("%s{\"slot\":%u,\"owner\":", reclaimed_printed++ ? "," : "", slot);
  put_owner(observed);
  putchar('}');
}

static int cmd_reclaim(int argc, char **argv) {
  if (argc < 1) fail_json("INVALID_ARGUMENT", "%s", "usage: reclaim NAME");
  msr_segment seg;
  attach_or_fail(&seg, argv[0], 1);
  printf("{\"reclaimed\":[");
  int n = msr_reclaim(&seg, print_reclaimed, NULL);
  printf("],\"count\":%d}\n", n);
  msr_detach(&seg);
  return n < 0;
}

/* ---- churn ---- */

static int cmd_churn(int argc, char **argv) {
  if (argc < 2) fail_json("INVALID_ARGUMENT", "%s", "usage: churn NAME ROUNDS");
  msr_segment seg;
  attach_or_fail(&seg, argv[0], 1);
  long rounds = parse_long(argv[1], "ROUNDS");
  char label[64];
  snprintf(label, sizeof label, "ref-churn-%d", (int)getpid());
  unsigned full = 0, clashes = 0;
  printf("{\"ids\":[");
  int first = 1;
  for (long k = 0; k < rounds; k++) {
    msr_slot slot;
    int r = msr_claim(&seg, label, &slot);
    if (r == MSR_E_FULL) {
      full++;
      continue;
    }
    if (r != MSR_OK) fail_status(r, "claim");
    printf("%s%" PRIu64, first ? "" : ",", slot.id);
    first = 0;
    double mark = (double)getpid() * 1000 + (double)(k % 1000);
    msr_set(&slot, 0, mark);
    for (int spin = 0; spin < 50; spin++)
      if (msr_owner_word(&seg, slot.index) != slot.id) clashes++;
    msr_row row;
    if (msr_read_slot(&seg, slot.index, &row) == MSR_SLOT_ACTIVE && (row.owner != slot.id || row.values[0] != mark))
      clashes++;
    if (msr_release(&slot) != MSR_OK) clashes++;
  }
  printf("],\"full\":%u,\"clashes\":%u}\n", full, clashes);
  msr_detach(&seg);
  return 0;
}

/* ---- stress ---- */

/*
 * Writer threads churn claim / update / set / release; now and then one
 * exits holding its slot (abandons it) and is replaced by a new thread.
 * Reclaimer threads take abandoned slots back; readers scan all along.
 *
 * The pattern: writer k's c-th claim is labelled "w<k>.<c>.<tid>"; its n-th
 * update stores V = enc(k, c, n) in every field but the last with one
 * multi-field write, and every third one also stores V in the last field
 * with a single-field write. A reader accepts a copy only if it is untorn:
 * the label, tid and pid agree; every multi-written field and its peak hold
 * the same V (or all are 0 before the first update), and V names the
 * label's (k, c); the last field's value and peak name (k, c) too; n never
 * goes back for one owner id; the id is below nextOwnerId.
 *
 * At the end every writer has released, and the last reclaim has run: the
 * table must be empty, and reclaimedCount must equal the number of
 * abandoned slots (each taken back once, and no live owner's).
 */

#define MAX_STRESS_THREADS 64
static double enc(uint32_t k, uint32_t c, uint32_t n) {
  return (double)(k & 0xFFu) * 17592186044416.0 /* 2^44 */ + (double)(c & 0xFFFFFu) * 16777216.0 /* 2^24 */ +
         (double)(n & 0xFFFFFFu);
}
static void dec(double v, uint32_t *k, uint32_t *c, uint32_t *n) {
  uint64_t u = (uint64_t)v;
  *k = (uint32_t)(u >> 44);
  *c = (uint32_t)((u >> 24) & 0xFFFFFu);
  *n = (uint32_t)(u & 0xFFFFFFu);
}

static struct {
  msr_segment seg;
  int writers, readers, reclaimers, abandon, shim_readers;
  atomic_int stop;
  atomic_uint_fast64_t claims, updates, sets, releases, abandoned, full, lost, clashes, errors;
  atomic_uint_fast64_t scans, rows_checked, torn, skipped, dead_seen, reclaimed_by_threads;
  atomic_uint_fast64_t shim_scans, shim_rows_checked, shim_evidence_rows, shim_totals_scans, shim_dead_verdicts;
  atomic_uint alive_tid[MAX_STRESS_THREADS]; /* writer k's tid, cleared just before it abandons a slot */
  atomic_uint claim_counter[MAX_STRESS_THREADS];
  atomic_int finished[MAX_STRESS_THREADS];
  pthread_t writer_threads[MAX_STRESS_THREADS];
  char first_torn[256];
  atomic_int first_torn_set;
} S;

static uint64_t xorshift(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

static void *stress_writer(void *arg) {
  uint32_t k = (uint32_t)(uintptr_t)arg;
  uint32_t tid = (uint32_t)syscall(SYS_gettid);
  atomic_store(&S.alive_tid[k], tid);
  uint64_t rng = ((uint64_t)tid << 32) ^ (uint64_t)k ^ 0x9E3779B97F4A7C15u;
  msr_segment *seg = &S.seg;
  uint32_t fc = seg->field_count;
  double values[MSR_MAX_FIELDS];
  while (!atomic_load(&S.stop)) {
    uint32_t c = atomic_fetch_add(&S.claim_counter[k], 1) + 1;
    char label[64];
    snprintf(label, sizeof label, "w%u.%u.%u", k, c & 0xFFFFFu, tid);
    msr_slot slot;
    int r = msr_claim(seg, label, &slot);
    if (r == MSR_E_FULL) {
      atomic_fetch_add(&S.full, 1);
      sched_yield();
      continue;
    }
    if (r == MSR_E_LOST) {
      atomic_fetch_add(&S.lost, 1);
      continue;
    }
    if (r != MSR_OK) {
      atomic_fetch_add(&S.errors, 1);
      continue;
    }
    atomic_fetch_add(&S.claims, 1);
    uint32_t updates = 1 + (uint32_t)(xorshift(&rng) % 32);
    double single = 0;
    for (uint32_t n = 1; n <= updates; n++) {
      double v = enc(k, c, n);
      for (uint32_t f = 0; f + 1 < fc; f++) values[f] = v;
      values[fc - 1] = single;
      if (msr_update(&slot, values) != MSR_OK) atomic_fetch_add(&S.errors, 1);
      atomic_fetch_add(&S.updates, 1);
      if (n % 3 == 0) {
        single = v;
        if (msr_set(&slot, fc - 1, v) != MSR_OK) atomic_fetch_add(&S.errors, 1);
        atomic_fetch_add(&S.sets, 1);
      }
      if (msr_owner_word(seg, slot.index) != slot.id) atomic_fetch_add(&S.clashes, 1);
    }
    if (S.abandon && xorshift(&rng) % 64 == 0) {
      /* Exit holding the slot: its owner is now dead, for reclaimers to find. */
      atomic_fetch_add(&S.abandoned, 1);
      atomic_store(&S.alive_tid[k], 0);
      atomic_store(&S.finished[k], 1);
      return NULL;
    }
    if (msr_release(&slot) != MSR_OK) atomic_fetch_add(&S.lost, 1);
    else atomic_fetch_add(&S.releases, 1);
  }
  return NULL;
}

struct reader_state {
  uint64_t *last_owner;
  uint32_t *last_n;
  uint64_t next_id_bound;
  int identity_only; /* the shim's SCAN_EVIDENCE rows: values may be mid-update */
};

/* Counts a torn copy (keeping the first for the report); returns 0 so that the scan goes on. */
static int torn(const char *why, const msr_row *row) {
  atomic_fetch_add(&S.torn, 1);
  int expected = 0;
  if (atomic_compare_exchange_strong(&S.first_torn_set, &expected, 1))
    snprintf(S.first_torn, sizeof S.first_torn, "%s: slot %u owner %" PRIu64 " label %.63s v0 %.17g", why,
             row->slot, row->owner, row->label, row->values[0]);
  return 0;
}

static int check_row(const msr_row *row, void *ctx) {
  struct reader_state *rs = ctx;
  uint32_t fc = S.seg.field_count;
  unsigned k, c, t;
  atomic_fetch_add(&S.rows_checked, 1);
  if (sscanf(row->label, "w%u.%u.%u", &k, &c, &t) != 3 || k >= (unsigned)S.writers) return torn("label", row);
  if (row->tid != t || row->pid != (uint32_t)getpid()) return torn("identity", row);
  if (row->owner == 0 || row->owner >= rs->next_id_bound) return torn("owner id", row);
  if (rs->identity_only) return 0;
  double v = row->values[0];
  for (uint32_t f = 0; f + 1 < fc; f++)
    if (row->values[f] != v || row->peaks[f] != v) return torn("multi-field write", row);
  uint32_t k2, c2, n = 0;
  if (v != 0) {
    dec(v, &k2, &c2, &n);
    if (k2 != k || c2 != c || n == 0) return torn("values of another claim", row);
  }
  double single = row->values[fc - 1], single_peak = row->peaks[fc - 1];
  uint32_t ns;
  if (single != 0) {
    dec(single, &k2, &c2, &ns);
    if (k2 != k || c2 != c) return torn("single field of another claim", row);
  }
  if (single_peak < single) return torn("peak below value", row);
  if (single_peak != 0) {
    dec(single_peak, &k2, &c2, &ns);
    if (k2 != k || c2 != c) return torn("single peak of another claim", row);
  }
  if (rs->last_owner[row->slot] == row->owner && n < rs->last_n[row->slot]) return torn("went back", row);
  rs->last_owner[row->slot] = row->owner;
  rs->last_n[row->slot] = n;
  return 0;
}

#ifdef MSR_WITH_SHIM
/* A thread judged dead must not be a writer that is still running (tids are not reused meanwhile). */
static void check_verdict(uint32_t tid, const msr_row *row) {
  for (int k = 0; k < S.writers; k++)
    if (tid != 0 && atomic_load(&S.alive_tid[k]) == tid) torn("a live owner judged dead", row);
}

static int check_shim_row(const msr_row *row, int dead, int claiming, void *ctx) {
  if (claiming) {
    if (dead) check_verdict((uint32_t)(row->owner & 0x3FFFFFu), row); /* the claim word's tid */
    return 0;
  }
  if (dead) {
    atomic_fetch_add(&S.shim_dead_verdicts, 1);
    check_verdict(row->tid, row);
  }
  return check_row(row, ctx);
}

/*
 * The shim's modes, in turn: plain records; records of live owners
 * (SCAN_LIVE, cached verdicts); counting and summing only (the
 * aggregateStats() path); and the reclaimer's mode (identity even
 * mid-update, claim words, a fresh verdict on every record).
 */
static void shim_round(struct reader_state *rs, double judge, uint64_t round) {
  static const int modes[4] = {
    SHIM_SCAN_LABELS,
    SHIM_SCAN_LABELS | SHIM_SCAN_LIVE,
    SHIM_SCAN_LIVE | SHIM_SCAN_NO_RECORDS,
    SHIM_SCAN_LABELS | SHIM_SCAN_CLAIMING | SHIM_SCAN_EVIDENCE | SHIM_SCAN_JUDGE | SHIM_SCAN_FRESH,
  };
  int mode = modes[round % 4];
  rs->identity_only = (mode & SHIM_SCAN_EVIDENCE) != 0;
  shim_scan_out out;
  int n = shim_scan(&S.seg, judge, mode, check_shim_row, rs, &out);
  if (n < 0) {
    atomic_fetch_add(&S.errors, 1);
    return;
  }
  atomic_fetch_add(&S.shim_scans, 1);
  atomic_fetch_add(&S.skipped, out.skipped);
  if (mode & SHIM_SCAN_NO_RECORDS) {
    if (n != 0 || out.live + out.dead + out.skipped > S.seg.capacity) atomic_fetch_add(&S.errors, 1);
    atomic_fetch_add(&S.shim_totals_scans, 1);
  } else if (mode & SHIM_SCAN_LIVE) {
    if ((uint32_t)n != out.live) atomic_fetch_add(&S.errors, 1);
  }
  if (n > 0) atomic_fetch_add(rs->identity_only ? &S.shim_evidence_rows : &S.shim_rows_checked, (uint64_t)n);
}
#endif

static void *stress_reader(void *arg) {
  int shim = arg != NULL;
  struct reader_state rs;
  rs.last_owner = calloc(S.seg.capacity, sizeof *rs.last_owner);
  rs.last_n = calloc(S.seg.capacity, sizeof *rs.last_n);
  rs.identity_only = 0;
#ifdef MSR_WITH_SHIM
  double judge = shim ? shim_judge_new(&S.seg) : 0;
  if (shim && judge == 0) atomic_fetch_add(&S.errors, 1);
#endif
  for (uint64_t round = 0; !atomic_load(&S.stop); round++) {
    uint64_t overflow, reclaimed;
    msr_counters(&S.seg, &rs.next_id_bound, &overflow, &reclaimed);
    rs.next_id_bound += (uint64_t)S.seg.capacity * 1000000; /* ids taken while we scan */
    if (!shim) {
      msr_scan_stats st;
      int r = msr_scan(&S.seg, round % 8 == 0 ? MSR_SCAN_LIVENESS : 0, 0, check_row, &rs, &st);
      if (r != MSR_OK) atomic_fetch_add(&S.errors, 1);
      atomic_fetch_add(&S.scans, 1);
      atomic_fetch_add(&S.skipped, st.skipped);
      atomic_fetch_add(&S.dead_seen, st.dead);
      continue;
    }
#ifdef MSR_WITH_SHIM
    if (judge != 0) shim_round(&rs, judge, round);
#endif
  }
#ifdef MSR_WITH_SHIM
  if (judge != 0) shim_judge_free(judge);
#endif
  free(rs.last_owner);
  free(rs.last_n);
  return NULL;
}

static void *stress_reclaimer(void *arg) {
  (void)arg;
  while (!atomic_load(&S.stop)) {
    int n = msr_reclaim(&S.seg, NULL, NULL);
    if (n < 0) atomic_fetch_add(&S.errors, 1);
    else atomic_fetch_add(&S.reclaimed_by_threads, (uint64_t)n);
    struct timespec ts = {0, 2000000};
    nanosleep(&ts, NULL);
  }
  return NULL;
}

static int cmd_stress(int argc, char **argv) {
  if (argc < 1) fail_json("INVALID_ARGUMENT", "%s", "usage: stress NAME [--writers N] [--readers M] [--reclaimers R] [--seconds S]");
  const char *name = argv[0];
  double seconds = 3;
  S.writers = 4, S.readers = 2, S.reclaimers = 1, S.abandon = 1;
  for (int k = 1; k < argc; k++) {
    if (strcmp(argv[k], "--writers") == 0 && k + 1 < argc) S.writers = (int)parse_long(argv[++k], "--writers");
    else if (strcmp(argv[k], "--readers") == 0 && k + 1 < argc) S.readers = (int)parse_long(argv[++k], "--readers");
    else if (strcmp(argv[k], "--reclaimers") == 0 && k + 1 < argc)
      S.reclaimers = (int)parse_long(argv[++k], "--reclaimers");
    else if (strcmp(argv[k], "--seconds") == 0 && k + 1 < argc) {
      if (!parse_double(argv[++k], &seconds) || !(seconds > 0)) fail_json("INVALID_ARGUMENT", "%s", "--seconds");
    } else if (strcmp(argv[k], "--no-abandon") == 0) S.abandon = 0;
    else if (strcmp(argv[k], "--shim-readers") == 0 && k + 1 < argc) {
#ifdef MSR_WITH_SHIM
      S.shim_readers = (int)parse_long(argv[++k], "--shim-readers");
#else
      fail_json("INVALID_ARGUMENT", "%s", "--shim-readers: this build has no shim (build with -DMSR_WITH_SHIM)");
#endif
    }
    else fail_json("INVALID_ARGUMENT", "unknown option %s", argv[k]);
  }
  if (S.writers < 1 || S.writers > MAX_STRESS_THREADS || S.readers + S.shim_readers > MAX_STRESS_THREADS ||
      S.reclaimers > MAX_STRESS_THREADS)
    fail_json("INVALID_ARGUMENT", "%s", "1 to 64 writers, at most 64 readers and reclaimers");
  msr_field fields[4] = {{"a", MSR_KIND_THREAD}, {"b", MSR_KIND_THREAD}, {"c", MSR_KIND_PROCESS}, {"d", MSR_KIND_THREAD}};
  /* A table just bigger than the writers: abandoned slots fill it, and claims must reclaim. */
  int r = msr_create(&S.seg, name, (uint32_t)S.writers + 2, fields, 4, 0600);
  if (r != MSR_OK) fail_status(r, name);
  pthread_t readers[MAX_STRESS_THREADS], reclaimers[MAX_STRESS_THREADS];
  for (int k = 0; k < S.writers; k++) pthread_create(&S.writer_threads[k], NULL, stress_writer, (void *)(uintptr_t)k);
  int nreaders = S.readers + S.shim_readers;
  for (int k = 0; k < nreaders; k++)
    pthread_create(&readers[k], NULL, stress_reader, k < S.readers ? NULL : (void *)&S);
  for (int k = 0; k < S.reclaimers; k++) pthread_create(&reclaimers[k], NULL, stress_reclaimer, NULL);
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  uint64_t replaced = 0;
  for (;;) {
    struct timespec now, tick = {0, 5000000};
    nanosleep(&tick, NULL);
    for (int k = 0; k < S.writers; k++) {
      if (!atomic_load(&S.finished[k])) continue;
      pthread_join(S.writer_threads[k], NULL); /* the abandoning thread is gone */
      atomic_store(&S.finished[k], 0);
      pthread_create(&S.writer_threads[k], NULL, stress_writer, (void *)(uintptr_t)k);
      replaced++;
    }
    clock_gettime(CLOCK_MONOTONIC, &now);
    if ((double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) / 1e9 >= seconds) break;
  }
  atomic_store(&S.stop, 1);
  for (int k = 0; k < S.writers; k++) pthread_join(S.writer_threads[k], NULL);
  for (int k = 0; k < nreaders; k++) pthread_join(readers[k], NULL);
  for (int k = 0; k < S.reclaimers; k++) pthread_join(reclaimers[k], NULL);
  /* Every writer thread has ended: what is left is abandoned slots, all dead. */
  int last = msr_reclaim(&S.seg, NULL, NULL);
  msr_scan_stats fin;
  msr_scan(&S.seg, 0, 0, NULL, NULL, &fin);
  uint64_t abandoned = atomic_load(&S.abandoned);
  int ok = atomic_load(&S.torn) == 0 && atomic_load(&S.lost) == 0 && atomic_load(&S.clashes) == 0 &&
           atomic_load(&S.errors) == 0 && last >= 0 && fin.rows == 0 && fin.claiming == 0 && fin.skipped == 0 &&
           fin.reclaimed_count == abandoned && atomic_load(&S.claims) > 0 && atomic_load(&S.rows_checked) > 0 &&
           (S.shim_readers == 0 || atomic_load(&S.shim_rows_checked) > 0);
  printf("{\"ok\":%s,\"writers\":%d,\"readers\":%d,\"reclaimers\":%d,\"seconds\":%g,\"claims\":%" PRIu64
         ",\"updates\":%" PRIu64 ",\"sets\":%" PRIu64 ",\"releases\":%" PRIu64 ",\"abandoned\":%" PRIu64
         ",\"replaced\":%" PRIu64 ",\"reclaimedCount\":%" PRIu64 ",\"reclaimedByThreads\":%" PRIu64
         ",\"full\":%" PRIu64 ",\"overflowCount\":%" PRIu64 ",\"lost\":%" PRIu64 ",\"clashes\":%" PRIu64
         ",\"errors\":%" PRIu64 ",\"scans\":%" PRIu64 ",\"rowsChecked\":%" PRIu64 ",\"torn\":%" PRIu64
         ",\"skipped\":%" PRIu64 ",\"deadSeen\":%" PRIu64 ",\"shimReaders\":%d,\"shimScans\":%" PRIu64
         ",\"shimRows\":%" PRIu64 ",\"shimEvidenceRows\":%" PRIu64 ",\"shimTotalsScans\":%" PRIu64
         ",\"shimDeadVerdicts\":%" PRIu64 ",\"finalRows\":%u,\"firstTorn\":\"%s\"}\n",
         ok ? "true" : "false", S.writers, S.readers, S.reclaimers, seconds, (uint64_t)S.claims,
         (uint64_t)S.updates, (uint64_t)S.sets, (uint64_t)S.releases, abandoned, replaced, fin.reclaimed_count,
         (uint64_t)S.reclaimed_by_threads, (uint64_t)S.full, fin.overflow_count, (uint64_t)S.lost,
         (uint64_t)S.clashes, (uint64_t)S.errors, (uint64_t)S.scans, (uint64_t)S.rows_checked, (uint64_t)S.torn,
         (uint64_t)S.skipped, (uint64_t)S.dead_seen, S.shim_readers, (uint64_t)S.shim_scans,
         (uint64_t)S.shim_rows_checked, (uint64_t)S.shim_evidence_rows, (uint64_t)S.shim_totals_scans,
         (uint64_t)S.shim_dead_verdicts, fin.rows, S.first_torn);
  msr_detach(&S.seg);
  msr_unlink(name);
  return ok ? 0 : 1;
}

/* ---- main ---- */

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s create|write|read|reclaim|churn|stress|unlink ...\n", argv[0]);
    return 2;
  }
  const char *cmd = argv[1];
  int n = argc - 2;
  char **rest = argv + 2;
  if (strcmp(cmd, "create") == 0) return cmd_create(n, rest);
  if (strcmp(cmd, "write") == 0) return cmd_write(n, rest);
  if (strcmp(cmd, "read") == 0) return cmd_read(n, rest);
  if (strcmp(cmd, "reclaim") == 0) return cmd_reclaim(n, rest);
  if (strcmp(cmd, "churn") == 0) return cmd_churn(n, rest);
  if (strcmp(cmd, "stress") == 0) return cmd_stress(n, rest);
  if (strcmp(cmd, "unlink") == 0) {
    if (n < 1) fail_json("INVALID_ARGUMENT", "%s", "usage: unlink NAME");
    int r = msr_unlink(rest[0]);
    if (r != MSR_OK) fail_status(r, rest[0]);
    printf("{}\n");
    return 0;
  }
  fail_json("INVALID_ARGUMENT", "unknown command %s", cmd);
  return 2;
}
