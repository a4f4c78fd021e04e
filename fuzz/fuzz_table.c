/* libFuzzer target: CSV/TSV tables (libcsv, delimiter and header detection),
 * time stamps, and a table turned into a regular time series (grid
 * detection, resampling, filling, one-hot). The first byte picks the
 * delimiter and header mode; the rest is the file. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "recur.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const char delimiters[4] = {0, ',', '\t', ';'};
    const char delimiter = delimiters[data[0] & 3];
    const int has_header = (int)((data[0] >> 2) % 3) - 1;
    recur_table *table = NULL;
    if (recur_table_parse((const char *)data + 1, size - 1, "fuzz", delimiter, has_header,
                          &table) != RECUR_OK)
        return 0;
    const int columns = recur_table_columns(table);
    for (int64_t r = 0; r < recur_table_rows(table) && r < 64; r++) {
        int64_t t;
        recur_time_parse(recur_table_cell(table, r, 0), &t);
        for (int c = 0; c < columns; c++)
            (void)recur_table_cell(table, r, c);
    }
    if (columns >= 2 && recur_table_rows(table) <= 4096) {
        recur_series_options o = recur_series_options_default();
        o.time = (data[0] & 0x40) ? recur_table_column_name(table, 0) : NULL;
        o.targets = recur_table_column_name(table, columns - 1);
        o.fill = (recur_fill)((data[0] >> 4) % 5);
        recur_series *series = NULL;
        if (recur_series_from_table(table, &o, &series) == RECUR_OK)
            recur_series_free(series);
    }
    recur_table_free(table);
    return 0;
}
