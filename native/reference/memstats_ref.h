/*
 * memstats_ref: a reader and writer of the memstats-shm segment format,
 * layout 1.1, written from docs/FORMAT.md alone (not from the shim or the
 * TypeScript library), so that the document is proven enough for an
 * outside implementer. The tests run it against the library in both
 * directions and under ThreadSanitizer.
 *
 * C11 (<stdatomic.h>), Linux. Every step of the protocol is implemented in
 * memstats_ref.c under the name FORMAT.md gives it (C1-C6, W1-W4, R1-R7),
 * with the memory order the document names.
 *
 * Thread safety: a msr_segment may be shared by any number of threads once
 * attached; a msr_slot belongs to the thread that claimed it.
 */
#ifndef MEMSTATS_REF_H
#define MEMSTATS_REF_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define MSR_MAX_FIELDS 32u
#define MSR_MAX_CAPACITY 1048576u
#define MSR_MAX_STRIDE 65536u
#define MSR_FIELD_NAME_SIZE 32u
#define MSR_LABEL_SIZE 64u /* at most 63 bytes of UTF-8, NUL-padded */

#define MSR_KIND_THREAD 0u
#define MSR_KIND_PROCESS 1u

/* Results: 0 is success, negative values are errors (msr_strerror names them). */
enum {
  MSR_OK = 0,
  MSR_E_SYSTEM = -1,      /* a system call failed; errno says which */
  MSR_E_INVALID = -2,     /* a bad argument: name, fields, capacity, value, label */
  MSR_E_EXISTS = -3,      /* create: the name exists */
  MSR_E_NOT_FOUND = -4,   /* attach: no such segment */
  MSR_E_NO_SPACE = -5,    /* posix_fallocate: ENOSPC */
  MSR_E_TRUNCATED = -6,   /* the file is smaller than its header says */
  MSR_E_BAD_MAGIC = -7,   /* not a memstats segment */
  MSR_E_BYTE_ORDER = -8,  /* written on a host of the other byte order */
  MSR_E_VERSION = -9,     /* an unknown major version */
  MSR_E_CORRUPT = -10,    /* a header that breaks the format's rules */
  MSR_E_UNFINISHED = -11, /* state stayed 0 past the timeout */
  MSR_E_FAULT = -12,      /* SIGBUS while reading the mapping */
  MSR_E_FULL = -13,       /* claim: no free slot, even after reclaiming */
  MSR_E_LOST = -14,       /* the slot is no longer ours (taken back by a reclaimer) */
  MSR_E_READ_ONLY = -15,  /* a write on a read-only attachment */
};

const char *msr_strerror(int status);
/* The error code as the TypeScript library spells it, e.g. "BAD_MAGIC". */
const char *msr_code(int status);

/* An attached segment. Read the public fields; do not change them. */
typedef struct msr_segment {
  unsigned char *base;
  size_t mapped;
  int writable;
  uint16_t version_minor;
  uint32_t header_size;
  uint32_t slot_stride;
  uint32_t capacity;
  uint32_t field_count;
  uint64_t total_size;
  char field_names[MSR_MAX_FIELDS][MSR_FIELD_NAME_SIZE + 1];
  uint8_t field_kinds[MSR_MAX_FIELDS]; /* MSR_KIND_*, as a reader must read them */
} msr_segment;

/* A field as given to msr_create. */
typedef struct msr_field {
  const char *name;
  uint8_t kind; /* MSR_KIND_THREAD or MSR_KIND_PROCESS */
} msr_field;

/* Validates a segment name: "/" then 1 to 250 of [A-Za-z0-9._-], not "/." or "/..". */
int msr_valid_name(const char *name);

/* Creates `name` (Creating a segment, steps 1-6). MSR_E_EXISTS when it exists. */
int msr_create(msr_segment *seg, const char *name, uint32_t capacity, const msr_field *fields,
               uint32_t field_count, mode_t mode);

/*
 * Attaches `name` and validates its header (Attaching, steps 1-7), waiting up
 * to `timeout_ms` for a creator that has not finished. `writable`: O_RDWR and
 * PROT_READ|PROT_WRITE, and the file is fallocated; otherwise O_RDONLY and
 * PROT_READ, and nothing in this library writes to the mapping.
 */
int msr_attach(msr_segment *seg, const char *name, int writable, int timeout_ms);

/* Create, or attach when another process created it first. `*created` says which. */
int msr_open(msr_segment *seg, const char *name, uint32_t capacity, const msr_field *fields,
             uint32_t field_count, mode_t mode, int *created);

void msr_detach(msr_segment *seg);
int msr_unlink(const char *name);

/* Who a thread is, as a slot records it. */
typedef struct msr_evidence {
  uint32_t pid;
  uint32_t tid;
  uint64_t token;  /* thread start time, clock ticks since boot; 0 if unknown */
  uint64_t pid_ns; /* inode of the pid namespace; 0 if unknown */
} msr_evidence;

/* The calling thread's evidence (cached per thread). */
void msr_self_evidence(msr_evidence *ev);

/* A claimed slot; used only by the thread that claimed it. */
typedef struct msr_slot {
  msr_segment *seg;
  uint32_t index;
  uint64_t id;        /* owner id; 0 while the claim is not published */
  uint64_t claim_word;
} msr_slot;

/* Claims a slot (C1-C6), reclaiming dead owners' slots when the table is full. */
int msr_claim(msr_segment *seg, const char *label, msr_slot *slot);
/* C1-C3 only: the slot holds the claim word until msr_claim_publish (for tests). */
int msr_claim_begin(msr_segment *seg, const char *label, msr_slot *slot);
/* C1-C3 recording `ev` instead of the calling thread's evidence (tests: e.g. token 0, "unknown"). */
int msr_claim_begin_as(msr_segment *seg, const char *label, const msr_evidence *ev, msr_slot *slot);
/* C4-C6. MSR_E_LOST if a reclaimer took the slot meanwhile. */
int msr_claim_publish(msr_slot *slot);

/* Gives back a claim not yet published: CAS(owner, claim word -> 0). MSR_E_LOST if taken meanwhile. */
int msr_claim_cancel(msr_slot *slot);

/* One field: a plain single-copy-atomic store, no fence. */
int msr_set(msr_slot *slot, uint32_t field, double value);
/* Every field at once (W1-W4): `values` has field_count entries. */
int msr_update(msr_slot *slot, const double *values);
/* Gives the slot back: CAS(owner, id -> 0). MSR_E_LOST if it was not ours any more. */
int msr_release(msr_slot *slot);

/* One slot as a reader copied it (consistent: R1-R7 accepted it). */
typedef struct msr_row {
  uint32_t slot;
  uint64_t owner;
  uint32_t seq;
  uint32_t pid;
  uint32_t tid;
  uint64_t token;
  uint64_t pid_ns;
  double registered_at;
  double updated_at;
  char label[MSR_LABEL_SIZE + 1]; /* raw bytes up to the first NUL (may be invalid UTF-8) */
  double values[MSR_MAX_FIELDS];
  double peaks[MSR_MAX_FIELDS]; /* max(value, stored peak) */
} msr_row;

/* What one read attempt of a slot found. */
enum { MSR_SLOT_FREE = 0, MSR_SLOT_CLAIMING = 1, MSR_SLOT_ACTIVE = 2, MSR_SLOT_BUSY = 3 };

/* One attempt of R1-R7 on slot `i`. ACTIVE fills `row`. No guard against SIGBUS. */
int msr_read_slot(const msr_segment *seg, uint32_t i, msr_row *row);

/* Totals and counts of one scan. */
typedef struct msr_scan_stats {
  uint32_t rows;      /* live slots reported */
  uint32_t dead;      /* active slots whose owner is certainly dead (left out) */
  uint32_t skipped;   /* slots never copied consistently, or not reached in time */
  uint32_t claiming;  /* slots mid-claim */
  uint64_t overflow_count;
  uint64_t reclaimed_count;
  uint64_t next_owner_id;
  double totals[MSR_MAX_FIELDS];
} msr_scan_stats;

typedef int (*msr_row_fn)(const msr_row *row, void *ctx); /* non-zero stops the scan */

enum { MSR_SCAN_LIVENESS = 1 /* leave out certainly dead owners */ };

/*
 * Reads the whole table (R1-R7 per slot; each slot tried twice, then once
 * more after the rest, then skipped), calling `fn` for every row accepted,
 * in the order accepted. Guarded against SIGBUS (MSR_E_FAULT). `budget_ms`
 * > 0 bounds the scan in time; slots not reached are counted as skipped.
 * Totals follow FORMAT.md "Totals" (per thread: sum; per process: each
 * (pidNamespace, pid) once, with its largest value).
 */
int msr_scan(const msr_segment *seg, unsigned flags, int budget_ms, msr_row_fn fn, void *ctx,
             msr_scan_stats *stats);

/* Liveness verdicts. */
enum { MSR_ALIVE = 0, MSR_DEAD = 1, MSR_NOT_JUDGED = 2 };

/* "Certainly dead" for an active owner's (pid, tid, token, pidNamespace). */
int msr_judge_owner(uint32_t pid, uint32_t tid, uint64_t token, uint64_t pid_ns);
/* The same for a claim word (bit 63 set). */
int msr_judge_claim_word(uint64_t word);
/* The claim word the calling thread writes in C1. */
uint64_t msr_claim_word(const msr_evidence *ev);

typedef void (*msr_reclaim_fn)(uint32_t slot, uint64_t observed, void *ctx);

/* Takes back every slot whose owner (or claimer) is certainly dead. Returns the count or an error. */
int msr_reclaim(msr_segment *seg, msr_reclaim_fn fn, void *ctx);

/* The owner word of slot i (a relaxed load), and the header's counters (relaxed loads). */
uint64_t msr_owner_word(const msr_segment *seg, uint32_t i);
void msr_counters(const msr_segment *seg, uint64_t *next_owner_id, uint64_t *overflow_count,
                  uint64_t *reclaimed_count);

/* Milliseconds since the Unix epoch. */
double msr_now_ms(void);

#endif
