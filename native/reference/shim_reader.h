/* The shim's ms_scan behind the reference's row interface (see shim_reader.c). */
#ifndef MSR_SHIM_READER_H
#define MSR_SHIM_READER_H

#include "memstats_ref.h"

/*
 * One ms_scan of the whole table: calls fn for every record (labels copied;
 * peaks as max(value, peak)). `evidence`: SCAN_EVIDENCE, the reclaimer's
 * mode, where values may be mid-update but the identity must be whole.
 * Returns the number of records, or -errno; `*busy` gets the skipped count.
 */
int shim_scan(const msr_segment *seg, int evidence, msr_row_fn fn, void *ctx, uint32_t *busy);

#endif
