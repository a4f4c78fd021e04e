/* CSV tables: RFC 4180 quoting, CRLF, delimiters, headers, field counts. */
#include <stdio.h>
#include <string.h>

#include "test_util.h"

static const char *fixtures = ".";

static void path_of(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", fixtures, name);
}

static recur_table *parse(const char *text, char delim, int header)
{
    recur_table *t = NULL;
    CHECK_OK(recur_table_parse(text, strlen(text), "mem.csv", delim, header, &t));
    return t;
}

static void test_quoted_crlf_file(void)
{
    char path[512];
    path_of(path, sizeof path, "quoted_crlf.csv");
    recur_table *t = NULL;
    CHECK_OK(recur_table_read(path, 0, 1, &t));
    if (!t)
        return;
    CHECK(recur_table_delimiter(t) == ',');
    CHECK(recur_table_columns(t) == 3);
    CHECK(recur_table_rows(t) == 3); /* the trailing empty line is no row */
    CHECK(!strcmp(recur_table_column_name(t, 1), "name, full"));
    CHECK(recur_table_find_column(t, "name, full") == 1);
    CHECK(!strcmp(recur_table_cell(t, 0, 1), "Smith, J."));
    CHECK(!strcmp(recur_table_cell(t, 0, 2), "said \"hi\"\r\nthen left"));
    CHECK(!strcmp(recur_table_cell(t, 1, 2), "spaced")); /* blanks trimmed */
    CHECK(!strcmp(recur_table_cell(t, 2, 1), ""));
    CHECK(!strcmp(recur_table_cell(t, 2, 2), ""));
    CHECK(recur_table_row_line(t, 0) == 2);
    CHECK(recur_table_row_line(t, 1) == 4); /* row 0 spans lines 2-3 */
    CHECK(recur_table_row_line(t, 2) == 5);
    CHECK(recur_table_cell(t, 3, 0) == NULL);
    CHECK(recur_table_cell(t, 0, 3) == NULL);
    recur_table_free(t);
}

static void test_semicolon_no_newline(void)
{
    char path[512];
    path_of(path, sizeof path, "semicolon_no_newline.csv");
    recur_table *t = NULL;
    CHECK_OK(recur_table_read(path, 0, 1, &t));
    if (!t)
        return;
    CHECK(recur_table_delimiter(t) == ';');
    CHECK(recur_table_columns(t) == 3 && recur_table_rows(t) == 2);
    CHECK(!strcmp(recur_table_cell(t, 0, 1), "1,5"));
    CHECK(!strcmp(recur_table_cell(t, 1, 2), "b")); /* last line without a newline */
    CHECK(recur_table_row_line(t, 1) == 3);
    recur_table_free(t);
}

static void test_field_counts(void)
{
    char path[512];
    path_of(path, sizeof path, "bad_fields.csv");
    recur_table *t = NULL;
    CHECK_STATUS(recur_table_read(path, 0, 1, &t), RECUR_E_FORMAT);
    CHECK(t == NULL);
    CHECK(strstr(recur_last_error(), "bad_fields.csv: line 4: 2 fields, expected 3") != NULL);
    /* Too many fields, and the line of a row after a multi-line field. */
    const char *text = "a,b\n\"x\ny\",1\n1,2,3\n";
    CHECK_STATUS(recur_table_parse(text, strlen(text), "m.csv", ',', 1, &t), RECUR_E_FORMAT);
    CHECK(strstr(recur_last_error(), "m.csv: line 4: 3 fields, expected 2") != NULL);
    /* Blank lines inside and at the end are skipped. */
    t = parse("a,b\n1,2\n\n3,4\n\n\n", ',', 1);
    CHECK(t && recur_table_rows(t) == 2 && recur_table_row_line(t, 1) == 4);
    recur_table_free(t);
    /* Malformed quoting. */
    text = "a,b\n1,x\"y\n";
    CHECK_STATUS(recur_table_parse(text, strlen(text), "q.csv", ',', 1, &t), RECUR_E_FORMAT);
    CHECK(strstr(recur_last_error(), "q.csv: line 2") != NULL);
    text = "a,b\n1,\"open\n2,3\n";
    CHECK_STATUS(recur_table_parse(text, strlen(text), "u.csv", ',', 1, &t), RECUR_E_FORMAT);
    CHECK(strstr(recur_last_error(), "u.csv: line 2: unterminated") != NULL);
    /* Empty input. */
    CHECK_STATUS(recur_table_parse("", 0, "e.csv", ',', 1, &t), RECUR_E_FORMAT);
    CHECK_STATUS(recur_table_parse("\n\n", 2, "e.csv", ',', 1, &t), RECUR_E_FORMAT);
    CHECK_STATUS(recur_table_read("/nonexistent/x.csv", 0, 1, &t), RECUR_E_IO);
    CHECK(strstr(recur_last_error(), "/nonexistent/x.csv") != NULL);
}

static void test_delimiters_and_headers(void)
{
    recur_table *t = parse("x\ty y\tz\n1\t2\t3\n", 0, 1);
    CHECK(t && recur_table_delimiter(t) == '\t' && recur_table_columns(t) == 3);
    CHECK(t && !strcmp(recur_table_column_name(t, 1), "y y"));
    recur_table_free(t);
    t = parse("x|y\n1|2\n", 0, 1);
    CHECK(t && recur_table_delimiter(t) == '|' && recur_table_columns(t) == 2);
    recur_table_free(t);
    /* A comma inside quotes does not count for detection. */
    t = parse("\"a,b\";c\n\"1,2\";3\n", 0, 1);
    CHECK(t && recur_table_delimiter(t) == ';' && recur_table_columns(t) == 2);
    recur_table_free(t);
    /* One column. */
    t = parse("v\n1\n2\n", 0, 1);
    CHECK(t && recur_table_delimiter(t) == ',' && recur_table_columns(t) == 1 &&
          recur_table_rows(t) == 2);
    recur_table_free(t);
    /* No header: names are indexes. */
    t = parse("1,2\n3,4\n", ',', 0);
    CHECK(t && recur_table_rows(t) == 2 && !strcmp(recur_table_column_name(t, 1), "1"));
    CHECK(recur_table_find_column(t, "1") == 1 && recur_table_find_column(t, "#0") == 0);
    recur_table_free(t);
    /* Header detection. */
    t = parse("a,b\n3,4\n", ',', -1);
    CHECK(t && recur_table_rows(t) == 1 && !strcmp(recur_table_column_name(t, 0), "a"));
    recur_table_free(t);
    t = parse("1,2\n3,4\n", ',', -1);
    CHECK(t && recur_table_rows(t) == 2);
    recur_table_free(t);
    /* Find by name, then by index. */
    t = parse("\xEF\xBB\xBFtime,3,v\n1,2,3\n", ',', 1); /* BOM dropped */
    CHECK(recur_table_find_column(t, "time") == 0);
    CHECK(recur_table_find_column(t, "3") == 1); /* the name wins */
    CHECK(recur_table_find_column(t, "#2") == 2);
    CHECK(recur_table_find_column(t, "2") == 2);
    CHECK(recur_table_find_column(t, "#3") == -1);
    CHECK(recur_table_find_column(t, "nope") == -1);
    CHECK(recur_table_find_column(t, "#") == -1);
    recur_table_free(t);
    /* Spaces around quoted fields, tabs kept when tab is the delimiter. */
    t = parse("a,b\n  \"x y\" , z \n", ',', 1);
    CHECK(t && !strcmp(recur_table_cell(t, 0, 0), "x y") && !strcmp(recur_table_cell(t, 0, 1), "z"));
    recur_table_free(t);
    t = parse("a\tb\tc\n1\t\t3\n", '\t', 1);
    CHECK(t && !strcmp(recur_table_cell(t, 0, 1), "") && !strcmp(recur_table_cell(t, 0, 2), "3"));
    recur_table_free(t);
    /* Old Mac CR line ends. */
    t = parse("a,b\r1,2\r3,4", ',', 1);
    CHECK(t && recur_table_rows(t) == 2 && !strcmp(recur_table_cell(t, 1, 1), "4"));
    recur_table_free(t);
}

static void test_cells(void)
{
    const char *missing[] = {"", "NA", "NaN", "nan", "?", "NULL", "null", "N/A", "None"};
    for (size_t i = 0; i < sizeof missing / sizeof *missing; i++)
        CHECK(recur_cell_is_missing(missing[i]));
    CHECK(!recur_cell_is_missing("0") && !recur_cell_is_missing("na") &&
          !recur_cell_is_missing("x"));
    double v = 0;
    CHECK(recur_cell_number("1.5e3", &v) && v == 1500);
    CHECK(recur_cell_number("-21", &v) && v == -21);
    CHECK(!recur_cell_number("1,5", &v) && !recur_cell_number("abc", &v) &&
          !recur_cell_number("inf", &v) && !recur_cell_number("", &v) &&
          !recur_cell_number("nan", &v) && !recur_cell_number("3x", &v));
}

static void test_shared_files(const char *shared)
{
    char path[512];
    snprintf(path, sizeof path, "%s/airline-passengers.csv", shared);
    FILE *f = fopen(path, "rb");
    if (!f) {
        printf("skip: %s absent\n", path);
        return;
    }
    fclose(f);
    recur_table *t = NULL;
    CHECK_OK(recur_table_read(path, 0, -1, &t));
    CHECK(t && recur_table_rows(t) == 144 && recur_table_columns(t) == 2);
    CHECK(t && !strcmp(recur_table_column_name(t, 0), "Month"));
    CHECK(t && !strcmp(recur_table_cell(t, 143, 0), "1960-12") &&
          !strcmp(recur_table_cell(t, 143, 1), "432"));
    recur_table_free(t);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        fixtures = argv[1];
    test_quoted_crlf_file();
    test_semicolon_no_newline();
    test_field_counts();
    test_delimiters_and_headers();
    test_cells();
    test_shared_files(argc > 2 ? argv[2] : "../shared/data");
    return test_finish("test_table");
}
