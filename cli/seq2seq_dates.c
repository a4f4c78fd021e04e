/* recur seq2seq make-dates: the demo task, dates in many human formats ->
 * ISO 8601, from a seeded generator. Dates are uniform over 1950-01-01 ..
 * 2049-12-31; two-digit years stand for 1950..2049 (50..99 -> 19xx, 00..49
 * -> 20xx). Slashes are US order (month first), dots after a day European
 * order (day first), dots after a year year.month.day, so every written form
 * has one reading. */
#include "seq2seq_dates.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

static const char *month_names[12] = {"January", "February", "March",     "April",
                                      "May",     "June",     "July",      "August",
                                      "September", "October", "November", "December"};
static const char *day_names[7] = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                   "Friday", "Saturday", "Sunday"};

/* Civil date of a day count since 1970-01-01 (H. Hinnant's algorithm). */
static void civil_from_days(long z, int *year, int *month, int *day)
{
    z += 719468;
    long era = (z >= 0 ? z : z - 146096) / 146097;
    long doe = z - era * 146097;
    long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long y = yoe + era * 400;
    long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    long mp = (5 * doy + 2) / 153;
    *day = (int)(doy - (153 * mp + 2) / 5 + 1);
    *month = (int)(mp < 10 ? mp + 3 : mp - 9);
    *year = (int)(y + (*month <= 2));
}

static const char *ordinal(int day)
{
    if (day % 100 >= 11 && day % 100 <= 13)
        return "th";
    return day % 10 == 1 ? "st" : day % 10 == 2 ? "nd" : day % 10 == 3 ? "rd" : "th";
}

static uint64_t next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

enum { DATE_FORMATS = 18 };

void s2s_make_date(uint64_t *rng, char *source, size_t source_size, char *target,
                   size_t target_size)
{
    const long first = -7305, last = 29219; /* 1950-01-01 .. 2049-12-31 */
    long z = first + (long)(next(rng) % (uint64_t)(last - first + 1));
    int y, m, d;
    civil_from_days(z, &y, &m, &d);
    const char *month = month_names[m - 1];
    const char *weekday = day_names[((z % 7) + 7 + 3) % 7]; /* 1970-01-01: Thursday */
    int yy = y % 100;
    char mon[4], lower_month[16], wd[4];
    snprintf(mon, sizeof mon, "%.3s", month);
    snprintf(wd, sizeof wd, "%.3s", weekday);
    snprintf(lower_month, sizeof lower_month, "%s", month);
    for (char *p = lower_month; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    switch ((int)(next(rng) % DATE_FORMATS)) {
    case 0: snprintf(source, source_size, "%d%s of %s %d", d, ordinal(d), month, y); break;
    case 1: snprintf(source, source_size, "%s %d, %d", month, d, y); break;
    case 2: snprintf(source, source_size, "%02d/%02d/%02d", m, d, yy); break;
    case 3: snprintf(source, source_size, "%d.%d.%d", y, m, d); break;
    case 4: snprintf(source, source_size, "%s %d %s %d", wd, d, mon, y); break;
    case 5: snprintf(source, source_size, "%d %s %d", d, month, y); break;
    case 6: snprintf(source, source_size, "%s %d %d", mon, d, y); break;
    case 7: snprintf(source, source_size, "%04d-%02d-%02d", y, m, d); break;
    case 8: snprintf(source, source_size, "%02d.%02d.%d", d, m, y); break;
    case 9: snprintf(source, source_size, "%s, %s %d, %d", weekday, month, d, y); break;
    case 10: snprintf(source, source_size, "%d/%d/%d", m, d, y); break;
    case 11: snprintf(source, source_size, "%04d%02d%02d", y, m, d); break;
    case 12: snprintf(source, source_size, "%s %d%s, '%02d", lower_month, d, ordinal(d), yy); break;
    case 13: {
        char upper[16];
        snprintf(upper, sizeof upper, "%s", month);
        for (char *p = upper; *p; p++)
            *p = (char)toupper((unsigned char)*p);
        snprintf(source, source_size, "%s %d %d", upper, d, y);
        break;
    }
    case 14: snprintf(source, source_size, "%d-%s-%02d", d, mon, yy); break;
    case 15: snprintf(source, source_size, "the %d%s of %s, %d", d, ordinal(d), lower_month, y); break;
    case 16: snprintf(source, source_size, "%s, %02d %s %d", wd, d, mon, y); break;
    default: snprintf(source, source_size, "%d %s %02d", d, lower_month, yy); break;
    }
    snprintf(target, target_size, "%04d-%02d-%02d", y, m, d);
}
