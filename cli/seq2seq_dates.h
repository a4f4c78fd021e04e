/* The date-normalization demo task of recur seq2seq (see seq2seq_dates.c). */
#ifndef RECUR_CLI_SEQ2SEQ_DATES_H
#define RECUR_CLI_SEQ2SEQ_DATES_H

#include <stddef.h>
#include <stdint.h>

/* One example from the generator state *rng (any value; it advances):
 * a date in a random human format and its ISO 8601 form "YYYY-MM-DD". */
void s2s_make_date(uint64_t *rng, char *source, size_t source_size, char *target,
                   size_t target_size);

#endif
