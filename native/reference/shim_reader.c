/*
 * The shim's reader (ms_scan in native/memstats_shim.c) behind the
 * reference's row interface, so that `memstats_ref_tool stress
 * --shim-readers M` checks the shim's read protocol against the reference
 * writers, under ThreadSanitizer too. Built only together with the shim
 * (-DMSR_WITH_SHIM).
 *
 * The request block below mirrors the shim's IO_* / R_* / SCAN_* enums (its
 * ABI, which src/reader.ts mirrors as well).
 */
#define _GNU_SOURCE
#include "shim_reader.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int32_t ms_scan(double *io);

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
  IO_BUSY,
  IO_SCANNED,
  IO_OVERFLOW,
  IO_RECLAIMED,
  IO_RECORD_SIZE,
  IO_HEAD = 16,
};

enum { R_SLOT = 0, R_OWNER_HI, R_OWNER_LO, R_SEQ, R_PID, R_TID, R_TOKEN, R_NS, R_REGISTERED, R_UPDATED, R_FIXED };

enum { SCAN_LABELS = 1, SCAN_CLAIMING = 2, SCAN_EVIDENCE = 4 };

int shim_scan(const msr_segment *seg, int evidence, msr_row_fn fn, void *ctx, uint32_t *busy) {
  size_t fields = seg->field_count;
  size_t rsize = R_FIXED + 2 * fields + MSR_LABEL_SIZE / 8;
  size_t cap = seg->capacity;
  /* Records, then the shim's list of slots to try again (int32 each) after them. */
  size_t doubles = IO_HEAD + cap * rsize + cap / 2 + 1;
  double *io = calloc(doubles, sizeof *io);
  if (io == NULL) return -ENOMEM;
  io[IO_BASE] = (double)(uintptr_t)seg->base;
  io[IO_LENGTH] = (double)seg->total_size;
  io[IO_HEADER_SIZE] = seg->header_size;
  io[IO_STRIDE] = seg->slot_stride;
  io[IO_FIELDS] = (double)fields;
  io[IO_START] = 0;
  io[IO_COUNT] = (double)cap;
  io[IO_FLAGS] = SCAN_LABELS | (evidence ? SCAN_EVIDENCE : 0);
  io[IO_MAX_RECORDS] = (double)cap;
  io[IO_BUDGET] = 0;
  int32_t n = ms_scan(io);
  if (n < 0) {
    free(io);
    return n;
  }
  if ((size_t)io[IO_RECORD_SIZE] != rsize) {
    free(io);
    return -EPROTO;
  }
  *busy = (uint32_t)io[IO_BUSY];
  for (int32_t k = 0; k < n; k++) {
    const double *r = io + IO_HEAD + (size_t)k * rsize;
    msr_row row;
    memset(&row, 0, sizeof row);
    row.slot = (uint32_t)r[R_SLOT];
    row.owner = ((uint64_t)r[R_OWNER_HI] << 32) | (uint64_t)r[R_OWNER_LO];
    row.seq = (uint32_t)r[R_SEQ];
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
    const char *label = (const char *)(r + R_FIXED + 2 * fields);
    size_t len = strnlen(label, MSR_LABEL_SIZE);
    memcpy(row.label, label, len);
    row.label[len] = '\0';
    if (fn(&row, ctx) != 0) break;
  }
  free(io);
  return n;
}
