/*
 * The shim's reader (ms_scan in native/memstats_shim.c) behind the
 * reference's row interface, so that `memstats_ref_tool stress
 * --shim-readers M` checks the shim's read protocol, and its verdicts on
 * owners, against the reference writers, under ThreadSanitizer too. Built
 * only together with the shim (-DMSR_WITH_SHIM).
 *
 * The request block below mirrors the shim's IO_* / R_* enums (its ABI,
 * which src/reader.ts mirrors as well).
 */
#define _GNU_SOURCE
#include "shim_reader.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int32_t ms_scan(double *io);
double ms_judge_new(double capacity, double ns);
void ms_judge_free(double handle);

enum {
  IO_BASE = 0,
  IO_LENGTH,
  IO_HEADER_SIZE,
  IO_STRIDE,
  IO_FIELDS,
  IO_START,
  IO_COUNT,
  IO_FLAGS,
  IO_MAX_RECORDS,
  IO_BUDGET,
  IO_JUDGE,
  IO_PROCESS_KINDS,
  IO_SKIPPED,
  IO_SCANNED,
  IO_OVERFLOW,
  IO_RECLAIMED,
  IO_RECORD_SIZE,
  IO_LIVE,
  IO_DEAD,
  IO_DEATHS,
  IO_SUMS = 32,
  IO_HEAD = 64,
};

enum {
  R_SLOT = 0,
  R_OWNER_HI,
  R_OWNER_LO,
  R_SEQ,
  R_PID,
  R_TID,
  R_TOKEN,
  R_NS,
  R_REGISTERED,
  R_UPDATED,
  R_DEAD,
  R_SPARE,
  R_FIXED,
};

double shim_judge_new(const msr_segment *seg) {
  msr_evidence me;
  msr_self_evidence(&me);
  return ms_judge_new(seg->capacity, (double)me.pid_ns);
}

void shim_judge_free(double judge) { ms_judge_free(judge); }

int shim_scan(const msr_segment *seg, double judge, int flags, shim_row_fn fn, void *ctx, shim_scan_out *out) {
  memset(out, 0, sizeof *out);
  size_t fields = seg->field_count;
  size_t rsize = R_FIXED + 2 * fields + ((flags & SHIM_SCAN_LABELS) ? MSR_LABEL_SIZE / 8 : 0);
  size_t cap = seg->capacity;
  /* Records, then the shim's list of slots to try again (int32 each) after them. */
  double *io = calloc(IO_HEAD + cap * rsize + cap / 2 + 1, sizeof *io);
  if (io == NULL) return -ENOMEM;
  uint32_t process_kinds = 0;
  for (size_t f = 0; f < fields; f++)
    if (seg->field_kinds[f] == MSR_KIND_PROCESS) process_kinds |= 1u << f;
  io[IO_BASE] = (double)(uintptr_t)seg->base;
  io[IO_LENGTH] = (double)seg->total_size;
  io[IO_HEADER_SIZE] = seg->header_size;
  io[IO_STRIDE] = seg->slot_stride;
  io[IO_FIELDS] = (double)fields;
  io[IO_START] = 0;
  io[IO_COUNT] = (double)cap;
  io[IO_FLAGS] = flags;
  io[IO_MAX_RECORDS] = (double)cap;
  io[IO_BUDGET] = 0;
  io[IO_JUDGE] = judge;
  io[IO_PROCESS_KINDS] = process_kinds;
  int32_t n = ms_scan(io);
  if (n < 0) {
    free(io);
    return n;
  }
  if ((size_t)io[IO_RECORD_SIZE] != rsize) {
    free(io);
    return -EPROTO;
  }
  out->records = n;
  out->skipped = (uint32_t)io[IO_SKIPPED];
  out->live = (uint32_t)io[IO_LIVE];
  out->dead = (uint32_t)io[IO_DEAD];
  for (size_t f = 0; f < fields; f++) out->sums[f] = io[IO_SUMS + f];
  for (int32_t k = 0; k < n; k++) {
    const double *r = io + IO_HEAD + (size_t)k * rsize;
    msr_row row;
    memset(&row, 0, sizeof row);
    row.slot = (uint32_t)r[R_SLOT];
    row.owner = ((uint64_t)r[R_OWNER_HI] << 32) | (uint64_t)r[R_OWNER_LO];
    int claiming = (row.owner >> 63) != 0;
    row.seq = (uint32_t)r[R_SEQ];
    if (!claiming) {
      row.pid = (uint32_t)r[R_PID];
      row.tid = (uint32_t)r[R_TID];
      row.token = (uint64_t)r[R_TOKEN];
      row.pid_ns = (uint64_t)r[R_NS];
      row.registered_at = r[R_REGISTERED];
      row.updated_at = r[R_UPDATED];
      for (size_t f = 0; f < fields; f++) {
        double v = r[R_FIXED + f], p = r[R_FIXED + fields + f];
        row.values[f] = v;
        row.peaks[f] = p > v ? p : v;
      }
      if (flags & SHIM_SCAN_LABELS) {
        const char *label = (const char *)(r + R_FIXED + 2 * fields);
        size_t len = strnlen(label, MSR_LABEL_SIZE);
        memcpy(row.label, label, len);
        row.label[len] = '\0';
      }
    }
    if (fn(&row, r[R_DEAD] != 0, claiming, ctx) != 0) break;
  }
  free(io);
  return n;
}
