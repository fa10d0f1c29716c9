/*
 * Output: aligned tables (column widths computed from the cells), JSON and YAML of jansson values,
 * and the number and time formats the tables share.
 */
#ifndef BIP_CLI_OUTPUT_H
#define BIP_CLI_OUTPUT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "blockipam/addr.h"

/* Row 0 holds the headers. Cells are copied; an empty or NULL cell prints as "-". */
struct bip_table {
	size_t ncols, nrows, cap; /* nrows counts the header row */
	char **cells;
};

int bip_table_init(struct bip_table *t, size_t ncols, const char *const *headers);
/* Append one row of t->ncols cells. BIP_ENOMEM leaves the table as it was. */
int bip_table_add(struct bip_table *t, const char *const *row);
/* Columns separated by two spaces, left-aligned, no trailing blanks. */
void bip_table_print(const struct bip_table *t, FILE *f);
void bip_table_free(struct bip_table *t);
/* The table, or when it has no rows the sentence none ("No blocks.") on stderr, as kubectl
 * says "No resources found": nothing on stdout for a script to mistake for data. */
void bip_table_print_or(const struct bip_table *t, FILE *f, const char *none);

#define BIP_U128_STRLEN 40
/* Decimal text of v; buf holds BIP_U128_STRLEN bytes. Returns buf. */
char *bip_fmt_u128(bip_u128 v, char *buf);
/* A count for a table: exact below 10^12, else three digits and an SI prefix ("18.4E" for
 * 2^64), so IPv6 sizes stay readable (JSON keeps the exact number). buf: BIP_U128_STRLEN. */
char *bip_fmt_count(bip_u128 v, char *buf, size_t len);
/* v of total as "25.0%": rounded, but "<0.1%" and ">99.9%" rather than 0.0% / 100.0% for a
 * part that is neither nothing nor all. total must not be 0. */
char *bip_fmt_pct(bip_u128 v, bip_u128 total, char *buf, size_t len);
/* "v (p%)" (bip_fmt_count, bip_fmt_pct), "v" when total is 0. */
char *bip_fmt_count_pct(bip_u128 v, bip_u128 total, char *buf, size_t len);
/* A JSON integer when v fits in 63 bits, else its decimal text as a string. */
json_t *bip_json_u128(bip_u128 v);
/* RFC 3339 UTC ("2024-05-01T10:00:00Z"), "-" for 0. */
char *bip_fmt_time(int64_t t, char *buf, size_t len);

/* The text of a JSON value in a table cell: strings as is, lists joined with ',', objects as
 * k=v,k=v, null as "". Returns a new string (NULL on ENOMEM). */
char *bip_cell_text(const json_t *v);

/* Print v as indented JSON, or as one YAML document. Returns BIP_OK or BIP_EIO. */
int bip_out_print(FILE *f, bool yaml, const json_t *v);

#endif
