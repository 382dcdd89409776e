/* The shim's ms_scan behind the reference's row interface (see shim_reader.c). */
#ifndef MSR_SHIM_READER_H
#define MSR_SHIM_READER_H

#include "memstats_ref.h"

/* The shim's SCAN_* flags (native/memstats_shim.c). */
enum {
  SHIM_SCAN_LABELS = 1,
  SHIM_SCAN_CLAIMING = 2,
  SHIM_SCAN_EVIDENCE = 4,
  SHIM_SCAN_LIVE = 8,
  SHIM_SCAN_JUDGE = 16,
  SHIM_SCAN_NO_RECORDS = 32,
  SHIM_SCAN_FRESH = 64,
};

/* What one ms_scan reported besides its records. */
typedef struct shim_scan_out {
  int32_t records;
  uint32_t skipped, live, dead;
  double sums[MSR_MAX_FIELDS];
} shim_scan_out;

/*
 * Called per record: `dead` is the shim's verdict (SCAN_JUDGE), `claiming`
 * says the record is a claim word (row->owner) with nothing else copied.
 * Non-zero stops the walk over the records.
 */
typedef int (*shim_row_fn)(const msr_row *row, int dead, int claiming, void *ctx);

/* A verdict cache of the shim (ms_judge_new) for `seg` in our pid namespace; 0 without memory. */
double shim_judge_new(const msr_segment *seg);
void shim_judge_free(double judge);

/*
 * One ms_scan of the whole table with `flags` (SHIM_SCAN_*; `judge` is
 * needed by LIVE and JUDGE). Peaks are reported as max(value, peak).
 * Returns the number of records, or -errno.
 */
int shim_scan(const msr_segment *seg, double judge, int flags, shim_row_fn fn, void *ctx, shim_scan_out *out);

#endif
